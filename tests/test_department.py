"""The department's own lists: a reviewer's corrections and the staff list reach the next runs,
and are kept private (owner-only file, counts only on screen)."""

import stat

from openpyxl import Workbook, load_workbook

from casenotes.cli import main
from casenotes.io.writers import CORRECTIONS_SHEET, MISSED, NOT_PHI
from casenotes.phi.department import FILE_NAME, DepartmentLists
from casenotes.pipeline import RunOptions, run

NOTES = [
    "Pt prefers to be called tiggs by staff. Plan discussed at Sunday Huddle. Dressing changed, wound clean.",
    "Vexworth happy with progress, continue current antibiotics. Sats 96% on room air.",
]


def _input(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["MRN", "Note"])
    for i, note in enumerate(NOTES):
        ws.append([f"M{i:04d}", note])
    path = tmp_path / "notes.xlsx"
    wb.save(path)
    return path


def _results_text(result) -> str:
    ws = load_workbook(result.outputs["workbook"])["Results"]
    return " ".join(str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None)


def test_reviewer_corrections_are_learned_and_used_by_the_next_run(tmp_path, isolated_home, capsys):
    source = _input(tmp_path)
    [first] = run([source], RunOptions(output_dir=tmp_path / "out", review=True))
    assert first.status == "done", first.error
    before = _results_text(first)
    assert "tiggs" in before and "Sunday Huddle" not in before  # the engine's miss and false alarm

    review = first.outputs["review"]
    wb = load_workbook(review)
    sheet = wb[CORRECTIONS_SHEET]
    for line in ([1, "Note", "tiggs", MISSED, "NAME"], [1, "Note", "Sunday Huddle", NOT_PHI, None],
                 [2, "Note", "tiggs", MISSED, "NAME"],  # not in row 2: a reviewer's slip, not learned
                 [1, "Note", "clean", MISSED, None]):  # no PHI type
        sheet.append(line)
    wb.save(review)

    assert main(["learn-review", str(review)]) == 0
    printed = capsys.readouterr().out
    assert "1 missed identifier(s) and 1 false alarm(s) added" in printed
    assert "1 correction(s) skipped" in printed and "1 line(s) skipped" in printed
    assert "tiggs" not in printed and "Huddle" not in printed  # counts only: the lists are PHI
    lists_file = isolated_home / FILE_NAME
    assert stat.S_IMODE(lists_file.stat().st_mode) == 0o600

    [second] = run([source], RunOptions(output_dir=tmp_path / "out", overwrite=True))
    after = _results_text(second)
    assert "tiggs" not in after and "Sunday Huddle" in after

    assert main(["learn-review", str(review)]) == 0  # learning twice adds nothing
    assert "2 correction(s) already known" in capsys.readouterr().out


def test_staff_list_names_are_found_in_every_note(tmp_path):
    source = _input(tmp_path)
    [first] = run([source], RunOptions(output_dir=tmp_path / "out"))
    assert "Vexworth" in _results_text(first)

    staff = tmp_path / "staff.csv"
    staff.write_text("First name,Last name,Role\nOttoline,Vexworth,RN\nAmos,Pellegrew,MD\n", encoding="utf-8")
    assert main(["staff-list", str(staff)]) == 0
    assert DepartmentLists.load().staff_names == ["Ottoline Vexworth", "Amos Pellegrew"]
    [second] = run([source], RunOptions(output_dir=tmp_path / "out", overwrite=True))
    assert "Vexworth" not in _results_text(second)


def test_learn_review_refuses_a_workbook_that_is_not_a_review(tmp_path, capsys):
    other = tmp_path / "other.xlsx"
    Workbook().save(other)
    assert main(["learn-review", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a casenotes review workbook" in err
