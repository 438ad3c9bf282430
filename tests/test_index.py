"""The ICD-10-CM index built ahead (`casenotes prepare`, the installer's shipped copy) and its build
counted apart from row throughput. Most tests shrink the code set to a few hundred names so that a
real build takes seconds; nothing here measures or asserts a wall-clock time."""

import os
import sys
import time
import types

import numpy as np
import openpyxl
import pytest

from casenotes import embeddings
from casenotes.cli import main
from casenotes.coding import icd10, index
from casenotes.durations import rough_duration
from casenotes.pipeline import RunOptions, RunState, run

FEW = 300


@pytest.fixture
def few_names(tmp_path, monkeypatch):
    """A code set of a few hundred names, an empty user cache and no shipped folder."""
    entries = icd10.index_entries()[:FEW]
    monkeypatch.setattr(icd10, "index_entries", lambda: entries)
    monkeypatch.setenv("CASENOTES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CASENOTES_INDEX_DIR", raising=False)
    return entries


def _no_embedding(monkeypatch):
    monkeypatch.setattr(embeddings, "embed", lambda *a, **k: pytest.fail("the index was built again"))


def _snapshot(folder):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


def test_build_estimate_text():
    now = {"t": 100.0}
    estimate = index.BuildEstimate(clock=lambda: now["t"])
    assert estimate(0, 1000) == "building the ICD-10-CM index (once): 0%, estimating the time left"
    now["t"] = 130.0
    assert estimate(250, 1000) == "building the ICD-10-CM index (once): 25%, about 1 min 30 s left"
    now["t"] = 160.0
    assert estimate(800, 1000) == "building the ICD-10-CM index (once): 80%, about 15 s left"
    assert estimate(1000, 1000) == "building the ICD-10-CM index (once): 100%"
    assert [rough_duration(s) for s in (2, 44, 70, 125, 600)] == ["5 s", "45 s", "1 min 10 s", "2 min", "10 min"]


def test_prepare_builds_once_then_says_already_built(few_names, tmp_path, capsys, monkeypatch):
    assert main(["prepare", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    built = tmp_path / "cache" / index.file_name(few_names)
    assert f"ICD-10-CM index built ({FEW} names" in out and str(built) in out
    assert "building the ICD-10-CM index (once): 0%" in err and "building the ICD-10-CM index (once): 100%" in err
    assert np.load(built).shape == (FEW, 384)

    _no_embedding(monkeypatch)
    assert main(["prepare"]) == 0
    assert capsys.readouterr().out.strip() == f"ICD-10-CM index already built: {built}"
    loaded = index.load_or_build()
    assert len(loaded.entries) > FEW and loaded.vectors.shape[1] == 384  # the common terms come after the names
    assert [e.code for e in loaded.entries[:FEW]] == [e.code for e in few_names]


def test_built_vectors_are_the_query_embeddings(few_names):
    """Large batches of one length change no vector: a name's index vector is its float32 query
    embedding, and the faster query encoder (bfloat16 where the CPU has it) stays next to it."""
    texts = [e.text for e in few_names[:64]]
    built = index.build_vectors(texts)
    assert np.allclose(built, embeddings.embed(texts, batch_size=8, precision="fp32"), atol=1e-5)
    assert (built * embeddings.embed(texts, batch_size=8)).sum(axis=1).min() > 0.999


def test_shipped_index_is_used_and_never_written(few_names, tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "shipped"
    assert main(["prepare", "--into", str(shipped), "--device", "cpu"]) == 0
    assert not (tmp_path / "cache").exists()  # --into builds for shipping, not for this machine
    capsys.readouterr()
    monkeypatch.setenv("CASENOTES_INDEX_DIR", str(shipped))
    before = _snapshot(shipped)
    _no_embedding(monkeypatch)

    loaded = index.load_or_build()
    assert loaded.vectors.shape[0] > FEW
    assert main(["prepare"]) == 0
    assert capsys.readouterr().out.strip() == f"ICD-10-CM index already built: {shipped / index.file_name(few_names)}"
    assert _snapshot(shipped) == before and not (tmp_path / "cache").exists()


def test_a_damaged_shipped_index_is_built_into_the_cache_not_the_shipped_folder(few_names, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / index.file_name(few_names)).write_bytes(b"not an index")
    monkeypatch.setenv("CASENOTES_INDEX_DIR", str(shipped))
    before = _snapshot(shipped)
    index.load_or_build()
    assert _snapshot(shipped) == before
    assert index.find_built() == tmp_path / "cache" / index.file_name(few_names)


def test_prepare_into_a_folder_copies_the_index_built_here(few_names, tmp_path, monkeypatch, capsys):
    assert main(["prepare", "--device", "cpu"]) == 0
    _no_embedding(monkeypatch)
    assert main(["prepare", "--into", str(tmp_path / "ship")]) == 0
    assert "copied from" in capsys.readouterr().out
    name = index.file_name(few_names)
    assert (tmp_path / "ship" / name).read_bytes() == (tmp_path / "cache" / name).read_bytes()


def test_the_bundle_looks_beside_its_program(few_names, tmp_path, monkeypatch):
    """PyInstaller's one-folder layout: data under _internal/, the program beside it."""
    bundle = tmp_path / "bundle"
    internal = bundle / "_internal"
    index.build(internal / index.SHIPPED_FOLDER, entries=few_names)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle / "casenotes"))
    assert index.find_built() == internal / index.SHIPPED_FOLDER / index.file_name(few_names)


FAKE_MINUTE = 60.0  # seconds of the fake clock below, never of the wall


@pytest.fixture
def clock(monkeypatch):
    """The pipeline's clock, moved by the test: each reading is a second later, and the test adds a
    minute at each report of the index build. Durations below are on this clock, never the wall's."""
    now = {"t": 0.0}

    def perf_counter():
        now["t"] += 1.0
        return now["t"]

    import casenotes.pipeline

    fake = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    fake.perf_counter = perf_counter
    monkeypatch.setattr(casenotes.pipeline, "time", fake)
    return now


def test_the_index_build_is_its_own_stage_and_not_row_time(few_names, tmp_path, clock, monkeypatch):
    monkeypatch.setattr(index, "_CHUNK", 100)  # a few reports from a few hundred names, as from the full set
    path = tmp_path / "notes.csv"
    path.write_text("mrn,note\n1,Admitted with chest pain.\n2,Cough and fever.\n3,Type 2 diabetes.\n4,\n",
                    encoding="utf-8")
    seen = []

    def on_progress(p):
        seen.append(p)
        if p.stage.startswith(index.BUILD_STAGE):
            clock["t"] += FAKE_MINUTE  # a minute of the test's clock between the build's reports

    [result] = run([path], RunOptions(output_dir=tmp_path / "out", text_columns=("note",), code=True, device="cpu"), RunState(on_progress))
    assert result.status == "done", result.error

    building = [p for p in seen if p.stage.startswith(index.BUILD_STAGE)]
    assert building[0].stage == f"{index.BUILD_STAGE}: 0%, estimating the time left"
    assert building[-1].stage == f"{index.BUILD_STAGE}: 100%"
    assert all(p.rows_done == 0 and p.elapsed_s == 0 and p.rows_per_s == 0 for p in building)
    assert any(p.stage.endswith(" left") and "about" in p.stage for p in building[1:-1])
    rows = [p for p in seen if p.stage == "processing"]
    # On the test's clock (no wall time): the build's fake minutes are not counted as row time.
    fake_row_time = rows[-1].elapsed_s
    assert rows[-1].rows_done == 4 and fake_row_time < FAKE_MINUTE
    assert index.find_built() is not None  # built into the cache: the next run loads it

    info = {r[0].value: r[1].value for r in openpyxl.load_workbook(result.outputs["workbook"])["Run info"].iter_rows()}
    loading, processing = float(info["Model loading (s)"]), float(info["Processing time (s)"])
    assert loading >= FAKE_MINUTE * len(building) and processing < FAKE_MINUTE
    assert float(info["Rows per second"]) == pytest.approx(4 / processing, abs=0.06)
    labels = list(info)
    assert labels.index("Model loading (s)") < labels.index("Processing time (s)") < labels.index("Rows per second")


def test_no_build_stage_when_the_index_is_there(few_names, tmp_path):
    index.build(tmp_path / "cache", entries=few_names)
    path = tmp_path / "notes.csv"
    path.write_text("mrn,note\n1,Admitted with chest pain.\n", encoding="utf-8")
    seen = []
    [result] = run([path], RunOptions(output_dir=tmp_path / "out", text_columns=("note",), code=True, device="cpu"), RunState(seen.append))
    assert result.status == "done", result.error
    assert not [p for p in seen if p.stage.startswith(index.BUILD_STAGE)]
    assert os.listdir(tmp_path / "cache") == [index.file_name(few_names)]
