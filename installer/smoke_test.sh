#!/usr/bin/env bash
# Builds the one-folder bundle (unless --no-build), then runs `casenotes demo` from it with no
# Python on PATH and checks the workbook; also starts the window offscreen.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [[ "${1:-}" != "--no-build" ]]; then
  $PY installer/build_bundle.py
fi
BUNDLE=installer/dist/casenotes
OUT=$(mktemp -d)
# A clean environment: no virtual environment, no PYTHONPATH, an empty home, Python hidden from PATH.
env -i HOME="$OUT/home" PATH=/usr/bin:/bin CASENOTES_HOME="$OUT/casenotes-home" \
  "$BUNDLE/casenotes" demo -o "$OUT/demo"
$PY - "$OUT/demo" <<'PY'
import sys
from pathlib import Path
import openpyxl
out = Path(sys.argv[1])
wb = openpyxl.load_workbook(out / "demo_case_notes.casenotes.xlsx")
rows = list(wb["Results"].iter_rows(min_row=2, values_only=True))
assert len(rows) == 9, len(rows)
text = " ".join(str(v) for r in rows for v in r if v is not None)
for planted in ("Okafor", "617-555-0143", "Brookfield Memorial"):
    assert planted not in text, planted
assert {"Results", "PHI findings", "Run info"} <= set(wb.sheetnames)
print(f"smoke test: demo workbook OK ({len(rows)} rows, no planted PHI)")
PY
set +e
env -i HOME="$OUT/home" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen CASENOTES_HOME="$OUT/casenotes-home" \
  timeout 10 "$BUNDLE/casenotes-desktop"
code=$?
set -e
if [[ $code -ne 124 ]]; then echo "smoke test: the window exited early (code $code)"; exit 1; fi
echo "smoke test: the window started and kept running"
