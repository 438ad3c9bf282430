"""The main window: a queue of spreadsheets, their preview, the run settings, and the run itself."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QFileDialog, QHeaderView, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QScrollArea, QSplitter, QToolBar, QVBoxLayout, QWidget)

from casenotes.io.preview import inspect_file
from casenotes.io.readers import SUPPORTED_EXTENSIONS, SUPPORTED_NAMES, list_sheets
from casenotes.phi.department import DepartmentLists, learn_from_review, read_staff_list
from casenotes.durations import rough_duration
from casenotes.pipeline import FileResult, Progress, output_paths, prior_run
from casenotes_desktop.delegates import ChoiceDelegate, ProgressDelegate
from casenotes_desktop.preview import PreviewPane
from casenotes_desktop.queue_model import QueueItem, QueueModel
from casenotes_desktop.queue_view import QueueView
from casenotes_desktop.settings import AppSettings, last_folder, load_queue, recent_files, remember_files, save_queue
from casenotes_desktop.settings_panel import SettingsPanel
from casenotes.run_process import PreviewProcess, RunProcess
from casenotes_desktop.worker import CallWorker, RunWorker, Workers

CLOSE_WAIT_MS = 15000
PREVIEW_ROWS = 5

DROP_HINT = f"Drop spreadsheets ({SUPPORTED_NAMES}) or folders here, or use Add files (Ctrl+O)."


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
        self._standby: RunProcess | None = None  # the next run's process, started early so it is warm
        self._run_paths: list[Path] = []
        self._rate_start: tuple[float, int] | None = None  # (time, rows done) when rows started flowing
        self._rows_before: dict[Path, int] = {}
        # Previews and the GPU's name come from a child process: models never load in the window's interpreter.
        self.preview_process = PreviewProcess()
        self._lists_version = 0  # bumped when the department's lists change: the preview engine is built again
        self._preview_engine_loaded = False
        self.engine_ready = False  # the preview process has answered once (its libraries are imported)
        self._preview_busy = False
        self._preview_pending: QueueItem | None = None
        self._build_ui()
        self._build_menus()
        self._restore_geometry()
        self._restore_queue()
        self._update_actions()
        self._detect_gpu()

    # --- layout ------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.table = QueueView()
        self.table.setModel(self.model)
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
        # The status says what happened and why; it takes the room that is left, not the output name.
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QueueModel.STATUS, QHeaderView.Stretch)
        for col, width in ((QueueModel.FILE, 180), (QueueModel.SHEET, 90), (QueueModel.ROWS, 55), (QueueModel.NOTE, 120),
                           (QueueModel.ID, 90), (QueueModel.PLAN, 210), (QueueModel.PROGRESS, 90), (QueueModel.OUTPUT, 150)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(self._double_clicked)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.notice.setToolTip("Files that were not added, and why")
        self.result_box = QLabel()
        self.result_box.setWordWrap(True)
        self.result_box.setVisible(False)
        self.result_box.setTextFormat(Qt.RichText)
        self.result_box.setTextInteractionFlags(Qt.TextBrowserInteraction)
        self.result_box.setAccessibleName("Result of the selected file")
        self.result_box.setToolTip("What the run did to the selected file: counts only, never note text")
        self.result_box.linkActivated.connect(self._result_link)
        self.preview = PreviewPane()
        self.settings_panel = SettingsPanel(self.settings)
        self.settings_panel.changed.connect(self._settings_changed)
        self._preview_mode = (self.settings.mode, self.settings.deid_model)

        self.overall = QProgressBar()
        self.overall.setToolTip("All queued files: rows done")
        self.overall.setAccessibleName("Overall progress")
        self.overall_label = QLabel(DROP_HINT)
        self.overall_label.setToolTip("Rows done, rows per second and time left")
        self.overall_label.setWordWrap(True)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table)
        top_layout.addWidget(self.notice)
        top_layout.addWidget(self.result_box)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(top)
        bottom = QSplitter(Qt.Horizontal)
        bottom.addWidget(self.preview)
        # Scrolls rather than forcing a minimum width: at 1.5x scale on a laptop the window must fit the screen.
        settings_scroll = QScrollArea()
        settings_scroll.setWidget(self.settings_panel)
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setFrameShape(QScrollArea.NoFrame)
        bottom.addWidget(settings_scroll)
        # The settings get the width they ask for where there is room; the preview takes the rest.
        panel_width = self.settings_panel.sizeHint().width() + 24
        bottom.setSizes([max(400, 1200 - panel_width), panel_width])
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 1)
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
        self.cancel_action = self._action("&Cancel", QKeySequence(Qt.Key_Escape), "Stop at the next batch, after asking; what is done is kept (Esc)", self.cancel_run)
        self.again_action = self._action("Run &again", QKeySequence("Ctrl+Shift+A"), "Process the selected files again, replacing their earlier outputs (Ctrl+Shift+A)", self.run_again)
        self.resume_action = self._action("Res&ume", QKeySequence("Ctrl+Shift+R"), "Continue cancelled files where they stopped (Ctrl+Shift+R)", self.resume_run)
        self.open_action = self._action("&Open workbook", QKeySequence("Ctrl+Return"), "Open the selected file's annotated workbook (Ctrl+Enter)", self.open_output)
        self.folder_action = self._action("Show in &folder", QKeySequence("Ctrl+Shift+F"), "Show the output folder (Ctrl+Shift+F)", self.show_folder)
        self.details_action = self._action("Error &details…", QKeySequence("Ctrl+I"), "Why the selected file failed (Ctrl+I)", self.show_error)
        self.remove_action = self._action("Re&move", QKeySequence.Delete, "Remove the selected files from the queue (Del)", self.remove_selected)
        self.columns_action = self._action("Co&lumns…", QKeySequence("Ctrl+L"), "What is done to each column of the selected file (Ctrl+L)", self.edit_columns)
        self.train_action = self._action("&Train coder…", QKeySequence("Ctrl+T"), "Learn a coder from the department's coded notes (Ctrl+T)", self.open_train_dialog)
        self.learn_action = self._action("&Learn from review…", QKeySequence("Ctrl+Shift+L"), "Add a review workbook's corrections (missed PHI, false alarms) to the department's lists (Ctrl+Shift+L)", self.learn_from_review)
        self.staff_action = self._action("Load &staff list…", QKeySequence("Ctrl+Shift+S"), "Load the department's clinician names, found and removed in every note (Ctrl+Shift+S)", self.load_staff_list)
        for action in (self.add_action, self.run_action, self.cancel_action, self.resume_action, self.again_action, None, self.open_action,
                       self.folder_action, self.details_action, self.remove_action, None, self.columns_action, None,
                       self.train_action, self.learn_action, self.staff_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.statusBar().showMessage("Ready. Nothing leaves this computer.")
        self.resize(1200, 800)

    def _build_menus(self) -> None:
        from casenotes_desktop.help import GuideDialog, about_text

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addAction(self.add_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self.remove_action)
        file_menu.addSeparator()
        quit_action = self._action("&Quit", QKeySequence.Quit, "Close casenotes (Ctrl+Q)", self.close)
        file_menu.addAction(quit_action)
        run_menu = menus.addMenu("&Run")
        for action in (self.run_action, self.resume_action, self.again_action, self.cancel_action, None, self.columns_action):
            run_menu.addSeparator() if action is None else run_menu.addAction(action)
        results_menu = menus.addMenu("Res&ults")
        for action in (self.open_action, self.folder_action, self.details_action):
            results_menu.addAction(action)
        tools_menu = menus.addMenu("&Tools")
        for action in (self.train_action, self.learn_action, self.staff_action):
            tools_menu.addAction(action)
        help_menu = menus.addMenu("&Help")
        self.guide_action = self._action("&Guide", QKeySequence.HelpContents, "A short guide to casenotes (F1)",
                                         lambda: GuideDialog(self).exec())
        self.about_action = self._action("&About casenotes", QKeySequence(), "Version, models and licence",
                                         lambda: QMessageBox.about(self, "About casenotes", about_text()))
        help_menu.addAction(self.guide_action)
        help_menu.addAction(self.about_action)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = [Path(p) for p in recent_files()]
        for path in recent:
            action = self.recent_menu.addAction(path.name, lambda p=path: self.add_paths([p]))
            action.setToolTip(str(path))
            action.setEnabled(path.exists())
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

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
        self._fit_to_screen()

    def _fit_to_screen(self) -> None:
        """A size saved at another scale or on a larger monitor must not put the progress off-screen."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        available = screen.availableGeometry()
        frame_extra = self.frameGeometry().size() - self.geometry().size()
        width = min(self.width(), available.width() - frame_extra.width())
        height = min(self.height(), available.height() - frame_extra.height())
        if (width, height) != (self.width(), self.height()):
            self.resize(max(width, 400), max(height, 300))
        frame = self.frameGeometry()
        x = min(max(frame.x(), available.x()), available.right() - frame.width() + 1)
        y = min(max(frame.y(), available.y()), available.bottom() - frame.height() + 1)
        if (x, y) != (frame.x(), frame.y()):
            self.move(max(x, available.x()), max(y, available.y()))

    def _restore_queue(self) -> None:
        """The queue of the last session, with each file's choices; status comes from its output folder."""
        missing = []
        for saved in load_queue():
            item = QueueItem.from_saved(saved)
            if not item.path.is_file():
                missing.append(item.path.name)
                continue
            if self.model.add_item(item):
                self._inspect(item)
        if missing:
            self.notice.setText("Not restored from the last session (file moved or deleted): " + "; ".join(missing))
            self.notice.setVisible(True)
        if self.model.items:
            self.table.selectRow(0)
        self.model.rowsInserted.connect(self._save_queue)
        self.model.rowsRemoved.connect(self._save_queue)

    def _save_queue(self, *_) -> None:
        save_queue([i.saved() for i in self.model.items])

    # --- adding files --------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.table.set_drop_target(True)

    def dragLeaveEvent(self, event) -> None:
        self.table.set_drop_target(False)

    def dropEvent(self, event) -> None:
        self.table.set_drop_target(False)
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        self.add_paths(paths)
        event.acceptProposedAction()

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add spreadsheets", last_folder(),
                                                "Spreadsheets (*.xlsx *.xlsm *.csv *.tsv);;"
                                                "Back-catalogue shards (*.parquet *.jsonl *.ndjson);;All files (*)")
        self.add_paths([Path(f) for f in files])

    def add_paths(self, paths: list[Path]) -> list[QueueItem]:
        """Queue supported files (folders are searched); say which others were refused and why."""
        refused, added = [], []
        for path in paths:
            candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            if path.is_dir() and not any(p.suffix.lower() in SUPPORTED_EXTENSIONS for p in candidates):
                refused.append(f"{path.name} (folder with no spreadsheets)")
            others = 0  # files of other kinds in a folder: counted, so that none is left out unsaid
            for file in candidates:
                if file.name.startswith((".", "~$")) or ".casenotes." in file.name:
                    continue  # temp files, Excel lock files and our own outputs
                if file.suffix.lower() not in SUPPORTED_EXTENSIONS:
                    if not path.is_dir():
                        refused.append(f"{file.name} (not a spreadsheet: use {SUPPORTED_NAMES})")
                    else:
                        others += 1
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
            if others and any(p.suffix.lower() in SUPPORTED_EXTENSIONS for p in candidates):
                refused.append(f"{others} other file(s) in folder \"{path.name}\" (not spreadsheets)")
        remember_files([i.path for i in added])
        self.notice.setText("Not added: " + "; ".join(refused) if refused else "")
        self.notice.setVisible(bool(refused))
        if added and not self.table.selectionModel().hasSelection():
            self.table.selectRow(self.model.items.index(added[0]))
        self._update_actions()
        return added

    def _inspect(self, item: QueueItem, after_choice: bool = False) -> None:
        """Read the file and plan its columns; an earlier run's outputs or checkpoint set its status."""
        item.status = "reading"
        self.model.changed(item)
        path, options = item.path, self._options_for(item)
        worker = CallWorker(lambda: (inspect_file(path, options), prior_run(path, options)), tag=(item, after_choice))
        worker.done.connect(self._inspected)
        worker.failed.connect(self._file_failed)
        self.workers.start(worker)

    @Slot(object, object)
    def _inspected(self, tag, found) -> None:
        item, after_choice = tag
        summary, prior = found
        item.summary, item.sheet, item.sheets = summary, summary.sheet, summary.sheets
        item.status, item.error, item.result, item.earlier = "ready", None, None, False
        item.progress, item.rows_done = 0, 0
        item.output, item.outputs = None, {}
        if prior is not None and prior.status == "interrupted":
            item.status, item.earlier = "interrupted", True
            item.rows_done = prior.rows_done
            item.progress = int(100 * prior.rows_done / prior.rows_total) if prior.rows_total else 0
        elif prior is not None:
            item.output, item.outputs = prior.outputs.get("workbook"), dict(prior.outputs)
            # After a new choice the earlier output no longer matches: the file is ready to run again.
            if not after_choice:
                item.status, item.earlier, item.progress, item.rows_done = "done", True, 100, summary.rows
        self.model.changed(item)
        self._update_actions()
        self._show_queue_summary()
        if item is self.selected_item():
            self._request_preview(item)
            self._show_result(item)

    def _show_queue_summary(self) -> None:
        """Between runs, the line above the bar says what Run would do."""
        if self.run_worker is not None:
            return
        items = self._runnable()
        if not self.model.items:
            self.overall_label.setText(DROP_HINT)
        elif items:
            rows = sum(i.rows for i in items)
            self.overall_label.setText(f"{len(items)} file(s) ready, {rows:,} rows: Run (Ctrl+R) processes them.")
        elif any(i.resumable for i in self.model.items):
            self.overall_label.setText("Interrupted files can be continued: Resume (Ctrl+Shift+R).")

    @Slot(object, str)
    def _file_failed(self, tag, message: str) -> None:
        item = tag[0]
        item.status, item.error = "failed", message
        self.model.changed(item)
        self._update_actions()
        if item.path.suffix.lower() in (".xlsx", ".xlsm"):
            # The sheet list lets the clerk pick the sheet that holds the notes, even on a failed file.
            path = item.path
            worker = CallWorker(lambda: list_sheets(path), tag=item)
            worker.done.connect(self._sheets_listed)
            self.workers.start(worker)
        if item is self.selected_item():
            self._selection_changed()

    @Slot(object, object)
    def _sheets_listed(self, item: QueueItem, sheets) -> None:
        item.sheets = list(sheets)
        self.model.changed(item)

    @Slot(object, int)
    def _choice_changed(self, item: QueueItem, column: int) -> None:
        if column == QueueModel.SHEET:  # another sheet has other columns: detect them again
            item.reset_columns()
        self._save_queue()
        self._inspect(item, after_choice=True)  # the plan of every column follows the choice; the preview follows the plan

    def _options_for(self, item: QueueItem):
        """The run's options with this file's choices: the preview and the run plan alike."""
        return replace(self.settings.run_options(), **item.overrides())

    def edit_columns(self) -> None:
        from casenotes_desktop.columns_dialog import ColumnsDialog

        item = self.selected_item()
        if item is None or item.summary is None or item.status in ("running", "queued"):
            return
        dialog = ColumnsDialog(item, self)
        if dialog.exec():
            self._save_queue()
            self._inspect(item, after_choice=True)

    # --- preview -------------------------------------------------------------------------------------

    def selected_item(self) -> QueueItem | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.items[rows[0].row()] if rows else None

    def _selection_changed(self, *_):
        item = self.selected_item()
        self._update_actions()
        self._show_result(item)
        if item is None:
            self.preview.show_message("Preview: select a file in the queue")
        elif item.summary is not None:
            self._request_preview(item)
        elif item.status == "failed":
            hint = " Double-click its Sheet cell to choose another sheet." if len(item.sheets) > 1 else ""
            self.preview.show_message(f"{item.path.name}: {item.short_error}.{hint}")

    def _show_result(self, item: QueueItem | None) -> None:
        """The selected file's verdict and counts, with a link to open the result."""
        if item is None or item.status != "done" or item.output is None:
            self.result_box.setVisible(False)
            return
        import html

        links = '<a href="open">Open workbook</a> (Ctrl+Enter) · <a href="folder">Show in folder</a>'
        if item.result is not None:
            lines = [f"<b>{html.escape(item.path.name)}: {html.escape(item.result.verdict())}</b>",
                     html.escape(" · ".join(item.result.summary_lines()))]
        else:
            lines = [f"<b>{html.escape(item.path.name)}: done in an earlier run</b>",
                     "Its Run info sheet lists what was done. Run again (Ctrl+Shift+A) to process it anew."]
        self.result_box.setText("<br>".join(lines + [links]))
        self.result_box.setVisible(True)

    @Slot(str)
    def _result_link(self, link: str) -> None:
        self.open_output() if link == "open" else self.show_folder()

    def _request_preview(self, item: QueueItem) -> None:
        if self._preview_busy:
            self._preview_pending = item
            return
        self._preview_busy = True
        self.preview.show_message(f"Preview of {item.path.name}: de-identifying the first notes…" if self._preview_engine_loaded
                                  else f"Preview of {item.path.name}: loading the PHI engine…")
        path, options, lists = item.path, self._options_for(item), self._lists_version
        process = self.preview_process
        # The thread only waits for the child's answer: the same step, mode, tagger and secret as the run.
        worker = CallWorker(lambda: process.preview(path, options, PREVIEW_ROWS, lists), tag=item)
        worker.done.connect(self._preview_done)
        worker.failed.connect(self._preview_failed)
        self.workers.start(worker)

    @Slot(object, str)
    def _preview_failed(self, item: QueueItem, message: str) -> None:
        self._preview_done(item, None, message)

    @Slot(object, object)
    def _preview_done(self, item: QueueItem, rows, message: str | None = None) -> None:
        self._preview_busy = False
        if rows is not None and not self._preview_engine_loaded:
            self._preview_engine_loaded = True
            # Only now: the preview, which the clerk is waiting for, does not share the CPU with this warm-up.
            self._warm_up_run()
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

    def _runnable(self) -> list[QueueItem]:
        """What Run processes: files ready or failed, and finished ones when earlier outputs are to be replaced."""
        wanted = ("ready", "failed", "done") if self.settings.overwrite else ("ready", "failed")
        return [i for i in self.model.items if i.status in wanted and i.summary]

    def start_run(self) -> None:
        items = self._runnable()
        replace_outputs = {i.path for i in items if self.settings.overwrite}
        earlier = [i for i in items if i.path not in replace_outputs and self._has_outputs(i)]
        if earlier:
            names = ", ".join(i.path.name for i in earlier[:5]) + (" …" if len(earlier) > 5 else "")
            answer = QMessageBox.question(
                self, "casenotes: replace earlier outputs?",
                f"{len(earlier)} file(s) already have outputs from an earlier run ({names}).\n"
                "Replace them? No runs the other files only.", QMessageBox.Yes | QMessageBox.No | QMessageBox.Cancel,
                QMessageBox.No)
            if answer == QMessageBox.Cancel:
                return
            if answer == QMessageBox.Yes:
                replace_outputs |= {i.path for i in earlier}
            else:
                items = [i for i in items if i not in earlier]
        self._start(items, resume=False, replace_outputs=replace_outputs)

    def resume_run(self) -> None:
        self._start([i for i in self.model.items if i.resumable], resume=True)

    def run_again(self) -> None:
        """The selected files from the start, replacing what an earlier run left (outputs or a checkpoint)."""
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        items = [self.model.items[r] for r in sorted(rows) if self.model.items[r].summary
                 and self.model.items[r].status in QueueModel.IDLE]
        if not items:
            return
        if any(self._has_outputs(i) or i.resumable for i in items):
            answer = QMessageBox.question(self, "casenotes: run again?",
                                          "Process the selected file(s) from the start and replace their earlier "
                                          "outputs? Rows finished by an interrupted run are processed again.")
            if answer != QMessageBox.Yes:
                return
        self._start(items, resume=False, replace_outputs={i.path for i in items})

    def _has_outputs(self, item: QueueItem) -> bool:
        return any(output_paths(item.path, self._options_for(item))[k].exists() for k in ("workbook", "checkpoint"))

    def _start(self, items: list[QueueItem], resume: bool, replace_outputs: set[Path] = frozenset()) -> None:
        if self.run_worker is not None or not items:
            return
        options = self.settings.run_options()
        per_file = {}
        for item in items:
            per_file[item.path] = {**item.overrides(), "resume": resume,
                                   "overwrite": options.overwrite or item.path in replace_outputs}
            item.status, item.error, item.result = "queued", None, None
            if not resume:
                item.progress = item.rows_done = 0
            self.model.changed(item)
        self._run_paths = [i.path for i in items]
        self._rows_before = {i.path: i.rows_done for i in items}
        self._rate_start = None
        self.overall.setRange(0, max(1, sum(i.rows for i in items)))
        self.overall.setValue(sum(self._rows_before.values()))
        process, self._standby = self._standby, None
        self.run_worker = RunWorker(self._run_paths, options, per_file, process)
        self.run_worker.progress.connect(self._on_progress)
        self.run_worker.file_done.connect(self._on_file_done)
        self.run_worker.finished.connect(self._on_run_finished)
        self.run_worker.failed.connect(self._on_run_failed)
        self.workers.start(self.run_worker)
        self.statusBar().showMessage("Running… models load in the background")
        self._update_actions()

    def cancel_run(self) -> None:
        if self.run_worker is None:
            return
        answer = QMessageBox.question(self, "casenotes: stop the run?",
                                      "Stop the run at the next batch?\nFinished rows are kept; Resume continues later.",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer == QMessageBox.Yes and self.run_worker is not None:
            self.run_worker.cancel()
            self.statusBar().showMessage("Cancelling at the next batch; finished rows are kept")
            self.overall_label.setText("Stopping at the next batch…")

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if not 0 <= p.file_index < len(self._run_paths):
            return
        item = self.model.item_for(self._run_paths[p.file_index])
        if item is None:
            return
        item.status = "running" if p.stage in ("processing", "writing", "done") else p.stage
        item.rows_done = p.rows_done
        self.statusBar().showMessage(f"Running file {p.file_index + 1} of {p.files_total}: {item.path.name} ({p.stage})")
        item.progress = int(100 * p.rows_done / p.rows_total) if p.rows_total else 100
        self.model.changed(item)
        self._update_overall(None if p.stage in ("processing", "writing", "done") else p.stage)

    def _update_overall(self, loading: str | None = None) -> None:
        """Rows done, the rate and the time left; model loading and index building are not counted as rows."""
        items = [self.model.item_for(p) for p in self._run_paths]
        done = sum(i.rows_done for i in items if i)
        total = sum(i.rows for i in items if i)
        self.overall.setMaximum(max(1, total))
        self.overall.setValue(done)
        if loading is not None:
            self.overall_label.setText(f"{done:,} of {total:,} rows · {loading}")
            self._rate_start = None  # the next rows start a new measurement
            return
        now = time.perf_counter()
        if self._rate_start is None:
            self._rate_start = (now, done)
        started, done_then = self._rate_start
        elapsed, new_rows = now - started, done - done_then
        rate = new_rows / elapsed if elapsed > 0 and new_rows > 0 else 0.0
        if done >= total:
            eta = "finishing"
        elif rate > 0:
            left = (total - done) / rate
            eta = f"about {rough_duration(left)} left"
        else:
            eta = "estimating time left"
        self.overall_label.setText(f"{done:,} of {total:,} rows · {rate:.1f} rows/s · {eta}")

    @Slot(object)
    def _on_file_done(self, result: FileResult) -> None:
        item = self.model.item_for(result.input)
        if item is None:
            return
        item.status, item.result, item.earlier = result.status, result, False
        item.error = result.error if result.status != "done" else None
        item.outputs = dict(result.outputs)
        item.output = result.outputs.get("workbook")
        if result.status == "done":
            item.progress, item.rows_done = 100, item.rows
            self.statusBar().showMessage(f"{item.path.name}: {result.verdict()}")
        self.model.changed(item)
        self._update_overall()
        self._update_actions()
        if item is self.selected_item():
            self._show_result(item)

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Run failed: {message}")
        for path in self._run_paths:
            item = self.model.item_for(path)
            if item and item.status in ("queued", "running"):
                item.status, item.error = "failed", message
                self.model.changed(item)

    def _warm_up_run(self) -> None:
        """Start the next run's process while the clerk is choosing: Run then starts in about a second."""
        if self._standby is None and self.run_worker is None and not self.workers.closed:
            self._standby = RunProcess()
            self._standby.start()

    @Slot(object)
    def _on_run_finished(self, results) -> None:
        self.run_worker = None
        results = results or []
        if any(i.status in QueueModel.IDLE for i in self.model.items):
            self._warm_up_run()
        counts = {status: sum(r.status == status for r in results) for status in ("done", "failed", "cancelled")}
        parts = [f"{counts['done']} done"] + [f"{n} {status}" for status, n in counts.items() if n and status != "done"]
        line = f"Finished {len(results)} file(s): " + ", ".join(parts)
        if counts["cancelled"]:
            line += "; Resume (Ctrl+Shift+R) continues the cancelled ones"
        elif counts["failed"]:
            line += "; select a failed file and press Ctrl+I for why"
        elif counts["done"]:
            line += "; Open workbook (Ctrl+Enter) opens the selected result"
        self.statusBar().showMessage(line)
        items = [self.model.item_for(p) for p in self._run_paths]
        done_rows = sum(i.rows_done for i in items if i)
        total = sum(i.rows for i in items if i)
        state = "Stopped" if counts["cancelled"] else "Finished"
        self.overall_label.setText(f"{state}: {done_rows:,} of {total:,} rows · {', '.join(parts)}")
        self._update_actions()
        self._show_result(self.selected_item())

    # --- file actions --------------------------------------------------------------------------------

    def open_output(self) -> None:
        item = self.selected_item()
        if not (item and item.output):
            return
        if not item.output.exists():
            QMessageBox.warning(self, "casenotes: workbook not found",
                                f"The workbook is no longer where it was written:\n{item.output}")
            return
        self._open_location(item.output, "open the workbook")

    def show_folder(self) -> None:
        item = self.selected_item()
        if item:
            folder = item.output.parent if item.output else output_paths(item.path, self._options_for(item))["workbook"].parent
            self._open_location(folder if folder.exists() else folder.parent, "show the folder")

    def _open_location(self, path: Path, what: str) -> None:
        """Hand a file or folder to the desktop; when no program takes it, say so and show the path."""
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            box = QMessageBox(QMessageBox.Information, "casenotes",
                              f"No program on this computer could {what}. It is here:\n\n{path}", QMessageBox.Ok, self)
            box.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
            box.exec()

    def show_error(self) -> None:
        item = self.selected_item()
        if item and item.error:
            QMessageBox.warning(self, "casenotes: file not processed", f"{item.path.name}\n\n{item.error}")

    def remove_selected(self) -> None:
        self.model.remove_rows([i.row() for i in self.table.selectionModel().selectedRows()])
        self._update_actions()
        self._show_queue_summary()
        self._show_result(self.selected_item())

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

        worker = CallWorker(work, tag=title)
        worker.done.connect(self._department_updated)
        worker.failed.connect(lambda tag, message: QMessageBox.warning(self, tag, message))
        self.workers.start(worker)

    @Slot(object, object)
    def _department_updated(self, title, lines) -> None:
        self._lists_version += 1  # the next preview builds the engine with the new lists
        QMessageBox.information(self, title, "\n".join(lines) + "\nThe next runs and previews use them.")
        item = self.selected_item()
        if item is not None and item.summary is not None:
            self._request_preview(item)

    def open_train_dialog(self):
        from casenotes_desktop.train_dialog import TrainDialog

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
        self.run_action.setEnabled(not running and bool(self._runnable()))
        self.resume_action.setEnabled(not running and any(i.resumable for i in self.model.items))
        self.again_action.setEnabled(not running and bool(item and item.summary and item.status in QueueModel.IDLE))
        self.cancel_action.setEnabled(running)
        self.open_action.setEnabled(bool(item and item.output))
        self.folder_action.setEnabled(item is not None)
        self.details_action.setEnabled(bool(item and item.error))
        self.remove_action.setEnabled(item is not None and not running)
        self.columns_action.setEnabled(bool(item and item.summary) and not running)
        self.learn_action.setEnabled(not running)
        self.staff_action.setEnabled(not running)
        self.settings_panel.setEnabled(not running)

    def _detect_gpu(self) -> None:
        """The preview process imports the model libraries while the clerk adds files; the GPU is then known."""
        process = self.preview_process
        worker = CallWorker(process.gpu_name)
        worker.done.connect(self._gpu_detected)
        self.workers.start(worker)

    @Slot(object, object)
    def _gpu_detected(self, _tag, name) -> None:
        self.engine_ready = True
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
        self._save_queue()
        self.workers.close()  # results still on their way start nothing new
        # The answer was given: the window goes at once, and the run stops behind it (bounded wait).
        self.hide()
        QApplication.processEvents()
        if self._standby is not None:
            self._standby.close()
            self._standby = None
        self.preview_process.close()
        if not self.workers.stop_all(CLOSE_WAIT_MS):
            self.statusBar().showMessage("Still stopping…")
        event.accept()

