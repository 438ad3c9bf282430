"""A checkpoint beside the output, so a killed or cancelled run resumes without losing or repeating rows.

It holds what the shareable outputs will hold (de-identified text, offsets, types), never the
original note text, and is appended to and fsynced after every batch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from core.phi.engine import PhiFinding
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

    def append(self, records: list[NoteRecord], identifier_cells: dict[int, dict[str, str]]) -> None:
        with self.rows_path.open("a", encoding="utf-8") as handle:
            for r in records:
                handle.write(json.dumps(_to_json(r, identifier_cells.get(r.row, {}))) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def load_rows(self) -> dict[int, tuple[dict, dict]]:
        """row -> (record fields, de-identified identifier cells); a torn last line is ignored."""
        done = {}
        if not self.rows_path.exists():
            return done
        for line in self.rows_path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                break
            done[item["row"]] = (item, item.pop("cells", {}))
        return done

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _to_json(r: NoteRecord, cells: dict[str, str]) -> dict:
    return {
        "row": r.row,
        "id": r.patient_key,
        "deidentified_text": r.deidentified_text,
        "phi": [[f.start, f.end, f.entity_type, f.score, f.detector] for f in r.phi],
        "replacements": [[x.start, x.end, x.entity_type] for x in r.replacements],
        "review_reasons": r.review_reasons,
        "failed": r.failed,
        "extra": r.extra,
        "cells": cells,
    }


def record_from_json(item: dict, text: str) -> NoteRecord:
    return NoteRecord(
        row=item["row"],
        text=text,
        patient_key=item["id"],
        deidentified_text=item["deidentified_text"],
        phi=[PhiFinding(*f) for f in item["phi"]],
        replacements=tuple(Replacement(*x) for x in item["replacements"]),
        review_reasons=list(item["review_reasons"]),
        failed=item["failed"],
        extra=item.get("extra", {}),
    )
