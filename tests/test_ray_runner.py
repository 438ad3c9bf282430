"""The Ray Data backend: the same steps on a Ray instance started for the test give the same outputs
as the local runner (skipped where the optional ray extra is not installed)."""

from __future__ import annotations

import json
import os

import pytest
from openpyxl import Workbook, load_workbook

from casenotes.pipeline import RunOptions, run

pytest.importorskip("ray.data")  # the optional ray extra

NOTES = [
    "Daughter Philippa Quackenbush called from 617-555-0199; BP 120/80, stable. Plan: continue lisinopril.",
    "Seen by Dr. Castellanos-Pruitt on 03/14/2024 for chest pain. Troponin negative. Discharge home.",
    "PT AMBULATED 50 FT. WIFE ROSALIND AT BEDSIDE, UPDATED. PAIN 3/10.",
    "",
    "Email zq@example.org for records. MRN 00412345 verified. Type 2 diabetes, metformin 500 mg.",
    "lives alone in dundalk; son desmond (cell 443-219-8871) will drive. Hypertension, on amlodipine.",
    "No acute distress. Lungs clear. Follow up in 2 weeks.",
]


def _input(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "Note", "Comments"])
    for i, note in enumerate(NOTES):
        ws.append([f"00{4410 + i}", note, "seen by Dr Okonjo" if i % 2 else "ok"])
    path = tmp_path / "notes.xlsx"
    wb.save(path)
    return path


def _results(path):
    ws = load_workbook(path)["Results"]
    return [list(row) for row in ws.iter_rows(values_only=True)]


@pytest.mark.slow
def test_the_ray_backend_writes_what_the_local_runner_writes(tmp_path):
    src = _input(tmp_path)
    common = dict(jsonl=True, summarize=True, batch_size=3, device="cpu")
    [local] = run([src], RunOptions(output_dir=tmp_path / "local", **common))
    [remote] = run([src], RunOptions(output_dir=tmp_path / "ray", backend="ray", workers=1, **common))
    assert local.status == remote.status == "done", (local.error, remote.error)
    assert _results(remote.outputs["workbook"]) == _results(local.outputs["workbook"])
    lines = [json.loads(line) for line in remote.outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert lines == [json.loads(line) for line in local.outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [item["row"] for item in lines] == list(range(1, len(NOTES) + 1))  # every row, in order
    everything = remote.outputs["workbook"].read_bytes() + remote.outputs["jsonl"].read_bytes()
    for planted in (b"Quackenbush", b"617-555-0199", b"zq@example.org", b"00412345", b"Okonjo"):
        assert planted not in everything
    info = {row[0]: row[1] for row in load_workbook(remote.outputs["workbook"])["Run info"].iter_rows(values_only=True)}
    assert "backend=ray" in info["Settings"]
    assert os.environ.get("RAY_USAGE_STATS_ENABLED") == "0"  # set before Ray started: no usage report leaves
    leftovers = [p.name for p in (tmp_path / "ray").iterdir() if not p.name.startswith("notes.casenotes")]
    assert leftovers == []  # Ray's own session folder (spills, logs) is gone with the run
