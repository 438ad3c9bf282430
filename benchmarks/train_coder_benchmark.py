"""Trained coder members against the embedded default coder, on the same held-out CodiEsp cases.

The 500 cases are split by document (a fixed 20% test set). The classifier is fine-tuned from the
MiniLM encoder on the rest (which ``casenotes train-coder`` splits again for early stopping) and the
rest's vectors are stored for the neighbour vote; then the default coder, each trained member with it
and all of them together (what ``--coder`` runs) rank codes for the test cases: MAP, recall@k and
micro-F1 side by side, with the training time on this machine's device.

    python benchmarks/train_coder_benchmark.py [--epochs N] [--device cpu|cuda] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.coding_benchmark import deidentify, load  # noqa: E402
from casenotes.coding import icd10  # noqa: E402
from casenotes.coding.classifier import ClassifierCoder, CombinedCoder  # noqa: E402
from casenotes.coding.default_coder import DefaultCoder  # noqa: E402
from casenotes.coding.neighbours import NeighbourVote  # noqa: E402
from casenotes.coding.step import DEFAULT_THRESHOLD, learned_convention  # noqa: E402
from casenotes.coding.train import TrainingData, Trainer, TrainOptions  # noqa: E402
from casenotes.metrics import score_codes  # noqa: E402
from casenotes.steps import resolve_device  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = resolve_device(args.device)

    rows = load(args.limit)
    order = list(range(len(rows)))
    random.Random(2020).shuffle(order)
    test_ids = set(order[: len(rows) // 5])
    texts = deidentify([r["text_en"] for r in rows])
    codes = [sorted(c for c in r["icd10cm_codes"] if icd10.is_billable(c)) for r in rows]
    train = [i for i in range(len(rows)) if i not in test_ids and codes[i]]
    test = sorted(test_ids)

    data = TrainingData([texts[i] for i in train], [codes[i] for i in train], [rows[i]["doc_id"] for i in train], 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "coder"
        trainer = Trainer(TrainOptions(epochs=args.epochs, device=device, patience=3))
        t0 = time.perf_counter()
        card = trainer.run(data, folder, deidentify=lambda t: t)  # already de-identified above
        train_s = time.perf_counter() - t0
        # The default coder as `--coder` runs it: under the convention training learned.
        default_coder = DefaultCoder(device, convention=learned_convention(folder))
        classifier = ClassifierCoder(folder, device, evidence_from=default_coder)
        vote = NeighbourVote.from_folder(folder, device)  # the 400 training cases, none of the test cases
        test_texts = [texts[i] for i in test]
        t0 = time.perf_counter()
        tuned = classifier.code(test_texts)
        tuned_s = time.perf_counter() - t0
        combined = CombinedCoder(classifier, default_coder).code(test_texts)
        t0 = time.perf_counter()
        with_neighbours = CombinedCoder(None, default_coder, vote).code(test_texts)
        neighbours_s = time.perf_counter() - t0
        all_members = CombinedCoder(classifier, default_coder, vote).code(test_texts)
    t0 = time.perf_counter()
    default = default_coder.code(test_texts)
    default_s = time.perf_counter() - t0
    gold = [set(rows[i]["icd10cm_codes"]) for i in test]

    def figures(suggestions, threshold):
        ranked = [[s.code for s in found if s.active] for found in suggestions]
        chosen = [{s.code for s in found if s.active and s.score >= threshold} for found in suggestions]
        return score_codes(gold, ranked, chosen).as_dict()

    result = {
        "test_cases": len(test), "training_cases": len(train), "device": device, "cores": os.cpu_count(),
        "fine_tuned": {**figures(tuned, 0.5), "notes_per_s": round(len(test) / tuned_s, 1)},
        "default_coder": {**figures(default, DEFAULT_THRESHOLD), "convention": default_coder.convention,
                          "notes_per_s": round(len(test) / default_s, 1)},
        "fine_tuned_plus_default": figures(combined, DEFAULT_THRESHOLD),
        "neighbours_plus_default": {**figures(with_neighbours, DEFAULT_THRESHOLD),
                                    "notes_per_s": round(len(test) / neighbours_s, 1)},
        "all_members (--coder)": figures(all_members, DEFAULT_THRESHOLD),
        "neighbours_held_out_during_training": card.get("default_with_neighbours_metrics"),
        "training_seconds": round(train_s, 1), "epochs_run": len(card["history"]), "best_epoch": card["best_epoch"],
        "labels": card["labels"], "held_out_during_training": card["held_out_metrics"],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
