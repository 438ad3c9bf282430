"""The queue of files: one row per spreadsheet, with its choices, status, progress and output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from casenotes.io.preview import FileSummary
from casenotes.io.readers import sheetless_label


@dataclass
class QueueItem:
    path: Path
    summary: FileSummary | None = None
    sheet: str | None = None
    # The clerk's column choices (empty or None: detected); the plan in ``summary`` shows their effect.
    text_columns: tuple[str, ...] = ()
    id_column: str | None = None  # "" = the sheet has no patient ID
    safe_columns: tuple[str, ...] = ()
    excluded_columns: tuple[str, ...] = ()
    # reading, ready, queued, running (or a loading stage), done, cancelled, interrupted (a checkpoint
    # left by a run of an earlier session), failed
    status: str = "reading"
    progress: int = 0  # percent
    rows_done: int = 0
    output: Path | None = None
    error: str | None = None
    outputs: dict = field(default_factory=dict)
    sheets: list[str] = field(default_factory=list)  # known even when the chosen sheet could not be read
    result: object | None = None  # casenotes.pipeline.FileResult of this session's run
    earlier: bool = False  # done or interrupted by a run of an earlier session

    @property
    def rows(self) -> int:
        return self.summary.rows if self.summary else 0

    @property
    def resumable(self) -> bool:
        return self.status in ("cancelled", "interrupted")

    @property
    def short_error(self) -> str:
        """The error without the file name it starts with: the File column already shows it."""
        error = self.error or ""
        prefix = f"{self.path.name}: "
        return error[len(prefix):] if error.startswith(prefix) else error

    def status_text(self) -> str:
        if self.status == "failed":
            return f"failed: {self.short_error}" if self.error else "failed"
        if self.status in ("cancelled", "interrupted"):
            return f"{self.status}: {self.rows_done:,} of {self.rows:,} rows done (resume)" if self.rows else f"{self.status} (resume)"
        if self.status == "done":
            if self.result is not None:
                review = self.result.rows_needing_review
                return f"done: {review:,} row(s) to review" if review else "done: nothing flagged"
            return "done (earlier run)" if self.earlier else "done"
        return self.status

    def saved(self) -> dict:
        """What the queue keeps between sessions: the file and the clerk's choices, never content."""
        return {"path": str(self.path), "sheet": self.sheet, "text_columns": list(self.text_columns),
                "id_column": self.id_column, "safe_columns": list(self.safe_columns),
                "excluded_columns": list(self.excluded_columns)}

    @classmethod
    def from_saved(cls, saved: dict) -> "QueueItem":
        return cls(Path(saved["path"]), sheet=saved.get("sheet"), text_columns=tuple(saved.get("text_columns", ())),
                   id_column=saved.get("id_column"), safe_columns=tuple(saved.get("safe_columns", ())),
                   excluded_columns=tuple(saved.get("excluded_columns", ())))

    def overrides(self) -> dict:
        """This file's choices, as RunOptions fields."""
        return {"sheet": self.sheet, "text_columns": self.text_columns, "id_column": self.id_column,
                "safe_columns": self.safe_columns, "excluded_columns": self.excluded_columns}

    def plan_tooltip(self) -> str:
        """Which columns are replaced, de-identified, kept or left out: visible before the run."""
        lines = [f"{column}: {decision.action}" + (f" ({decision.kind})" if decision.kind else "")
                 for column, decision in self.summary.plan.columns.items()]
        return "\n".join(lines + ["", "Ctrl+L or double-click to change"])

    def reset_columns(self) -> None:
        self.text_columns, self.id_column, self.safe_columns, self.excluded_columns = (), None, (), ()

    def columns_summary(self) -> str:
        """'8 columns: 1 note, 5 de-identified, 2 kept' for the queue."""
        if not self.summary:
            return ""
        from collections import Counter

        from casenotes.io.columns import FREE_TEXT, IDENTIFIER, KEPT, LEFT_OUT, NOTE, PATIENT_KEY

        counts = Counter(d.action for d in self.summary.plan.columns.values())
        parts = [(counts[NOTE], "note" if counts[NOTE] == 1 else "notes"),
                 (counts[FREE_TEXT] + counts[IDENTIFIER] + counts[PATIENT_KEY], "de-identified"),
                 (counts[KEPT], "kept"), (counts[LEFT_OUT], "left out")]
        return f"{len(self.summary.plan.columns)} columns: " + ", ".join(f"{n} {what}" for n, what in parts if n)


class QueueModel(QAbstractTableModel):
    COLUMNS = ("File", "Sheet", "Rows", "Note column", "ID column", "Columns", "Status", "Progress", "Output")
    FILE, SHEET, ROWS, NOTE, ID, PLAN, STATUS, PROGRESS, OUTPUT = range(9)
    EDITABLE = {SHEET, NOTE, ID}
    IDLE = ("ready", "done", "failed", "cancelled", "interrupted")  # statuses whose choices can change
    TOOLTIPS = {
        FILE: "The spreadsheet; it is never modified",
        SHEET: "The sheet to process (double-click to choose another)",
        ROWS: "Data rows in the sheet",
        NOTE: "The free-text column that is de-identified (double-click to change)",
        ID: "The patient or row ID column, replaced by a pseudonymous key (double-click to change)",
        PLAN: "What is done to every column: de-identified, kept or left out (double-click or Ctrl+L to change)",
        STATUS: "Reading, ready, running, done, cancelled or interrupted (resume continues it) or failed (double-click for why)",
        PROGRESS: "Rows processed in this file",
        OUTPUT: "The annotated workbook, once written",
    }

    choice_changed = Signal(object, int)  # (QueueItem, column): the clerk picked another sheet or column

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[QueueItem] = []

    def setData(self, index, value, role=Qt.EditRole) -> bool:
        if role != Qt.EditRole or index.column() not in self.EDITABLE:
            return False
        item, col = self.items[index.row()], index.column()
        value = value or None
        if col == self.SHEET:
            if value == item.sheet:
                return False
            item.sheet = value
        elif col == self.NOTE:
            if not value or (value,) == tuple(item.text_columns):
                return False
            item.text_columns = (value,)
            item.safe_columns = tuple(c for c in item.safe_columns if c != value)
            item.excluded_columns = tuple(c for c in item.excluded_columns if c != value)
        else:
            if (value or "") == (item.id_column or ""):
                return False
            item.id_column = value or ""
        self.changed(item)
        self.choice_changed.emit(item, col)
        return True

    # --- Qt model API ----------------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal:
            if role == Qt.DisplayRole:
                return self.COLUMNS[section]
            if role == Qt.ToolTipRole:
                return self.TOOLTIPS[section]
        return None

    def flags(self, index):
        base = Qt.ItemIsEnabled | Qt.ItemIsSelectable
        item = self.items[index.row()]
        if item.status not in self.IDLE:  # reading, queued, running or loading models
            return base
        if index.column() == self.SHEET and item.sheets:
            return base | Qt.ItemIsEditable  # also when the file failed: another sheet may hold the notes
        if index.column() in self.EDITABLE and item.summary:
            return base | Qt.ItemIsEditable
        return base

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        item, col = self.items[index.row()], index.column()
        if role == Qt.DisplayRole:
            return self._display(item, col)
        if role == Qt.EditRole:
            return {self.SHEET: item.sheet, self.NOTE: item.summary.text_columns[0] if item.summary else None,
                    self.ID: item.summary.id_column if item.summary else None}.get(col)
        if role == Qt.ToolTipRole:
            if col == self.STATUS and item.error:
                return item.error
            if col == self.STATUS and item.result is not None:
                return "\n".join([item.result.verdict(), *item.result.summary_lines()])
            if col == self.PLAN and item.summary:
                return item.plan_tooltip()
            if col == self.FILE:
                return str(item.path)
            if col == self.OUTPUT and item.output:
                return str(item.output)
            return self.TOOLTIPS[col]
        if role == Qt.UserRole and col == self.PROGRESS:
            return item.progress
        return None

    def _display(self, item: QueueItem, col: int):
        if col == self.FILE:
            return item.path.name
        if col == self.SHEET:
            return item.sheet or (sheetless_label(item.path) if item.summary else "")
        if col == self.ROWS:
            return f"{item.rows:,}" if item.summary else ""
        if not item.summary and col in (self.NOTE, self.ID, self.PLAN):
            return ""
        if col == self.NOTE:
            return ", ".join(item.summary.text_columns)
        if col == self.ID:
            return item.summary.id_column or "(none)"
        if col == self.PLAN:
            return item.columns_summary()
        if col == self.STATUS:
            return item.status_text()
        if col == self.PROGRESS:
            return f"{item.progress}%"
        if col == self.OUTPUT:
            return item.output.name if item.output else ""
        return None

    # --- queue operations ------------------------------------------------------------------------

    def add(self, path: Path) -> QueueItem | None:
        item = QueueItem(path)
        return item if self.add_item(item) else None

    def add_item(self, item: QueueItem) -> bool:
        """Append unless the file is already queued."""
        if any(i.path == item.path for i in self.items):
            return False
        self.beginInsertRows(QModelIndex(), len(self.items), len(self.items))
        self.items.append(item)
        self.endInsertRows()
        return True

    def remove_rows(self, rows: list[int]) -> None:
        for row in sorted(rows, reverse=True):
            if self.items[row].status in ("running", "queued"):
                continue
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()

    def changed(self, item: QueueItem) -> None:
        if item in self.items:
            row = self.items.index(item)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))

    def item_for(self, path: Path) -> QueueItem | None:
        return next((i for i in self.items if i.path == path), None)
