"""Summarization benchmark: quality of the embedded default against lead baselines, and speed.

Quality: ROUGE-1/2/L (rouge-score, stemmed F-measure) of the summary of each chest X-ray report's
"findings" against the radiologist's own "impression" (../shared/data/summarization/), beside the
lead-1 and lead-2 baselines computed in the same run. Speed: notes per second of the default on
this machine's CPU, on the X-ray reports and on long multi-section MTSamples notes.

Generative throughput (``--arch``): a model folder of that architecture with random weights (same
cost as trained ones) and a fixed output length, in tokens per second, on CUDA when available: each
engine (PyTorch, and CTranslate2 int8 and float32 on a CPU when the ``fast`` extra is installed) on
the same notes in the same run, the ratio to PyTorch, and PyTorch's batches against one note at a time.

    python benchmarks/summarize_benchmark.py [--limit N] [--arch tiny-bart|bart-large|qwen2.5-0.5b ...]
        [--engine torch|ctranslate2-int8|ctranslate2-float32 ...] [--rounds N] [--skip-quality]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from casenotes.metrics import chief_complaint, history_opening, mean_rouge, names_the_complaint  # noqa: E402
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
    visit_summaries = summarizer.summarize(visit)
    fig["complaint_named_visit_notes"] = complaint_named(visit, visit_summaries)
    prose = [i for i, note in enumerate(visit) if not chief_complaint(note)]
    fig["reason_named_visit_notes_without_complaint_section"] = complaint_named(
        [visit[i] for i in prose], [visit_summaries[i] for i in prose], history_opening)
    return fig


def complaint_named(notes: list[str], summaries: list[str], reference=chief_complaint) -> dict:
    """Share of the notes with a chief-complaint section whose summary names it, beside the same
    summarizer ranking sentences alone (the default before problem-oriented lines), in the same run.
    ``reference``: where a note says why the patient came (its complaint section; or, for notes
    without one, the opening sentence of its history)."""
    baseline = ExtractiveSummarizer(problem_oriented=False)
    with_complaint = [(i, c) for i, c in enumerate(map(reference, notes)) if c]
    ranked = baseline.summarize([notes[i] for i, _ in with_complaint])
    ours = sum(names_the_complaint(summaries[i], c) for i, c in with_complaint)
    before = sum(names_the_complaint(r, c) for r, (_, c) in zip(ranked, with_complaint))
    n = len(with_complaint) or 1
    return {"notes_with_complaint": len(with_complaint), "named": round(ours / n, 3),
            "named_by_ranking_alone": round(before / n, 3)}


ENGINES = {  # name: (engine, CTranslate2 compute type)
    "torch": ("torch", None),
    "ctranslate2-int8": ("ctranslate2", "int8"),
    "ctranslate2-float32": ("ctranslate2", "float32"),
    "ctranslate2-bfloat16": ("ctranslate2", "bfloat16"),
    "ctranslate2-float16": ("ctranslate2", "float16"),
}


def default_engines(device: str) -> list[str]:
    from casenotes.summarize.ctranslate import installed

    if not installed():
        return ["torch"]
    if not device.startswith("cuda"):
        return ["torch", "ctranslate2-int8", "ctranslate2-float32"]
    import ctranslate2

    return ["torch", "ctranslate2-bfloat16"] if ctranslate2.get_cuda_device_count() else ["torch"]


def summarizer_for(engine: str, folder: Path, device: str, **kwargs):
    from casenotes.summarize.ctranslate import CTranslateSummarizer
    from casenotes.summarize.generative import GenerativeSummarizer

    kind, compute_type = ENGINES[engine]
    if kind == "torch":
        return GenerativeSummarizer(folder, device, **kwargs)
    return CTranslateSummarizer(folder, device, compute_type=compute_type, **kwargs)


def throughput(arch: str, notes: int, new_tokens: int, batch_size: int, device: str, engines: list[str],
               rounds: int = 1, one_at_a_time: bool = True) -> dict:
    """Every engine on the same notes in the same run, loaded side by side and timed in turns (round
    after round), so that a change in the machine's load falls on all of them; the best round counts."""
    from benchmarks.random_models import build

    rows = [r for r in csv.DictReader(IU_XRAY.open(encoding="utf-8")) if r["findings"].strip()][:notes]
    texts = [r["findings"] for r in rows]
    saved_cache = os.environ.get("CASENOTES_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CASENOTES_CACHE"] = str(Path(tmp) / "cache")  # each conversion is timed, never a cached one
        try:
            folder = build(Path(tmp) / arch, arch)
            summarizers, loads = {}, {}
            for engine in engines:
                s = summarizer_for(engine, folder, device, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                   batch_size=batch_size)
                t0 = time.perf_counter()
                s.load()
                loads[engine] = time.perf_counter() - t0
                summarizers[engine] = s
            first = summarizers[engines[0]]
            texts = [piece for t in texts for piece in first.chunk(t)]  # each call must fit the window
            for s in summarizers.values():
                s.generate(texts[:2])  # warm up
            seconds: dict[str, list[float]] = {e: [] for e in engines}
            for _round in range(max(1, rounds)):
                for engine, s in summarizers.items():
                    t0 = time.perf_counter()
                    s.generate(texts)
                    seconds[engine].append(time.perf_counter() - t0)
            single_s = None
            if one_at_a_time and "torch" in summarizers:
                torch_engine = summarizers["torch"]
                torch_engine.batch_size = 1
                t0 = time.perf_counter()
                torch_engine.generate(texts)
                single_s = time.perf_counter() - t0
        finally:
            if saved_cache is None:
                os.environ.pop("CASENOTES_CACHE", None)
            else:
                os.environ["CASENOTES_CACHE"] = saved_cache
    tokens = len(texts) * new_tokens
    per_engine = {}
    for engine, s in summarizers.items():
        per_engine[engine] = {"tokens_per_s": round(tokens / min(seconds[engine]), 1),
                              "tokens_per_s_each_round": [round(tokens / x, 1) for x in seconds[engine]],
                              "load_s": round(loads[engine], 1), **s.engine_settings()}
    figures = {"arch": arch, "device": device_description(device), "notes": len(texts),
               "new_tokens_per_note": new_tokens, "batch_size": batch_size, "rounds": max(1, rounds),
               "engines": per_engine}
    if "torch" in per_engine:
        base = per_engine["torch"]["tokens_per_s"]
        base_median = statistics.median(per_engine["torch"]["tokens_per_s_each_round"])
        for engine, fig in per_engine.items():
            fig["x_torch"] = round(fig["tokens_per_s"] / base, 2)  # best round against best round
            fig["x_torch_median"] = round(statistics.median(fig["tokens_per_s_each_round"]) / base_median, 2)
            # Each round's engines ran back to back, under much the same load: the fairest ratio on a shared machine.
            fig["x_torch_each_round"] = [round(t / b, 2) for t, b in zip(seconds["torch"], seconds[engine])]
        figures["batched_tokens_per_s"] = base
        if single_s:
            figures["one_at_a_time_tokens_per_s"] = round(tokens / single_s, 1)
            figures["speedup_x"] = round(single_s / min(seconds["torch"]), 2)
    return figures


def device_description(device: str) -> str:
    """What ran the benchmark: the CPU's model and the cores this process may use, or the GPU."""
    from casenotes import hf
    from casenotes.summarize.ctranslate import usable_cores

    if device.startswith("cuda"):
        return hf.device_label(device)
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        import platform

        name = platform.processor() or name
    return f"cpu ({name}, {usable_cores()} cores)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N reports")
    parser.add_argument("--arch", action="append", default=[], help="generative throughput for this architecture "
                        "(tiny-bart, tiny-causal, bart-large, qwen2.5-0.5b); repeatable")
    parser.add_argument("--notes", type=int, default=32, help="notes for the throughput runs")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--engine", action="append", default=[], choices=list(ENGINES),
                        help="throughput engines to compare (default: PyTorch, and CTranslate2 int8 and float32 "
                             "on a CPU when installed); repeatable")
    parser.add_argument("--rounds", type=int, default=1, help="timed passes of every engine, taken in turns")
    parser.add_argument("--skip-one-at-a-time", action="store_true", help="no batch-1 PyTorch pass")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    figures: dict = {"cores": os.cpu_count()}
    if not args.skip_quality:
        figures["quality"] = quality(args.limit)
    device = resolve_device(args.device)
    engines = args.engine or default_engines(device)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    figures["throughput"] = [throughput(a, args.notes, args.new_tokens, args.batch_size, device, engines, args.rounds,
                                        not args.skip_one_at_a_time) for a in args.arch]
    if load_before and args.arch:  # the machine may be shared: its load says how far to trust the figures
        figures["load_average_1_5_15_min"] = {"before": [round(x, 2) for x in load_before],
                                              "after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
