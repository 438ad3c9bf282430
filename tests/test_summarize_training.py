"""Fine-tuning a summarizer on note/summary pairs, with tiny models built at test time.

The pairs plant a pattern a tiny model can learn in seconds (the summary is the note's assessment
and plan, behind an opening line and filler that the lead-2 baseline picks up instead), so the
tests can ask that training lowers the loss and raises the held-out ROUGE-L.
"""

import csv
import importlib.util
import json
import random
import shutil
from pathlib import Path

import pytest

from benchmarks.random_models import build, train_tokenizer
from casenotes.errors import Cancelled, ConfigurationError, InputError
from casenotes.summarize import train as training
from casenotes.summarize.generative import INSTRUCTION, GenerativeSummarizer
from casenotes.summarize.train import SummarizerTrainer, SummarizerTrainOptions, SummaryPairs, load_pairs

CONDITIONS = ["community acquired pneumonia", "heart failure exacerbation", "urinary tract infection",
              "cellulitis of the left leg", "diabetic ketoacidosis", "acute kidney injury"]
PLANS = ["start antibiotics", "diuresis and daily weights", "insulin drip and fluids", "elevate the leg",
         "follow up in clinic"]
OPENERS = ["Patient seen on the ward this morning.", "Reviewed at the bedside with the nurse.",
           "Admitted overnight from the emergency department."]
FILLERS = ["Vital signs stable.", "Eating and drinking well.", "Family updated by phone.", "Slept poorly."]
# Planted in the pairs; the fake de-identifier of the fast tests removes them as the PHI engine would.
PHI = {"Quenneville": "[NAME]", "03/14/2024": "[DATE]", "4417283": "[ID]"}
FAST = dict(batch_size=4, learning_rate=3e-3, max_summary_tokens=32, device="cpu")


def _pairs(n: int, seed: int = 0, phi: bool = False) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    notes, summaries = [], []
    for _ in range(n):
        condition, plan = rng.choice(CONDITIONS), rng.choice(PLANS)
        seen = "Seen by Dr. Quenneville on 03/14/2024, MRN 4417283. " if phi else ""
        notes.append(f"{rng.choice(OPENERS)} {seen}{rng.choice(FILLERS)} Assessment: {condition}. Plan: {plan}.")
        summaries.append(("Dr. Quenneville: " if phi else "") + f"{condition.capitalize()}; {plan}.")
    return notes, summaries


def _fake_deidentify(notes: list[str], summaries: list[str]) -> tuple[list[str], list[str]]:
    def clean(text: str) -> str:
        for value, tag in PHI.items():
            text = text.replace(value, tag)
        return text

    return [clean(t) for t in notes], [clean(t) for t in summaries]


def _corpus() -> list[str]:
    """The tokenizer's text: the templates' words, no planted PHI (a base model's vocabulary is its own)."""
    notes, summaries = _pairs(60, seed=99)
    return notes + summaries + [INSTRUCTION, "Seen by Dr. [NAME] on [DATE], MRN [ID]."]


def _pairs_csv(path: Path, n: int, phi: bool = False) -> Path:
    notes, summaries = _pairs(n, phi=phi)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["patient", "note", "summary"])
        for i, (note, summary) in enumerate(zip(notes, summaries)):
            out.writerow([f"P{i // 2}", note, summary])
    return path


@pytest.fixture(scope="module")
def tiny_seq2seq(tmp_path_factory) -> Path:
    """A BART with random weights (d_model 64, 2 + 2 layers) and a tokenizer trained here."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = train_tokenizer(_corpus(), vocab_size=400)
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = BartForConditionalGeneration(BartConfig(
        vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=128,
        decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=tokenizer.eos_token_id, **ids))
    folder = tmp_path_factory.mktemp("base") / "tiny-bart"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(tiny_seq2seq, tmp_path_factory):
    notes, summaries = _pairs(60)
    data = SummaryPairs(notes, summaries, [str(i) for i in range(len(notes))], 1)
    progress = []
    trainer = SummarizerTrainer(SummarizerTrainOptions(base=tiny_seq2seq, epochs=8, patience=8, **FAST),
                                progress.append)
    output = tmp_path_factory.mktemp("trained") / "ward-summarizer"
    card = trainer.run(data, output, deidentify=_fake_deidentify)
    return trainer, card, output, progress


def test_training_lowers_the_loss_and_raises_the_held_out_rouge(trained):
    trainer, card, _, progress = trained
    losses = [r.train_loss for r in trainer.history]
    assert losses[-1] < losses[0], losses
    best = card["held_out_rouge"]["rougeL"]
    assert best > card["base_model_rouge"]["rougeL"] and best > trainer.history[0].rouge["rougeL"], card["history"]
    # The opening and filler sentences are what lead-2 picks: the planted summary is not among them.
    assert best > card["lead_2_rouge"]["rougeL"]
    assert card["best_epoch"] == max(trainer.history, key=lambda r: r.rouge["rougeL"]).epoch
    assert card["pairs"] == 60 and card["held_out_pairs"] == 12 and card["training_pairs"] == 48
    stages = {p.stage for p in progress}
    assert {"de-identifying", "scoring the base model", "scored the baselines", "training", "evaluated",
            "saving"} <= stages


def test_the_folder_is_a_summarizer_with_a_card(trained):
    _, card, output, _ = trained
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md",
                 "training_metrics.json"):
        assert (output / name).is_file(), name
    assert not [p for p in output.parent.iterdir() if ".partial" in p.name]
    generation = json.loads((output / "generation_config.json").read_text())
    assert generation["max_new_tokens"] == 32 and generation["num_beams"] == 1 and not generation["do_sample"]
    metrics = json.loads((output / "training_metrics.json").read_text())
    assert metrics["lead_2_rouge"] and metrics["base_model_rouge"] and len(metrics["history"]) == 8
    assert metrics["settings"]["epochs"] == 8 and metrics["kind"] == "seq2seq"
    readme = (output / "README.md").read_text()
    assert "lead-2" in readme and "before fine-tuning" in readme and "| 8 |" in readme
    notes, _ = _pairs(3, seed=5)
    summaries = GenerativeSummarizer(output, max_new_tokens=24).summarize(notes + [""])
    assert len(summaries) == 4 and all(summaries[:3]) and summaries[3] == ""


def test_early_stopping_keeps_the_best_epoch(tiny_seq2seq, tmp_path):
    notes, summaries = _pairs(12)
    data = SummaryPairs(notes, summaries, [str(i) for i in range(12)], 1)
    # A step too small to change a greedy summary: no epoch beats the first.
    options = SummarizerTrainOptions(base=tiny_seq2seq, epochs=6, patience=1, **{**FAST, "learning_rate": 1e-12})
    trainer = SummarizerTrainer(options)
    card = trainer.run(data, tmp_path / "model", deidentify=_fake_deidentify)
    assert len(trainer.history) == 2 and card["best_epoch"] == 1


def test_a_bases_beam_and_sampling_settings_give_way_to_greedy_decoding(tiny_seq2seq, tmp_path):
    """A news summarizer's beams and 56-token minimum (BART-CNN's) would be invalid beside greedy
    decoding, and transformers refuses to save such a config: found and reset before training."""
    base = tmp_path / "news-bart"
    shutil.copytree(tiny_seq2seq, base)
    config = json.loads((base / "generation_config.json").read_text())
    config.update(num_beams=4, early_stopping=True, length_penalty=2.0, min_length=56, max_length=142,
                  no_repeat_ngram_size=3)
    (base / "generation_config.json").write_text(json.dumps(config))
    notes, summaries = _pairs(8)
    SummarizerTrainer(SummarizerTrainOptions(base=base, epochs=1, **FAST)).run(
        SummaryPairs(notes, summaries, [str(i) for i in range(8)], 1), tmp_path / "model", deidentify=_fake_deidentify)
    saved = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert saved["num_beams"] == 1 and saved["max_new_tokens"] == 32 and saved["no_repeat_ngram_size"] == 3
    assert saved.get("min_length", 0) == 0 and "length_penalty" not in saved and "early_stopping" not in saved


def test_train_summarizer_command(tiny_seq2seq, tmp_path, monkeypatch, capsys):
    from casenotes.cli import main

    monkeypatch.setattr(training, "_deidentify_pairs", _fake_deidentify)
    pairs = _pairs_csv(tmp_path / "pairs.csv", 16, phi=True)
    output = tmp_path / "model"
    code = main(["train-summarizer", str(pairs), "--text-column", "note", "--summary-column", "summary",
                 "--id-column", "patient", "--base", str(tiny_seq2seq), "-o", str(output), "--epochs", "2",
                 "--batch-size", "4", "--learning-rate", "3e-3", "--max-summary-tokens", "32", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "16 note/summary pairs" in err and "epoch 1/2: batch 1/" in err and "epoch 2: train loss" in err
    assert "lead-2" in err and "use it with: casenotes run --summarizer" in err
    assert json.loads((output / "training_metrics.json").read_text())["split"] == "by patient"
    assert not any(value in err for value in PHI)

    code = main(["train-summarizer", str(pairs), "--text-column", "note", "--summary-column", "impression",
                 "--base", str(tiny_seq2seq), "-o", str(tmp_path / "other")])
    err = capsys.readouterr().err
    assert code == 1 and err.strip() == "casenotes: error: pairs.csv: no column named 'impression'"
    assert not (tmp_path / "other").exists()

    if importlib.util.find_spec("peft") is None:
        code = main(["train-summarizer", str(pairs), "--text-column", "note", "--summary-column", "summary",
                     "--base", str(tiny_seq2seq), "-o", str(tmp_path / "other"), "--lora"])
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert code == 1 and last == "casenotes: error: --lora needs the peft package: pip install casenotes[lora]"


def test_bad_input_is_refused_in_one_line(tiny_seq2seq, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("note,summary\nPneumonia. Start antibiotics.,Pneumonia.\nNo summary here.,\n,Orphan summary.\n",
                     encoding="utf-8")
    data = load_pairs([pairs], "note", "summary")
    assert len(data.notes) == 1 and data.rows_skipped == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("note,summary\nNo summary here.,\n", encoding="utf-8")
    with pytest.raises(InputError, match="no rows with both a note"):
        load_pairs([empty], "note", "summary")
    trainer = SummarizerTrainer(SummarizerTrainOptions(base=tiny_seq2seq, **FAST))
    with pytest.raises(InputError, match="at least 4"):
        trainer.run(data, tmp_path / "model", deidentify=_fake_deidentify)
    notes, summaries = _pairs(6)
    with pytest.raises(InputError, match="two patients"):
        trainer.run(SummaryPairs(notes, summaries, ["one patient"] * 6, 1), tmp_path / "model",
                    deidentify=_fake_deidentify)
    classifier = build(tmp_path / "coder", "tiny-classifier", corpus=_corpus())
    with pytest.raises(ConfigurationError, match="neither a seq2seq nor a causal"):
        SummarizerTrainer(SummarizerTrainOptions(base=classifier)).run(
            SummaryPairs(notes, summaries, list("abcdef"), 1), tmp_path / "model", deidentify=_fake_deidentify)
    with pytest.raises(ConfigurationError, match="not a usable model"):
        SummarizerTrainer(SummarizerTrainOptions(base=tmp_path)).run(
            SummaryPairs(notes, summaries, list("abcdef"), 1), tmp_path / "model", deidentify=_fake_deidentify)
    assert not (tmp_path / "model").exists()


def test_cancelling_leaves_no_folder(tiny_seq2seq, tmp_path, monkeypatch):
    tmp_path = tmp_path / "models"
    tmp_path.mkdir()
    notes, summaries = _pairs(12)
    data = SummaryPairs(notes, summaries, [str(i) for i in range(12)], 1)
    trainer = SummarizerTrainer(SummarizerTrainOptions(base=tiny_seq2seq, epochs=2, **FAST),
                                lambda p: p.stage == "training" and trainer.cancel())
    with pytest.raises(Cancelled):
        trainer.run(data, tmp_path / "model", deidentify=_fake_deidentify)
    assert list(tmp_path.iterdir()) == []

    def interrupted(card):  # Ctrl+C while the folder is being written
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "model_card", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SummarizerTrainer(SummarizerTrainOptions(base=tiny_seq2seq, epochs=1, **FAST)).run(
            data, tmp_path / "model", deidentify=_fake_deidentify)
    assert list(tmp_path.iterdir()) == []


def test_a_causal_chat_model_is_fine_tuned_on_the_summarizers_prompt(tmp_path):
    base = build(tmp_path / "tiny-chat", "tiny-causal", corpus=_corpus())
    config = json.loads((base / "generation_config.json").read_text())
    config.update(do_sample=True, temperature=0.7, top_p=0.8, top_k=20)  # as instruction models ship
    (base / "generation_config.json").write_text(json.dumps(config))
    notes, summaries = _pairs(16)
    data = SummaryPairs(notes, summaries, [str(i) for i in range(16)], 1)
    trainer = SummarizerTrainer(SummarizerTrainOptions(base=base, epochs=3, patience=3, **FAST))
    card = trainer.run(data, tmp_path / "model", deidentify=_fake_deidentify)
    assert card["kind"] == "causal" and trainer.history[-1].train_loss < trainer.history[0].train_loss
    summarizer = GenerativeSummarizer(tmp_path / "model", max_new_tokens=8)
    assert len(summarizer.summarize(notes[:2])) == 2 and not summarizer.is_seq2seq
    saved = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert not saved["do_sample"] and "temperature" not in saved and "top_k" not in saved


def test_lora_adapters_are_merged_into_a_plain_folder(tiny_seq2seq, tmp_path):
    options = SummarizerTrainOptions(base=tiny_seq2seq, epochs=1, lora=True, lora_rank=4, **FAST)
    notes, summaries = _pairs(8)
    data = SummaryPairs(notes, summaries, [str(i) for i in range(8)], 1)
    try:
        import peft  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match=r"pip install casenotes\[lora\]"):
            SummarizerTrainer(options).run(data, tmp_path / "model", deidentify=_fake_deidentify)
        return
    card = SummarizerTrainer(options).run(data, tmp_path / "model", deidentify=_fake_deidentify)
    assert card["method"].startswith("LoRA") and not (tmp_path / "model" / "adapter_config.json").exists()
    assert len(GenerativeSummarizer(tmp_path / "model", max_new_tokens=8).summarize(notes[:1])) == 1


@pytest.mark.slow
def test_phi_is_removed_before_the_model_sees_a_pair(tiny_seq2seq, tmp_path, monkeypatch):
    """The PHI engine itself: what training reads, and every file of the folder, holds none of the
    name, date and MRN planted in both the notes and the summaries."""
    seen = []
    real = training._deidentify_pairs

    def spy(notes, summaries):
        cleaned = real(notes, summaries)
        seen.extend(cleaned[0] + cleaned[1])
        return cleaned

    monkeypatch.setattr(training, "_deidentify_pairs", spy)
    notes, summaries = _pairs(8, phi=True)
    data = SummaryPairs(notes, summaries, [str(i) for i in range(8)], 1)
    SummarizerTrainer(SummarizerTrainOptions(base=tiny_seq2seq, epochs=1, **FAST)).run(data, tmp_path / "model")
    assert len(seen) == 16
    for value in PHI:
        assert not any(value in text for text in seen), value
        for path in (tmp_path / "model").iterdir():
            assert value.encode() not in path.read_bytes(), (value, path.name)
