"""What is done to each column of a sheet: the content must show that a column is safe to copy."""

import pandas as pd
import pytest

from casenotes.errors import InputError
from casenotes.io.columns import FREE_TEXT, IDENTIFIER, KEPT, LEFT_OUT, NOTE, PATIENT_KEY, plan_columns

ROWS = 12


def _frame(**columns):
    return pd.DataFrame({k: [v(i) if callable(v) else v for i in range(ROWS)] for k, v in columns.items()})


@pytest.fixture
def export():
    return _frame(**{
        "MRN": lambda i: f"{48813 + i:07d}",
        "Patient name": lambda i: ["Philippa Quackenbush", "Tomas Vetrivel"][i % 2],
        "DOB": lambda i: f"19{40 + i}-03-14",
        "Home phone": lambda i: f"(617) 555-01{i:02d}",
        "Ward": lambda i: ["4B", "ICU", "5N"][i % 3],
        "Sex": lambda i: "FM"[i % 2],
        "Status": lambda i: ["Active", "Discharged"][i % 2],
        "Weight (kg)": lambda i: f"{60 + i}.5",
        "BP": lambda i: f"1{i:02d}/80 mmHg",
        "Dx": lambda i: ["I10", "E11.9", "J44.1"][i % 3],
        "Seen by": lambda i: ["Dr Castellanos-Pruitt", "RN Okoro"][i % 2],
        "Comments": lambda i: ["email zq@example.org for records", "son visiting", "call back"][i % 3],
        "Note": lambda i: f"Pt stable overnight, sats {90 + i % 9}% on 2L. Plan: continue lasix 40 mg daily and "
                          f"repeat BMP in the morning; family updated by phone.",
    })


def test_only_content_that_shows_it_is_safe_is_kept(export):
    plan = plan_columns(export)
    actions = {c: d.action for c, d in plan.columns.items()}
    assert actions["Note"] == NOTE and actions["MRN"] == PATIENT_KEY
    assert {plan.columns[c].kind for c in ("Patient name", "DOB", "Home phone")} == {"NAME", "DATE", "PHONE"}
    assert all(actions[c] == IDENTIFIER for c in ("Patient name", "DOB", "Home phone", "Seen by"))
    # measurements, ICD-10-CM codes and short categories repeated across many rows
    assert all(actions[c] == KEPT for c in ("Ward", "Sex", "Status", "Weight (kg)", "BP", "Dx")), actions
    assert "ICD-10-CM" in plan.columns["Dx"].reason
    assert actions["Comments"] == FREE_TEXT
    assert plan.output_columns == [c for c in export.columns if c != "Note"]


def test_a_category_of_names_or_places_is_never_safe():
    frame = _frame(Team=lambda i: ["Smith", "Okafor", "Baltimore"][i % 3], Note="Pt stable, plan unchanged today.")
    assert plan_columns(frame, "Note").columns["Team"].action == FREE_TEXT


def test_few_rows_prove_nothing_safe():
    frame = pd.DataFrame({"Ward": ["4B", "ICU"], "Note": ["Pt stable overnight.", "Pt comfortable, no complaints."]})
    assert plan_columns(frame, "Note").columns["Ward"].action == FREE_TEXT


def test_user_choices_win_and_unknown_names_fail_in_one_line(export):
    plan = plan_columns(export, ["Note", "Comments"], "", safe_columns=["Seen by"], excluded_columns=["Patient name"])
    actions = {c: d.action for c, d in plan.columns.items()}
    assert plan.text_columns == ["Comments", "Note"] and plan.id_column is None  # in sheet order
    assert actions["Seen by"] == KEPT and "user" in plan.columns["Seen by"].reason
    assert actions["Patient name"] == LEFT_OUT and "Patient name" not in plan.output_columns
    assert actions["MRN"] == IDENTIFIER  # no patient key, but still an identifier replaced cell by cell
    with pytest.raises(InputError) as error:
        plan_columns(export, "Notes")
    assert "\n" not in str(error.value) and "no column named 'Notes'" in str(error.value)


def test_a_patient_column_of_names_is_the_key_and_its_names_are_searched():
    from casenotes.keys import KeyRing
    from casenotes.rows import RowSource

    frame = _frame(Patient=lambda i: ["Ignatius Lindqvist", "Precious Adebayo-Okafor"][i % 2],
                   Note=lambda i: "LINDQVIST settled overnight; ignatius asked for his daughter. Plan unchanged.")
    plan = plan_columns(frame, "Note")
    assert plan.id_column == "Patient" and plan.columns["Patient"].kind == "NAME"
    record = RowSource(frame, plan, KeyRing(b"k" * 32)).record(1)
    text = record.cells[0].text
    assert {text[a:b] for a, b, _ in record.known.find(text)} == {"LINDQVIST", "ignatius"}
    assert record.identifiers["Patient"][0] == "PATIENT_KEY"  # the cell itself becomes PT-...
