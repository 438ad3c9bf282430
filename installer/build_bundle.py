"""Build the self-contained one-folder application and report its size and start time.

    python installer/build_bundle.py [--dist DIR]

The result, DIR/casenotes/ (default installer/dist/casenotes), holds Python, Qt, torch, the spaCy
model, the MiniLM model, the ICD-10-CM data and its search index (built here, once, so that no
workstation builds it), and two programs: `casenotes` (the command line) and `casenotes-desktop`
(the window). Copy the folder to a workstation; nothing else is needed.
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


def shipped_index(bundle: Path, program: Path, env: dict) -> str:
    """The bundle must find its own index: `casenotes prepare` says where, and builds nothing."""
    out = subprocess.run([str(program), "prepare"], check=True, capture_output=True, text=True, timeout=120, env=env)
    found = Path(out.stdout.strip().split(": ", 1)[-1])
    cache = Path(env["CASENOTES_CACHE"])
    if ("already built" not in out.stdout or not found.resolve().is_relative_to(bundle.resolve())
            or (cache.exists() and any(cache.iterdir()))):
        raise SystemExit(f"the bundle does not find its shipped ICD-10-CM index: {out.stdout.strip()}")
    return str(found.relative_to(bundle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=HERE / "dist")
    parser.add_argument("--work", type=Path, default=HERE / "build")
    args = parser.parse_args()
    t0 = time.perf_counter()
    # The spec builds the ICD-10-CM index into this folder (or finds it there from an earlier build).
    index_dir = args.work / "casenotes_index"
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(args.dist), "--workpath", str(args.work), str(HERE / "casenotes.spec")],
                   check=True, env={**os.environ, "CASENOTES_BUNDLE_INDEX_DIR": str(index_dir)})
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
        # A fresh workstation: an empty cache and no index folder from this build machine's environment.
        fresh = {k: v for k, v in env.items() if k != "CASENOTES_INDEX_DIR"} | {"CASENOTES_CACHE": str(Path(tmp) / "cache")}
        report["icd10_index"] = shipped_index(bundle, bundle / f"casenotes{exe}", fresh)
        t2 = time.perf_counter()
        subprocess.run([str(bundle / f"casenotes{exe}"), "run", str(HERE.parent / "resources" / "demo_case_notes.xlsx"),
                        "--code", "-o", str(Path(tmp) / "coded")], check=True, capture_output=True, timeout=600, env=fresh)
        report["coded_demo_seconds (casenotes run --code, 9 notes, first run)"] = round(time.perf_counter() - t2, 1)
    print(json.dumps(report, indent=2))
    (args.dist / "bundle-report.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
