"""Table cell editors and painters: drop-downs that show each column's first values, progress bars."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QStyle, QStyledItemDelegate, QStyleOptionProgressBar

from casenotes_desktop.queue_model import QueueModel

NO_ID = "(none)"


def column_label(summary, column: str) -> str:
    """A column as the drop-downs show it: its name and its first values."""
    samples = " | ".join(v for v in summary.samples.get(column, []) if v)
    return f"{column}  —  {samples}" if samples else column


class ChoiceDelegate(QStyledItemDelegate):
    """Sheet, note column and ID column are chosen from drop-downs; a column shows its first values."""

    def createEditor(self, parent, option, index):
        model: QueueModel = index.model()
        item = model.items[index.row()]
        combo = QComboBox(parent)
        combo.setToolTip(model.TOOLTIPS[index.column()])
        if index.column() == QueueModel.SHEET:
            for sheet in item.sheets:
                combo.addItem(sheet, sheet)
        else:
            if index.column() == QueueModel.ID:
                combo.addItem(NO_ID, "")
            for column in item.summary.columns:
                combo.addItem(column_label(item.summary, column), column)
                combo.setItemData(combo.count() - 1, "\n".join(item.summary.samples.get(column, [])), Qt.ToolTipRole)
        return combo

    def setEditorData(self, editor: QComboBox, index):
        value = index.model().data(index, Qt.EditRole) or ""
        found = editor.findData(value)
        editor.setCurrentIndex(max(0, found))

    def setModelData(self, editor: QComboBox, model, index):
        model.setData(index, editor.currentData(), Qt.EditRole)


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter, option, index):
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = int(index.data(Qt.UserRole) or 0)
        bar.text = f"{bar.progress}%"
        bar.textVisible = True
        # Qt 6 has no orientation field: without State_Horizontal the bar is drawn as a vertical strip.
        bar.state = option.state | QStyle.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.CE_ProgressBar, bar, painter, option.widget)
