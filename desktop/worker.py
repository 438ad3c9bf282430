"""Background work for the window, in the superqt / Dangerzone style.

Model work (runs, training) happens in child processes (casenotes.run_process); ``ProcessWorker``
relays their messages as Qt signals, which Qt delivers to slots of objects living on the GUI thread
(queued across threads). Short calls (reading a file, asking the preview process) run on a
``CallWorker``. Each worker has its own QThread; ``Workers`` keeps worker and thread alive until
the thread has finished, and ``Workers.stop_all`` cancels and waits with a bound when the window
closes, killing a child that does not stop in time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from casenotes.errors import CasenotesError
from casenotes.options import RunOptions
from casenotes.run_process import ChildJob, RunProcess, TrainProcess

log = logging.getLogger(__name__)


class ProcessWorker(QObject):
    """Relays a child-process job (casenotes.run_process) as signals; the thread only waits for messages,
    so the window's interpreter never runs model code and a job that ignores cancelling can be killed."""

    progress = Signal(object)  # casenotes.pipeline.Progress or casenotes.coding.train.TrainProgress
    file_done = Signal(object)  # casenotes.pipeline.FileResult
    failed = Signal(str)  # a one-line message, never note text
    finished = Signal(object)  # the job's result (a run: its FileResults; a training: the model card or None)

    def __init__(self, process: ChildJob, *job):
        super().__init__()
        self.process = process
        self.job = job

    def cancel(self) -> None:
        self.process.cancel()

    @property
    def cancelled(self) -> bool:
        return self.process.cancelled

    def kill(self) -> None:
        self.process.kill()

    @Slot()
    def work(self) -> None:
        result = None
        try:
            self.process.submit(*self.job)
            signals = {"progress": self.progress, "file_done": self.file_done, "failed": self.failed}
            for kind, payload in self.process.messages():
                if kind == "finished":
                    result = payload
                else:
                    signals[kind].emit(payload)
        except Exception as exc:  # never let a bug kill the thread silently, nor show note text
            log.error("background job failed (%s)", type(exc).__name__)
            self.failed.emit(f"internal error ({type(exc).__name__})")
        self.finished.emit(result)


class RunWorker(ProcessWorker):
    """The pipeline over the queue; ``process`` may be one started early (warm)."""

    def __init__(self, paths: list[Path], options: RunOptions, per_file: dict[Path, dict],
                 process: RunProcess | None = None):
        super().__init__(process or RunProcess(), paths, options, per_file)


class TrainWorker(ProcessWorker):
    """Fine-tunes a coder (casenotes.coding.train) in a child process."""

    def __init__(self, paths: list[Path], text_column: str, codes_column: str, id_column: str | None, output: Path,
                 options):
        super().__init__(TrainProcess(), paths, text_column, codes_column, id_column, output, options)


class CallWorker(QObject):
    """Runs one function off the GUI thread (reading a file, a preview) and emits its result.

    The signals carry ``tag`` (what the call was for, such as a queue item) so that they can go to
    bound slots of GUI-thread objects: a lambda receiver would run on the worker thread.
    """

    done = Signal(object, object)  # (tag, result)
    failed = Signal(object, str)  # (tag, one-line message)
    finished = Signal()

    def __init__(self, function: Callable[[], object], tag: object = None):
        super().__init__()
        self.function = function
        self.tag = tag

    def cancel(self) -> None:
        pass  # short calls: waited for, not interrupted

    @Slot()
    def work(self) -> None:
        try:
            self.done.emit(self.tag, self.function())
        except CasenotesError as exc:
            self.failed.emit(self.tag, str(exc))
        except Exception as exc:
            log.error("background call failed (%s)", type(exc).__name__)
            self.failed.emit(self.tag, f"internal error ({type(exc).__name__})")
        self.finished.emit()


class Workers(QObject):
    """Owns the worker threads: keeps them alive until they finish, stops them all on close."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: list[tuple[QThread, QObject]] = []
        self._closed = False

    def start(self, worker: QObject) -> QThread | None:
        if self._closed:  # the window is closing: results still queued must not start new work
            worker.deleteLater()
            return None
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.work)
        # Direct: QThread.quit is thread-safe, and a queued call would wait for the GUI thread, which
        # may itself be waiting for this thread (closing the window).
        worker.finished.connect(thread.quit, Qt.DirectConnection)
        thread.finished.connect(self._on_thread_finished)  # queued: handled on the GUI thread
        self._running.append((thread, worker))
        thread.start()
        return thread

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self.sender()
        if isinstance(thread, QThread):
            self._forget(thread)

    def _forget(self, thread: QThread) -> None:
        for item in list(self._running):
            if item[0] is thread:
                self._running.remove(item)
                item[1].deleteLater()
        thread.deleteLater()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def close(self) -> None:
        """Start no new worker from now on (the window is closing)."""
        self._closed = True

    def stop_all(self, timeout_ms: int = 15000) -> bool:
        """Cancel every worker and wait for its thread; False if one did not stop in time."""
        self._closed = True
        for _, worker in self._running:
            worker.cancel()
        stopped = True
        for thread, worker in list(self._running):
            done = thread.wait(timeout_ms)
            if not done and hasattr(worker, "kill"):
                worker.kill()  # a child process past the bound: its checkpoints keep the finished batches
                done = thread.wait(5000)
            stopped = stopped and done
        return stopped
