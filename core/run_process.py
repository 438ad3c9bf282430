"""Model work in child processes, for a caller that must stay responsive (the window).

The children own everything heavy: model libraries, models, the PHI worker pool. The caller's
interpreter, and its GIL, never run model code, so a window's event loop is never starved by a
run, a training or a model loading.

* ``RunProcess``: one run of the pipeline; ``TrainProcess``: one training of a coder. Each starts
  early and warms up, then takes its job; messages come back as ``(kind, payload)``: "progress",
  "file_done", "failed" (one line, never note text) and finally "finished" with the result.
  Cancelling sets an event checked between batches; every batch of a run is checkpointed, so
  killing a child that does not stop in time loses nothing.
* ``PreviewProcess``: long-lived; answers previews and the GPU's name, one question at a time."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
from pathlib import Path
from typing import Iterator

from casenotes.errors import CasenotesError
from casenotes.lifetime import die_with_parent
from casenotes.pipeline import RunOptions, RunState, run

log = logging.getLogger(__name__)

POLL_S = 0.1


class ChildJob:
    """One job in a child process, started ahead of time so that the libraries are already imported
    when the job comes (``start()`` early, ``submit()`` when the user asks); ``close()`` one that
    got no job. ``target`` is a module-level function ``(*args, report, cancel_event) -> result``."""

    def __init__(self, target):
        # spawn: a fork of a process with Qt and threads in it is not safe
        context = multiprocessing.get_context("spawn")
        self._jobs = context.Queue()
        self._messages = context.Queue()
        self._cancel = context.Event()
        self._process = context.Process(target=_child_main, name=f"casenotes-{target.__name__}",
                                        args=(target, os.getpid(), self._jobs, self._messages, self._cancel))
        self.submitted = False

    def start(self) -> None:
        if self._process.pid is None:
            self._process.start()

    def submit(self, *args) -> None:
        self.start()
        self._jobs.put(args)
        self.submitted = True

    def close(self, timeout_s: float = 5.0) -> None:
        """End the child: one that got no job at once, one with a job after ``timeout_s``."""
        if self._process.pid is None:
            return
        if self.submitted:
            self._process.join(timeout=timeout_s)
        self.kill()  # a child without a job holds nothing: no need to wait for its imports

    def cancel(self) -> None:
        # Only before the child starts or while it lives: setting a multiprocessing Event wakes its
        # waiters one by one and waits for each, and a waiter that died with its process never answers.
        if self._process.pid is None or self._process.is_alive():
            self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def messages(self) -> Iterator[tuple[str, object]]:
        """Every message until "finished"; a child that dies without finishing ends with a failure."""
        while True:
            try:
                kind, payload = self._messages.get(timeout=POLL_S)
            except queue.Empty:
                if self._process.is_alive():
                    continue
                try:  # the last messages may arrive just after the child exits
                    kind, payload = self._messages.get(timeout=1.0)
                except queue.Empty:
                    code = self._process.exitcode
                    yield "failed", f"the run stopped unexpectedly (worker exit code {code}); resume continues it"
                    yield "finished", []
                    return
            yield kind, payload
            if kind == "finished":
                self._process.join(timeout=10)
                return

    def kill(self) -> None:
        """Stop the child now (its PHI workers die with it); checkpoints keep the finished batches."""
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)


class RunProcess(ChildJob):
    """A run of the pipeline: ``submit(paths, options, per_file)``; messages "progress" (Progress),
    "file_done" (FileResult), "failed" and "finished" (the FileResults)."""

    def __init__(self):
        super().__init__(pipeline_job)


class TrainProcess(ChildJob):
    """Training a coder: ``submit(paths, text_column, codes_column, id_column, output, TrainOptions)``;
    messages "progress" (TrainProgress), "failed" (also notes such as skipped codes) and "finished"
    (the model card, or None)."""

    def __init__(self):
        super().__init__(train_job)


def pipeline_job(paths, options, per_file, report, cancel_event) -> list:
    state = RunState(on_progress=lambda p: report("progress", p), on_file_done=lambda r: report("file_done", r),
                     cancel_event=cancel_event)
    return run(paths, options, state, per_file=per_file)


def train_job(paths, text_column, codes_column, id_column, output, options, report, cancel_event) -> dict:
    from casenotes.coding.train import Trainer, load_training_data

    # The trainer reads the parent's event between batches. Never wait on it in a thread here: a
    # process that ends while a thread waits on a multiprocessing Event leaves a waiter behind, and
    # the parent's set() then waits for that waiter forever (the window hung on closing the dialog).
    trainer = Trainer(options, lambda p: report("progress", p), cancel_event=cancel_event)
    data = load_training_data(paths, text_column, codes_column, id_column)
    if data.invalid_codes:
        report("failed", f"note: {sum(data.invalid_codes.values())} invalid or non-billable codes skipped "
                         f"({', '.join(sorted(data.invalid_codes)[:8])})")
    return trainer.run(data, output)


class PreviewProcess:
    """A long-lived child that answers the window's questions which need models: the first rows of
    a file de-identified by the run's own step (``preview``), and the GPU's name (``gpu``).
    One question at a time (a lock); a child that died is started again on the next question."""

    def __init__(self):
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process = None
        self._closed = False

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._closed:
            raise CasenotesError("closing")
        if self._process is None or not self._process.is_alive():
            self._requests, self._replies = self._context.Queue(), self._context.Queue()
            self._process = self._context.Process(target=_preview_main, name="casenotes-preview",
                                                  args=(os.getpid(), self._requests, self._replies))
            self._process.start()

    def gpu_name(self) -> str | None:
        return self._ask("gpu")

    def preview(self, path: Path, options: RunOptions, count: int, lists_version: int = 0) -> list:
        """``preview_rows`` under ``options`` (mode and PHI tagger included); the engine is built
        again when the options' engine settings or ``lists_version`` (the department's lists) change."""
        return self._ask("preview", Path(path), options, count, lists_version)

    def _ask(self, kind: str, *args):
        with self._lock:
            self._start()
            self._requests.put((kind, args))
            while True:
                try:
                    status, payload = self._replies.get(timeout=POLL_S)
                    break
                except queue.Empty:
                    if not self._process.is_alive():
                        raise CasenotesError(f"the preview stopped unexpectedly (exit code {self._process.exitcode})") from None
        if status == "error":
            raise CasenotesError(payload)
        return payload

    def close(self) -> None:
        self._closed = True
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)


def _preview_main(parent, requests, replies) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="casenotes: %(levelname)s: %(message)s")
    step, built_for = None, None
    while True:
        kind, args = requests.get()
        try:
            if kind == "gpu":
                import torch

                replies.put(("ok", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None))
                continue
            path, options, count, lists_version = args
            wanted = (options.mode, options.spacy_model, str(options.deid_model or ""), lists_version)
            if step is None or built_for != wanted:
                step, built_for = _deidentify_step(options), wanted
            from casenotes.io.preview import preview_rows

            replies.put(("ok", preview_rows(path, options, step, count)))
        except CasenotesError as exc:
            replies.put(("error", str(exc)))
        except Exception as exc:  # never a traceback: messages can quote cell contents
            log.error("preview failed (%s)", type(exc).__name__)
            replies.put(("error", f"internal error ({type(exc).__name__})"))


def _deidentify_step(options: RunOptions):
    """The step a run of ``options`` de-identifies with: the same engine settings, lists and secret."""
    from casenotes.keys import KeyRing
    from casenotes.phi.department import DepartmentLists
    from casenotes.phi.step import DeidentifySettings

    step = DeidentifySettings(KeyRing.load_or_create(), options.mode, options.spacy_model, DepartmentLists.load(),
                              str(options.deid_model) if options.deid_model else None).build()
    step.setup()
    return step


def _child_main(target, parent, jobs, messages, cancel_event) -> None:
    die_with_parent(parent)
    # Ctrl+C in a terminal reaches the whole process group: the parent decides, through the event.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="casenotes: %(levelname)s: %(message)s")
    _warm_up()
    job = jobs.get()
    if job is None:
        return
    result = None
    try:
        result = target(*job, report=lambda kind, payload: messages.put((kind, payload)), cancel_event=cancel_event)
    except CasenotesError as exc:
        messages.put(("failed", str(exc)))
    except BaseException as exc:  # never a traceback: messages can quote cell contents
        log.error("%s failed (%s)", target.__name__, type(exc).__name__)
        messages.put(("failed", f"internal error ({type(exc).__name__})"))
    messages.put(("finished", result))
    messages.close()
    messages.join_thread()


def _warm_up() -> None:
    """Import what every run needs and fill the PHI engine's vocabulary caches (names, places,
    word frequencies) on a made-up sentence, while the clerk is still choosing files."""
    try:
        import torch  # noqa: F401

        from casenotes.phi.engine import PhiEngine

        PhiEngine().analyze(["Seen by Dr. Example on 01/02/2024 at Example Hospital, Springfield."])
    except Exception as exc:  # the run itself reports what is missing
        log.warning("warming up failed (%s)", type(exc).__name__)
