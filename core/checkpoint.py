"""A checkpoint beside the output, so a killed or cancelled run resumes without losing or repeating rows.

It holds what the shareable outputs will hold (de-identified text, replaced identifier cells,
offsets, types), never the original text, and is appended to and fsynced after every batch. The
outputs are written from it (``saved_records``), so a run's memory does not grow with its rows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from casenotes.phi.findings import PhiFinding
from casenotes.phi.replace import Replacement
from casenotes.steps import NoteRecord


class Checkpoint:
    def __init__(self, folder: Path):
        self.folder = folder
        self.meta_path = folder / "meta.json"
        self.rows_path = folder / "rows.jsonl"

        self.staging = folder / "outputs"  # the run's outputs until they are committed together
        self._lock_path = folder / "lock"
        self._lock = None
        self._offsets: dict[int, int] = {}  # row -> where its line starts in rows.jsonl

    def exists(self) -> bool:
        return self.meta_path.exists()

    def claim(self) -> bool:
        """Hold this checkpoint for this process until ``release``; False when another live run holds it.

        An operating-system lock, not a PID in a file: the lock ends with its process, however it ends.
        """
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(self._lock_path, "a+b")
        if not _try_lock(handle):
            handle.close()
            return False
        self._lock = handle
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self.folder.exists() and not self.exists():  # claimed, then nothing started: leave no trace
            self.remove()

    def start(self, meta: dict) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.rows_path.write_text("", encoding="utf-8")
        self._offsets = {}
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp, self.meta_path)

    def meta(self) -> dict:
        return json.loads(self.meta_path.read_text(encoding="utf-8"))

    def append(self, records: list[NoteRecord]) -> None:
        with self.rows_path.open("ab") as handle:
            for r in records:
                self._offsets[r.row] = handle.tell()
                handle.write((json.dumps(_to_json(r)) + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def load_rows(self) -> set[int]:
        """The rows an interrupted run saved.

        A torn last line (power loss, full disk) is cut off, so the rows appended after it by this
        run are read by the next resume too, instead of being recomputed there again."""
        self._offsets = {}
        if not self.rows_path.exists():
            return set()
        good = 0
        with self.rows_path.open("rb") as handle:
            for line in handle:
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("torn line")
                    self._offsets[int(json.loads(line)["row"])] = good
                except (ValueError, KeyError, TypeError):
                    break
                good += len(line)
        if good < self.rows_path.stat().st_size:
            with self.rows_path.open("r+b") as handle:
                handle.truncate(good)
        return set(self._offsets)

    def saved_records(self, rebuild: Callable[[int], NoteRecord], total: int) -> SavedRecords:
        """Rows 1..``total`` as saved, each rebuilt on ``rebuild(row)`` (its input row) without its original text."""
        missing = [row for row in range(1, total + 1) if row not in self._offsets]
        if missing:
            raise RuntimeError(f"{len(missing)} row(s) missing from the checkpoint, first {missing[0]}")
        return SavedRecords(self.rows_path, [self._offsets[row] for row in range(1, total + 1)], rebuild)

    def rows_done(self) -> int:
        """Rows saved so far (complete lines), without parsing them: shown for a file that can be resumed."""
        if not self.rows_path.exists():
            return 0
        with self.rows_path.open("rb") as handle:
            return sum(1 for line in handle if line.endswith(b"\n"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class SavedRecords:
    """A run's records in row order, read back from its checkpoint on every pass (the writers make
    a few): only one record is in memory at a time, whatever the number of rows."""

    def __init__(self, path: Path, offsets: list[int], rebuild: Callable[[int], NoteRecord]):
        self._path, self._offsets, self._rebuild = path, offsets, rebuild

    def __len__(self) -> int:
        return len(self._offsets)

    def __iter__(self) -> Iterator[NoteRecord]:
        with self._path.open("rb") as handle:
            for row, offset in enumerate(self._offsets, start=1):
                handle.seek(offset)
                record = record_from_json(json.loads(handle.readline()), self._rebuild(row))
                record.drop_originals()
                yield record


def _try_lock(handle) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _to_json(r: NoteRecord) -> dict:
    return {
        "row": r.row,
        "cells": {c.column: {"deidentified": c.deidentified,
                             "phi": [[f.start, f.end, f.entity_type, f.score, f.detector] for f in c.phi],
                             "replacements": [[x.start, x.end, x.entity_type] for x in c.replacements]}
                  for c in r.cells},
        "replaced": r.replaced,
        "review_reasons": r.review_reasons,
        "failed": r.failed,
        "summary": r.summary,
        "codes": r.codes,
        "code_list": r.code_list,
    }


def record_from_json(item: dict, record: NoteRecord) -> NoteRecord:
    """Fill a record rebuilt from the input (its original text) with what the interrupted run produced."""
    for cell in record.cells:
        saved = item["cells"].get(cell.column, {})
        cell.deidentified = saved.get("deidentified", "")
        cell.phi = [PhiFinding(*f) for f in saved.get("phi", [])]
        cell.replacements = tuple(Replacement(*x) for x in saved.get("replacements", []))
    record.replaced = dict(item["replaced"])
    record.review_reasons = list(item["review_reasons"])
    record.failed = item["failed"]
    older = item.get("extra", {})  # checkpoints of casenotes 0.1 kept these three in one dict
    record.summary = item.get("summary", older.get("summary"))
    record.codes = item.get("codes", older.get("codes"))
    record.code_list = item.get("code_list", older.get("code_list", ""))
    return record
