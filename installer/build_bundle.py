"""Build the self-contained one-folder application and report its size and start time.

    python installer/build_bundle.py [--dist DIR]

The result, DIR/casenotes/ (default installer/dist/casenotes), holds Python, Qt, torch, the spaCy
model, the MiniLM model and the ICD-10-CM data, and two programs: `casenotes` (the command line)
and `casenotes-desktop` (the window). Copy the folder to a workstation; nothing else is needed.
PyInstaller builds for the platform it runs on: build on Windows for Windows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def folder_size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def start_time(program: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(program), *args], check=True, capture_output=True, timeout=300)
    return round(time.perf_counter() - t0, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=HERE / "dist")
    parser.add_argument("--work", type=Path, default=HERE / "build")
    args = parser.parse_args()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(args.dist), "--workpath", str(args.work), str(HERE / "casenotes.spec")],
                   check=True)
    bundle = args.dist / "casenotes"
    exe = ".exe" if os.name == "nt" else ""
    report = {
        "bundle": str(bundle), "build_seconds": round(time.perf_counter() - t0, 1),
        "size_mb": folder_size_mb(bundle),
        "cli_start_seconds (casenotes --help)": start_time(bundle / f"casenotes{exe}", "--help"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CASENOTES_HOME": str(Path(tmp) / "home")}
        t1 = time.perf_counter()
        subprocess.run([str(bundle / f"casenotes{exe}"), "demo", "-o", str(Path(tmp) / "demo")], check=True,
                       capture_output=True, timeout=600, env=env)
        report["demo_seconds (casenotes demo, 9 notes, first run)"] = round(time.perf_counter() - t1, 1)
    print(json.dumps(report, indent=2))
    (args.dist / "bundle-report.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
