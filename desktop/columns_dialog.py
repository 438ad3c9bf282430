"""Column handling for one file: every column with its first values, what casenotes will do with it
and why, and a drop-down to change it (note, patient key, de-identify, keep unchanged, leave out)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from casenotes.io.columns import KEPT, LEFT_OUT, NOTE, PATIENT_KEY
from casenotes_desktop.queue_model import QueueItem

AUTOMATIC = "auto"
# (choice, label, tooltip, why); the AUTOMATIC label and reason come from the column's content.
CHOICES = (
    (AUTOMATIC, "Automatic", "What the content shows: identifiers replaced, free text de-identified, "
     "provably safe content kept", ""),
    (NOTE, "Note: de-identify, summarize, code", "A note column; several are read together, each under its header",
     "note: de-identified by the PHI engine, then summarized and coded"),
    (PATIENT_KEY, "Patient key", "The patient or row ID: replaced by the same pseudonymous key for the same patient",
     "patient key: replaced by a pseudonymous key (PT-...)"),
    (KEPT, "Keep unchanged (no PHI)", "Copied as it is: choose this only for columns that can never hold PHI",
     "kept: marked safe by you; copied unchanged"),
    (LEFT_OUT, "Leave out", "Not written to any output", "left out: written to no output"),
)
_AUTOMATIC_LABELS = {"free text": "Automatic: de-identify the text", "identifier": "Automatic: replace each value",
                     "kept": "Automatic: keep (no PHI seen)"}


class ColumnsDialog(QDialog):
    """Edits a QueueItem's column choices; the caller re-plans the file when it is accepted."""

    def __init__(self, item: QueueItem, parent=None):
        super().__init__(parent)
        self.item = item
        self.setWindowTitle(f"Columns of {item.path.name}")
        summary = item.summary
        intro = QLabel("Every column is de-identified unless its content shows it is safe. Change what is done to a "
                       "column here; Run info in the output lists every column and what was done to it.")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(summary.columns), 4)
        self.table.setHorizontalHeaderLabels(["Column", "First values", "What is done", "Why (now)"])
        self.table.setAccessibleName("Columns and what is done to each")
        self.table.verticalHeader().setVisible(False)
        # Tab moves between the drop-downs and on to OK and Cancel, not from cell to cell.
        self.table.setTabKeyNavigation(False)
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.combos: dict[str, QComboBox] = {}
        for row, column in enumerate(summary.columns):
            decision = summary.plan.columns[column]
            self.table.setItem(row, 0, _read_only(column))
            samples = summary.samples.get(column, [])
            self.table.setItem(row, 1, _read_only(" | ".join(v for v in samples if v), "\n".join(samples)))
            automatic = summary.automatic.get(column, decision)
            combo = QComboBox()
            combo.setAccessibleName(f"What is done to {column}")
            for value, label, tip, _ in CHOICES:
                combo.addItem(_AUTOMATIC_LABELS.get(automatic.action, label) if value == AUTOMATIC else label, value)
                combo.setItemData(combo.count() - 1, tip, Qt.ToolTipRole)
            combo.setCurrentIndex(combo.findData(self._current_choice(column)))
            self.table.setCellWidget(row, 2, combo)
            combo.setProperty("row", row)
            combo.installEventFilter(self)
            self.combos[column] = combo
            self.table.setItem(row, 3, _read_only(f"{decision.action}: {decision.reason}"))
            combo.currentIndexChanged.connect(lambda _, r=row, c=combo, a=automatic: self._explain(r, c, a))
        header = self.table.horizontalHeader()
        self.table.setWordWrap(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.Stretch)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.resize(980, 120 + 34 * min(len(summary.columns), 14))

    def eventFilter(self, watched, event) -> bool:
        """The row of the drop-down that has the keyboard is highlighted and scrolled into view."""
        row = watched.property("row")
        if event.type() == QEvent.FocusIn and row is not None:
            self.table.selectRow(row)
            self.table.scrollToItem(self.table.item(row, 0))
        return super().eventFilter(watched, event)

    def _explain(self, row: int, combo: QComboBox, automatic) -> None:
        """The reason follows the choice at once, before OK."""
        why = {value: reason for value, _, _, reason in CHOICES}[combo.currentData()]
        self.table.item(row, 3).setText(why or f"{automatic.action}: {automatic.reason}")

    def _current_choice(self, column: str) -> str:
        item, plan = self.item, self.item.summary.plan
        if column in item.excluded_columns:
            return LEFT_OUT
        if column in item.safe_columns:
            return KEPT
        # the note and patient key in use, detected or chosen, stay what they are unless changed here
        if column in plan.text_columns:
            return NOTE
        if column == plan.id_column:
            return PATIENT_KEY
        return AUTOMATIC

    def choices(self) -> dict[str, str]:
        return {column: combo.currentData() for column, combo in self.combos.items()}

    def accept(self) -> None:
        chosen = self.choices()
        notes = [c for c, v in chosen.items() if v == NOTE]
        keys = [c for c, v in chosen.items() if v == PATIENT_KEY]
        if not notes:
            return self._refuse("Choose at least one note column.")
        if len(keys) > 1:
            return self._refuse("Choose one patient key column at most.")
        item = self.item
        item.text_columns = tuple(notes)
        item.id_column = keys[0] if keys else ""
        item.safe_columns = tuple(c for c, v in chosen.items() if v == KEPT)
        item.excluded_columns = tuple(c for c, v in chosen.items() if v == LEFT_OUT)
        super().accept()

    def _refuse(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.setVisible(True)


def _read_only(text: str, tooltip: str = "") -> QTableWidgetItem:
    cell = QTableWidgetItem(text)
    cell.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
    if tooltip:
        cell.setToolTip(tooltip)
    return cell
