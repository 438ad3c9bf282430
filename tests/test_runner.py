"""The step contract and the local runner: steps built from settings, worker processes owned by the
runner, and each step's declared error policy."""

from __future__ import annotations

import pickle

import pytest

from casenotes.keys import KeyRing
from casenotes.phi.step import DeidentifySettings, DeidentifyStep
from casenotes.runner import LocalRunner
from casenotes.steps import NoteRecord, OnError, TextCell
from casenotes.summarize.step import SummarizeSettings, SummarizeStep

NOTES = [
    "Daughter Philippa Quackenbush called from 617-555-0199; BP 120/80, stable.",
    "Seen by Dr. Castellanos-Pruitt on 03/14/2024. Plan: continue lisinopril 10 mg.",
    "PT AMBULATED 50 FT. WIFE ROSALIND AT BEDSIDE, UPDATED.",
    "Email zq@example.org for records. MRN 00412345 verified at registration.",
    "No acute distress. Lungs clear. Follow up in 2 weeks.",
    "lives alone in dundalk; son desmond (cell 443-219-8871) will drive.",
]
KEYS = KeyRing(b"runner-test-secret")


def _records() -> list[NoteRecord]:
    return [NoteRecord(i + 1, [TextCell("Note", text)], patient_key=f"P{i % 2}") for i, text in enumerate(NOTES)]


def _outputs(records: list[NoteRecord]) -> list[tuple]:
    return [(r.row, r.deidentified_text, [(f.start, f.end, f.entity_type) for f in r.phi], r.review_reasons, r.failed)
            for r in records]


def test_settings_are_plain_and_build_an_equal_step_anywhere():
    settings = DeidentifySettings(KEYS, "surrogates")
    again = pickle.loads(pickle.dumps(settings))
    assert again == settings and isinstance(again.build(), DeidentifyStep)
    summarize = pickle.loads(pickle.dumps(SummarizeSettings(KEYS, max_sentences=2)))
    step = summarize.build()
    assert isinstance(step, SummarizeStep) and step.engine is None  # an extract needs no second PHI engine
    assert (DeidentifyStep.on_error, SummarizeStep.on_error) == (OnError.BLANK_ROW, OnError.FLAG_ROW)
    assert [c.field for c in SummarizeStep.output_columns] == ["summary"]


@pytest.mark.slow
def test_worker_processes_give_exactly_what_one_process_gives():
    """The runner, not the step, starts the processes: each builds the step from its settings."""
    settings = DeidentifySettings(KEYS, "surrogates")
    with LocalRunner([settings.build()]) as one:
        one.setup()
        alone = one.run(_records())
    with LocalRunner([settings.build()], workers=2) as two:
        two.setup()
        assert two._pool is not None
        spread = two.run(_records())
    assert _outputs(spread) == _outputs(alone)
    assert [r.row for r in spread] == list(range(1, len(NOTES) + 1))
    assert "Quackenbush" not in " ".join(r.deidentified_text for r in spread)


def test_a_row_that_fails_is_blanked_or_flagged_as_its_step_declares(monkeypatch):
    deid = DeidentifySettings(KEYS).build()
    summarize = SummarizeSettings(KEYS).build()

    seen_by_summarize = []

    def failing_on(row, original):
        def call(self, batch):
            if isinstance(self, SummarizeStep):
                seen_by_summarize.extend(c.text for r in batch for c in r.cells)
            if any(r.row == row for r in batch):
                raise RuntimeError("cannot read this row")
            return original(self, batch)
        return call

    monkeypatch.setattr(DeidentifyStep, "__call__", failing_on(2, DeidentifyStep.__call__))
    monkeypatch.setattr(SummarizeStep, "__call__", failing_on(5, SummarizeStep.__call__))
    with LocalRunner([deid, summarize]) as runner:
        runner.setup()
        done = runner.run(_records())
    assert [r.row for r in done] == [1, 2, 3, 4, 5, 6]
    blanked, flagged = done[1], done[4]
    # de-identification failed: no text of the row survives, and later steps never read it
    assert blanked.failed and blanked.deidentified_text == "" and blanked.summary is None
    assert "deidentify failed on this row" in blanked.review_reasons
    # a later step failed: the row keeps its de-identified text and is marked for a look
    assert not flagged.failed and flagged.deidentified_text and flagged.summary is None
    assert "summarize failed on this row" in flagged.review_reasons
    assert all(r.summary for r in done if r.row not in (2, 5))
    # the original text left the batch right after de-identification: the summarizer never saw it
    assert seen_by_summarize and not any(seen_by_summarize)
    assert all(r.known is None and not any(c.text for c in r.cells) for r in done)
