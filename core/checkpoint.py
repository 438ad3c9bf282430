"""A checkpoint beside the output, so a killed or cancelled run resumes without losing or repeating rows.

It holds what the shareable outputs will hold (de-identified text, replaced identifier cells,
offsets, types), never the original text, and is appended to and fsynced after every batch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from core.phi.findings import PhiFinding
from core.phi.replace import Replacement
from core.steps import NoteRecord


class Checkpoint:
    def __init__(self, folder: Path):
        self.folder = folder
        self.meta_path = folder / "meta.json"
        self.rows_path = folder / "rows.jsonl"

    def exists(self) -> bool:
        return self.meta_path.exists()

    def start(self, meta: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows_path.write_text("", encoding="utf-8")
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp, self.meta_path)

    def meta(self) -> dict:
        return json.loads(self.meta_path.read_text(encoding="utf-8"))

    def append(self, records: list[NoteRecord]) -> None:
        with self.rows_path.open("a", encoding="utf-8") as handle:
            for r in records:
                handle.write(json.dumps(_to_json(r)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def load_rows(self) -> dict[int, dict]:
        """row -> what the steps produced for it; a torn last line is ignored."""
        done = {}
        if not self.rows_path.exists():
            return done
        for line in self.rows_path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                break
            done[item["row"]] = item
        return done

    def rows_done(self) -> int:
        """Rows saved so far (complete lines), without parsing them: shown for a file that can be resumed."""
        if not self.rows_path.exists():
            return 0
        with self.rows_path.open("rb") as handle:
            return sum(1 for line in handle if line.endswith(b"\n"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


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
        "extra": r.extra,
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
    record.extra = item.get("extra", {})
    return record
