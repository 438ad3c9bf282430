"""The learned PHI tagger beside the rules, measured on notes it never saw.

Trains ``casenotes train-deid`` on the nursing notes of all patients but one fold (5-fold split by
patient) plus the written dev notes, then scores the rules alone and the rules with the tagger
(the ensemble the pipeline uses) on the held-out patients, the written test notes and the
synthetic set, in one run.

    python benchmarks/train_deid_benchmark.py [--fold 2] [--epochs 2] [--keep MODEL_DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.deid_data import WRITTEN, load_nursing, load_synth, load_written, patient_folds, score  # noqa: E402
from casenotes.phi.engine import PhiEngine  # noqa: E402
from casenotes.phi.learned import (DeidTrainer, DeidTrainOptions, Example, GOLD_TYPES, LearnedPhiRecognizer,  # noqa: E402
                               load_examples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold", type=int, default=2, help="the held-out fold of patients (default 2, the worst for the rules)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the trained model here")
    args = parser.parse_args()

    nursing = load_nursing()
    held = set(patient_folds(nursing)[args.fold])
    train = [Example(n.text, [(s["start"], s["end"], GOLD_TYPES.get(s["type"], "ID")) for s in n.spans], n.group)
             for i, n in enumerate(nursing) if i not in held]
    train += load_examples([WRITTEN["dev"]])
    folder = Path(tempfile.mkdtemp()) / "deid-model"
    t0 = time.perf_counter()
    card = DeidTrainer(DeidTrainOptions(epochs=args.epochs), print).run(train, folder)
    print(f"trained on {len(train)} notes in {time.perf_counter() - t0:.0f} s ({card['device']}); "
          f"its own held-out split: {card['held_out_metrics']}")

    sets = {f"nursing fold {args.fold} (unseen patients)": [nursing[i] for i in sorted(held)],
            "written test": load_written("test"), "synthetic": load_synth()}
    # The ensemble is the union of the rules' and the tagger's spans, as in PhiEngine(deid_model=...);
    # the tagger alone and the union are scored at several of its probability cuts.
    rules, tagger = PhiEngine(), LearnedPhiRecognizer(folder)
    cuts = (0.5, 0.8, 0.9)
    print(f"{'set':36} {'rules':>14} " + " ".join(f"{'+ tagger @' + str(c):>16}" for c in cuts))
    for name, notes in sets.items():
        base = [[(f.start, f.end) for f in fs] for fs in rules.analyze([n.text for n in notes])]
        row = [score(notes, base).total]
        for cut in cuts:
            tagger.min_probability = cut
            row.append(score(notes, [b + [(s, e) for s, e, _ in tagger.spans(n.text)] for b, n in zip(base, notes)]).total)
        print(f"{name:36} " + " ".join(f"{s.recall:.3f} / {s.precision:.3f}".rjust(16) for s in row))
    if args.keep:
        shutil.copytree(folder, args.keep)
    shutil.rmtree(folder.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
