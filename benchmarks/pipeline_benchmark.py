"""Whole default pipeline benchmark: de-identify, summarize, code, per step and together, in one process.

The steps are the ones `casenotes run --summarize --code` builds (core/pipeline.step_settings: the
de-identification step, the extractive default summarizer, the embedded default coder), driven by
the local runner (core/runner.py) in batches of the run's batch size, on the first N PhysioNet nursing
notes (../shared/data/deid, 107 words on average). Reported:
  * each step's model load (and warm-up), apart from the throughput;
  * notes per second for de-identify only, + summarize, + code, and all three (a fresh pass each);
  * each step's own seconds and notes per second within the all-three pass;
  * the device, the cores, torch's threads and the sentence encoder's precision;
  * the baseline in the same run: the all-three pass with the encoder in float32 (the behaviour
    before the bfloat16 path), and the ratio.
Rows per second count only the rows' time, as the run command's progress does; "with load" adds the
steps' start-up, as a whole command on a file of N notes would see it (the app's own start-up aside).

    python benchmarks/pipeline_benchmark.py [--limit N] [--precision auto|fp32|bf16|int8] [--skip-baseline]
                                            [--device cpu] [--encoder-threads N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.deid_data import load_nursing  # noqa: E402
from casenotes import embeddings  # noqa: E402
from casenotes.keys import KeyRing  # noqa: E402
from casenotes.options import RunOptions  # noqa: E402
from casenotes.pipeline import step_settings  # noqa: E402
from casenotes.runner import LocalRunner  # noqa: E402
from casenotes.steps import NoteRecord, resolve_device  # noqa: E402

WARM_UP = ["Pt seen at 0800 by Dr. Smith. Afebrile, HR 88. Lungs with crackles at bases, CXR shows new "
           "effusion. HTN on lopressor. Plan: diurese, recheck lytes.", "Resting comfortably."]
COMBINATIONS = {"de-identify only": ("deidentify",), "+ summarize": ("deidentify", "summarize"),
                "+ code": ("deidentify", "code"), "all three": ("deidentify", "summarize", "code")}


class TimedStep:
    """A step as the runner sees it, adding up the seconds of its own calls."""

    def __init__(self, step):
        self._step = step
        self.seconds = 0.0

    def __getattr__(self, name):
        return getattr(self._step, name)

    def __call__(self, batch):
        t0 = time.perf_counter()
        try:
            return self._step(batch)
        finally:
            self.seconds += time.perf_counter() - t0


def build_steps(device: str) -> tuple[dict, dict[str, float]]:
    """The run command's steps, loaded and warmed up on two made-up notes; each one's seconds for that."""
    options = RunOptions(summarize=True, code=True, device=device)
    steps, load = {}, {}
    for settings in step_settings(options, KeyRing(b"benchmark-secret")):
        t0 = time.perf_counter()
        step = settings.build()
        step.setup()
        load[step.name] = time.perf_counter() - t0
        steps[step.name] = step
    # The first call of each step pays for what loads lazily (lexicons, the encoder's kernels): start-up too.
    timed = [TimedStep(s) for s in steps.values()]
    LocalRunner(timed).run([NoteRecord.of_text(i + 1, t) for i, t in enumerate(WARM_UP)])
    for t in timed:
        load[t.name] += t.seconds
    return steps, load


def one_pass(steps: dict, names: tuple[str, ...], texts: list[str], batch_size: int) -> dict:
    timed = [TimedStep(steps[n]) for n in names]
    runner = LocalRunner(timed)  # one process, as a run of fewer than 400 rows uses
    runner.setup()  # loaded in build_steps: a second setup finds everything in place
    records = [NoteRecord.of_text(i + 1, t) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    done = []
    for start in range(0, len(records), batch_size):
        done += runner.run(records[start : start + batch_size])
    secs = time.perf_counter() - t0
    failed = sum(r.failed or any("failed" in reason for reason in r.review_reasons) for r in done)
    return {"seconds": round(secs, 2), "notes_per_s": round(len(texts) / secs, 1), "rows_failed": failed,
            "steps": {t.name: {"seconds": round(t.seconds, 2), "notes_per_s": round(len(texts) / t.seconds, 1)}
                      for t in timed}}


def run_with(precision: str, threads: str, device: str, texts: list[str], batch_size: int, combinations: dict) -> dict:
    os.environ[embeddings.PRECISION_ENV] = precision
    os.environ[embeddings.THREADS_ENV] = threads
    steps, load = build_steps(device)
    out = {"encoder_precision": embeddings.resolve_precision(device),
           "encoder_threads": embeddings.encoder_threads() or "torch's default", "load_s": {k: round(v, 2) for k, v in load.items()},
           "passes": {label: one_pass(steps, names, texts, batch_size) for label, names in combinations.items()}}
    whole = out["passes"].get("all three")
    if whole:
        with_load = whole["seconds"] + sum(load.values())
        out["all_three_notes_per_s_with_load"] = round(len(texts) / with_load, 1)
    return out


def machine(device: str) -> dict:
    import torch

    info = {"device": device, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
            "cpu_native_bf16": embeddings.native_bf16(), "load_average_1min": round(os.getloadavg()[0], 2)}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_table(figures: dict, notes: int) -> None:
    fast = figures["pipeline"]
    print(f"{notes} nursing notes ({figures['mean_words']} words on average); {figures['machine']['cores']} cores, "
          f"device {figures['machine']['device']}, encoder {fast['encoder_precision']} on {fast['encoder_threads']} thread(s)")
    print(f"{'pass':22} {'seconds':>8} {'notes/s':>8}   per step (s, notes/s)")
    for label, p in fast["passes"].items():
        steps = "; ".join(f"{n} {s['seconds']} s, {s['notes_per_s']}/s" for n, s in p["steps"].items())
        print(f"{label:22} {p['seconds']:>8} {p['notes_per_s']:>8}   {steps}")
    print("load: " + ", ".join(f"{k} {v} s" for k, v in fast["load_s"].items())
          + (f"; all three with load: {fast['all_three_notes_per_s_with_load']} notes/s"
             if "all_three_notes_per_s_with_load" in fast else ""))
    base = figures.get("baseline")
    if base:
        p = base["passes"]["all three"]
        steps = "; ".join(f"{n} {s['seconds']} s, {s['notes_per_s']}/s" for n, s in p["steps"].items())
        print(f"{'baseline (' + base['encoder_precision'] + ', ' + str(base['encoder_threads'])[:5] + ')':22} {p['seconds']:>8} {p['notes_per_s']:>8}   {steps}")
        print(f"all three: x{figures['speedup_all_three']} the baseline")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="the first N nursing notes (default 300)")
    parser.add_argument("--precision", default=embeddings.DEFAULT_PRECISION, choices=embeddings.PRECISIONS,
                        help="the sentence encoder's precision for the measured passes")
    parser.add_argument("--baseline-precision", default="fp32", choices=embeddings.PRECISIONS)
    parser.add_argument("--skip-baseline", action="store_true", help="no float32 pass for the ratio")
    parser.add_argument("--device", default="cpu", help="cpu (the workstation case), cuda or auto")
    parser.add_argument("--batch-size", type=int, default=RunOptions.batch_size)
    parser.add_argument("--encoder-threads", default=os.environ.get(embeddings.THREADS_ENV, ""),
                        help="the encoder's threads for the measured passes (0: torch's own; default: the app's)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    device = resolve_device(args.device)
    texts = [n.text for n in load_nursing(args.limit)]
    figures: dict = {"notes": len(texts), "mean_words": round(sum(len(t.split()) for t in texts) / len(texts), 1),
                     "batch_size": args.batch_size, "machine": machine(device)}
    figures["pipeline"] = run_with(args.precision, args.encoder_threads, device, texts, args.batch_size, COMBINATIONS)
    if not args.skip_baseline:
        # The behaviour before: float32 on torch's own threads (one a core).
        figures["baseline"] = run_with(args.baseline_precision, "0", device, texts, args.batch_size,
                                       {"all three": COMBINATIONS["all three"]})
        figures["speedup_all_three"] = round(figures["baseline"]["passes"]["all three"]["seconds"]
                                             / figures["pipeline"]["passes"]["all three"]["seconds"], 2)
    figures["machine"]["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print_table(figures, len(texts))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
