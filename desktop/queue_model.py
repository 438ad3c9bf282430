"""The queue of files: one row per spreadsheet, with its choices, status, progress and output."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from core.io.preview import FileSummary


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
    status: str = "reading"  # reading, ready, queued, running, done, cancelled, failed
    progress: int = 0  # percent
    rows_done: int = 0
    output: Path | None = None
    error: str | None = None
    outputs: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.summary.rows if self.summary else 0

    @property
    def resumable(self) -> bool:
        return self.status == "cancelled"

    def overrides(self) -> dict:
        """This file's choices, as RunOptions fields."""
        return {"sheet": self.sheet, "text_columns": self.text_columns, "id_column": self.id_column,
                "safe_columns": self.safe_columns, "excluded_columns": self.excluded_columns}

    def reset_columns(self) -> None:
        self.text_columns, self.id_column, self.safe_columns, self.excluded_columns = (), None, (), ()

    def columns_summary(self) -> str:
        """'8 columns: 1 note, 5 de-identified, 2 kept' for the queue."""
        if not self.summary:
            return ""
        from collections import Counter

        from core.io.columns import FREE_TEXT, IDENTIFIER, KEPT, LEFT_OUT, NOTE, PATIENT_KEY

        counts = Counter(d.action for d in self.summary.plan.columns.values())
        parts = [(counts[NOTE], "note" if counts[NOTE] == 1 else "notes"),
                 (counts[FREE_TEXT] + counts[IDENTIFIER] + counts[PATIENT_KEY], "de-identified"),
                 (counts[KEPT], "kept"), (counts[LEFT_OUT], "left out")]
        return f"{len(self.summary.plan.columns)} columns: " + ", ".join(f"{n} {what}" for n, what in parts if n)


class QueueModel(QAbstractTableModel):
    COLUMNS = ("File", "Sheet", "Rows", "Note column", "ID column", "Columns", "Status", "Progress", "Output")
    FILE, SHEET, ROWS, NOTE, ID, PLAN, STATUS, PROGRESS, OUTPUT = range(9)
    EDITABLE = {SHEET, NOTE, ID}
    TOOLTIPS = {
        FILE: "The spreadsheet; it is never modified",
        SHEET: "The sheet to process (double-click to choose another)",
        ROWS: "Data rows in the sheet",
        NOTE: "The free-text column that is de-identified (double-click to change)",
        ID: "The patient or row ID column, replaced by a pseudonymous key (double-click to change)",
        PLAN: "What is done to every column: de-identified, kept or left out (double-click or Ctrl+L to change)",
        STATUS: "Reading, ready, running, done, cancelled (resumable) or failed",
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
        if index.column() in self.EDITABLE and item.summary and item.status in ("ready", "done", "failed", "cancelled"):
            if index.column() != self.SHEET or item.summary.sheets:
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
            return item.sheet or ("(text file)" if item.summary else "")
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
            label = {"cancelled": "cancelled (resumable)"}.get(item.status, item.status)
            return f"{label}: {item.error}" if item.status == "failed" and item.error else label
        if col == self.PROGRESS:
            return f"{item.progress}%"
        if col == self.OUTPUT:
            return item.output.name if item.output else ""
        return None

    # --- queue operations ------------------------------------------------------------------------

    def add(self, path: Path) -> QueueItem | None:
        if any(i.path == path for i in self.items):
            return None
        self.beginInsertRows(QModelIndex(), len(self.items), len(self.items))
        item = QueueItem(path)
        self.items.append(item)
        self.endInsertRows()
        return item

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
