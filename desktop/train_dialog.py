"""Train a coder from the department's own coded notes (``casenotes train-coder`` in a dialog)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout)

from core.io.preview import inspect_file
from core.io.readers import SUPPORTED_EXTENSIONS
from desktop.delegates import column_label
from desktop.settings_panel import FolderField
from desktop.worker import CallWorker, TrainWorker, Workers

NO_ID = "(none: split by row)"


class TrainDialog(QDialog):
    model_ready = Signal(str)  # the new model folder, when the clerk chooses to use it

    def __init__(self, device: str = "cpu", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Train a coder from coded notes")
        self.device = device
        self.workers = Workers(self)
        self.worker: TrainWorker | None = None
        self.model_folder: Path | None = None
        self.files = QListWidget()
        self.files.setToolTip("Spreadsheets with a note column and a column of assigned ICD-10-CM codes")
        add = QPushButton("&Add files…")
        add.setToolTip("Add coded spreadsheets (.xlsx, .xlsm, .csv, .tsv)")
        add.clicked.connect(self._add_dialog)
        self.text_column, self.codes_column, self.id_column = QComboBox(), QComboBox(), QComboBox()
        self.text_column.setToolTip("The column with the note text")
        self.codes_column.setToolTip("The column with the codes the coders assigned, separated by ; or ,")
        self.id_column.setToolTip("Patient ID: the held-out check keeps each patient's notes on one side")
        self.base = FolderField("Bundled MiniLM encoder", "Start from a local Hugging Face encoder folder instead",
                                "Choose an encoder folder")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100)
        self.epochs.setValue(10)
        self.epochs.setToolTip("Most passes over the data; training stops early when the held-out MAP stops improving")
        self.output = QLineEdit()
        self.output.setPlaceholderText("A new, empty folder for the model")
        self.output.setToolTip("Where the trained model and its model card are saved")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the folder to save the model in")
        browse.clicked.connect(self._choose_output)
        self.progress = QProgressBar()
        self.progress.setToolTip("Batches of the current epoch")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setToolTip("Per-epoch loss and held-out measures (no note text)")
        self.status = QLabel("Add coded spreadsheets to begin.")
        self.buttons = QDialogButtonBox()
        self.train_button = self.buttons.addButton("&Train", QDialogButtonBox.AcceptRole)
        self.train_button.setToolTip("Start training in the background")
        self.cancel_button = self.buttons.addButton("&Cancel training", QDialogButtonBox.RejectRole)
        self.cancel_button.setToolTip("Stop at the next batch; nothing is saved")
        self.use_button = self.buttons.addButton("&Use as coder", QDialogButtonBox.ApplyRole)
        self.use_button.setToolTip("Use the trained model for coding in the next runs")
        close = self.buttons.addButton(QDialogButtonBox.Close)
        close.setToolTip("Close this dialog")
        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self._use)
        close.clicked.connect(self.close)

        form = QFormLayout()
        files_row = QHBoxLayout()
        files_row.addWidget(self.files, 1)
        files_row.addWidget(add)
        form.addRow("Coded notes:", files_row)
        form.addRow("&Note column:", self.text_column)
        form.addRow("C&odes column:", self.codes_column)
        form.addRow("&Patient ID column:", self.id_column)
        form.addRow("&Base encoder:", self.base)
        form.addRow("&Epochs:", self.epochs)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        form.addRow("&Save model to:", out_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.buttons)
        self.resize(720, 620)
        self._update()

    # --- inputs ------------------------------------------------------------------------------------

    def _add_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add coded spreadsheets", "",
                                                "Spreadsheets (*.xlsx *.xlsm *.csv *.tsv)")
        self.add_files([Path(f) for f in files])

    def add_files(self, paths: list[Path]) -> None:
        for path in paths:
            if path.suffix.lower() in SUPPORTED_EXTENSIONS and path.is_file():
                self.files.addItem(str(path))
        if self.files.count() and not self.text_column.count():
            first = Path(self.files.item(0).text())
            worker = CallWorker(lambda: inspect_file(first), tag=first, needs_libraries=False)
            worker.done.connect(self._columns_read)
            worker.failed.connect(self._columns_failed)
            self.workers.start(worker)
        self._update()

    @Slot(object, object)
    def _columns_read(self, _path, summary) -> None:
        for combo in (self.text_column, self.codes_column, self.id_column):
            combo.clear()
        self.id_column.addItem(NO_ID, "")
        for column in summary.columns:
            for combo in (self.text_column, self.codes_column, self.id_column):
                combo.addItem(column_label(summary, column), column)
        self.text_column.setCurrentIndex(max(0, self.text_column.findData(summary.text_columns[0])))
        codes = next((c for c in summary.columns if "code" in c.lower() or "icd" in c.lower()), None)
        if codes:
            self.codes_column.setCurrentIndex(self.codes_column.findData(codes))
        if summary.id_column:
            self.id_column.setCurrentIndex(self.id_column.findData(summary.id_column))
        self._update()

    @Slot(object, str)
    def _columns_failed(self, _path, message: str) -> None:
        self.status.setText(message)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the model in")
        if folder:
            self.output.setText(str(Path(folder) / "casenotes-coder"))

    # --- training ----------------------------------------------------------------------------------

    def start(self) -> None:
        from core.coding.train import TrainOptions

        if self.worker is not None or not self.files.count() or not self.output.text().strip():
            return
        options = TrainOptions(base=Path(self.base.value()) if self.base.value() else None, epochs=self.epochs.value(),
                               device=self.device, id_column=self.id_column.currentData() or None)
        self.worker = TrainWorker([Path(self.files.item(i).text()) for i in range(self.files.count())],
                                  self.text_column.currentData(), self.codes_column.currentData(),
                                  self.id_column.currentData() or None, Path(self.output.text().strip()), options)
        self.worker.progress.connect(self._on_progress)
        self.worker.failed.connect(self._on_message)
        self.worker.finished.connect(self._on_finished)
        self.workers.start(self.worker)
        self.log.appendPlainText("Training started (the notes are de-identified first).")
        self._update()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling at the next batch…")

    @Slot(object)
    def _on_progress(self, p) -> None:
        self.status.setText(f"{p.stage.capitalize()}: epoch {p.epoch} of {p.epochs}")
        if p.stage == "training":
            self.progress.setRange(0, p.steps)
            self.progress.setValue(p.step)
        if p.report is not None:
            m = p.report.metrics
            self.log.appendPlainText(
                f"Epoch {p.epoch}: loss {p.report.train_loss:.4f}; held-out MAP {m.get('MAP')}, recall@5 "
                f"{m.get('recall@5')}, micro-F1 {m.get('micro_f1')}, macro-F1 {m.get('macro_f1')} ({p.report.seconds} s)")

    @Slot(str)
    def _on_message(self, message: str) -> None:
        self.log.appendPlainText(message)

    @Slot(object)
    def _on_finished(self, card) -> None:
        self.worker = None
        if card:
            self.model_folder = Path(self.output.text().strip())
            self.status.setText(f"Saved {self.model_folder.name}: best epoch {card['best_epoch']}, "
                                f"held-out MAP {card['held_out_metrics'].get('MAP')}")
            self.log.appendPlainText(f"Model and model card saved to {self.model_folder}")
        else:
            self.status.setText("Training did not finish; see the log.")
        self._update()

    def _use(self) -> None:
        if self.model_folder:
            self.model_ready.emit(str(self.model_folder))
            self.status.setText("The next runs will code with this model.")

    def _update(self) -> None:
        running = self.worker is not None
        self.train_button.setEnabled(not running and self.files.count() > 0 and self.text_column.count() > 0)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(self.model_folder is not None and not running)

    def closeEvent(self, event) -> None:
        if self.worker is not None:
            if QMessageBox.question(self, "casenotes", "Training is running. Cancel it and close?") != QMessageBox.Yes:
                event.ignore()
                return
        self.workers.stop_all(15000)
        event.accept()
