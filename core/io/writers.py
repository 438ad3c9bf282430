"""The outputs: the shareable annotated workbook, the JSON Lines export and the in-house review workbook.

Every file is written to a temporary name in the destination folder and renamed into place, so a
crash never leaves half a workbook under the final name.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from core.steps import NoteRecord

EXCEL_CELL_LIMIT = 32_767
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")
# One colour per kind of replacement, dark enough to read on white and on Excel's dark theme.
TAG_COLOURS = {
    "NAME": "C00000", "LOCATION": "7030A0", "FACILITY": "7030A0", "ADDRESS": "7030A0", "ZIP": "7030A0",
    "DATE": "0070C0", "AGE": "0070C0", "PHONE": "C55A11", "EMAIL": "C55A11", "URL": "C55A11",
    "IP_ADDRESS": "C55A11", "SSN": "833C0B", "ID": "833C0B",
}


@contextmanager
def atomic_path(final: Path):
    """Yield a temporary path beside ``final``; rename it into place only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".~{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def safe_text(value: str) -> str:
    """Cell text without the control characters XML forbids."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def set_text(cell, value) -> None:
    """Write a value as literal text: a leading '=' or '+' is never evaluated by Excel."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        cell.value = value
        return
    text = safe_text("" if value is None else str(value))
    if len(text) > EXCEL_CELL_LIMIT:
        text = text[: EXCEL_CELL_LIMIT - 1] + "…"
    cell.value = text
    cell.data_type = "s"


def highlighted(text: str, spans: Iterable[tuple[int, int, str]]) -> CellRichText | str:
    """Rich text with each span coloured and bold by its type; plain text when nothing to mark."""
    spans = sorted(spans)
    if not spans or len(text) > EXCEL_CELL_LIMIT:
        return safe_text(text[:EXCEL_CELL_LIMIT])
    parts: list = []
    pos = 0
    for start, end, kind in spans:
        if start < pos:
            continue
        if start > pos:
            parts.append(safe_text(text[pos:start]))
        font = InlineFont(b=True, color=TAG_COLOURS.get(kind, "C00000"))
        parts.append(TextBlock(font, safe_text(text[start:end])))
        pos = end
    if pos < len(text):
        parts.append(safe_text(text[pos:]))
    return CellRichText(*[p for p in parts if not (isinstance(p, str) and not p)])


def _style_sheet(ws, widths: dict[int, float], wrap_columns: set[int]) -> None:
    for cell in ws[1]:
        cell.fill = _HEADER_FILL
        cell.font = _HEADER_FONT
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    ws.freeze_panes = "A2"
    if ws.max_row > 1:
        ws.auto_filter.ref = ws.dimensions
    for index, width in widths.items():
        ws.column_dimensions[get_column_letter(index)].width = width
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = _WRAP if cell.column in wrap_columns else _TOP


def _column_width(header: str, values: list[str]) -> float:
    longest = max([len(header)] + [len(v) for v in values[:200]])
    return float(min(max(longest + 2, 10), 60))


def write_results_workbook(path: Path, table_frame, plan, records: list[NoteRecord],
                           cells: dict[int, dict[str, str]], run_info: list[tuple[str, str]],
                           include_original: bool = False, extra_columns: Iterable[tuple[str, str]] = (),
                           extra_sheets: Iterable[tuple[str, list[str], list[list]]] = ()) -> None:
    """The shareable workbook: Results, PHI findings, any step's own sheets (Codes), and Run info."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Results"
    kept = [c for c in table_frame.columns if c != plan.text_column or include_original]
    extra_columns = list(extra_columns)
    headers = kept + ["De-identified note", "PHI count", "Needs review", "Review reason"] + [h for h, _ in extra_columns]
    ws.append(headers)
    for record in records:
        values = table_frame.iloc[record.row - 1]
        row_cells = cells.get(record.row, {})
        out_row = ws.max_row + 1
        for col, name in enumerate(kept, start=1):
            set_text(ws.cell(out_row, col), row_cells.get(name, values[name]))
        note_col = len(kept) + 1
        note_cell = ws.cell(out_row, note_col)
        rich = highlighted(record.deidentified_text, [(r.start, r.end, r.entity_type) for r in record.replacements])
        if isinstance(rich, CellRichText):
            note_cell.value = rich
        else:
            set_text(note_cell, rich)
        ws.cell(out_row, note_col + 1, len(record.phi))
        ws.cell(out_row, note_col + 2, "yes" if record.needs_review else "no")
        set_text(ws.cell(out_row, note_col + 3), "; ".join(record.review_reasons))
        for offset, (_, key) in enumerate(extra_columns, start=4):
            set_text(ws.cell(out_row, note_col + offset), record.extra.get(key, ""))
    widths = {i: _column_width(h, [str(table_frame[h].iloc[k]) for k in range(min(50, len(table_frame)))])
              for i, h in enumerate(kept, start=1)}
    widths[len(kept) + 1] = 80
    widths.update({len(kept) + 2: 11, len(kept) + 3: 13, len(kept) + 4: 30})
    for offset in range(len(extra_columns)):
        widths[len(kept) + 5 + offset] = 50
    wrap = {len(kept) + 1, len(kept) + 4} | {len(kept) + 5 + o for o in range(len(extra_columns))}
    if include_original and plan.text_column in kept:
        wrap.add(kept.index(plan.text_column) + 1)
        widths[kept.index(plan.text_column) + 1] = 60
    _style_sheet(ws, widths, wrap)

    findings = wb.create_sheet("PHI findings")
    findings.append(["Row", "Column", "Entity type", "Start", "End", "Score", "Detector"])
    for record in records:
        for f in record.phi:
            findings.append([record.row, plan.text_column, f.entity_type, f.start, f.end, f.score, f.detector])
    for row, cols in sorted(cells.items()):
        for column, _ in cols.items():
            if column in plan.identifier_columns:
                findings.append([row, column, plan.identifier_columns[column], None, None, 1.0, "column"])
    _style_sheet(findings, {1: 8, 2: 24, 3: 14, 4: 8, 5: 8, 6: 8, 7: 28}, set())

    for title, sheet_headers, rows in extra_sheets:
        sheet = wb.create_sheet(title)
        sheet.append(sheet_headers)
        for values in rows:
            out_row = sheet.max_row + 1
            for col, value in enumerate(values, start=1):
                if isinstance(value, str):
                    set_text(sheet.cell(out_row, col), value)
                else:
                    sheet.cell(out_row, col, value)
        sheet_widths = {i: _column_width(h, [str(r[i - 1]) for r in rows[:200]]) for i, h in enumerate(sheet_headers, 1)}
        _style_sheet(sheet, sheet_widths, {i for i, w in sheet_widths.items() if w >= 60})

    _write_run_info(wb.create_sheet("Run info"), run_info)
    with atomic_path(path) as tmp:
        wb.save(tmp)


def _write_run_info(ws, run_info: list[tuple[str, str]]) -> None:
    ws.append(["Item", "Value"])
    for key, value in run_info:
        row = ws.max_row + 1
        set_text(ws.cell(row, 1), key)
        set_text(ws.cell(row, 2), value)
    _style_sheet(ws, {1: 34, 2: 90}, {2})


def write_jsonl(path: Path, records: list[NoteRecord]) -> None:
    """One object per input row, in order. Offsets in "phi" point into the original note."""
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            for r in records:
                item = {
                    "row": r.row,
                    "id": r.patient_key,
                    "deidentified_text": r.deidentified_text,
                    "phi": [{"start": f.start, "end": f.end, "type": f.entity_type, "score": f.score} for f in r.phi],
                    "needs_review": r.needs_review,
                }
                item.update({k: v for k, v in r.extra.items() if k in ("summary", "codes")})
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")


def write_review_workbook(path: Path, records: list[NoteRecord], key_map: dict[str, str], id_column: str | None,
                          run_info: list[tuple[str, str]]) -> None:
    """In-house only: the original notes with every detection highlighted, and the key-to-ID map."""
    wb = Workbook()
    ws = wb.active
    ws.title = "CONTAINS PHI - review"
    ws.append(["CONFIDENTIAL: contains protected health information. For in-house review only; do not share."])
    ws["A1"].font = Font(bold=True, color="C00000", size=14)
    ws.append(["Row", "Key", "Original note (detections highlighted)", "De-identified note", "PHI count", "Needs review"])
    for r in records:
        row = ws.max_row + 1
        ws.cell(row, 1, r.row)
        set_text(ws.cell(row, 2), r.patient_key or "")
        original = highlighted(r.text, [(f.start, f.end, f.entity_type) for f in r.phi])
        if isinstance(original, CellRichText):
            ws.cell(row, 3).value = original
        else:
            set_text(ws.cell(row, 3), original)
        set_text(ws.cell(row, 4), r.deidentified_text)
        ws.cell(row, 5, len(r.phi))
        ws.cell(row, 6, "yes" if r.needs_review else "no")
    for cell in ws[2]:
        cell.fill = _HEADER_FILL
        cell.font = _HEADER_FONT
    ws.freeze_panes = "A3"
    for col, width in {1: 8, 2: 16, 3: 80, 4: 80, 5: 10, 6: 12}.items():
        ws.column_dimensions[get_column_letter(col)].width = width
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = _WRAP
    keys = wb.create_sheet("Key map - PHI")
    keys.append(["Pseudonymous key", id_column or "ID"])
    for key, original_id in sorted(key_map.items()):
        set_text(keys.cell(keys.max_row + 1, 1), key)
        set_text(keys.cell(keys.max_row, 2), original_id)
    _style_sheet(keys, {1: 18, 2: 24}, set())
    _write_run_info(wb.create_sheet("Run info"), run_info)
    with atomic_path(path) as tmp:
        wb.save(tmp)
