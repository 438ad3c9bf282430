"""End to end through the batch pipeline: outputs, order, resume, formula safety, no PHI leaks, offline."""

import json
import logging
import socket

import pytest
from openpyxl import Workbook, load_workbook

from casenotes.demo import demo_spreadsheet
from casenotes.pipeline import RunOptions, RunState, run

PLANTED = ["Zebulon Quortney", "Xanthippe", "Frobisher-Vane", "617-555-0917", "zq.frob@example.org", "4471-ZQ-9920"]
NOTES = [
    "Dr. Frobisher-Vane saw pt. Daughter Xanthippe called from 617-555-0917, email zq.frob@example.org. Stable, BP 120/80.",
    "",
    "=1+1 pt comfortable on 2L NC, sats 96%. Plan to continue lasix 40 mg daily and monitor for 2 days.",
    "Mr. Zebulon Quortney insurance member id 4471-ZQ-9920. Follow up in 2 weeks with cardiology clinic.",
] * 3


def _input(tmp_path, notes=NOTES):
    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "Note"])
    for i, note in enumerate(notes):
        ws.append([f"M{i // 2:04d}", note])
        ws.cell(ws.max_row, 2).data_type = "s"  # a note that starts with "=" is text, not a formula
    path = tmp_path / "in.xlsx"
    wb.save(path)
    return path


def test_run_writes_all_rows_in_order_and_no_phi(tmp_path):
    src = _input(tmp_path)
    before = src.read_bytes()
    [result] = run([src], RunOptions(output_dir=tmp_path / "out", jsonl=True, review=True, batch_size=3))
    assert result.status == "done", result.error
    assert src.read_bytes() == before  # the input is never modified
    lines = [json.loads(x) for x in result.outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [x["row"] for x in lines] == list(range(1, len(NOTES) + 1))
    assert set(lines[0]) == {"row", "id", "deidentified_text", "phi", "needs_review"}
    assert lines[1]["deidentified_text"] == ""
    assert lines[0]["id"] == lines[1]["id"] != "M0000"  # same MRN -> same key
    wb = load_workbook(result.outputs["workbook"])
    assert wb.sheetnames == ["About this file", "Results", "PHI findings", "Run info"]
    results = wb["Results"]
    assert results.max_row == len(NOTES) + 1
    assert [c.value for c in results[1]][:2] == ["MRN", "De-identified note"]
    formula_cell = results.cell(4, 2)
    assert formula_cell.data_type in ("s", "inlineStr") and str(formula_cell.value).startswith("=1+1")
    shareable = result.outputs["workbook"].read_bytes() + result.outputs["jsonl"].read_bytes()
    text = _xlsx_text(result.outputs["workbook"]) + result.outputs["jsonl"].read_text(encoding="utf-8")
    for secret in PLANTED + ["M0000"]:
        assert secret not in text
    review = _xlsx_text(result.outputs["review"])
    assert "Xanthippe" in review and "M0000" in review  # the review workbook does hold the PHI
    assert shareable


@pytest.mark.slow
def test_summaries_and_codes_never_carry_phi(tmp_path):
    """Summaries and codes are computed from the de-identified text: the Summary column, the Codes
    sheet's evidence and the JSON Lines export hold none of the planted PHI."""
    [result] = run([_input(tmp_path)], RunOptions(output_dir=tmp_path / "out", jsonl=True, summarize=True, code=True))
    assert result.status == "done", result.error
    wb = load_workbook(result.outputs["workbook"])
    assert wb.sheetnames == ["About this file", "Results", "PHI findings", "Codes", "Run info"]
    headers = [c.value for c in wb["Results"][1]]
    assert {"Summary", "ICD-10-CM codes"} <= set(headers)
    text = _xlsx_text(result.outputs["workbook"]) + result.outputs["jsonl"].read_text(encoding="utf-8")
    for secret in PLANTED + ["M0000"]:
        assert secret not in text
    rows = [json.loads(x) for x in result.outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert all("summary" in r and "codes" in r for r in rows)


def test_back_catalogue_shards_in_json_lines_and_parquet_give_every_record_in_order_without_phi(tmp_path):
    """Shards in (JSON Lines, Parquet), the Results table out as Parquet beside the workbook: one
    output set per shard, every record once and in order, none of the planted PHI."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is the 'catalogue' extra")
    import pyarrow.parquet as pq

    from casenotes.cli import main

    shards = tmp_path / "catalogue"
    shards.mkdir()
    mrns = [f"M{i // 2:04d}" for i in range(len(NOTES))]
    (shards / "part-0001.jsonl").write_text(
        "".join(json.dumps({"MRN": m, "Note": n}) + "\n" for m, n in zip(mrns, NOTES)), encoding="utf-8")
    pq.write_table(pa.table({"MRN": mrns, "Note": NOTES}), shards / "part-0002.parquet")
    out = tmp_path / "out"
    assert main(["run", str(shards / "part-0001.jsonl"), str(shards / "part-0002.parquet"), "-o", str(out),
                 "--text-column", "Note", "--id-column", "MRN", "--parquet", "--jsonl"]) == 0
    for stem in ("part-0001", "part-0002"):
        table = pq.read_table(out / f"{stem}.casenotes.parquet").to_pydict()
        assert table["Row"] == list(range(1, len(NOTES) + 1))
        assert table["De-identified note"][1] == "" and table["MRN"][0] == table["MRN"][1] != "M0000"
        text = json.dumps(table) + _xlsx_text(out / f"{stem}.casenotes.xlsx")
        text += (out / f"{stem}.casenotes.jsonl").read_text(encoding="utf-8")
        for secret in PLANTED + ["M0000"]:
            assert secret not in text
        assert load_workbook(out / f"{stem}.casenotes.xlsx")["Results"].max_row == len(NOTES) + 1


def test_without_pyarrow_the_parquet_export_is_refused_before_any_work(tmp_path, monkeypatch):
    import casenotes.pipeline as pipeline

    monkeypatch.setattr(pipeline, "parquet_available", lambda: False)
    [result] = run([_input(tmp_path)], RunOptions(output_dir=tmp_path / "out", parquet=True))
    assert result.status == "failed" and "needs pyarrow" in result.error and "\n" not in result.error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _xlsx_text(path):
    wb = load_workbook(path)
    return "\n".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None)


def test_existing_output_is_not_overwritten(tmp_path):
    src = _input(tmp_path, NOTES[:2])
    opts = RunOptions(output_dir=tmp_path)
    assert run([src], opts)[0].status == "done"
    again = run([src], opts)[0]
    assert again.status == "failed" and "already exists" in again.error
    opts.overwrite = True
    assert run([src], opts)[0].status == "done"


def test_cancel_then_resume_loses_and_repeats_nothing(tmp_path):
    src = _input(tmp_path)
    batches = []

    def on_progress(p):
        batches.append(p.rows_done)
        if p.rows_done >= 4:
            state.cancel()

    state = RunState(on_progress)
    [first] = run([src], RunOptions(output_dir=tmp_path / "o", batch_size=2, jsonl=True), state)
    assert first.status == "cancelled"
    assert first.outputs["checkpoint"].exists()
    [second] = run([src], RunOptions(output_dir=tmp_path / "o", batch_size=2, jsonl=True, resume=True))
    assert second.status == "done", second.error
    rows = [json.loads(x)["row"] for x in second.outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert rows == list(range(1, len(NOTES) + 1))
    assert not first.outputs["checkpoint"].exists()


def test_one_bad_file_does_not_stop_the_others(tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"garbage")
    good = _input(tmp_path, NOTES[:2])
    results = run([bad, good], RunOptions(output_dir=tmp_path / "o"))
    assert [r.status for r in results] == ["failed", "done"]
    assert "not a valid Excel workbook" in results[0].error


def test_no_phi_in_logs_or_errors_even_when_a_run_fails_halfway(tmp_path, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    src = _input(tmp_path)
    import casenotes.phi.step

    calls = {"n": 0}
    original = casenotes.phi.step.DeidentifyStep.__call__

    def failing(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom while handling " + batch[0].text)  # a careless message that quotes PHI
        return original(self, batch)

    monkeypatch.setattr(casenotes.phi.step.DeidentifyStep, "__call__", failing)
    [result] = run([src], RunOptions(output_dir=tmp_path / "o", batch_size=4, jsonl=True))
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + str(result.error)
    for path in (tmp_path / "o").rglob("*"):
        if path.is_file() and "REVIEW" not in path.name:
            everything += path.read_bytes().decode("utf-8", errors="ignore")
    for secret in PLANTED:
        assert secret not in everything


def test_whole_job_runs_with_sockets_disabled(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    [result] = run([demo_spreadsheet()], RunOptions(output_dir=tmp_path, jsonl=True, mode="surrogates", summarize=True,
                                                    code=True))
    assert result.status == "done", result.error


def test_cli_demo_and_bad_input_exit_codes(tmp_path, capsys):
    from casenotes.cli import main

    assert main(["demo", "-o", str(tmp_path / "demo")]) == 0
    assert (tmp_path / "demo" / "demo_case_notes.casenotes.xlsx").exists()
    bad_model = main(["run", str(demo_spreadsheet()), "--spacy-model", "no_such_model", "-o", str(tmp_path / "m")])
    assert bad_model == 1 and "spaCy model 'no_such_model' is not installed" in capsys.readouterr().err
    missing = tmp_path / "nope.xlsx"
    assert main(["run", str(missing), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "nope.xlsx: file not found" in err
    assert main(["run", str(demo_spreadsheet()), "--summarize", "--jsonl", "-o", str(tmp_path / "s")]) == 0
    rows = (tmp_path / "s" / "demo_case_notes.casenotes.jsonl").read_text().splitlines()
    assert all('"summary"' in line for line in rows)


def test_core_never_imports_qt():
    """The import-linter contract in pyproject.toml."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lint_imports = Path(sys.executable).parent / "lint-imports"  # installed with the test extra
    proc = subprocess.run([str(lint_imports), "--config", str(root / "pyproject.toml")],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_wheel_installs_the_casenotes_namespace_and_no_top_level_core_or_desktop(tmp_path):
    """core/ and desktop/ install as `casenotes` and `casenotes_desktop` (pyproject's package-dir): a
    top-level `core` would collide with any other distribution's. Every package folder is in the wheel."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    import shutil

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"  # a copy: a build in the checkout would leave build/ there, to leak into later wheels
    for name in ("core", "desktop"):
        shutil.copytree(root / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "resources/demo_case_notes.xlsx"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(tmp_path), str(source)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = tmp_path.glob("casenotes-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"casenotes", "casenotes_desktop"}, top
    for folder, package in (("core", "casenotes"), ("desktop", "casenotes_desktop")):
        for init in (root / folder).rglob("__init__.py"):
            assert f"{package}/{init.relative_to(root / folder).as_posix()}" in names
    assert "casenotes/phi/lexicons/" in " ".join(names) and "casenotes_desktop/guide.md" in names
    assert "casenotes/context_cues.tsv" in names and "casenotes/coding/common_terms.tsv" in names
    entry_points = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "casenotes = casenotes.cli:main" in entry_points
    assert "casenotes-desktop = casenotes_desktop.app:main" in entry_points


# A ward export with PHI planted in every kind of column, and the row's identifiers repeated in its text
# in other forms (surname alone, MRN without leading zeros, date of birth in another format, phone digits).
EXPORT_HEADER = ["Ref", "MRN", "Patient name", "DOB", "Phone", "Address", "History", "Assessment", "Comments",
                 "Ward", "Sex", "Weight (kg)", "Seen by"]
EXPORT_PLANTED = ["R-40917", "0048813", "48813", "Philippa Quackenbush", "Quackenbush", "Philippa", "1951-03-14",
                  "3/14/51", "March 14", "(617) 555-0199", "617.555.0199", "42 Thornbury Lane", "Thornbury",
                  "Castellanos-Pruitt", "zq@example.org", "Vetrivel", "Okonkwo-Baptiste"]


def _export(tmp_path, rows=12):
    path = tmp_path / "ward_export.csv"
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(EXPORT_HEADER)
        for i in range(rows):
            first = i < rows // 2
            out.writerow([
                f"R-{40917 + i}", "0048813" if first else "0051122",
                "Philippa Quackenbush" if first else "Tomas Vetrivel", "1951-03-14" if first else "1948-11-02",
                "(617) 555-0199" if first else "(508) 555-0143", "42 Thornbury Lane, Springfield, MA 01103",
                "QUACKENBUSH HAS COPD; MRN 48813 ON FILE. DOB 3/14/51." if first else "Known CHF, EF 30%.",
                "Stable overnight, sats 95% on 2L. Called wife Philippa at 617.555.0199 to update her. "
                "Plan: diuresis, repeat BMP in the morning." if first else
                "Vetrivel comfortable, no complaints. Plan to continue lasix 40 mg daily and monitor weights.",
                "email zq@example.org for records; lives on Thornbury" if first else "son Okonkwo-Baptiste visiting",
                ["4B", "ICU"][i % 2], ["F", "M"][i % 2], f"{60 + i}.5", "Dr Castellanos-Pruitt",
            ])
    return path


def test_every_column_is_deidentified_unless_provably_safe(tmp_path):
    """The issue's export: free text in several columns, identifiers in others. Nothing planted survives."""
    [result] = run([_export(tmp_path)], RunOptions(output_dir=tmp_path / "out", jsonl=True))
    assert result.status == "done", result.error
    text = _xlsx_text(result.outputs["workbook"]) + result.outputs["jsonl"].read_text(encoding="utf-8")
    leaked = [s for s in EXPORT_PLANTED if s.lower() in text.lower()]
    assert leaked == []
    wb = load_workbook(result.outputs["workbook"])
    headers = [c.value for c in wb["Results"][1]]
    assert headers[:12] == [h for h in EXPORT_HEADER if h != "Assessment"]
    rows = list(wb["Results"].iter_rows(min_row=2, values_only=True))
    ward, sex, weight = (headers.index(h) for h in ("Ward", "Sex", "Weight (kg)"))
    assert [r[ward] for r in rows[:2]] == ["4B", "ICU"] and rows[0][sex] == "F" and rows[0][weight] == "60.5"
    history = headers.index("History")
    assert "COPD" in rows[0][history] and "[NAME]" in rows[0][history]
    info = {r[0]: r[1] for r in wb["Run info"].iter_rows(values_only=True)}
    for column in EXPORT_HEADER:  # every column is listed with what was done to it
        assert f"Column: {column}" in info
    assert info["Column: Ward"].startswith("kept") and info["Column: Comments"].startswith("free text")
    assert info["Column: Assessment"].startswith("note") and info["Column: MRN"].startswith("patient key")
    # identifier cells replaced whole are listed among the findings too, one per cell, by column
    findings = [r for r in wb["PHI findings"].iter_rows(min_row=2, values_only=True) if r[6] == "column"]
    columns = {r[1] for r in findings}
    assert {"Patient name", "DOB"} <= columns and len([r for r in findings if r[1] == "Patient name"]) == len(rows)


def test_user_marks_columns_safe_excluded_and_names_several_notes(tmp_path):
    options = RunOptions(output_dir=tmp_path / "out", jsonl=True, text_columns=("History", "Assessment"),
                         safe_columns=("Weight (kg)",), excluded_columns=("Comments",), code=False)
    [result] = run([_export(tmp_path)], options)
    assert result.status == "done", result.error
    wb = load_workbook(result.outputs["workbook"])
    headers = [c.value for c in wb["Results"][1]]
    assert "Comments" not in headers and "History" not in headers
    assert "De-identified History" in headers and "De-identified Assessment" in headers
    info = {r[0]: r[1] for r in wb["Run info"].iter_rows(values_only=True)}
    assert info["Column: Comments"].startswith("left out") and "by the user" in info["Column: Weight (kg)"]
    first = json.loads(result.outputs["jsonl"].read_text(encoding="utf-8").splitlines()[0])
    # The models read the notes together, each under its header.
    assert first["deidentified_text"].startswith("History:\n") and "\n\nAssessment:\n" in first["deidentified_text"]
    assert "Quackenbush" not in first["deidentified_text"] and "48813" not in first["deidentified_text"]


def test_preview_shows_exactly_what_the_run_writes(tmp_path):
    """Surrogates and shifted dates in the preview are the ones the workbook gets (same keys, same
    patient, same known identifiers), for the note and for every other de-identified column."""
    from casenotes.io.preview import preview_rows
    from casenotes.keys import KeyRing
    from casenotes.phi.step import DeidentifySettings

    source = _export(tmp_path, rows=4)
    options = RunOptions(output_dir=tmp_path / "out", mode="surrogates")
    [result] = run([source], options)
    assert result.status == "done", result.error
    ws = load_workbook(result.outputs["workbook"])["Results"]
    headers = [c.value for c in ws[1]]
    written = list(ws.iter_rows(min_row=2, values_only=True))
    preview = preview_rows(source, options, DeidentifySettings(KeyRing.load_or_create(), "surrogates").build(), count=2)
    assert [p.row for p in preview] == [1, 2]
    for shown, row in zip(preview, written):
        assert "[" not in shown.deidentified
        lines = dict(line.split(": ", 1) for line in shown.deidentified.splitlines())
        assert lines["Assessment"] == row[headers.index("De-identified note")]
        for column in ("History", "Comments", "Patient name", "DOB", "Seen by"):
            assert lines[column] == row[headers.index(column)], column


def test_the_verdict_says_safe_to_share_only_when_no_row_is_flagged():
    from pathlib import Path

    from casenotes.pipeline import FileResult

    def verdict(**counts):
        return FileResult(Path("ward.csv"), "done", rows=10, columns_deidentified=3, columns_kept=1, **counts).verdict()

    assert verdict() == "safe to share: no row flagged for review"
    assert verdict(rows_needing_review=2).startswith("check before sharing: 2 row(s) flagged for review")
    assert verdict(rows_failed=1).startswith("safe to share, with gaps: 1 row(s) could not be de-identified")
