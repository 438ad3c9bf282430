"""The learned PHI tagger (`casenotes train-deid`): data, training, and the ensemble with the rules."""

import json
from pathlib import Path

import pytest

from casenotes.cli import main
from casenotes.errors import ConfigurationError, InputError
from casenotes.phi.learned import DeidTrainer, DeidTrainOptions, LearnedPhiRecognizer, load_examples, with_surrogates
from casenotes.pipeline import RunOptions, run

MARKED = [
    "Daughter {{RELATIVE|Clara Ellison}} called on {{DATE|3/14}} from {{PHONE|617-555-0199}}. Pt stable.",
    "Seen by Dr {{CLINICIAN|Okoro}} at {{HOSPITAL|Harbor View Hospital}}; follow up {{DATE|June 2}}.",
    "Pt {{PATIENT|Ignatius Lindqvist}}, MRN {{ID|00412345}}, lives in {{LOCATION|Towson}}.",
    "Wife {{RELATIVE|Philippa}} at bedside. BP 120/80, HR 88. Plan: continue lasix 40 mg daily.",
] * 2


def _marked_folder(tmp_path) -> Path:
    folder = tmp_path / "marked"
    folder.mkdir()
    for i, text in enumerate(MARKED):
        (folder / f"{i:02d}.txt").write_text(text, encoding="utf-8")
    return folder


def test_annotated_notes_load_and_get_surrogates(tmp_path):
    jsonl = tmp_path / "notes.jsonl"
    jsonl.write_text(json.dumps({"text": "Dr Okoro saw pt", "spans": [{"start": 3, "end": 8, "type": "HCPName"}],
                                 "patient_id": 7}) + "\n", encoding="utf-8")
    examples = load_examples([jsonl, _marked_folder(tmp_path)])
    assert len(examples) == 1 + len(MARKED) and examples[0].spans == [(3, 8, "NAME")] and examples[0].group == "7"
    first = examples[1]
    assert first.text.startswith("Daughter Clara Ellison called") and (9, 22, "NAME") in first.spans
    copy = with_surrogates(first, lambda kind, value: f"<{kind}>")
    assert "Clara" not in copy.text and all(copy.text[a:b] == f"<{kind}>" for a, b, kind in copy.spans)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_examples([bad])
    assert "line 1" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
def test_trained_tagger_only_adds_to_the_rules(tmp_path, capsys):
    folder = tmp_path / "deid"
    card = DeidTrainer(DeidTrainOptions(epochs=2, max_length=64, batch_size=4, learning_rate=1e-3)).run(
        load_examples([_marked_folder(tmp_path)]), folder)
    assert card["history"][-1]["train_loss"] < card["history"][0]["train_loss"] * 1.5
    assert json.loads((folder / "config.json").read_text())["casenotes_kind"] == "deid"
    assert (folder / "training_metrics.json").exists() and not (tmp_path / "deid.partial").exists()
    from casenotes import models

    assert models.add(folder, "deid").kind == "deid"  # installable like a summarizer or a coder

    from casenotes.phi.engine import PhiEngine

    texts = ["Son Bartholomew called from 410-555-0123 on 7/22; Dr. Okafor aware.", "Pt stable, lasix 40 mg."]
    rules = PhiEngine().analyze(texts)
    both = PhiEngine(deid_model=str(folder)).analyze(texts)
    for only_rules, with_tagger in zip(rules, both):  # every rule detection is still covered
        assert all(any(g.start <= f.start and f.end <= g.end for g in with_tagger) for f in only_rules)

    notes = tmp_path / "in.csv"
    notes.write_text("mrn,note\n1,Son Bartholomew called from 410-555-0123 on 7/22.\n", encoding="utf-8")
    [result] = run([notes], RunOptions(output_dir=tmp_path / "out", deid_model=folder))
    assert result.status == "done", result.error
    from openpyxl import load_workbook

    info = {r[0]: r[1] for r in load_workbook(result.outputs["workbook"])["Run info"].iter_rows(values_only=True)}
    assert "train-deid" in info["deidentify: PHI tagger"]


def test_train_deid_command_and_a_folder_that_is_not_a_tagger(tmp_path, capsys):
    out = tmp_path / "tagger"
    assert main(["train-deid", str(_marked_folder(tmp_path)), "-o", str(out), "--epochs", "1", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"saved {out}" in printed and "Clara" not in printed  # progress and results, never note text
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ConfigurationError):
        LearnedPhiRecognizer(tmp_path / "other")
