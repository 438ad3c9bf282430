"""Before and after: the first notes of the selected file, original and de-identified, side by side,
with every detection highlighted by type (the colours follow the light or dark theme)."""

from __future__ import annotations

import html

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from casenotes.io.preview import PreviewRow

# Hue per entity type; lightness is chosen from the theme.
HUES = {"NAME": 0, "DATE": 210, "LOCATION": 120, "FACILITY": 150, "ADDRESS": 90, "ZIP": 60, "AGE": 30, "PHONE": 280,
        "EMAIL": 300, "URL": 320, "IP_ADDRESS": 340, "SSN": 20, "ID": 250}


def highlight_color(entity: str, dark: bool) -> str:
    color = QColor.fromHsl(HUES.get(entity, 0), 170, 70 if dark else 215)
    return color.name()


def highlighted_html(text: str, spans: list[tuple[int, int, str]], dark: bool) -> str:
    out, cursor = [], 0
    for start, end, entity in sorted(spans):
        if start < cursor:
            continue
        out.append(html.escape(text[cursor:start]))
        out.append(f'<span style="background-color:{highlight_color(entity, dark)}" title="{entity}">'
                   f"{html.escape(text[start:end])}</span>")
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out).replace("\n", "<br>")


class PreviewPane(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("Preview: select a file in the queue")
        self.title.setToolTip("The first notes of the selected file, before and after de-identification")
        self.before = QTextBrowser()
        self.before.setToolTip("Original notes (shown on this workstation only, never written to the shareable file)")
        self.after = QTextBrowser()
        self.after.setToolTip("The same notes as the shareable workbook will have them")
        self.before.setAccessibleName("Original notes")
        self.after.setAccessibleName("De-identified notes")
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setToolTip("Colours of the detected types")
        self.title.setWordWrap(True)
        splitter = QSplitter()
        for label, browser in (("Before", self.before), ("After de-identification", self.after)):
            box = QWidget()
            layout = QVBoxLayout(box)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(QLabel(f"<b>{label}</b>"))
            layout.addWidget(browser)
            splitter.addWidget(box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.legend)
        layout.addWidget(splitter, 1)
        self.rows: list[PreviewRow] = []

    def _dark(self) -> bool:
        return self.palette().color(QPalette.Base).lightness() < 128

    def show_message(self, message: str) -> None:
        self.rows = []
        self.title.setText(message)
        self.before.clear()
        self.after.clear()
        self.legend.clear()

    def show_rows(self, file_name: str, rows: list[PreviewRow]) -> None:
        self.rows = rows
        dark = self._dark()
        found = sum(len(r.findings) for r in rows)
        self.title.setText(f"Preview of {file_name}: first {len(rows)} notes, {found} detections")
        sep = "<hr>"
        self.before.setHtml(sep.join(f"<p><b>Row {r.row}</b><br>{highlighted_html(r.original, r.findings, dark)}</p>"
                                     for r in rows))
        self.after.setHtml(sep.join(f"<p><b>Row {r.row}</b><br>{highlighted_html(r.deidentified, r.replacements, dark)}</p>"
                                    for r in rows))
        types = sorted({e for r in rows for _, _, e in r.findings})
        self.legend.setText(" ".join(f'<span style="background-color:{highlight_color(t, dark)}">&nbsp;{t}&nbsp;</span>'
                                     for t in types))
