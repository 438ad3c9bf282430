"""Fine-tuned coder against the embedded default coder, on the same held-out CodiEsp cases.

The 500 cases are split by document (a fixed 20% test set). The classifier is fine-tuned from the
MiniLM encoder on the rest (which ``casenotes train-coder`` splits again for early stopping), then
both coders rank codes for the test cases: MAP, recall@k and micro-F1 side by side, with the
training time on this machine's device.

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
from casenotes.coding.step import DEFAULT_THRESHOLD  # noqa: E402
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
        default_coder = DefaultCoder(device)
        classifier = ClassifierCoder(folder, device, evidence_from=default_coder)
        test_texts = [texts[i] for i in test]
        t0 = time.perf_counter()
        tuned = classifier.code(test_texts)
        tuned_s = time.perf_counter() - t0
        combined = CombinedCoder(classifier, default_coder).code(test_texts)
    default = default_coder.code(test_texts)
    gold = [set(rows[i]["icd10cm_codes"]) for i in test]

    def figures(suggestions, threshold):
        ranked = [[s.code for s in found if s.active] for found in suggestions]
        chosen = [{s.code for s in found if s.active and s.score >= threshold} for found in suggestions]
        return score_codes(gold, ranked, chosen).as_dict()

    result = {
        "test_cases": len(test), "training_cases": len(train), "device": device, "cores": os.cpu_count(),
        "fine_tuned": {**figures(tuned, 0.5), "notes_per_s": round(len(test) / tuned_s, 1)},
        "default_coder": figures(default, DEFAULT_THRESHOLD),
        "fine_tuned_plus_default": figures(combined, DEFAULT_THRESHOLD),
        "training_seconds": round(train_s, 1), "epochs_run": len(card["history"]), "best_epoch": card["best_epoch"],
        "labels": card["labels"], "held_out_during_training": card["held_out_metrics"],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
