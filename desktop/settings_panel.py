"""Run settings: steps, replacement mode, models, device, output folder, review workbook."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QMenu,
                               QPushButton, QToolButton, QWidget)

from casenotes_desktop.settings import AppSettings

DEFAULT_MODEL = "Embedded default"


class FolderField(QWidget):
    """A path with a Browse button; empty means the default. With a model kind, an Installed menu
    lists the models added to this installation (``casenotes models add``)."""

    changed = Signal()

    def __init__(self, placeholder: str, tooltip: str, dialog_title: str, parent=None, model_kind: str | None = None):
        super().__init__(parent)
        self.model_kind = model_kind
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setToolTip(tooltip)
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton("Browse…")
        self.button.setToolTip(dialog_title)
        self.dialog_title = dialog_title
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        if model_kind:
            self.installed = QToolButton()
            self.installed.setText("Installed")
            self.installed.setToolTip(f"Choose a {model_kind} model installed with 'casenotes models add'")
            self.installed.setPopupMode(QToolButton.InstantPopup)
            self.installed.setMenu(QMenu(self.installed))
            self.installed.menu().aboutToShow.connect(self._fill_installed)
            layout.addWidget(self.installed)
        layout.addWidget(self.button)
        self.button.clicked.connect(self._browse)
        self.edit.editingFinished.connect(self.changed)
        self.setFocusProxy(self.edit)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.dialog_title, self.edit.text())
        if folder:
            self.edit.setText(folder)
            self.changed.emit()

    def _fill_installed(self) -> None:
        from casenotes.models import installed

        menu = self.installed.menu()
        menu.clear()
        menu.addAction(self.edit.placeholderText(), lambda: self._choose(""))
        models = installed(self.model_kind)
        for model in models:
            menu.addAction(f"{model.name} ({model.architecture})", lambda path=model.path: self._choose(path))
        if not models:
            menu.addAction("(none installed)").setEnabled(False)

    def _choose(self, path: str) -> None:
        self.edit.setText(path)
        self.changed.emit()

    def value(self) -> str:
        return self.edit.text().strip()

    def set_value(self, value: str) -> None:
        self.edit.setText(value)


class SettingsPanel(QWidget):
    changed = Signal()

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.setToolTip("Settings for the next run; saved between sessions")
        self.deidentify = QCheckBox("De-identify (always)")
        self.deidentify.setChecked(True)
        self.deidentify.setEnabled(False)
        self.deidentify.setToolTip("PHI is always removed before anything else")
        self.summarize = QCheckBox("&Summarize")
        self.summarize.setToolTip("Add a summary of each de-identified note")
        self.code = QCheckBox("Suggest ICD-10-&CM codes")
        self.code.setToolTip("Suggest diagnosis codes with their evidence (first use builds a search index: ~2 minutes)")
        self.mode = QComboBox()
        self.mode.addItem("Tags like [NAME], [DATE]", "tags")
        self.mode.addItem("Realistic surrogates, dates shifted", "surrogates")
        self.mode.setToolTip("How PHI is replaced in the shareable workbook")
        self.summarizer = FolderField(DEFAULT_MODEL, "Summarizer: empty for the embedded default, or a local "
                                      "Hugging Face model folder", "Choose a summarization model folder",
                                      model_kind="summarizer")
        self.coder = FolderField(DEFAULT_MODEL, "Coder: empty for the embedded default, or a coder folder "
                                 "learned by Train coder (casenotes train-coder)", "Choose a coding model folder", model_kind="coder")
        self.deid_model = FolderField("Rules only", "PHI tagger: empty for casenotes' rules alone, or a model from "
                                      "'casenotes train-deid' that adds its detections to the rules'",
                                      "Choose a PHI tagger folder", model_kind="deid")
        self.device = QComboBox()
        self.device.addItem("Automatic", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.setToolTip("Where models run; Automatic uses the GPU when there is one")
        self.output_dir = FolderField("Beside each input file", "Where the annotated workbooks are written",
                                      "Choose the output folder")
        self.review = QCheckBox("Also write a review workbook with the original text (contains PHI)")
        self.review.setToolTip("For in-house checking only; clearly named REVIEW-CONTAINS-PHI")
        self.neutral_names = QCheckBox("Give outputs neutral names (deidentified-…), not the input's name")
        self.neutral_names.setToolTip("A file name such as Smith_John_MRN123.xlsx is itself PHI: with this, "
                                      "neither the output's name nor the workbook carries it")
        self.overwrite = QCheckBox("Replace earlier outputs of the same files")
        self.overwrite.setToolTip("Without this, a file whose workbook already exists is not processed again")
        form = QFormLayout(self)
        steps = QHBoxLayout()
        for box in (self.deidentify, self.summarize, self.code):
            steps.addWidget(box)
        steps.addStretch(1)
        form.addRow("Steps:", steps)
        form.addRow("&Replacement:", self.mode)
        form.addRow("Summari&zer:", self.summarizer)
        form.addRow("C&oder:", self.coder)
        form.addRow("PHI ta&gger:", self.deid_model)
        form.addRow("&Device:", self.device)
        form.addRow("O&utput folder:", self.output_dir)
        form.addRow("", self.review)
        form.addRow("", self.neutral_names)
        form.addRow("", self.overwrite)
        self._load()
        for signal in (self.summarize.toggled, self.code.toggled, self.review.toggled, self.overwrite.toggled,
                       self.neutral_names.toggled,
                       self.mode.currentIndexChanged,
                       self.device.currentIndexChanged, self.summarizer.changed, self.coder.changed, self.deid_model.changed,
                       self.output_dir.changed):
            signal.connect(self._store)

    def add_gpu(self, name: str) -> None:
        """Offer the GPU by name; detected after the window shows, because importing torch takes seconds."""
        if self.device.findData("cuda") < 0:
            self.device.addItem(f"GPU: {name}", "cuda")
            if self.settings.device == "cuda":
                self.device.setCurrentIndex(self.device.findData("cuda"))

    def _load(self) -> None:
        s = self.settings
        self.summarize.setChecked(s.summarize)
        self.code.setChecked(s.code)
        self.mode.setCurrentIndex(max(0, self.mode.findData(s.mode)))
        self.device.setCurrentIndex(max(0, self.device.findData(s.device)))
        self.summarizer.set_value(s.summarizer)
        self.coder.set_value(s.coder)
        self.deid_model.set_value(s.deid_model)
        self.output_dir.set_value(s.output_dir)
        self.review.setChecked(s.review)
        self.overwrite.setChecked(s.overwrite)
        self.neutral_names.setChecked(s.neutral_names)
        self._enable()

    def _enable(self) -> None:
        self.summarizer.setEnabled(self.summarize.isChecked())
        self.coder.setEnabled(self.code.isChecked())

    def _store(self) -> None:
        s = self.settings
        s.summarize, s.code, s.review = self.summarize.isChecked(), self.code.isChecked(), self.review.isChecked()
        s.overwrite, s.neutral_names = self.overwrite.isChecked(), self.neutral_names.isChecked()
        s.mode, s.device = self.mode.currentData(), self.device.currentData()
        s.summarizer, s.coder, s.output_dir = self.summarizer.value(), self.coder.value(), self.output_dir.value()
        s.deid_model = self.deid_model.value()
        s.save()
        self._enable()
        self.changed.emit()
