"""The main window: a queue of spreadsheets, their preview, the run settings, and the run itself."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHeaderView, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSplitter, QTableView, QToolBar, QVBoxLayout, QWidget)

from core.io.preview import inspect_file, preview_rows
from core.phi.department import DepartmentLists, learn_from_review, read_staff_list
from core.pipeline import FileResult, Progress, output_paths
from desktop.delegates import ChoiceDelegate, ProgressDelegate
from desktop.preview import PreviewPane
from core.io.readers import SUPPORTED_EXTENSIONS
from desktop.queue_model import QueueItem, QueueModel
from desktop.settings import AppSettings
from desktop.settings_panel import SettingsPanel
from desktop.worker import CallWorker, RunWorker, Workers, import_libraries

CLOSE_WAIT_MS = 15000
PREVIEW_ROWS = 5


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("casenotes: de-identify, summarize and code case notes (offline)")
        self.setAcceptDrops(True)
        self.settings = AppSettings.load()
        self.workers = Workers(self)
        self.model = QueueModel(self)
        self.model.choice_changed.connect(self._choice_changed)
        self.run_worker: RunWorker | None = None
        self._run_paths: list[Path] = []
        self._run_started = 0.0
        self._rows_before: dict[Path, int] = {}
        self._preview_step = None  # DeidentifyStep for previews; created (and its model loaded) off the GUI thread
        self._preview_busy = False
        self._preview_pending: QueueItem | None = None
        self._build_ui()
        self._restore_geometry()
        self._update_actions()
        self._import_libraries()

    # --- layout ------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed
                                   | QAbstractItemView.SelectedClicked)
        self.table.setAccessibleName("File queue")
        self.table.setToolTip("Drop spreadsheets or folders here. Double-click a sheet or column to change it.")
        choice = ChoiceDelegate(self.table)
        for col in QueueModel.EDITABLE:
            self.table.setItemDelegateForColumn(col, choice)
        self.table.setItemDelegateForColumn(QueueModel.PROGRESS, ProgressDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        for col, width in ((0, 200), (1, 100), (2, 60), (3, 130), (4, 100), (5, 230), (6, 150), (7, 100)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(self._double_clicked)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.notice.setToolTip("Files that were not added, and why")
        self.preview = PreviewPane()
        self.settings_panel = SettingsPanel(self.settings)
        self.settings_panel.changed.connect(self._settings_changed)
        self._preview_mode = (self.settings.mode, self.settings.deid_model)

        self.overall = QProgressBar()
        self.overall.setToolTip("All queued files: rows done")
        self.overall.setAccessibleName("Overall progress")
        self.overall_label = QLabel("Drop spreadsheets (.xlsx, .xlsm, .csv, .tsv) or folders here, or use Add files (Ctrl+O).")
        self.overall_label.setToolTip("Rows done, rows per second and time left")

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table)
        top_layout.addWidget(self.notice)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(top)
        bottom = QSplitter(Qt.Horizontal)
        bottom.addWidget(self.preview)
        bottom.addWidget(self.settings_panel)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.overall_label)
        layout.addWidget(self.overall)
        self.setCentralWidget(central)

        toolbar = QToolBar("Actions")
        toolbar.setObjectName("actions")
        self.addToolBar(toolbar)
        self.add_action = self._action("&Add files…", QKeySequence.Open, "Add spreadsheets to the queue (Ctrl+O)", self.add_files_dialog)
        self.run_action = self._action("&Run", QKeySequence("Ctrl+R"), "Process the queue in the background (Ctrl+R)", self.start_run)
        self.cancel_action = self._action("&Cancel", QKeySequence(Qt.Key_Escape), "Stop at the next batch; what is done is kept (Esc)", self.cancel_run)
        self.resume_action = self._action("Res&ume", QKeySequence("Ctrl+Shift+R"), "Continue cancelled files where they stopped (Ctrl+Shift+R)", self.resume_run)
        self.open_action = self._action("&Open workbook", QKeySequence("Ctrl+Return"), "Open the selected file's annotated workbook (Ctrl+Enter)", self.open_output)
        self.folder_action = self._action("Show in &folder", QKeySequence("Ctrl+Shift+F"), "Show the output folder (Ctrl+Shift+F)", self.show_folder)
        self.details_action = self._action("Error &details…", QKeySequence("Ctrl+I"), "Why the selected file failed (Ctrl+I)", self.show_error)
        self.remove_action = self._action("Re&move", QKeySequence.Delete, "Remove the selected files from the queue (Del)", self.remove_selected)
        self.columns_action = self._action("Co&lumns…", QKeySequence("Ctrl+L"), "What is done to each column of the selected file (Ctrl+L)", self.edit_columns)
        self.train_action = self._action("&Train coder…", QKeySequence("Ctrl+T"), "Fine-tune a coder on the department's coded notes (Ctrl+T)", self.open_train_dialog)
        self.learn_action = self._action("&Learn from review…", QKeySequence("Ctrl+Shift+L"), "Add a review workbook's corrections (missed PHI, false alarms) to the department's lists (Ctrl+Shift+L)", self.learn_from_review)
        self.staff_action = self._action("Load &staff list…", QKeySequence("Ctrl+Shift+S"), "Load the department's clinician names, found and removed in every note (Ctrl+Shift+S)", self.load_staff_list)
        for action in (self.add_action, self.run_action, self.cancel_action, self.resume_action, None, self.open_action,
                       self.folder_action, self.details_action, self.remove_action, None, self.columns_action, None,
                       self.train_action, self.learn_action, self.staff_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.statusBar().showMessage("Ready. Nothing leaves this computer.")
        self.resize(1200, 800)

    def _action(self, text, shortcut, tip, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _restore_geometry(self) -> None:
        geometry = QSettings().value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # --- adding files --------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        self.add_paths(paths)
        event.acceptProposedAction()

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add spreadsheets", "",
                                                "Spreadsheets (*.xlsx *.xlsm *.csv *.tsv);;All files (*)")
        self.add_paths([Path(f) for f in files])

    def add_paths(self, paths: list[Path]) -> list[QueueItem]:
        """Queue supported files (folders are searched); say which others were refused and why."""
        refused, added = [], []
        for path in paths:
            candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            if path.is_dir() and not any(p.suffix.lower() in SUPPORTED_EXTENSIONS for p in candidates):
                refused.append(f"{path.name} (folder with no spreadsheets)")
            for file in candidates:
                if file.name.startswith((".", "~$")) or ".casenotes." in file.name:
                    continue  # temp files, Excel lock files and our own outputs
                if file.suffix.lower() not in SUPPORTED_EXTENSIONS:
                    if not path.is_dir():
                        refused.append(f"{file.name} (not a spreadsheet: use .xlsx, .xlsm, .csv or .tsv)")
                    continue
                if not file.is_file():
                    refused.append(f"{file.name} (file not found)")
                    continue
                item = self.model.add(file.resolve())
                if item is None:
                    refused.append(f"{file.name} (already in the queue)")
                    continue
                added.append(item)
                self._inspect(item)
        self.notice.setText("Not added: " + "; ".join(refused) if refused else "")
        self.notice.setVisible(bool(refused))
        if added and not self.table.selectionModel().hasSelection():
            self.table.selectRow(self.model.items.index(added[0]))
        self._update_actions()
        return added

    def _inspect(self, item: QueueItem) -> None:
        item.status = "reading"
        self.model.changed(item)
        path, options = item.path, self._options_for(item)
        worker = CallWorker(lambda: inspect_file(path, options), tag=item, needs_libraries=False)
        worker.done.connect(self._inspected)
        worker.failed.connect(self._file_failed)
        self.workers.start(worker)

    @Slot(object, object)
    def _inspected(self, item: QueueItem, summary) -> None:
        item.summary, item.sheet = summary, summary.sheet
        item.status, item.error = "ready", None
        self.model.changed(item)
        self._update_actions()
        if item is self.selected_item():
            self._request_preview(item)

    @Slot(object, str)
    def _file_failed(self, item: QueueItem, message: str) -> None:
        item.status, item.error = "failed", message
        self.model.changed(item)
        self._update_actions()

    @Slot(object, int)
    def _choice_changed(self, item: QueueItem, column: int) -> None:
        if column == QueueModel.SHEET:  # another sheet has other columns: detect them again
            item.reset_columns()
        self._inspect(item)  # the plan of every column follows the choice; the preview follows the plan

    def _options_for(self, item: QueueItem):
        """The run's options with this file's choices: the preview and the run plan alike."""
        return replace(self.settings.run_options(), **item.overrides())

    def edit_columns(self) -> None:
        from desktop.columns_dialog import ColumnsDialog

        item = self.selected_item()
        if item is None or item.summary is None or item.status in ("running", "queued"):
            return
        dialog = ColumnsDialog(item, self)
        if dialog.exec():
            self._inspect(item)

    # --- preview -------------------------------------------------------------------------------------

    def selected_item(self) -> QueueItem | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.items[rows[0].row()] if rows else None

    def _selection_changed(self, *_):
        item = self.selected_item()
        self._update_actions()
        if item is None:
            self.preview.show_message("Preview: select a file in the queue")
        elif item.summary is not None:
            self._request_preview(item)
        elif item.status == "failed":
            self.preview.show_message(f"{item.path.name}: {item.error}")

    def _request_preview(self, item: QueueItem) -> None:
        if self._preview_busy:
            self._preview_pending = item
            return
        self._preview_busy = True
        self.preview.show_message(f"Preview of {item.path.name}: loading the PHI engine…" if self._preview_step is None
                                  else f"Preview of {item.path.name}: de-identifying the first notes…")
        mode, tagger = self.settings.mode, self.settings.deid_model or None
        path, options = item.path, self._options_for(item)

        def compute():
            step = self._preview_step_for(mode, tagger)
            return preview_rows(path, options, step, PREVIEW_ROWS)

        worker = CallWorker(compute, tag=item)
        worker.done.connect(self._preview_done)
        worker.failed.connect(self._preview_failed)
        self.workers.start(worker)

    def _preview_step_for(self, mode: str, tagger: str | None):
        """Runs on the worker thread: the engine loads there, never on the GUI thread."""
        from core.keys import KeyRing
        from core.phi.department import DepartmentLists
        from core.phi.engine import PhiEngine
        from core.phi.replace import Replacer
        from core.steps import DeidentifyStep

        step = self._preview_step
        if step is None or step.engine.deid_model != tagger:
            engine = PhiEngine(department=DepartmentLists.load(), deid_model=tagger)
            step = DeidentifyStep(Replacer(mode, KeyRing.load_or_create()), engine)
        elif step.replacer.mode != mode:
            step = DeidentifyStep(Replacer(mode, KeyRing.load_or_create()), step.engine)
        self._preview_step = step
        self._preview_step.load()
        return self._preview_step

    @Slot(object, str)
    def _preview_failed(self, item: QueueItem, message: str) -> None:
        self._preview_done(item, None, message)

    @Slot(object, object)
    def _preview_done(self, item: QueueItem, rows, message: str | None = None) -> None:
        self._preview_busy = False
        pending, self._preview_pending = self._preview_pending, None
        if pending is not None:
            # asked again while this one ran: for another file, or the same file with another sheet,
            # columns or mode; what just finished is out of date
            self._request_preview(pending)
            return
        if item is not self.selected_item():
            return
        if rows is None:
            self.preview.show_message(f"Preview of {item.path.name} failed: {message}")
        else:
            self.preview.show_rows(item.path.name, rows)

    # --- running -------------------------------------------------------------------------------------

    def start_run(self) -> None:
        self._start([i for i in self.model.items if i.status in ("ready", "failed") and i.summary], resume=False)

    def resume_run(self) -> None:
        self._start([i for i in self.model.items if i.resumable], resume=True)

    def _start(self, items: list[QueueItem], resume: bool) -> None:
        if self.run_worker is not None or not items:
            return
        options = self.settings.run_options()
        per_file = {}
        for item in items:
            per_file[item.path] = {**item.overrides(), "resume": resume}
            item.status, item.error = "queued", None
            if not resume:
                item.progress = item.rows_done = 0
            self.model.changed(item)
        self._run_paths = [i.path for i in items]
        self._rows_before = {i.path: i.rows_done for i in items}
        self._run_started = time.perf_counter()
        self.overall.setRange(0, max(1, sum(i.rows for i in items)))
        self.overall.setValue(sum(self._rows_before.values()))
        self.run_worker = RunWorker(self._run_paths, options, per_file)
        self.run_worker.progress.connect(self._on_progress)
        self.run_worker.file_done.connect(self._on_file_done)
        self.run_worker.finished.connect(self._on_run_finished)
        self.run_worker.failed.connect(self._on_run_failed)
        self.workers.start(self.run_worker)
        self.statusBar().showMessage("Running… models load in the background")
        self._update_actions()

    def cancel_run(self) -> None:
        if self.run_worker is not None:
            self.run_worker.cancel()
            self.statusBar().showMessage("Cancelling at the next batch; finished rows are kept")

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if not 0 <= p.file_index < len(self._run_paths):
            return
        item = self.model.item_for(self._run_paths[p.file_index])
        if item is None:
            return
        item.status = "running" if p.stage == "processing" else p.stage
        item.rows_done = p.rows_done
        self.statusBar().showMessage(f"Running file {p.file_index + 1} of {p.files_total}: {item.path.name} ({p.stage})")
        item.progress = int(100 * p.rows_done / p.rows_total) if p.rows_total else 100
        self.model.changed(item)
        self._update_overall()

    def _update_overall(self) -> None:
        items = [self.model.item_for(p) for p in self._run_paths]
        done = sum(i.rows_done for i in items if i)
        total = sum(i.rows for i in items if i)
        new_rows = done - sum(self._rows_before.values())
        elapsed = time.perf_counter() - self._run_started
        rate = new_rows / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else None
        self.overall.setMaximum(max(1, total))
        self.overall.setValue(done)
        eta = f"{int(left // 60)} min {int(left % 60)} s left" if left is not None else "estimating time left"
        self.overall_label.setText(f"{done:,} of {total:,} rows · {rate:.1f} rows/s · {eta}")

    @Slot(object)
    def _on_file_done(self, result: FileResult) -> None:
        item = self.model.item_for(result.input)
        if item is None:
            return
        item.status = result.status
        item.error = result.error if result.status != "done" else None
        item.outputs = dict(result.outputs)
        item.output = result.outputs.get("workbook")
        if result.status == "done":
            item.progress, item.rows_done = 100, item.rows
        self.model.changed(item)
        self._update_overall()
        self._update_actions()

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Run failed: {message}")
        for path in self._run_paths:
            item = self.model.item_for(path)
            if item and item.status in ("queued", "running"):
                item.status, item.error = "failed", message
                self.model.changed(item)

    @Slot(list)
    def _on_run_finished(self, results: list) -> None:
        self.run_worker = None
        done = sum(r.status == "done" for r in results)
        self.statusBar().showMessage(f"Finished: {done} of {len(results)} files done"
                                     + ("; cancelled files can be resumed" if any(r.status == "cancelled" for r in results) else ""))
        self._update_actions()

    # --- file actions --------------------------------------------------------------------------------

    def open_output(self) -> None:
        item = self.selected_item()
        if item and item.output and item.output.exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(item.output)))

    def show_folder(self) -> None:
        item = self.selected_item()
        if item:
            folder = item.output.parent if item.output else output_paths(item.path, self.settings.run_options())["workbook"].parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def show_error(self) -> None:
        item = self.selected_item()
        if item and item.error:
            QMessageBox.warning(self, "casenotes: file not processed", f"{item.path.name}\n\n{item.error}")

    def remove_selected(self) -> None:
        self.model.remove_rows([i.row() for i in self.table.selectionModel().selectedRows()])
        self._update_actions()

    def _double_clicked(self, index) -> None:
        item = self.model.items[index.row()]
        if index.column() == QueueModel.STATUS and item.error:
            self.show_error()
        elif index.column() == QueueModel.OUTPUT and item.output:
            self.open_output()
        elif index.column() == QueueModel.PLAN:
            self.edit_columns()

    @Slot()
    def _settings_changed(self) -> None:
        """Another replacement mode or PHI tagger changes what the run writes: the preview shows it at once."""
        if (self.settings.mode, self.settings.deid_model) != self._preview_mode:
            self._preview_mode = (self.settings.mode, self.settings.deid_model)
            item = self.selected_item()
            if item is not None and item.summary is not None:
                self._request_preview(item)

    # --- the department's lists -----------------------------------------------------------------------

    def learn_from_review(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Learn from a review workbook", "", "Review workbook (*.xlsx)")
        if path:
            self._update_department(lambda lists: learn_from_review(Path(path), lists).lines(), "Learn from review")

    def load_staff_list(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load the staff list", "",
                                              "Staff list (*.xlsx *.xlsm *.csv *.tsv *.txt)")
        if path:
            def add(lists):
                names = read_staff_list(Path(path))
                return [f"{lists.add_staff(names)} new staff name(s) of {len(names)} read"]

            self._update_department(add, "Load staff list")

    def _update_department(self, change, title: str) -> None:
        """Change the lists off the GUI thread; report counts only (the lists are PHI)."""
        def work():
            lists = DepartmentLists.load()
            lines = change(lists)
            lists.save()
            return lines + ["The department's lists now hold "
                            + ", ".join(f"{n} {what}" for what, n in lists.counts().items()) + "."]

        worker = CallWorker(work, tag=title, needs_libraries=False)
        worker.done.connect(self._department_updated)
        worker.failed.connect(lambda tag, message: QMessageBox.warning(self, tag, message))
        self.workers.start(worker)

    @Slot(object, object)
    def _department_updated(self, title, lines) -> None:
        self._preview_step = None  # the next preview loads the engine with the new lists
        QMessageBox.information(self, title, "\n".join(lines) + "\nThe next runs and previews use them.")
        item = self.selected_item()
        if item is not None and item.summary is not None:
            self._request_preview(item)

    def open_train_dialog(self):
        from desktop.train_dialog import TrainDialog

        device = self.settings.device if self.settings.device != "auto" else ("cuda" if self.settings_panel.device.findData("cuda") >= 0 else "cpu")
        dialog = TrainDialog(device, self)
        dialog.model_ready.connect(self._use_trained_coder)
        dialog.show()
        return dialog

    @Slot(str)
    def _use_trained_coder(self, folder: str) -> None:
        self.settings_panel.code.setChecked(True)
        self.settings_panel.coder.set_value(folder)
        self.settings_panel._store()

    def _update_actions(self) -> None:
        running = self.run_worker is not None
        item = self.selected_item()
        self.run_action.setEnabled(not running and any(i.status in ("ready", "failed") and i.summary for i in self.model.items))
        self.resume_action.setEnabled(not running and any(i.resumable for i in self.model.items))
        self.cancel_action.setEnabled(running)
        self.open_action.setEnabled(bool(item and item.output))
        self.folder_action.setEnabled(item is not None)
        self.details_action.setEnabled(bool(item and item.error))
        self.remove_action.setEnabled(item is not None and not running)
        self.columns_action.setEnabled(bool(item and item.summary) and not running)
        self.learn_action.setEnabled(not running)
        self.staff_action.setEnabled(not running)
        self.settings_panel.setEnabled(not running)

    def _import_libraries(self) -> None:
        """The model libraries load in the background while the clerk adds files; the GPU is then known."""
        worker = CallWorker(import_libraries, needs_libraries=False)
        worker.done.connect(self._gpu_detected)
        self.workers.start(worker)

    @Slot(object, object)
    def _gpu_detected(self, _tag, name) -> None:
        if name:
            self.settings_panel.add_gpu(name)
        if self.run_worker is None:
            self.statusBar().showMessage(f"Ready ({'GPU: ' + name if name else 'CPU'}). Nothing leaves this computer.")

    # --- closing -------------------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if self.run_worker is not None:
            answer = QMessageBox.question(self, "casenotes", "A run is in progress. Cancel it and close?\n"
                                          "Finished rows are kept; cancelled files can be resumed later.")
            if answer != QMessageBox.Yes:
                event.ignore()
                return
        QSettings().setValue("window/geometry", self.saveGeometry())
        if not self.workers.stop_all(CLOSE_WAIT_MS):
            self.statusBar().showMessage("Still stopping…")
        event.accept()
