"""Fine-tuning the coder on coded notes, and scoring a finished run against reference data."""

import csv
import json
import random
import shutil
from pathlib import Path

import openpyxl
import pytest

from casenotes.coding import train as training
from casenotes.coding.train import TrainingData, Trainer, TrainOptions, load_training_data, parse_codes, split_by_group
from casenotes.errors import Cancelled
from casenotes.evaluate import evaluate
from casenotes.pipeline import RunOptions, run

TEMPLATES = [
    ("Seen by Dr. Okafor. Community acquired pneumonia with fever, started antibiotics.", "J18.9; R50.9"),
    ("Essential hypertension, blood pressure poorly controlled. Seen by Dr. Okafor.", "I10"),
    ("Type 2 diabetes mellitus without complications, on metformin.", "E11.9"),
    ("Hypertension and type 2 diabetes, follow up in clinic.", "I10, E11.9"),
    ("Pneumonia of the right lower lobe, fever resolved.", "J18.9"),
]


def _coded_csv(path: Path, rows: int = 60, extra_bad: bool = True) -> Path:
    rng = random.Random(3)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["patient", "note", "codes"])
        for i in range(rows):
            text, codes = TEMPLATES[i % len(TEMPLATES)]
            out.writerow([f"P{i // 2}", f"{text} Visit {rng.randint(1, 9)}.", codes])
        if extra_bad:
            out.writerow(["P999", "Chest pain.", "XYZ; I21"])  # invalid and non-billable: reported, skipped
    return path


def test_codes_are_parsed_and_invalid_ones_reported(tmp_path):
    assert parse_codes("I21.4; e119 ,R50.9") == ["I21.4", "E11.9", "R50.9"]
    data = load_training_data([_coded_csv(tmp_path / "coded.csv", 10)], "note", "codes", "patient")
    assert len(data.texts) == 10 and data.invalid_codes == {"(not shaped like a code)": 1, "I21": 1}
    assert data.rows_without_codes == 1
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("note,codes\nPneumonia.,\"J18.9; Okafor\"\n", encoding="utf-8")
    report = load_training_data([mixed], "note", "codes").invalid_codes
    assert report == {"(not shaped like a code)": 1}  # words in a codes column are counted, never echoed
    train, held = split_by_group(data.groups, 0.3, seed=1)
    assert not {data.groups[i] for i in train} & {data.groups[i] for i in held} and held


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_folder_loads_back(tmp_path, monkeypatch):
    seen = []
    real = training._deidentify
    monkeypatch.setattr(training, "_deidentify", lambda texts: seen.extend(real(texts)) or seen[-len(texts):])
    data = load_training_data([_coded_csv(tmp_path / "coded.csv")], "note", "codes", "patient")
    progress = []
    trainer = Trainer(TrainOptions(epochs=4, batch_size=8, patience=4, head_learning_rate=5e-3, id_column="patient"),
                      progress.append)
    card = trainer.run(data, tmp_path / "model")
    assert seen and not any("Okafor" in t for t in seen)  # the model only ever saw de-identified notes
    losses = [r.train_loss for r in trainer.history]
    assert losses[-1] < losses[0], losses
    assert {"MAP", "recall@5", "micro_f1", "macro_f1", "accuracy"} <= set(card["held_out_metrics"])
    folder = tmp_path / "model"
    assert (folder / "config.json").exists() and "Held-out results" in (folder / "README.md").read_text()
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] and config["casenotes_convention"] in ("active", "mentioned")
    assert set(card["default_coder_metrics"]["MAP_by_convention"]) == {"active", "mentioned"}
    assert (folder / "neighbours.npz").exists() and "MAP" in card["default_with_neighbours_metrics"]
    assert any(p.stage == "scored the neighbour vote" and p.neighbour_metrics for p in progress)
    assert any(p.stage == "training" for p in progress) and any(p.report for p in progress)
    notes = tmp_path / "new.csv"
    notes.write_text("mrn,note\n1,Hypertension and type 2 diabetes.\n", encoding="utf-8")
    [result] = run([notes], RunOptions(output_dir=tmp_path / "out", jsonl=True, coder=folder, device="cpu"))
    assert result.status == "done", result.error
    row = json.loads(result.outputs["jsonl"].read_text().splitlines()[0])
    assert {"I10", "E11.9"} <= {c["code"] for c in row["codes"]}
    assert all(c["sources"] and set(c["sources"]) <= {"index", "classifier", "neighbours"} for c in row["codes"])


def test_the_neighbour_vote_carries_the_departments_habits(tmp_path):
    """Codes no wording of the note names (a catch-all code the department adds to every injury
    note) come from the most similar coded notes, weighted by similarity; only vectors and codes are
    stored, never the notes' text."""
    from casenotes.coding.neighbours import NeighbourVote, note_vectors, save

    history = ["Fall from a ladder at home, fractured left wrist, cast applied.",
               "Slipped on ice, fractured right ankle, splinted in the department.",
               "Essential hypertension reviewed, lisinopril continued.",
               "Blood pressure high again, amlodipine added for hypertension."]
    codes = [["S52.502A", "W11.XXXA"], ["S82.891A", "W00.0XXA"], ["I10"], ["I10"]]
    save(tmp_path, note_vectors(history), codes)
    stored = (tmp_path / "neighbours.npz").read_bytes()
    assert b"ladder" not in stored and b"lisinopril" not in stored
    vote = NeighbourVote.from_folder(tmp_path)
    vote.neighbours = 2
    [injury, pressure] = vote.votes(["Fell from a step ladder, wrist fracture, cast.",
                                     "Hypertension, blood pressure still high on amlodipine."])
    assert max(injury, key=injury.get) in {"S52.502A", "W11.XXXA"} and "I10" not in injury
    assert pressure == {"I10": pytest.approx(1.0)}
    assert vote.votes([]) == [] and NeighbourVote(note_vectors([]), []).votes(["x"]) == [{}]


@pytest.mark.slow
def test_training_learns_the_departments_coding_convention_from_its_codes():
    """A department whose coders code negated findings too (CodiEsp's did) gets "mentioned"; one
    that codes active diagnoses only keeps "active"."""
    texts = ["Denies fever. Community acquired pneumonia.", "No fever. Pneumonia of the right lower lobe.",
             "Afebrile, no fever today. Essential hypertension.", "Fever denied. Type 2 diabetes mellitus."] * 2
    trainer = Trainer(TrainOptions(batch_size=4))
    codes_negated_too = [["J18.9", "R50.9"], ["J18.9", "R50.9"], ["I10", "R50.9"], ["E11.9", "R50.9"]] * 2
    learned = trainer._score_default_coder(texts, codes_negated_too)
    assert learned["convention"] == "mentioned", learned["MAP_by_convention"]
    active_only = [["J18.9"], ["J18.9"], ["I10"], ["E11.9"]] * 2
    assert trainer._score_default_coder(texts, active_only)["convention"] == "active"


def test_cancelled_training_saves_nothing(tmp_path):
    data = TrainingData(["Pneumonia."] * 4, [["J18.9"]] * 4, ["a", "b", "c", "d"], 1)
    trainer = Trainer(TrainOptions(epochs=1))
    trainer.cancel()
    with pytest.raises(Cancelled):
        trainer.run(data, tmp_path / "model", deidentify=lambda t: t)
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_train_coder_command(tmp_path, capsys):
    from casenotes.cli import main

    data = _coded_csv(tmp_path / "coded.csv", 20)
    code = main(["train-coder", str(data), "--text-column", "note", "--codes-column", "codes", "--id-column", "patient",
                 "-o", str(tmp_path / "model"), "--epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "model" / "model.safetensors").exists()
    assert "skipped 2 invalid or non-billable codes" in err and "held-out MAP" in err


@pytest.mark.slow
def test_evaluate_scores_phi_summaries_and_codes(tmp_path, capsys):
    note = "Dr. Okafor saw the patient on 7/22. Community acquired pneumonia. Essential hypertension."
    name, date = note.index("Okafor"), note.index("7/22")
    path = tmp_path / "ward.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["mrn", "note", "reference phi", "reference summary", "reference codes"])
        out.writerow(["1", note, json.dumps([[name, name + 6], [date, date + 4]]), "Pneumonia and hypertension.", "J18.9; I10"])
        out.writerow(["2", "Pt stable, no complaints.", "[]", "Stable.", ""])
    [result] = run([path], RunOptions(output_dir=tmp_path / "out", summarize=True, code=True, device="cpu",
                                      text_columns=("note",)))
    assert result.status == "done", result.error
    from casenotes.cli import main

    assert main(["evaluate", str(result.outputs["workbook"]), "--reference", str(path)]) == 0
    printed = capsys.readouterr().out
    shutil.copy(path, result.outputs["workbook"].parent / path.name)  # the input beside its output
    assert evaluate(result.outputs["workbook"], None, write=False).sections.keys() == {"PHI", "Summaries", "Codes"}
    assert "MAP" in printed and "ROUGE-L" in printed and "recall" in printed
    sheet = openpyxl.load_workbook(result.outputs["workbook"])["Evaluation"]
    values = {(r[0], r[1]): r[2] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert values[("PHI", "recall")] == "1.0"
    assert float(values[("Codes", "recall@5")]) == 1.0  # both reference codes ranked in the top five
    assert "Results" in openpyxl.load_workbook(result.outputs["workbook"]).sheetnames  # the rest is kept
