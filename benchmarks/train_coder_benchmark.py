"""The trained coder against the embedded default coder, on the same held-out CodiEsp cases.

The 500 cases are split by document (a fixed 20% test set). ``casenotes train-coder`` learns from
the rest (which it splits again for the model card's figures): the neighbour vote, the department's
phrases and the ranker, and with ``--classifier`` a classifier fine-tuned from the MiniLM encoder.
Then the default coder, the default with the vote alone (the previous trained coder) and the trained
coder (what ``--coder`` runs) rank codes for the test cases: MAP, recall@k and micro-F1 side by side,
with the training time and coding speed on this machine.

    python benchmarks/train_coder_benchmark.py [--classifier] [--epochs N] [--device cpu|cuda] [--limit N]
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
from casenotes.coding.default_coder import DefaultCoder  # noqa: E402
from casenotes.coding.step import DEFAULT_THRESHOLD, learned_convention  # noqa: E402
from casenotes.coding.train import TrainingData, Trainer, TrainOptions  # noqa: E402
from casenotes.coding.trained import TrainedCoder  # noqa: E402
from casenotes.metrics import score_codes  # noqa: E402
from casenotes.steps import resolve_device  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", action="store_true", help="also fine-tune the classifier member")
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
    test_texts = [texts[i] for i in test]
    gold = [set(rows[i]["icd10cm_codes"]) for i in test]

    def figures(suggestions, seconds=None):
        ranked = [[s.code for s in found if s.active] for found in suggestions]
        chosen = [{s.code for s in found if s.active and s.score >= DEFAULT_THRESHOLD} for found in suggestions]
        out = score_codes(gold, ranked, chosen).as_dict()
        # The same against the reference codes still billable in the code set (what a coder can match).
        billable = score_codes([{c for c in g if icd10.is_billable(c)} for g in gold], ranked, chosen).as_dict()
        invalid = sum(not icd10.is_billable(c) for found in ranked for c in found)
        return {**out, "MAP_billable_reference": billable["MAP"], "invalid_codes": invalid,
                **({"notes_per_s": round(len(test) / seconds, 1)} if seconds else {})}

    def timed(coder):
        t0 = time.perf_counter()
        found = coder.code(test_texts)
        return found, time.perf_counter() - t0

    data = TrainingData([texts[i] for i in train], [codes[i] for i in train], [rows[i]["doc_id"] for i in train], 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "coder"
        trainer = Trainer(TrainOptions(epochs=args.epochs, device=device, patience=3, classifier=args.classifier))
        t0 = time.perf_counter()
        card = trainer.run(data, folder, deidentify=lambda t: t)  # already de-identified above
        train_s = time.perf_counter() - t0
        # The default coder as `--coder` runs it: under the convention training learned.
        default_coder = DefaultCoder(device, convention=learned_convention(folder))
        trained = TrainedCoder.from_folder(folder, default_coder)
        default_coder.load()
        result = {"test_cases": len(test), "training_cases": len(train), "device": device, "cores": os.cpu_count(),
                  "load_average": [round(x, 1) for x in os.getloadavg()]}
        result["default_coder"] = {**figures(*timed(default_coder)), "convention": default_coder.convention}
        result["default_plus_vote (previous trained coder)"] = figures(
            TrainedCoder(default_coder, None, trained.neighbours).code(test_texts))
        if trained.classifier is not None:
            result["trained_coder_without_classifier"] = figures(
                TrainedCoder(default_coder, None, trained.neighbours, trained.phrases, trained.ranker).code(test_texts))
            result["classifier_alone"] = figures(trained.classifier.code(test_texts))
        result["trained_coder (--coder)"] = figures(*timed(trained))
    result.update({"training_seconds": round(train_s, 1), "held_out_during_training": card["trained_coder_metrics"],
                   "default_held_out_during_training": card["default_coder_metrics"], "members": card["members"],
                   "ranker_weights": card["ranker_weights"], "phrases": card["phrases"]["clauses"]})
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
