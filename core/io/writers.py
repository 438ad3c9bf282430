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


def _style_sheet(ws, widths: dict[int, float], wrap_columns: set[int], header_row: int = 1) -> None:
    for cell in ws[header_row]:
        cell.fill = _HEADER_FILL
        cell.font = _HEADER_FONT
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    ws.freeze_panes = ws.cell(header_row + 1, 1).coordinate
    if ws.max_row > header_row:
        ws.auto_filter.ref = f"A{header_row}:{get_column_letter(ws.max_column)}{ws.max_row}"
    for index, width in widths.items():
        ws.column_dimensions[get_column_letter(index)].width = width
    for row in ws.iter_rows(min_row=header_row + 1):
        for cell in row:
            cell.alignment = _WRAP if cell.column in wrap_columns else _TOP


def _column_width(header: str, values: list[str]) -> float:
    longest = max([len(header)] + [len(v) for v in values[:200]])
    return float(min(max(longest + 2, 10), 60))


def _append(ws, values: list) -> int:
    """Append a row; strings are written as text (never a formula), numbers as numbers."""
    row = ws.max_row + 1 if ws.max_row > 1 or ws.cell(1, 1).value is not None else 1
    for col, value in enumerate(values, start=1):
        if isinstance(value, CellRichText):
            ws.cell(row, col).value = value
        elif isinstance(value, str):
            set_text(ws.cell(row, col), value)
        else:
            ws.cell(row, col, value)
    return row


def _rich(text: str, spans) -> CellRichText | str:
    rich = highlighted(text, [(s.start, s.end, s.entity_type) for s in spans])
    return rich if isinstance(rich, CellRichText) else safe_text(rich[:EXCEL_CELL_LIMIT])


def note_headers(plan) -> list[str]:
    """Headers of the de-identified note columns of the Results sheet."""
    notes = plan.text_columns
    return ["De-identified note"] if len(notes) == 1 else [f"De-identified {c}" for c in notes]


def write_results_workbook(path: Path, table_frame, plan, records: list[NoteRecord], run_info: list[tuple[str, str]],
                           include_original: bool = False, extra_columns: Iterable[tuple[str, str]] = (),
                           extra_sheets: Iterable[tuple[str, list[str], list[list]]] = ()) -> None:
    """The shareable workbook: Results, PHI findings, any step's own sheets (Codes), and Run info.

    Results keeps the sheet's columns in order, each as the plan says: identifiers replaced, free
    text de-identified (replacements highlighted), safe columns copied, excluded ones left out; the
    original note is left out unless asked for, and the de-identified note(s) follow.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = "Results"
    kept = [c for c in table_frame.columns if c in plan.output_columns or (include_original and c in plan.text_columns)]
    extra_columns = list(extra_columns)
    notes = note_headers(plan)
    headers = kept + notes + ["PHI count", "Needs review", "Review reason"] + [h for h, _ in extra_columns]
    _append(ws, headers)
    for record in records:
        values = table_frame.iloc[record.row - 1]
        cells = {c.column: c for c in record.cells}
        out: list = []
        for name in kept:
            cell = cells.get(name)
            if cell is not None and not cell.is_note:
                out.append(_rich(cell.deidentified, cell.replacements))
            elif name in record.replaced:
                out.append(record.replaced[name])
            else:
                out.append(str(values[name]))  # a safe column, or the original note when asked for
        note_cells = record.notes
        if len(notes) == 1:
            out.append(_rich(record.deidentified_text, record.replacements))
        else:
            out += [_rich(c.deidentified, c.replacements) for c in note_cells]
        out += [record.phi_count, "yes" if record.needs_review else "no", "; ".join(record.review_reasons)]
        out += [str(record.extra.get(key, "")) for _, key in extra_columns]
        _append(ws, out)
    first_note = len(kept) + 1
    widths = {i: _column_width(h, [str(ws.cell(r, i).value or "") for r in range(2, min(52, ws.max_row + 1))])
              for i, h in enumerate(kept, start=1)}
    wrap = {i for i, w in widths.items() if w >= 60}
    for offset in range(len(notes)):
        widths[first_note + offset] = 80 if len(notes) == 1 else 60
        wrap.add(first_note + offset)
    after = first_note + len(notes)
    widths.update({after: 11, after + 1: 13, after + 2: 30})
    wrap.add(after + 2)
    for offset in range(len(extra_columns)):
        widths[after + 3 + offset] = 50
        wrap.add(after + 3 + offset)
    _style_sheet(ws, widths, wrap)

    findings = wb.create_sheet("PHI findings")
    _append(findings, ["Row", "Column", "Entity type", "Start", "End", "Score", "Detector"])
    for record in records:
        for cell in record.cells:
            # Offsets into the de-identified text, which the sheet shows: the original's would give away
            # each name's length. One replacement per finding, in order.
            found = cell.phi if len(cell.phi) == len(cell.replacements) else [None] * len(cell.replacements)
            for x, f in zip(cell.replacements, found):
                _append(findings, [record.row, cell.column, x.entity_type, x.start, x.end, f.score if f else None,
                                   f.detector if f else None])
        for column, (kind, value) in record.identifiers.items():
            if value.strip():
                _append(findings, [record.row, column, kind, None, None, 1.0, "column"])
    _style_sheet(findings, {1: 8, 2: 24, 3: 14, 4: 8, 5: 8, 6: 8, 7: 28}, set())

    for title, sheet_headers, rows in extra_sheets:
        sheet = wb.create_sheet(title)
        _append(sheet, list(sheet_headers))
        for values in rows:
            _append(sheet, list(values))
        sheet_widths = {i: _column_width(h, [str(r[i - 1]) for r in rows[:200]]) for i, h in enumerate(sheet_headers, 1)}
        _style_sheet(sheet, sheet_widths, {i for i, w in sheet_widths.items() if w >= 60})

    _write_run_info(wb.create_sheet("Run info"), run_info)
    with atomic_path(path) as tmp:
        wb.save(tmp)


def _write_run_info(ws, run_info: list[tuple[str, str]]) -> None:
    _append(ws, ["Item", "Value"])
    for key, value in run_info:
        _append(ws, [key, value])
    _style_sheet(ws, {1: 34, 2: 90}, {2})


def write_jsonl(path: Path, records: list[NoteRecord]) -> None:
    """One object per input row, in order. Offsets in "phi" point at the replacements in
    "deidentified_text": offsets into the original would tell the length of each name."""
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            for r in records:
                item = {
                    "row": r.row,
                    "id": r.patient_key,
                    "deidentified_text": r.deidentified_text,
                    "phi": [{"start": x.start, "end": x.end, "type": x.entity_type} for x in r.replacements],
                    "needs_review": r.needs_review,
                }
                item.update({k: v for k, v in r.extra.items() if k in ("summary", "codes")})
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")


REVIEW_SHEET = "CONTAINS PHI - review"
CORRECTIONS_SHEET = "Corrections"
CORRECTION_HEADERS = ["Row", "Column", "Exact text", "Correction", "PHI type"]
MISSED, NOT_PHI = "missed PHI", "not PHI"
_CORRECTION_ROWS = 500


def write_review_workbook(path: Path, records: list[NoteRecord], key_map: dict[str, str], id_column: str | None,
                          run_info: list[tuple[str, str]]) -> None:
    """In-house only: the original text with every detection highlighted, the key-to-ID map, and a
    Corrections sheet where a reviewer marks missed identifiers and false alarms for ``learn-review``."""
    from openpyxl.worksheet.datavalidation import DataValidation

    from core.phi.department import PHI_TYPES

    wb = Workbook()
    ws = wb.active
    ws.title = REVIEW_SHEET
    ws.append(["CONFIDENTIAL: contains protected health information. For in-house review only; do not share."])
    ws["A1"].font = Font(bold=True, color="C00000", size=14)
    _append(ws, ["Row", "Key", "Column", "Original (detections highlighted)", "De-identified", "PHI count", "Needs review"])
    for r in records:
        for cell in r.cells:
            if not cell.text.strip():
                continue
            _append(ws, [r.row, r.patient_key or "", cell.column, _rich(cell.text, cell.phi),
                         _rich(cell.deidentified, cell.replacements), len(cell.phi), "yes" if r.needs_review else "no"])
    _style_sheet(ws, {1: 8, 2: 16, 3: 18, 4: 80, 5: 80, 6: 10, 7: 12}, {4, 5}, header_row=2)

    corrections = wb.create_sheet(CORRECTIONS_SHEET)
    corrections.append(["Mark what the de-identifier missed or flagged wrongly, one per line, then run "
                        "`casenotes learn-review` on this workbook (or Learn from review in the window). "
                        "Exact text: as written in the original."])
    corrections["A1"].font = Font(bold=True)
    _append(corrections, CORRECTION_HEADERS)
    kinds = DataValidation(type="list", formula1=f'"{MISSED},{NOT_PHI}"', allow_blank=True)
    types = DataValidation(type="list", formula1='"' + ",".join(PHI_TYPES) + '"', allow_blank=True)
    for validation, col in ((kinds, "D"), (types, "E")):
        validation.add(f"{col}3:{col}{_CORRECTION_ROWS}")
        corrections.add_data_validation(validation)
    _style_sheet(corrections, {1: 8, 2: 18, 3: 40, 4: 16, 5: 14}, set(), header_row=2)

    keys = wb.create_sheet("Key map - PHI")
    _append(keys, ["Pseudonymous key", id_column or "ID"])
    for key, original_id in sorted(key_map.items()):
        _append(keys, [key, original_id])
    _style_sheet(keys, {1: 18, 2: 24}, set())
    _write_run_info(wb.create_sheet("Run info"), run_info)
    with atomic_path(path) as tmp:
        wb.save(tmp)
