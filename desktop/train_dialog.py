"""Train a coder from the department's own coded notes (``casenotes train-coder`` in a dialog).

The status line always says what the dialog is waiting for: the next thing to fill in, the stage
of a running training, or how the last one ended. Train stays pressable so that pressing it too
early answers with what is missing and moves the focus there, instead of doing nothing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListWidget, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from casenotes.io.preview import inspect_file
from casenotes.io.readers import SUPPORTED_EXTENSIONS, SUPPORTED_NAMES
from casenotes_desktop.delegates import column_label
from casenotes_desktop.settings_panel import FolderField
from casenotes_desktop.worker import CallWorker, TrainWorker, Workers

NO_ID = "(none: split by row)"
TRAIN_TIP = "Start training in the background"


class TrainDialog(QDialog):
    model_ready = Signal(str)  # the new model folder, when the clerk chooses to use it

    def __init__(self, device: str = "cpu", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Train a coder from coded notes")
        self.device = device
        self.workers = Workers(self)
        self.worker: TrainWorker | None = None
        self.model_folder: Path | None = None
        self._reading: Path | None = None  # the file whose columns are being read
        self._notice = ""  # what happened to the last files added, until more are added or training starts
        self._outcome: tuple[str, tuple] | None = None  # the last training's end, and the inputs it had
        self._training_output: Path | None = None
        self._cancelling = False
        self._error = ""
        self._default_metrics: dict | None = None

        self.files = QListWidget()
        self.files.setToolTip("Spreadsheets with a note column and a column of assigned ICD-10-CM codes")
        self.add_button = QPushButton("&Add files…")
        self.add_button.setToolTip(f"Add coded spreadsheets ({SUPPORTED_NAMES})")
        self.add_button.clicked.connect(self._add_dialog)
        self.text_column, self.codes_column, self.id_column = QComboBox(), QComboBox(), QComboBox()
        self.text_column.setToolTip("The column with the note text")
        self.text_column.setPlaceholderText("Choose the note column")
        self.codes_column.setToolTip("The column with the codes the coders assigned, separated by ; or ,")
        self.codes_column.setPlaceholderText("Choose the codes column")
        self.id_column.setToolTip("Patient ID: the held-out check keeps each patient's notes on one side")
        self.base = FolderField("Bundled MiniLM encoder", "Start from a local Hugging Face encoder folder instead",
                                "Choose an encoder folder")
        self.with_classifier = QCheckBox("Also fine-tune a classifier (slower; it pays off with many notes per code)")
        self.with_classifier.setToolTip("The phrases, the neighbour vote and the ranker are always learned (minutes); a "
                                        "classifier adds most of the training time and helps only with thousands of "
                                        "notes per code")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100)
        self.epochs.setValue(10)
        self.epochs.setToolTip("Most passes over the data; training stops early when the held-out MAP stops improving")
        self.output = QLineEdit()
        self.output.setPlaceholderText("A new, empty folder for the model")
        self.output.setToolTip("Where the trained model and its model card are saved")
        self.output.setClearButtonEnabled(True)
        browse = QPushButton("Bro&wse…")
        browse.setToolTip("Choose the folder to save the model in")
        browse.clicked.connect(self._choose_output)
        self.progress = QProgressBar()
        self.progress.setToolTip("Progress of the current stage")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setToolTip("Per-epoch loss and held-out measures beside the default coder's (no note text)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Status")
        self.buttons = QDialogButtonBox()
        self.train_button = self.buttons.addButton("&Train", QDialogButtonBox.AcceptRole)
        self.train_button.setToolTip(TRAIN_TIP)
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

        # Labels are made here, each with its buddy: QFormLayout only sets a buddy when the field is a
        # widget, and a label without one shows its '&' instead of underlining the Alt key.
        self.form = QFormLayout()
        files_row = QHBoxLayout()
        files_row.addWidget(self.files, 1)
        files_row.addWidget(self.add_button)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        self.labels: dict[str, QLabel] = {}
        for text, field, buddy in (("Co&ded notes:", files_row, self.files),
                                   ("&Note column:", self.text_column, self.text_column),
                                   ("C&odes column:", self.codes_column, self.codes_column),
                                   ("&Patient ID column:", self.id_column, self.id_column),
                                   ("C&lassifier:", self.with_classifier, self.with_classifier),
                                   ("&Base encoder:", self.base, self.base),
                                   ("&Epochs:", self.epochs, self.epochs),
                                   ("&Save model to:", out_row, self.output)):
            label = QLabel(text)
            label.setBuddy(buddy)
            self.labels[text.replace("&", "").rstrip(":")] = label
            self.form.addRow(label, field)
        self._inputs_widgets: list[QWidget] = [self.files, self.add_button, self.text_column, self.codes_column,
                                               self.id_column, self.with_classifier, self.base, self.epochs,
                                               self.output, browse]
        for combo in (self.text_column, self.codes_column, self.id_column):
            combo.currentIndexChanged.connect(self._update)
        self.output.textChanged.connect(self._update)
        self.base.changed.connect(self._update)
        self.base.edit.textChanged.connect(self._update)
        self.epochs.valueChanged.connect(self._update)
        self.with_classifier.toggled.connect(self._update)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
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
        present = {self.files.item(i).text() for i in range(self.files.count())}
        refused = []
        for path in paths:
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS or not path.is_file():
                refused.append(f"{path.name} (not a .xlsx, .xlsm, .csv or .tsv file)")
            elif str(path) in present:
                refused.append(f"{path.name} (already added)")  # twice would count its notes twice
            else:
                self.files.addItem(str(path))
                present.add(str(path))
        self._notice = f"Not added: {', '.join(refused)}." if refused else ""
        self._read_columns()
        self._update()

    def _read_columns(self) -> None:
        """The drop-downs offer the first file's columns; the other files must have the same ones."""
        if not self.files.count() or self.text_column.count() or self._reading is not None:
            return
        first = Path(self.files.item(0).text())
        self._reading = first
        worker = CallWorker(lambda: inspect_file(first), tag=first)
        worker.done.connect(self._columns_read)
        worker.failed.connect(self._columns_failed)
        self.workers.start(worker)

    @Slot(object, object)
    def _columns_read(self, _path, summary) -> None:
        self._reading = None
        for combo in (self.text_column, self.codes_column, self.id_column):
            combo.blockSignals(True)
            combo.clear()
        self.id_column.addItem(NO_ID, "")
        for column in summary.columns:
            for combo in (self.text_column, self.codes_column, self.id_column):
                combo.addItem(column_label(summary, column), column)
        # Nothing is chosen for the clerk when nothing fits: a wrong guess would train on the wrong column.
        self.text_column.setCurrentIndex(self.text_column.findData(summary.text_columns[0]) if summary.text_columns
                                         else -1)
        codes = next((c for c in summary.columns if "code" in c.lower() or "icd" in c.lower()), None)
        self.codes_column.setCurrentIndex(self.codes_column.findData(codes) if codes else -1)
        self.id_column.setCurrentIndex(max(0, self.id_column.findData(summary.id_column or "")))
        for combo in (self.text_column, self.codes_column, self.id_column):
            combo.blockSignals(False)
        self._update()

    @Slot(object, str)
    def _columns_failed(self, path, message: str) -> None:
        self._reading = None
        for i in range(self.files.count()):
            if self.files.item(i).text() == str(path):
                self.files.takeItem(i)
                break
        self._notice = f"Not added: {message}"
        self._read_columns()  # the next file, if any
        self._update()

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the model in")
        if folder:
            self.output.setText(str(Path(folder) / "casenotes-coder"))

    def missing(self) -> tuple[str, QWidget | None] | None:
        """What Train still needs, as the status line says it, and the field to put it in; None when ready."""
        if self._reading is not None:
            return f"Reading the columns of {self._reading.name}…", None
        if not self.files.count():
            return "Add coded spreadsheets to begin (Add files…).", self.add_button
        text, codes = self.text_column.currentData(), self.codes_column.currentData()
        if not text:
            return "Next: choose the note column.", self.text_column
        if not codes:
            return "Next: choose the codes column (the ICD-10-CM codes the coders assigned).", self.codes_column
        if codes == text:
            return "The codes column is the note column: choose the column of codes.", self.codes_column
        if self.id_column.currentData() in (text, codes):
            return "The patient ID column cannot be the note or codes column: choose another.", self.id_column
        base = self.base.value()
        if base and not Path(base).expanduser().is_dir():
            return f"The base encoder folder '{Path(base).name}' does not exist: choose another or clear it.", self.base
        out = self.output.text().strip()
        if not out:
            return "Next: choose the output folder, a new, empty folder to save the model in (Save model to).", \
                self.output
        folder = Path(out).expanduser()
        if not folder.is_absolute():
            # A bare name would land in whatever folder the app happened to start in.
            return "The output folder needs its full path (Save model to), or use Browse…", self.output
        try:
            if folder.exists() and not folder.is_dir():
                return f"The output folder '{folder.name}' is a file: choose a new, empty folder (Save model to).", \
                    self.output
            if folder.is_dir() and any(folder.iterdir()):
                return f"The output folder '{folder.name}' is not empty: choose a new, empty folder (Save model to).", \
                    self.output
        except OSError:
            return f"The output folder '{folder.name}' cannot be read: choose another (Save model to).", self.output
        return None

    # --- training ----------------------------------------------------------------------------------

    def start(self) -> None:
        from casenotes.coding.train import TrainOptions

        if self.worker is not None:
            return
        gap = self.missing()
        if gap is not None:
            message, field = gap
            self._notice = ""
            self._outcome = None
            self.status.setText(message)
            if field is not None:
                field.setFocus(Qt.OtherFocusReason)
            return
        self._notice, self._outcome, self._cancelling, self._error, self._default_metrics = "", None, False, "", None
        self._training_output = Path(self.output.text().strip()).expanduser()
        self.model_folder = None  # until this training saves one, there is no model to use
        self.log.clear()  # this training's lines only
        options = TrainOptions(base=Path(self.base.value()).expanduser() if self.base.value() else None,
                               epochs=self.epochs.value(), device=self.device,
                               id_column=self.id_column.currentData() or None,
                               classifier=self.with_classifier.isChecked())
        self.worker = TrainWorker([Path(self.files.item(i).text()) for i in range(self.files.count())],
                                  self.text_column.currentData(), self.codes_column.currentData(),
                                  self.id_column.currentData() or None, self._training_output, options)
        self.worker.progress.connect(self._on_progress)
        self.worker.failed.connect(self._on_message)
        self.worker.finished.connect(self._on_finished)
        self.workers.start(self.worker)
        self.log.appendPlainText("Training started (the notes are de-identified first).")
        self.status.setText("Reading the coded spreadsheets…")
        self.progress.setRange(0, 0)
        self._update()

    def cancel(self) -> None:
        if self.worker is not None:
            self._cancelling = True
            self.worker.cancel()
            self.status.setText("Cancelling at the next batch…")

    def _bar(self, step: int, steps: int) -> None:
        if steps > 0:
            self.progress.setRange(0, steps)
            self.progress.setValue(step)
        else:
            self.progress.setRange(0, 0)  # busy: the stage has no countable steps

    @Slot(object)
    def _on_progress(self, p) -> None:
        from casenotes.coding.train import map_versus_default

        if self._cancelling:
            return  # "Cancelling…" stays until the worker stops
        if p.stage == "de-identifying":
            self.status.setText(f"De-identifying {p.steps} notes…")
            self._bar(0, 0)
        elif p.stage == "scoring the default coder":
            self.status.setText("Scoring the default coder under each coding convention, to learn which one the "
                                "department's codes follow…")
            self._bar(p.step, p.steps)
        elif p.stage == "scored the default coder":
            self._default_metrics = p.default_metrics or None
            if self._default_metrics:
                d = self._default_metrics
                self.log.appendPlainText(f"Default coder on the {p.steps} held-out notes: {_figures(d)}")
            else:
                self.log.appendPlainText("No held-out notes (one patient only): the model cannot be scored.")
        elif p.stage == "reading the notes":
            self.status.setText(f"Reading the notes for the codes' evidence: {p.step} of {p.steps}…")
            self._bar(p.step, p.steps)
        elif p.stage == "embedding the notes":
            self.status.setText("Embedding the notes for the neighbour vote…")
            self._bar(0, 0)
        elif p.stage == "learning from the training split":
            self.status.setText("Learning the phrases, the vote and the ranker from the training notes, "
                                "to score them on the held-out notes…")
            self._bar(p.step, p.steps)
        elif p.stage == "scored the trained coder" and p.trained_metrics:
            n = p.trained_metrics
            self.log.appendPlainText(f"Trained coder on the same notes: {map_versus_default(n, p.default_metrics)}, "
                                     + _figures(n, ("recall@5", "micro-F1")))
        elif p.stage == "learning from all notes":
            self.status.setText("Learning the phrases, the vote and the ranker from all the notes…")
            self._bar(p.step, p.steps)
        elif p.stage == "training":
            self.status.setText(f"Training: epoch {p.epoch} of {p.epochs}, batch {p.step} of {p.steps}")
            self._bar(p.step, p.steps)
        elif p.stage == "evaluating":
            self.status.setText(f"Scoring epoch {p.epoch} of {p.epochs} on the held-out notes…")
            self._bar(0, 0)
        elif p.stage == "evaluated" and p.report is not None:
            m = p.report.metrics
            self.log.appendPlainText(
                f"Classifier epoch {p.epoch}: loss {p.report.train_loss:.4f}; alone "
                f"{map_versus_default(m, p.default_metrics)}, {_figures(m, ('recall@5', 'micro-F1', 'macro-F1'))} "
                f"({p.report.seconds} s)")
        elif p.stage == "saving":
            self.status.setText("Saving the model…")
            self._bar(0, 0)

    @Slot(str)
    def _on_message(self, message: str) -> None:
        if not message.startswith("note:"):  # a note about skipped codes is not why training stopped
            self._error = message
        self.log.appendPlainText(message)

    @Slot(object)
    def _on_finished(self, card) -> None:
        from casenotes.coding.train import map_versus_default

        self.worker = None
        self.progress.setRange(0, 1)
        if card:
            self.model_folder = self._training_output
            summary = map_versus_default(card["trained_coder_metrics"], card.get("default_coder_metrics"))
            if card.get("history"):
                alone = card.get("classifier_metrics", {}).get("MAP")
                summary += (f" without the classifier; the classifier alone: MAP {alone:.2f}" if alone is not None else "") \
                    + f", classifier best epoch {card['best_epoch']} of {len(card['history'])}"
            self.progress.setValue(1)
            self.log.appendPlainText(f"Saved to {self.model_folder}: {summary}.")
            message = f"Done: saved {self.model_folder.name}; {summary}. Press Use as coder to code with it."
        elif self._cancelling or "cancelled" in self._error:
            self.progress.setValue(0)
            message = "Cancelled: nothing was saved."
        else:
            self.progress.setValue(0)
            message = f"Training failed: {self._error or 'see the log'}"
        self._outcome = (message, self._inputs())
        self._update()
        # The status may wrap to more lines and shrink the log: its last line must stay in view.
        bar = self.log.verticalScrollBar()
        QTimer.singleShot(0, lambda: bar.setValue(bar.maximum()))

    def _use(self) -> None:
        if self.model_folder:
            self.model_ready.emit(str(self.model_folder))
            self._outcome = ("The next runs will code with this model.", self._inputs())
            self._update()

    # --- state -------------------------------------------------------------------------------------

    def _inputs(self) -> tuple:
        return (tuple(self.files.item(i).text() for i in range(self.files.count())), self.text_column.currentData(),
                self.codes_column.currentData(), self.id_column.currentData(), self.with_classifier.isChecked(),
                self.base.value(), self.epochs.value(), self.output.text().strip())

    @Slot()
    def _update(self) -> None:
        running = self.worker is not None
        for widget in self._inputs_widgets:
            widget.setEnabled(not running)  # the running training keeps what it was started with
        for widget in (self.base, self.epochs):  # they set the classifier only
            widget.setEnabled(not running and self.with_classifier.isChecked())
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        # Only the model this dialog just saved, while "Save model to" still names it.
        self.use_button.setEnabled(self.model_folder is not None and not running
                                   and Path(self.output.text().strip()).expanduser() == self.model_folder)
        if running:
            return  # the progress reports say where it is
        gap = self.missing()
        self.train_button.setToolTip(f"Not ready yet. {gap[0]}" if gap else TRAIN_TIP)
        if self._outcome is not None and self._outcome[1] == self._inputs():
            self.status.setText(self._outcome[0])
            return
        self._outcome = None  # the inputs changed since: say what comes next instead
        self.progress.setRange(0, 1)
        self.progress.setValue(0)  # the last training's bar says nothing about the next one
        epochs = self.epochs.value()
        classifier = ("" if not self.with_classifier.isChecked() else ", then a classifier for 1 epoch" if epochs == 1
                      else f", then a classifier for up to {epochs} epochs, stopping early when the held-out MAP "
                      "stops improving")
        step = gap[0] if gap else (f"Ready: press Train (the department's phrases, neighbour vote and ranker, a few "
                                   f"minutes{classifier}).")
        self.status.setText(f"{self._notice} {step}" if self._notice else step)

    def closeEvent(self, event) -> None:
        if self.worker is not None:
            if QMessageBox.question(self, "casenotes", "Training is running. Cancel it and close?") != QMessageBox.Yes:
                event.ignore()
                return
        self.workers.stop_all(15000)
        event.accept()


def _figures(m: dict, names=("MAP", "recall@5", "micro-F1")) -> str:
    """Held-out figures as the log shows them, two decimals each."""
    keys = {"MAP": "MAP", "recall@5": "recall@5", "micro-F1": "micro_f1", "macro-F1": "macro_f1"}
    return ", ".join(f"{name} {m[keys[name]]:.2f}" for name in names if isinstance(m.get(keys[name]), (int, float)))
