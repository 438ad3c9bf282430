import zipfile

import pytest
from openpyxl import Workbook

from casenotes.errors import InputError
from casenotes.io.columns import plan_columns
from casenotes.io.readers import list_sheets, read_table

NOTE = "Patient seen today for follow up of hypertension, doing well on lisinopril."


def _xlsx(path, rows, title="Notes"):
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_csv_utf8_bom_and_embedded_newlines(tmp_path):
    p = tmp_path / "n.csv"
    p.write_bytes(b'\xef\xbb\xbfMRN,Note\n1,"line one\nline two, still the same note with words"\n2,\n')
    table = read_table(p)
    assert list(table.frame.columns) == ["MRN", "Note"]
    assert table.frame["Note"][0] == "line one\nline two, still the same note with words"
    assert table.frame["Note"][1] == ""  # an empty note is still a row


def test_cp1252_is_detected_without_mojibake(tmp_path):
    p = tmp_path / "n.csv"
    p.write_bytes("MRN,Note\n1,Café patient – seen by nurse; “stable” after 2 days\n".encode("cp1252"))
    table = read_table(p)
    assert table.frame["Note"][0] == "Café patient – seen by nurse; “stable” after 2 days"


def test_tsv(tmp_path):
    p = tmp_path / "n.tsv"
    p.write_text("id\tnote\n7\t" + NOTE + "\n", encoding="utf-8")
    assert read_table(p).frame["note"][0] == NOTE


def test_xlsx_sheets_merged_cells_dates_formulas_and_blank_rows(tmp_path):
    import datetime as dt

    wb = Workbook()
    ws = wb.active
    ws.title = "Other"
    notes = wb.create_sheet("Notes")
    notes.append(["MRN", "Date", "Note"])
    notes.append(["A1", dt.datetime(2024, 7, 22), NOTE])
    notes.append([None, None, None])
    notes.append(["A1", dt.datetime(2024, 7, 23), NOTE + " again"])
    notes.merge_cells("A2:A4")
    p = tmp_path / "w.xlsx"
    wb.save(p)
    assert list_sheets(p) == ["Other", "Notes"]
    frame = read_table(p, "Notes").frame
    assert len(frame) == 3  # the blank row in the middle is kept
    assert list(frame["MRN"]) == ["A1", "A1", "A1"]  # merged range filled
    assert frame["Date"][0] == "2024-07-22"
    with pytest.raises(InputError, match="no sheet named"):
        read_table(p, "Missing")


def test_column_detection(tmp_path):
    p = _xlsx(tmp_path / "w.xlsx", [["Encounter", "MRN", "Patient Name", "Note text"], ["E1", "123", "Jo Bloggs", NOTE]])
    plan = plan_columns(read_table(p).frame)
    assert plan.text_columns == ["Note text"]
    assert plan.id_column == "MRN"
    assert plan.identifier_columns["Patient Name"] == "NAME"
    assert plan.identifier_columns["Encounter"] == "ID"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "file not found"),
        ("empty.csv", b"", "file is empty"),
        ("notes.pdf", b"%PDF-1.4", "unsupported file type"),
        ("corrupt.xlsx", b"this is not a zip file at all", "not a valid Excel workbook"),
        ("page.xls", b"<html><body><table><tr><td>x</td></tr></table></body></html>", "web page"),
        ("binary.csv", b"\x00\x01\x02\xff\xfe\x00" * 50, "binary"),
        ("notes.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
        ("notes.jsonl", b'{"Note": "fine"}\n{"Note": "cut', "line 2 is not valid JSON"),
        ("list.jsonl", b'["Note", "not an object"]\n', "line 1 is not a JSON object"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, name, content, message):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_table(p)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_broken_zip_named_xlsx(tmp_path):
    p = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    with pytest.raises(InputError, match="could not be read as an Excel workbook"):
        read_table(p)


def test_password_protected_workbook(tmp_path):
    import io

    import msoffcrypto

    plain = _xlsx(tmp_path / "plain.xlsx", [["Note"], [NOTE]])
    encrypted = tmp_path / "locked.xlsx"
    out = io.BytesIO()
    with plain.open("rb") as f:
        office = msoffcrypto.OfficeFile(f)
        office.encrypt("secret", out)
    encrypted.write_bytes(out.getvalue())
    with pytest.raises(InputError, match="password-protected"):
        read_table(encrypted)


def test_no_text_column(tmp_path):
    p = _xlsx(tmp_path / "w.xlsx", [["MRN", "Code"], ["1", "A"], ["2", "B"]])
    with pytest.raises(InputError, match="no column of free text"):
        plan_columns(read_table(p).frame, source="w.xlsx")


def _cover_then_notes(path, cover_rows):
    wb = Workbook()
    cover = wb.active
    cover.title = "Cover"
    for r in cover_rows:
        cover.append(r)
    notes = wb.create_sheet("Notes")
    notes.append(["MRN", "Note", "Ward"])
    for i in range(12):
        notes.append([f"{i:04d}", f"{NOTE} Visit number {i} went well.", "4B"])
    wb.save(path)
    return path


@pytest.mark.parametrize("cover_rows", [
    [["Export of case notes"], ["This workbook was exported from the clinic system for the quality review of the last quarter."]],
    [],  # an empty first sheet
    [["Field", "Meaning"], ["Note", "The free text written by the clinician at the visit, in full, unedited."]],
], ids=["title-and-paragraph", "empty", "data-dictionary"])
def test_the_notes_sheet_is_found_when_it_is_not_first(tmp_path, cover_rows):
    path = _cover_then_notes(tmp_path / "export.xlsx", cover_rows)
    table = read_table(path)
    assert table.sheet == "Notes" and len(table.frame) == 12
    # a named note column finds its sheet; a named sheet is read as named
    assert read_table(path, text_columns=("Note",)).sheet == "Notes"
    assert read_table(path, "Cover").sheet == "Cover" if cover_rows else True
    with pytest.raises(InputError, match="no sheet has the column 'Summary'"):
        read_table(path, text_columns=("Summary",))


def test_the_cli_processes_the_notes_sheet_not_the_cover(tmp_path):
    from casenotes.pipeline import RunOptions, run

    path = _cover_then_notes(tmp_path / "export.xlsx", [["Cover page"], ["Exported for audit, with notes of the clinic visits of the whole year."]])
    [result] = run([path], RunOptions(output_dir=tmp_path / "out"))
    assert result.status == "done" and result.rows == 12


# --- shards of a back catalogue: Parquet and JSON Lines ---

def test_json_lines_records_become_rows_with_every_key_as_a_column(tmp_path):
    import json

    path = tmp_path / "catalogue-0001.jsonl"
    records = [{"MRN": "0048813", "Note": "Seen by Dr Okafor.", "Weight": 71.0},
               {},  # an empty record is still a row
               {"Note": "Line one\nline two", "Ward": "4B", "Flags": ["fall risk", "DNR"], "Active": True}]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    table = read_table(path)
    frame = table.frame
    assert list(frame.columns) == ["MRN", "Note", "Weight", "Ward", "Flags", "Active"]
    assert len(frame) == 3 and frame.iloc[1].tolist() == [""] * 6
    assert frame.iloc[0]["Weight"] == "71" and frame.iloc[2]["Note"] == "Line one\nline two"
    assert frame.iloc[2]["Flags"] == '["fall risk", "DNR"]' and frame.iloc[2]["Active"] == "true"


def test_parquet_shards_are_read_as_tables_of_text(tmp_path):
    import datetime as dt

    pa = pytest.importorskip("pyarrow", reason="pyarrow is the 'catalogue' extra")
    import pyarrow.parquet as pq

    path = tmp_path / "catalogue-0002.parquet"
    pq.write_table(pa.table({"Ref": [1, 2, 3], "Admitted": [dt.date(2024, 3, 1), None, dt.date(2024, 3, 9)],
                             "Note": ["Seen by Dr Okafor.", None, "Discharged home."]}), path)
    frame = read_table(path).frame
    assert list(frame.columns) == ["Ref", "Admitted", "Note"]
    assert frame["Ref"].tolist() == ["1", "2", "3"] and frame["Admitted"].tolist() == ["2024-03-01", "", "2024-03-09"]
    assert frame["Note"].tolist() == ["Seen by Dr Okafor.", "", "Discharged home."]
