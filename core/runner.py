"""The local runner: drives the steps over batches on this machine.

It owns what the steps must not: parallelism (copies of a CPU-bound step in worker processes, each
built from the step's settings) and the error policy (a failed batch is retried row by row, and a
row that still fails is blanked or flagged as its step declares). The pipeline (core/pipeline.py)
adds files, checkpoints, progress and outputs around it.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Iterator

from casenotes.steps import LoadProgress, NoteRecord, OnError, Step

log = logging.getLogger(__name__)


class LocalRunner:
    def __init__(self, steps: list[Step], workers: int = 1):
        self.steps = list(steps)
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._ready = False

    def setup(self, progress: LoadProgress | None = None) -> None:
        """Load every step here, and start the worker processes if more than one is asked for."""
        if not self._ready:
            for step in self.steps:
                step.setup(progress)
            self._ready = True
        if self.workers > 1 and self._pool is None and any(s.in_processes for s in self.steps):
            import multiprocessing

            # spawn, not fork: the window runs this from a thread, and forking a threaded process is unsafe.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(), [_on_cpu(s.settings) for s in self.steps if s.in_processes]))

    def use_workers(self, workers: int) -> None:
        """Another file may want another number of worker processes (they pay only for long files)."""
        workers = max(1, workers)
        if workers != self.workers:
            self._close_pool()
            self.workers = workers

    def close(self) -> None:
        self._close_pool()

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "LocalRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, batch: list[NoteRecord]) -> list[NoteRecord]:
        """Every step over the batch, in order; one bad row cannot sink the batch. The original text
        leaves the batch after the last step that reads it (de-identification)."""
        last_reader = max((i for i, s in enumerate(self.steps) if s.reads_originals), default=-1)
        for i, step in enumerate(self.steps):
            try:
                batch = self._call(step, batch)
            except Exception as exc:
                log.warning("step %s failed on a batch (%s); retrying row by row", step.name, type(exc).__name__)
                batch = [self._one_row(step, record) for record in batch]
            if i == last_reader:
                for record in batch:
                    record.drop_originals()
        return batch

    def run_stream(self, batches: Iterable[list[NoteRecord]]) -> Iterator[list[NoteRecord]]:
        """Each batch through every step, one after the other, as the caller asks for them."""
        for batch in batches:
            yield self.run(batch)

    def _call(self, step: Step, batch: list[NoteRecord]) -> list[NoteRecord]:
        todo = [r for r in batch if not r.failed]
        if self._pool is None or not step.in_processes or len(todo) < 2 * self.workers:
            done = step(todo)
        else:
            size = -(-len(todo) // self.workers)
            done = [r for part in self._pool.map(_call_in_worker, [(step.name, todo[i : i + size])
                                                                  for i in range(0, len(todo), size)]) for r in part]
        by_row = {r.row: r for r in done}
        return [by_row.get(r.row, r) for r in batch]

    @staticmethod
    def _one_row(step: Step, record: NoteRecord) -> NoteRecord:
        if record.failed:
            return record
        try:
            return step([record])[0]
        except Exception as exc:
            log.warning("step %s failed on row %d (%s)", step.name, record.row, type(exc).__name__)
            if step.on_error is OnError.BLANK_ROW:
                record.blank()
            record.review_reasons.append(f"{step.name} failed on this row")
            return record


def _on_cpu(settings):
    """Copies in worker processes run on the CPU: one GPU is not shared between several of them."""
    import dataclasses

    if dataclasses.is_dataclass(settings) and any(f.name == "device" for f in dataclasses.fields(settings)):
        return dataclasses.replace(settings, device="cpu")
    return settings


_worker_steps: dict[str, Step] = {}


def _init_worker(parent: int, settings: list) -> None:
    import signal

    from casenotes.lifetime import die_with_parent

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the run; a worker must not die mid-batch
    for item in settings:
        step = item.build()
        step.setup()
        _worker_steps[step.name] = step


def _call_in_worker(job: tuple[str, list[NoteRecord]]) -> list[NoteRecord]:
    name, batch = job
    return _worker_steps[name](batch)
