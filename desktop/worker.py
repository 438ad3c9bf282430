"""Background work for the window, in the superqt / Dangerzone style.

The core reports through plain callbacks; ``RunWorker`` turns them into Qt signals, which Qt
delivers to slots of objects living on the GUI thread (queued across threads). Each worker runs in
its own QThread; ``Workers`` keeps worker and thread alive until the thread has finished, and
``Workers.stop_all`` cancels and waits with a bound when the window closes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from core.errors import CasenotesError
from core.pipeline import RunOptions, RunState, run

log = logging.getLogger(__name__)

# torch and the libraries built on it are not safe to import from two threads at once, so one
# background thread imports them first and every model-using worker waits for it.
_libraries_imported = threading.Event()


def import_libraries() -> str | None:
    """Import the model libraries once, off the GUI thread; the GPU's name, or None."""
    try:
        import presidio_analyzer  # noqa: F401  (imports transformers)
        import presidio_anonymizer  # noqa: F401
        import spacy  # noqa: F401
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception as exc:  # no GPU information is not an error
        log.warning("GPU detection failed (%s)", type(exc).__name__)
        return None
    finally:
        _libraries_imported.set()


def wait_for_libraries() -> None:
    _libraries_imported.wait()


class RunWorker(QObject):
    """Runs the pipeline over the queue; the core's callbacks become signals."""

    progress = Signal(object)  # core.pipeline.Progress
    file_done = Signal(object)  # core.pipeline.FileResult
    finished = Signal(list)  # all FileResults
    failed = Signal(str)  # a one-line message, never note text

    def __init__(self, paths: list[Path], options: RunOptions, per_file: dict[Path, dict]):
        super().__init__()
        self.paths, self.options, self.per_file = paths, options, per_file
        self.state = RunState(on_progress=self.progress.emit, on_file_done=self.file_done.emit)

    def cancel(self) -> None:
        self.state.cancel()  # thread-safe: an Event the pipeline checks between batches

    @Slot()
    def work(self) -> None:
        wait_for_libraries()
        try:
            results = run(self.paths, self.options, self.state, per_file=self.per_file)
        except CasenotesError as exc:
            self.failed.emit(str(exc))
            results = []
        except Exception as exc:  # never let a bug kill the thread silently, nor show note text
            log.error("run failed (%s)", type(exc).__name__)
            self.failed.emit(f"internal error ({type(exc).__name__})")
            results = []
        self.finished.emit(results)


class CallWorker(QObject):
    """Runs one function off the GUI thread (reading a file, a preview) and emits its result.

    The signals carry ``tag`` (what the call was for, such as a queue item) so that they can go to
    bound slots of GUI-thread objects: a lambda receiver would run on the worker thread.
    """

    done = Signal(object, object)  # (tag, result)
    failed = Signal(object, str)  # (tag, one-line message)
    finished = Signal()

    def __init__(self, function: Callable[[], object], tag: object = None, needs_libraries: bool = True):
        super().__init__()
        self.function = function
        self.tag = tag
        self.needs_libraries = needs_libraries

    def cancel(self) -> None:
        pass  # short calls: waited for, not interrupted

    @Slot()
    def work(self) -> None:
        if self.needs_libraries:
            wait_for_libraries()
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
    def busy(self) -> bool:
        return bool(self._running)

    def stop_all(self, timeout_ms: int = 15000) -> bool:
        """Cancel every worker and wait for its thread; False if one did not stop in time."""
        self._closed = True
        for _, worker in self._running:
            worker.cancel()
        stopped = True
        for thread, _ in list(self._running):
            stopped = thread.wait(timeout_ms) and stopped
        return stopped


class TrainWorker(QObject):
    """Fine-tunes a coder (core.coding.train) off the GUI thread; its progress becomes signals."""

    progress = Signal(object)  # core.coding.train.TrainProgress
    finished = Signal(object)  # the model card (dict), or None when it failed or was cancelled
    failed = Signal(str)

    def __init__(self, paths: list[Path], text_column: str, codes_column: str, id_column: str | None, output: Path,
                 options):
        super().__init__()
        from core.coding.train import Trainer

        self.paths, self.text_column, self.codes_column, self.id_column = paths, text_column, codes_column, id_column
        self.output = output
        self.trainer = Trainer(options, self.progress.emit)

    def cancel(self) -> None:
        self.trainer.cancel()

    @Slot()
    def work(self) -> None:
        from core.coding.train import load_training_data
        from core.errors import Cancelled

        wait_for_libraries()
        card = None
        try:
            data = load_training_data(self.paths, self.text_column, self.codes_column, self.id_column)
            if data.invalid_codes:
                self.failed.emit(f"note: {sum(data.invalid_codes.values())} invalid or non-billable codes skipped "
                                 f"({', '.join(sorted(data.invalid_codes)[:8])})")
            card = self.trainer.run(data, self.output)
        except Cancelled:
            self.failed.emit("training cancelled; nothing was saved")
        except CasenotesError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            log.error("training failed (%s)", type(exc).__name__)
            self.failed.emit(f"internal error ({type(exc).__name__})")
        self.finished.emit(card)
