"""The queue table: says what to do when it is empty and lights up while files are dragged over it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPalette, QPen
from PySide6.QtWidgets import QAbstractItemView, QTableView

from casenotes.io.readers import SUPPORTED_NAMES

EMPTY_HINT = (f"Drop spreadsheets or folders here\n({SUPPORTED_NAMES})\n\n"
              "or use Add files (Ctrl+O). Nothing leaves this computer.")


class QueueView(QTableView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        # Tab moves on to the next control instead of from cell to cell: the clerk can leave the table.
        self.setTabKeyNavigation(False)
        self._drop_target = False

    def set_drop_target(self, active: bool) -> None:
        """Files are being dragged over the window: show where they will go."""
        if active != self._drop_target:
            self._drop_target = active
            self.viewport().update()

    @property
    def is_drop_target(self) -> bool:
        return self._drop_target

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        empty = self.model() is None or self.model().rowCount() == 0
        if not (empty or self._drop_target):
            return
        painter = QPainter(self.viewport())
        rect = self.viewport().rect().adjusted(6, 6, -6, -6)
        palette = self.palette()
        if self._drop_target:
            highlight = palette.color(QPalette.Highlight)
            fill = highlight.lighter(180) if palette.color(QPalette.Base).lightness() > 128 else highlight.darker(250)
            fill.setAlpha(90)
            painter.fillRect(rect, fill)
            painter.setPen(QPen(highlight, 2, Qt.DashLine))
            painter.drawRoundedRect(rect, 8, 8)
        if empty:
            painter.setPen(palette.color(QPalette.PlaceholderText))
            painter.drawText(rect, Qt.AlignCenter | Qt.TextWordWrap,
                             "Drop to add to the queue" if self._drop_target else EMPTY_HINT)
        painter.end()
