"""The window's responsiveness: how soon it shows, how long its event loop stalls while models
load and while a run goes, and how soon rows flow after Run; the run in a child process (what the
window does) beside the same run on a thread of the window's own process (the earlier design), in
one session on the same file.

    QT_QPA_PLATFORM=offscreen python benchmarks/window_benchmark.py [--rows N] [--repeat N]

A 10 ms timer on the GUI thread records its ticks; a gap is the longest time between two ticks.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STARTED = time.perf_counter()

NOTE = ("Pt seen on {d}/14 by Dr. Okafor with daughter Odalys at bedside. BP 128/76, HR 82. Denies chest pain. "
        "Plan: continue heparin drip, repeat troponin in 6 h, call (617) 555-{n:04d} with results.")


class Ticks:
    """Ticks of a 10 ms timer on the GUI thread: the longest gap in a span is how long the window froze."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))
        self.timer.start()

    def longest_gap_ms(self, since: float, until: float) -> float:
        span = [t for t in self.times if since <= t <= until]
        return max((b - a for a, b in zip(span, span[1:])), default=0.0) * 1000


def wait(app, condition, timeout_s: float = 900) -> None:
    end = time.perf_counter() + timeout_s
    while not condition():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() > end:
            raise TimeoutError("benchmark step timed out")


def write_notes(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["MRN", "Note"])
        for i in range(rows):
            out.writerow([f"{300000 + i}", NOTE.format(d=1 + i % 12, n=i % 10000)])
    return path


def thread_run(window, app, ticks, path: Path) -> dict:
    """Baseline: the pipeline on a QThread of the window's process, as casenotes did before."""
    from dataclasses import replace

    from casenotes.pipeline import RunState, run
    from casenotes_desktop.worker import CallWorker

    first_row: list[float] = []
    state = RunState(on_progress=lambda p: first_row.append(time.perf_counter()) if p.rows_done and not first_row else None)
    options = replace(window.settings.run_options(), overwrite=True)
    pressed = time.perf_counter()
    worker = CallWorker(lambda: run([path], options, state), tag="baseline")
    results = []
    worker.done.connect(lambda _tag, r: results.append(r))
    worker.failed.connect(lambda _tag, message: results.append(message))
    window.workers.start(worker)
    wait(app, lambda: bool(results))
    ended = time.perf_counter()
    return {"to first rows (s)": first_row[0] - pressed, "total (s)": ended - pressed,
            "longest gap while running (ms)": ticks.longest_gap_ms(pressed, ended)}


def window_run(window, app, ticks) -> dict:
    """What the window does: Run hands the queue to the warm child process."""
    item = window.model.items[0]
    pressed = time.perf_counter()
    first_row: list[float] = []
    window.run_action.trigger()
    wait(app, lambda: (item.rows_done > 0 and (first_row or first_row.append(time.perf_counter()))) or item.status == "done")
    wait(app, lambda: window.run_worker is None)
    ended = time.perf_counter()
    if item.status != "done":
        raise RuntimeError(f"run failed: {item.error}")
    return {"to first rows (s)": (first_row[0] if first_row else ended) - pressed, "total (s)": ended - pressed,
            "longest gap while running (ms)": ticks.longest_gap_ms(pressed, ended)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # settings of this benchmark only
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        QSettings.setDefaultFormat(QSettings.IniFormat)
        QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
        app = QApplication(["casenotes-benchmark"])
        app.setOrganizationName("casenotes-benchmark")
        app.setApplicationName("casenotes-benchmark")
        from casenotes_desktop.main_window import MainWindow
        from casenotes_desktop.settings import AppSettings

        AppSettings(output_dir=str(tmp_path / "out"), overwrite=True, jsonl=False).save()
        window = MainWindow()
        window.show()
        app.processEvents()
        shown = time.perf_counter() - STARTED
        ticks = Ticks()

        path = write_notes(tmp_path / "notes.csv", args.rows)
        loading = time.perf_counter()
        window.add_paths([path])
        window.table.selectRow(0)
        wait(app, lambda: bool(window.preview.rows))  # the preview loads the PHI engine in this process
        loaded = time.perf_counter()
        wait(app, lambda: window._standby is not None)
        time.sleep(0)
        rows = []
        for attempt in range(args.repeat):
            # the child process warms up while the clerk looks at the preview; give it that time
            settle = time.perf_counter() + 20
            wait(app, lambda: time.perf_counter() > settle)
            rows.append(("child process (the window)", window_run(window, app, ticks)))
            rows.append(("thread in the window's process (baseline)", thread_run(window, app, ticks, path)))
        window.close()

    print(f"window shown {shown:.2f} s after start (imports included)")
    print(f"longest event-loop gap while the preview loads the PHI engine: {ticks.longest_gap_ms(loading, loaded):.0f} ms "
          f"({loaded - loading:.1f} s to the first preview)")
    print(f"{args.rows} rows, {os.cpu_count()} cores; each run {args.repeat} times")
    print(f"{'runner':45} {'to first rows (s)':>18} {'total (s)':>10} {'longest gap (ms)':>17}")
    for name, r in rows:
        print(f"{name:45} {r['to first rows (s)']:18.1f} {r['total (s)']:10.1f} {r['longest gap while running (ms)']:17.0f}")


if __name__ == "__main__":
    main()
