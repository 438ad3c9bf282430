"""An offline wheelhouse: build it where there is a network, install from it where there is none.

    python installer/wheelhouse.py build [--dest installer/wheelhouse] [--platform TAG --python-version 3.11]
    python installer/wheelhouse.py install WHEELHOUSE [--venv DIR]

``build`` puts a wheel of casenotes and of every dependency (torch pinned to 2.13.0) in one folder.
Without --platform it is for this machine; with it (for example ``win_amd64`` or
``manylinux2014_x86_64``) pip fetches that platform's binary wheels, and packages published only
as source are built here as pure-Python wheels. ``install`` creates a virtual environment and
installs casenotes from the folder with ``--no-index``: pip never contacts a server.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], text=True, capture_output=True)


def build(dest: Path, platform: str | None, python_version: str) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    step = _pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(ROOT))
    if step.returncode:
        print(step.stderr[-2000:])
        return 1
    wheel = max(dest.glob("casenotes-*.whl"), key=lambda p: p.stat().st_mtime)
    target = ["--platform", platform, "--python-version", python_version, "--implementation", "cp",
              "--only-binary=:all:"] if platform else []
    step = _pip("download", "--dest", str(dest), *target, str(wheel))
    if step.returncode and platform:
        # Source-only packages cannot be fetched for another platform: build them here (pure Python).
        missing = sorted({line.split("for ")[-1].split(" ")[0] for line in step.stderr.splitlines()
                          if "No matching distribution found for" in line})
        for requirement in missing:
            built = _pip("wheel", "--no-deps", "--wheel-dir", str(dest), requirement)
            if built.returncode:
                print(f"cannot build {requirement}:\n{built.stderr[-1000:]}")
                return 1
        step = _pip("download", "--dest", str(dest), *target, "--find-links", str(dest), str(wheel))
    if step.returncode:
        print(step.stderr[-3000:])
        return 1
    sdists = [p for p in dest.iterdir() if p.suffix in (".gz", ".zip")]
    for sdist in sdists:  # an air-gapped machine may have no compiler: ship wheels only
        built = _pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(sdist))
        if built.returncode == 0:
            sdist.unlink()
    files = sorted(dest.glob("*.whl"))
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} wheels, {size:.0f} MB in {dest}")
    return 0


def install(wheelhouse: Path, target: Path) -> int:
    venv.create(target, with_pip=True)
    python = target / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    step = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse),
                           "casenotes"], text=True)
    if step.returncode != 0:
        return step.returncode
    command = target / ("Scripts/casenotes.exe" if sys.platform == "win32" else "bin/casenotes")
    # The ICD-10-CM index is built now, at install time, so that no clerk's first coded run waits for it.
    prepared = subprocess.run([str(command), "prepare"], text=True)
    print(f"installed: {command}")
    return prepared.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--dest", type=Path, default=ROOT / "installer" / "wheelhouse")
    b.add_argument("--platform")
    b.add_argument("--python-version", default="3.11")
    i = sub.add_parser("install")
    i.add_argument("wheelhouse", type=Path)
    i.add_argument("--venv", type=Path, default=Path("casenotes-env"))
    args = parser.parse_args()
    if args.command == "build":
        return build(args.dest, args.platform, args.python_version)
    return install(args.wheelhouse, args.venv)


if __name__ == "__main__":
    raise SystemExit(main())
