"""Faults, signals and odd inputs (issue 16): nothing left behind, nothing silently lost.

Kill points are deterministic (a child process kills itself at a chosen call), never timed.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from casenotes.checkpoint import Checkpoint
from casenotes.pipeline import RunOptions, RunState, output_paths, run

ROOT = Path(__file__).resolve().parents[1]
PATIENT = "Wendeline Quackenbush"
NOTES = [f"Daughter {PATIENT} called from 617-555-0199 about the plan. Stable overnight, BP 120/80.",
         "Pt comfortable on 2L NC, sats 96%. Continue lasix 40 mg daily.",
         "Seen by Dr. Castellanos-Pruitt; follow up in 2 weeks with cardiology clinic."] * 4


def _xlsx(path: Path, notes=NOTES) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "Note"])
    for i, note in enumerate(notes):
        ws.append([f"M{i // 3:04d}", note])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _csv(path: Path, notes=NOTES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["MRN,Note"] + [f'M{i:04d},"{n}"' for i, n in enumerate(notes)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _phi_files(folder: Path) -> list[Path]:
    """Files under ``folder`` that hold a note's text or come from openpyxl (torch may leave an empty
    cache folder in the system temp folder: no PHI)."""
    return [p for p in folder.rglob("*") if p.is_file() and (
        p.name.startswith("openpyxl") or b"Quackenbush" in p.read_bytes() or b"555-0199" in p.read_bytes())]


def _rows(jsonl: Path) -> list[int]:
    return [json.loads(line)["row"] for line in jsonl.read_text(encoding="utf-8").splitlines()]


# --- 1. temporary files: private, inside the output folder, cleaned up; outputs committed together ---

def test_openpyxl_scratch_files_stay_in_the_output_folder_and_go(tmp_path, monkeypatch):
    import openpyxl.worksheet._writer as sheet_writer

    src = _xlsx(tmp_path / "in.xlsx")
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    created = []
    original = sheet_writer.create_temporary_file

    def recording(suffix=""):
        created.append(Path(original(suffix)))
        return str(created[-1])

    monkeypatch.setattr(sheet_writer, "create_temporary_file", recording)
    out = tmp_path / "out"
    [result] = run([src], RunOptions(output_dir=out, review=True, jsonl=True))
    assert result.status == "done", result.error
    assert created and all(out in p.parents for p in created)
    assert _phi_files(system_temp) == []
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in result.outputs.values())
    assert tempfile.tempdir == str(system_temp)  # restored after each save


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_review_workbook_is_readable_by_its_owner_only(tmp_path):
    [result] = run([_xlsx(tmp_path / "in.xlsx")], RunOptions(output_dir=tmp_path / "o", review=True))
    assert result.outputs["review"].stat().st_mode & 0o077 == 0
    assert result.outputs["workbook"].stat().st_mode & 0o044  # the shareable one is shareable


_KILL_WHILE_SAVING_REVIEW = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import openpyxl.worksheet._writer as sheet_writer
    from casenotes.io.writers import REVIEW_SHEET
    from casenotes.pipeline import RunOptions, run

    original = sheet_writer.WorksheetWriter.write_tail

    def write_then_die(self):
        original(self)
        if self.ws.title == REVIEW_SHEET:  # the notes' XML is on disk now, not yet zipped
            os.kill(os.getpid(), signal.SIGKILL)

    sheet_writer.WorksheetWriter.write_tail = write_then_die
    run([Path(sys.argv[1])], RunOptions(output_dir=Path(sys.argv[2]), jsonl=True, review=True))
""")


_INTERRUPT_WHILE_STREAMING = textwrap.dedent("""
    import sys
    from pathlib import Path
    from casenotes.io.writers import _write_table, streamed_workbook

    def rows(plain):
        for i in range(2000):
            if i == 1000 and not plain:  # Ctrl+C (or SIGTERM, taken as one) halfway through the sheet
                raise KeyboardInterrupt
            yield [i, "Seen on the ward"]

    try:
        with streamed_workbook(Path(sys.argv[1])) as wb:
            _write_table(wb.create_sheet("Results"), ["Row", "Note"], rows)
    except KeyboardInterrupt:
        print("interrupted")
""")


def test_scratch_files_an_earlier_version_left_in_the_system_temp_folder_are_removed(tmp_path, monkeypatch):
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    old, fresh, other = (system_temp / n for n in ("openpyxl.k3j2h1g0", "openpyxl.a1b2c3d4", "report.tmp"))
    for path in (old, fresh, other):
        path.write_text("<sheetData><row><c t='inlineStr'><is><t>Daughter Philippa</t></is></c></row>")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (old, other):
        os.utime(path, (two_days_ago, two_days_ago))
    [result] = run([_xlsx(tmp_path / "in.xlsx", NOTES[:2])], RunOptions(output_dir=tmp_path / "o"))
    assert result.status == "done", result.error
    # a killed save's sheet XML is gone; a live save's (minutes old) and other programs' files stay
    assert not old.exists() and fresh.exists() and other.exists()


def test_a_killed_ray_runs_session_folder_is_removed_by_the_next_run(tmp_path):
    from casenotes.io.writers import RAY_FOLDER, remove_stale_temporaries

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ray_folder = tmp_path / RAY_FOLDER
    stale = ray_folder / f"session_2026-12-01_14-16-12_062668_{dead.pid}"
    live = ray_folder / f"session_2026-12-01_14-20-00_000001_{os.getpid()}"
    spilled = ray_folder / f"spill_{dead.pid}"
    for session in (stale, live, spilled):
        (session / "logs").mkdir(parents=True)
        (session / "logs" / "worker.err").write_text("spilled records")
    assert remove_stale_temporaries(tmp_path) == 2
    assert not stale.exists() and not spilled.exists() and live.exists()  # a live run's session stays
    shutil.rmtree(live)
    remove_stale_temporaries(tmp_path)
    assert not ray_folder.exists()


def test_a_workbook_interrupted_while_streaming_prints_no_traceback(tmp_path):
    out = tmp_path / "out.xlsx"
    child = subprocess.run([sys.executable, "-c", _INTERRUPT_WHILE_STREAMING, str(out)],
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=300)
    assert child.stdout.decode().strip() == "interrupted"
    # openpyxl's sheet streams, left to the garbage collector, printed "Exception ignored ... Traceback"
    assert child.stderr.decode(errors="replace") == ""
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written left


def test_a_run_killed_while_saving_leaves_no_phi_behind_and_resumes(tmp_path):
    src = _xlsx(tmp_path / "in.xlsx")
    out, system_temp = tmp_path / "out", tmp_path / "system-temp"
    system_temp.mkdir()
    env = {**os.environ, "TMPDIR": str(system_temp), "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", _KILL_WHILE_SAVING_REVIEW, str(src), str(out)], env=env,
                           capture_output=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode(errors="replace")[-2000:]
    assert _phi_files(system_temp) == []  # openpyxl's scratch XML went to the private folder
    outputs = output_paths(src, RunOptions(output_dir=out))
    # Killed while writing: no output exists under its final name, the checkpoint does.
    assert not any(outputs[k].exists() for k in ("workbook", "jsonl", "review"))
    assert outputs["checkpoint"].exists()

    [result] = run([src], RunOptions(output_dir=out, jsonl=True, review=True, resume=True))
    assert result.status == "done", result.error
    assert _rows(result.outputs["jsonl"]) == list(range(1, len(NOTES) + 1))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in result.outputs.values())


def test_stale_temporaries_of_dead_runs_are_removed_and_a_live_runs_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_folder = out / f".~in.casenotes.xlsx.{dead.pid}.tmp"
    stale_folder.mkdir()
    (stale_folder / "openpyxl.abc").write_text("note text")
    stale_file = out / f".~in.REVIEW-CONTAINS-PHI.casenotes.xlsx.{dead.pid}.tmp"
    stale_file.write_text("note text")
    live = out / f".~other.casenotes.xlsx.{os.getppid()}.tmp"  # a process that is alive
    live.mkdir()
    [result] = run([_xlsx(tmp_path / "in.xlsx", NOTES[:2])], RunOptions(output_dir=out))
    assert result.status == "done", result.error
    assert not stale_folder.exists() and not stale_file.exists() and live.exists()


def test_outputs_are_committed_together(tmp_path, monkeypatch):
    import casenotes.pipeline

    def failing_review(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(casenotes.pipeline, "write_review_workbook", failing_review)
    src = _xlsx(tmp_path / "in.xlsx")
    options = RunOptions(output_dir=tmp_path / "o", jsonl=True, review=True)
    [result] = run([src], options)
    assert result.status == "failed" and "disk is full" in result.error and "internal error" not in result.error
    outputs = output_paths(src, options)
    assert not outputs["workbook"].exists() and not outputs["jsonl"].exists()
    monkeypatch.undo()
    [again] = run([src], RunOptions(output_dir=tmp_path / "o", jsonl=True, review=True, resume=True))
    assert again.status == "done" and all(p.exists() for p in again.outputs.values())


# --- 4 and 9. inputs of one name; file names that are PHI ---

def test_two_inputs_of_one_name_never_replace_each_other(tmp_path):
    a = _csv(tmp_path / "a" / "notes.csv", NOTES[:2])
    b = _csv(tmp_path / "b" / "notes.csv", NOTES[:5])
    first, second = run([a, b], RunOptions(output_dir=tmp_path / "out", jsonl=True, overwrite=True))
    assert first.status == "done" and second.status == "failed"
    assert "same name" in second.error
    assert len(_rows(first.outputs["jsonl"])) == 2  # a's rows are still there

    neutral = run([a, b], RunOptions(output_dir=tmp_path / "n", jsonl=True, output_names="neutral"))
    assert [r.status for r in neutral] == ["done", "done"]
    assert [len(_rows(r.outputs["jsonl"])) for r in neutral] == [2, 5]


def test_neutral_names_keep_the_input_name_out_of_the_shareable_outputs(tmp_path):
    from casenotes.evaluate import _input_beside

    src = _xlsx(tmp_path / "Quackenbush_Wendeline_MRN7700000.xlsx", NOTES[:3])
    options = RunOptions(output_dir=tmp_path, jsonl=True, output_names="neutral")
    [result] = run([src], options)
    assert result.status == "done", result.error
    for path in result.outputs.values():
        assert "Quackenbush" not in path.name and "7700000" not in path.name
        assert path.name.startswith("deidentified-")
    info = {r[0]: r[1] for r in load_workbook(result.outputs["workbook"])["Run info"].iter_rows(values_only=True)}
    assert "Quackenbush" not in str(info["Input file"])
    # The same input gets the same name again (the window finds its earlier run by it).
    assert output_paths(src, options)["workbook"] == result.outputs["workbook"]
    # evaluate still finds the input beside its output, by its SHA-256.
    assert _input_beside(result.outputs["workbook"], info) == src
    named = run([src], RunOptions(output_dir=tmp_path / "named", record_input_name=True))[0]
    info = {r[0]: r[1] for r in load_workbook(named.outputs["workbook"])["Run info"].iter_rows(values_only=True)}
    assert info["Input file"] == src.name



def test_with_neutral_names_the_terminal_never_shows_the_input_name(tmp_path, capsys):
    from casenotes.cli import main

    src = _xlsx(tmp_path / "Quackenbush_Wendeline_MRN7700000.xlsx", NOTES[:2])
    bad = tmp_path / "Vanterpool_Ignatius_MRN5500000.csv"
    bad.write_bytes(b"\x00\x01 not a spreadsheet")
    args = ["run", str(src), str(bad), "-o", str(tmp_path / "out"), "--overwrite"]
    assert main([*args, "--output-names", "neutral"]) == 1  # the bad file fails; the good one is done
    printed = capsys.readouterr()
    shown = printed.out + printed.err
    assert "file 1 of 2 (deidentified-" in shown and "file 2 of 2" in shown
    assert "Quackenbush" not in shown and "7700000" not in shown and "Vanterpool" not in shown
    main([*args, "--output-names", "input"])
    assert "Quackenbush_Wendeline_MRN7700000.xlsx" in capsys.readouterr().err


# --- 5. long notes ---

def test_a_note_longer_than_the_csv_field_limit_is_read_and_deidentified_in_full(tmp_path, monkeypatch):
    import casenotes.phi.engine

    # Pieces of 2,000 characters stand for the 20,000 of a real run: the same cuts, a smaller note.
    monkeypatch.setattr(casenotes.phi.engine, "PIECE_CHARS", 2_000)
    filler = "Vitals stable overnight, tolerating diet, ambulating in the hall with assistance. "
    long_note = (filler * 20 + f"Daughter {PATIENT} called from 617-555-0199. ") * 90
    assert len(long_note) > 131_072  # Python's csv module's default field limit
    src = _csv(tmp_path / "long.csv", [long_note, NOTES[1]])
    [result] = run([src], RunOptions(output_dir=tmp_path / "o", jsonl=True))
    assert result.status == "done", result.error
    lines = [json.loads(x) for x in result.outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    text = lines[0]["deidentified_text"]
    assert "Quackenbush" not in text and "555-0199" not in text
    assert text.count("Vitals stable overnight") == 20 * 90  # the whole note, not a failed, blank row
    assert not lines[0]["needs_review"] or "failed" not in json.dumps(lines[0])


def test_a_name_cut_between_two_pieces_is_still_found(engine, monkeypatch):
    import casenotes.phi.engine
    from casenotes.phi.engine import text_pieces

    text = "Stable overnight and comfortable. " * 8 + f"Daughter {PATIENT} visited." + " Plan unchanged." * 30
    start, end = text.index(PATIENT), text.index(PATIENT) + len(PATIENT)
    monkeypatch.setattr(casenotes.phi.engine, "PIECE_OVERLAP", 60)
    cut_inside = 0
    for size in range(280, 330, 3):  # cuts at many places, some inside the name
        monkeypatch.setattr(casenotes.phi.engine, "PIECE_CHARS", size)
        cut_inside += any(start < s + len(p) < end for s, p in text_pieces(text, size, 60))
        found = engine.analyze([text])[0]
        assert any(f.start <= start and f.end >= end for f in found), size
    assert cut_inside  # the case this test is for did occur


def test_text_pieces_cover_the_text_with_overlap():
    from casenotes.phi.engine import text_pieces

    text = " ".join(f"word{i}" for i in range(5_000))
    pieces = text_pieces(text, 1_000, 100)
    assert pieces[0][0] == 0 and pieces[-1][0] + len(pieces[-1][1]) == len(text)
    for (s1, p1), (s2, _) in zip(pieces, pieces[1:]):
        assert s1 < s2 < s1 + len(p1)  # each piece starts inside the one before
        assert text[s2 - 1] == " "  # and at a word
    assert all(text[s : s + len(p)] == p and len(p) <= 1_000 for s, p in pieces)


# --- 6. memory: the outputs are written from the checkpoint, a record at a time ---

def _saved_run(folder: Path, rows: int):
    from casenotes.phi.findings import PhiFinding
    from casenotes.steps import NoteRecord, TextCell

    def original(row: int) -> NoteRecord:
        return NoteRecord(row, [TextCell("Note", f"Seen by Dr Okafor on visit {row}. " * 20)], f"K{row:06d}",
                          identifiers={"MRN": ("ID", f"{row:08d}")})

    checkpoint = Checkpoint(folder)
    checkpoint.start({"rows": rows})
    order = list(range(1, rows + 1))
    order[:2] = [2, 1]  # a batch retried row by row can be saved out of order
    for start in range(0, rows, 64):
        batch = [original(r) for r in order[start : start + 64]]
        for record in batch:
            cell = record.cells[0]
            cell.deidentified = cell.text.replace("Okafor", "[NAME]")
            cell.phi = [PhiFinding(10, 16, "PERSON", 0.9, "test")]
            record.replaced = {"MRN": "K"}
            record.codes = [{"code": "I10"}] * 3
        checkpoint.append(batch)
    return checkpoint, original


def test_saved_records_come_back_in_row_order_without_their_originals(tmp_path):
    checkpoint, original = _saved_run(tmp_path / "cp", 200)
    checkpoint.load_rows()  # as a resume finds them
    records = checkpoint.saved_records(original, 200)
    for _ in range(2):  # the writers make more than one pass
        seen = list(records)
        assert [r.row for r in seen] == list(range(1, 201))
        assert all("Okafor" not in r.deidentified_text and r.cells[0].text == "" for r in seen)
        assert all(r.identifiers["MRN"] == ("ID", "") and r.codes == [{"code": "I10"}] * 3 for r in seen)
    with pytest.raises(RuntimeError, match="missing"):
        checkpoint.saved_records(original, 201)


def test_writing_a_run_reads_its_records_back_so_memory_does_not_grow_with_rows(tmp_path):
    """The records of a run are not kept until writing: eight times the rows, about the same peak
    while counting them and writing the JSON Lines from the checkpoint."""
    import tracemalloc

    from casenotes.io.writers import write_jsonl
    from casenotes.pipeline import RunTally

    def peak(rows: int) -> int:
        checkpoint, original = _saved_run(tmp_path / f"cp{rows}", rows)
        records = checkpoint.saved_records(original, rows)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            tally = RunTally.of(records)
            write_jsonl(tmp_path / f"{rows}.jsonl", records)
            assert (tally.rows, tally.codes, tally.phi_by_type) == (rows, 3 * rows, {"PERSON": rows, "ID": rows})
            return tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()

    small, large = peak(300), peak(2400)
    assert large < small * 2, (small, large)


# --- 7. signals and a torn checkpoint ---

def test_a_torn_checkpoint_line_is_repaired_on_resume(tmp_path):
    from casenotes.steps import NoteRecord

    checkpoint = Checkpoint(tmp_path / "cp")
    checkpoint.start({"rows": 4})
    checkpoint.append([NoteRecord(1), NoteRecord(2)])
    with checkpoint.rows_path.open("ab") as handle:
        handle.write(b'{"row": 3, "cells": {"No')  # power lost mid-line
    assert sorted(checkpoint.load_rows()) == [1, 2]
    checkpoint.append([NoteRecord(3)])
    # Without the repair the torn line would hide row 3, and every row after it, from every resume.
    assert sorted(checkpoint.load_rows()) == [1, 2, 3]


def test_a_checkpoint_of_the_earlier_format_resumes_with_its_summaries_and_codes():
    from casenotes.checkpoint import record_from_json
    from casenotes.steps import NoteRecord, TextCell

    older = {"row": 1, "cells": {"Note": {"deidentified": "Seen by [NAME].", "phi": [], "replacements": []}},
             "replaced": {}, "review_reasons": [], "failed": False,
             "extra": {"summary": "Seen.", "codes": [{"code": "I10"}], "code_list": "I10"}}
    record = record_from_json(older, NoteRecord(1, [TextCell("Note", "Seen by Dr Okafor.")]))
    assert (record.summary, record.codes, record.code_list) == ("Seen.", [{"code": "I10"}], "I10")


def test_resume_after_a_finished_run_redoes_nothing_and_replaces_nothing(tmp_path):
    src = _xlsx(tmp_path / "in.xlsx", NOTES[:3])
    [done] = run([src], RunOptions(output_dir=tmp_path / "o", jsonl=True))
    stamp = {k: p.stat().st_mtime_ns for k, p in done.outputs.items()}
    [again] = run([src], RunOptions(output_dir=tmp_path / "o", jsonl=True, resume=True))
    assert again.status == "done" and "nothing to resume" in again.verdict()
    assert {k: p.stat().st_mtime_ns for k, p in again.outputs.items()} == stamp
    [more] = run([src], RunOptions(output_dir=tmp_path / "o", jsonl=True, review=True, resume=True))
    assert more.status == "failed" and "overwrite" in more.error


def test_a_second_run_on_a_live_runs_outputs_is_refused(tmp_path):
    src = _xlsx(tmp_path / "in.xlsx", NOTES[:2])
    options = RunOptions(output_dir=tmp_path / "o")
    held = Checkpoint(output_paths(src, options)["checkpoint"])
    assert held.claim()
    try:
        [result] = run([src], options)
    finally:
        held.release()
    assert result.status == "failed" and "another casenotes run" in result.error
    assert run([src], options)[0].status == "done"


def test_ctrl_c_also_cancels_the_run_if_a_library_swallows_it():
    from casenotes.cli import _interrupt_cancels

    state = RunState()
    with _interrupt_cancels(state):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        except KeyboardInterrupt:
            pass  # swallowed, as a careless library might
    assert state.cancelled
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- 8. messages ---

def test_file_system_failures_say_what_happened(tmp_path, monkeypatch):
    import casenotes.pipeline

    src = _xlsx(tmp_path / "in.xlsx", NOTES[:2])
    real_replace = os.replace

    def locked(a, b):
        if str(b).endswith(".casenotes.xlsx"):
            raise PermissionError(13, "Permission denied", str(b))
        return real_replace(a, b)

    monkeypatch.setattr(casenotes.pipeline.os, "replace", locked)
    [result] = run([src], RunOptions(output_dir=tmp_path / "o"))
    assert result.status == "failed"
    assert "permission denied" in result.error and "Excel" in result.error and "internal error" not in result.error


def test_a_failure_is_printed_once(tmp_path, capsys):
    from casenotes.cli import main

    missing = tmp_path / "missing.xlsx"
    assert main(["run", str(missing), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("file not found") == 1


def test_utf16_without_a_byte_order_mark_is_read(tmp_path):
    from casenotes.io.readers import read_table

    for encoding in ("utf-16-le", "utf-16-be"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes("MRN,Note\nM1,Patient seen; stable.\nM2,Café au lait spots noted.\n".encode(encoding))
        table = read_table(path)
        assert list(table.frame["Note"]) == ["Patient seen; stable.", "Café au lait spots noted."]
        assert table.encoding == encoding


def test_threads_creating_the_secret_at_once_all_get_one_secret(tmp_path):
    """The window inspects files on several threads at once; each may be the first to need the secret."""
    import threading

    from casenotes.keys import KeyRing

    home = tmp_path / "home"
    barrier = threading.Barrier(8)
    keys, errors = [], []

    def load():
        barrier.wait()
        try:
            keys.append(KeyRing.load_or_create(home).pseudonym("M0001"))
        except Exception as exc:  # noqa: BLE001 - the failure this test is about
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(keys)) == 1 and len(keys) == 8
    assert [p.name for p in home.iterdir()] == ["secret.key"]  # no temporary file left
