"""Screenshots for the README: the empty window, a queued file with its preview, a run in progress
and a finished run. Runs the real app on a real X server:

    xvfb-run -a python -m casenotes_desktop.screenshots [OUTDIR]      (default resources/screenshots)

Settings, keys and outputs go to a temporary folder; nothing of the user's is touched.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path


def _wait(app, condition, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not reach the expected state")
        app.processEvents()
        time.sleep(0.01)


def _ward_export(path: Path, rows: int) -> Path:
    from casenotes.demo import demo_spreadsheet
    from casenotes.io.readers import read_table

    frame = read_table(demo_spreadsheet()).frame
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(list(frame.columns))
        for i in range(rows):
            out.writerow(list(frame.iloc[i % len(frame)]))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "resources" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="casenotes-shots-"))
    os.environ["CASENOTES_HOME"] = str(work / "home")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(work / "settings"))
    app = QApplication(["casenotes"])
    app.setOrganizationName("casenotes-screenshots")
    from casenotes.demo import demo_spreadsheet
    from casenotes_desktop.main_window import MainWindow
    from casenotes_desktop.settings import AppSettings

    AppSettings(output_dir=str(work / "output"), summarize=True).save()
    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    _wait(app, lambda: window.isVisible())
    app.processEvents()
    shots = {}

    def shot(name: str) -> None:
        app.processEvents()
        path = out / f"{name}.png"
        window.grab().save(str(path))
        shots[name] = path

    shot("1-empty-window")
    window.add_paths([demo_spreadsheet()])
    _wait(app, lambda: bool(window.preview.rows))
    shot("2-queued-file-with-preview")
    _wait(app, lambda: window.engine_ready)
    big = _ward_export(work / "ward_export_2024.csv", 3000)
    window.add_paths([big])
    _wait(app, lambda: all(i.status == "ready" for i in window.model.items))
    window.table.selectRow(1)
    window.start_run()
    _wait(app, lambda: any(20 <= i.progress <= 80 and i.status == "running" for i in window.model.items))
    shot("3-run-in-progress")
    _wait(app, lambda: window.run_worker is None, timeout=900)
    window.table.selectRow(0)
    _wait(app, lambda: bool(window.preview.rows) and window.preview.title.text().startswith("Preview of demo"))
    shot("4-finished-run")
    window.close()
    for name, path in shots.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
