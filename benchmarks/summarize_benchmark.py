"""Summarization benchmark: quality of the embedded default against lead baselines, and speed.

Quality: ROUGE-1/2/L (rouge-score, stemmed F-measure) of the summary of each chest X-ray report's
"findings" against the radiologist's own "impression" (../shared/data/summarization/), beside the
lead-1 and lead-2 baselines computed in the same run. Speed: notes per second of the default on
this machine's CPU, on the X-ray reports and on long multi-section MTSamples notes.

Generative throughput (``--arch``): a model folder of that architecture with random weights (same
cost as trained ones) and a fixed output length, batched generation against one note at a time on
the same notes, in tokens per second, on CUDA when available.

    python benchmarks/summarize_benchmark.py [--limit N] [--arch tiny-bart|bart-large|qwen2.5-0.5b ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from casenotes.metrics import chief_complaint, mean_rouge, names_the_complaint  # noqa: E402
from casenotes.steps import resolve_device  # noqa: E402
from casenotes.summarize.extractive import ExtractiveSummarizer  # noqa: E402
from casenotes.clinical_text import note_sentences  # noqa: E402
from benchmarks.deid_data import load_written  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summarization"
IU_XRAY = DATA / "iu_xray_findings_impression_dev.csv"
MTSAMPLES = DATA / "mtsamples_first401.csv"


def rouge(references: list[str], summaries: list[str]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in mean_rouge(references, summaries).items()}


def lead(text: str, n: int) -> str:
    return " ".join(s.text for s in note_sentences(text)[:n])


def quality(limit: int | None) -> dict:
    rows = [r for r in csv.DictReader(IU_XRAY.open(encoding="utf-8")) if r["findings"].strip() and r["impression"].strip()]
    rows = rows[:limit] if limit else rows
    findings, impressions = [r["findings"] for r in rows], [r["impression"] for r in rows]
    summarizer = ExtractiveSummarizer()
    summarizer.load()
    t0 = time.perf_counter()
    ours = summarizer.summarize(findings)
    secs = time.perf_counter() - t0
    fig = {"reports": len(rows), "extractive_default": rouge(impressions, ours),
           "lead_1": rouge(impressions, [lead(f, 1) for f in findings]),
           "lead_2": rouge(impressions, [lead(f, 2) for f in findings]),
           "default_notes_per_s_cpu": round(len(rows) / secs, 1)}
    best_lead = max(fig["lead_1"]["rougeL"], fig["lead_2"]["rougeL"])
    fig["rougeL_ratio_vs_best_lead"] = round(fig["extractive_default"]["rougeL"] / best_lead, 2)
    if MTSAMPLES.exists():
        notes = [r["transcription"] for r in csv.DictReader(MTSAMPLES.open(encoding="utf-8"))][: limit or None]
        t0 = time.perf_counter()
        summaries = summarizer.summarize(notes)
        fig["default_notes_per_s_cpu_mtsamples"] = round(len(notes) / (time.perf_counter() - t0), 1)
        fig["mtsamples_notes"] = len(notes)
        fig["complaint_named_mtsamples"] = complaint_named(notes, summaries)
    visit = [n.text for n in load_written("dev") + load_written("test") if n.group == "clinic-visit-note"]
    fig["complaint_named_visit_notes"] = complaint_named(visit, summarizer.summarize(visit))
    return fig


def complaint_named(notes: list[str], summaries: list[str]) -> dict:
    """Share of the notes with a chief-complaint section whose summary names it, beside the same
    summarizer ranking sentences alone (the default before problem-oriented lines), in the same run."""
    baseline = ExtractiveSummarizer(problem_oriented=False)
    with_complaint = [(i, c) for i, c in enumerate(map(chief_complaint, notes)) if c]
    ranked = baseline.summarize([notes[i] for i, _ in with_complaint])
    ours = sum(names_the_complaint(summaries[i], c) for i, c in with_complaint)
    before = sum(names_the_complaint(r, c) for r, (_, c) in zip(ranked, with_complaint))
    n = len(with_complaint) or 1
    return {"notes_with_complaint": len(with_complaint), "named": round(ours / n, 3),
            "named_by_ranking_alone": round(before / n, 3)}


def throughput(arch: str, notes: int, new_tokens: int, batch_size: int, device: str) -> dict:
    from benchmarks.random_models import build
    from casenotes.summarize.generative import GenerativeSummarizer

    rows = [r for r in csv.DictReader(IU_XRAY.open(encoding="utf-8")) if r["findings"].strip()][:notes]
    texts = [r["findings"] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(Path(tmp) / arch, arch)
        batched = GenerativeSummarizer(folder, device, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       batch_size=batch_size)
        batched.load()
        texts = [piece for t in texts for piece in batched.chunk(t)]  # each call must fit the window
        batched.generate(texts[:2])  # warm up
        t0 = time.perf_counter()
        batched.generate(texts)
        batched_s = time.perf_counter() - t0
        batched.batch_size = 1
        t0 = time.perf_counter()
        batched.generate(texts)
        single_s = time.perf_counter() - t0
    tokens = len(texts) * new_tokens
    return {"arch": arch, "device": device, "notes": len(texts), "new_tokens_per_note": new_tokens,
            "batch_size": batch_size, "batched_tokens_per_s": round(tokens / batched_s, 1),
            "one_at_a_time_tokens_per_s": round(tokens / single_s, 1), "speedup_x": round(single_s / batched_s, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N reports")
    parser.add_argument("--arch", action="append", default=[], help="generative throughput for this architecture "
                        "(tiny-bart, tiny-causal, bart-large, qwen2.5-0.5b); repeatable")
    parser.add_argument("--notes", type=int, default=32, help="notes for the throughput runs")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    figures: dict = {"cores": os.cpu_count()}
    if not args.skip_quality:
        figures["quality"] = quality(args.limit)
    device = resolve_device(args.device)
    figures["throughput"] = [throughput(a, args.notes, args.new_tokens, args.batch_size, device) for a in args.arch]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
