"""The outputs: the shareable annotated workbook, the JSON Lines export and the in-house review workbook.

Every file is written to a private temporary folder in the destination folder and renamed into
place, so a crash never leaves half a workbook under the final name, nor a note outside that folder.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import shutil
import tempfile
import threading
import unicodedata
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Iterable

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins

from core.phi.replace import MODES
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

# Layout in Excel's units: a column width counts the widths of the digit "0" of Calibri 11 (LibreOffice
# uses the metric-compatible Carlito), a row height is in points.
LINE_POINTS = 15.0  # one line of Calibri 11 in Excel; LibreOffice's is shorter, so this never overlaps
MAX_ROW_POINTS = 409.0  # Excel's largest row height
MAX_COLUMN_WIDTH = 60.0  # wider than this, a column wraps instead
NOTE_WIDTH = 80.0  # a single note column: about a dozen words a line
MIN_COLUMN_WIDTH = 6.0
_MAX_LINES = int(MAX_ROW_POINTS // LINE_POINTS)
# Calibri advance widths relative to "0": narrow punctuation and i/l/t are half of it, capitals and
# m/w wider. Over-estimating is the safe side: a cut key or an overlapping row is worse than space.
_CHAR_WIDTH = {**dict.fromkeys("ijlI.,;:'!|` ", 0.5), **dict.fromkeys("ftr()[]{}-/\\\"", 0.65),
               **dict.fromkeys("mwMW@%", 1.55), **dict.fromkeys("ABCDEFGHKNOPQRSTUVXYZ&#", 1.2),
               **dict.fromkeys("JL", 0.95), **dict.fromkeys("0123456789", 1.0)}
_DEFAULT_CHAR_WIDTH = 0.95
_BOLD = 1.1
_HIGHLIGHT = 1.03  # the bold replacements in a note widen its lines a little
_FILTER_BUTTON = 2.5  # the header's drop-down arrow covers the end of its text
_CELL_PADDING = 1.5
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_PRINT_MARGINS = PageMargins(left=0.4, right=0.4, top=0.7, bottom=0.7, header=0.3, footer=0.3)

ABOUT_SHEET = "About this file"


_TEMP_MARK = ".~"  # hidden names of this module's temporary folders, "<mark><final name>.<pid>.tmp"
_WRITE_LOCK = threading.Lock()


@contextmanager
def atomic_path(final: Path, owner_only: bool = False):
    """Yield a temporary path for ``final``; rename it into place only if the block succeeds.

    The temporary file lies in a private folder (owner only) beside ``final``, so a killed run
    leaves nothing readable under the final name, and nothing outside the destination folder;
    ``owner_only`` keeps the finished file readable by its owner only (the review workbook is PHI).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = final.with_name(f"{_TEMP_MARK}{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    tmp = folder / final.name
    try:
        yield tmp
        if owner_only:
            os.chmod(tmp, 0o600)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_workbook(wb, final: Path, owner_only: bool = False) -> None:
    """Save atomically, with openpyxl's scratch files in the private temporary folder.

    openpyxl writes each sheet's XML to a file in the system temp folder before zipping it; a run
    killed meanwhile would leave note text there, outside the output folder, for good. Its
    scratch files follow ``tempfile.tempdir``, pointed here for the save (process-wide, hence the lock).
    """
    with atomic_path(final, owner_only) as tmp, _WRITE_LOCK:
        previous = tempfile.tempdir
        tempfile.tempdir = str(tmp.parent)
        try:
            wb.save(tmp)
        finally:
            tempfile.tempdir = previous


def remove_stale_temporaries(folder: Path) -> int:
    """Remove what killed runs left in ``folder``: this module's temporary folders and files whose
    process is gone (a live run's are kept). Returns how many were removed."""
    removed = 0
    try:
        entries = list(Path(folder).glob(f"{_TEMP_MARK}*.tmp"))
    except OSError:
        return 0
    for entry in entries:
        pid = entry.name.rsplit(".", 2)[-2] if entry.name.count(".") >= 2 else ""
        if pid.isdigit() and _process_alive(int(pid)) and int(pid) != os.getpid():
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or a platform that cannot tell: keep its files
    return True


def safe_text(value: str) -> str:
    """Cell text without the control characters XML forbids."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def looks_like_formula(text: str) -> bool:
    return text.startswith(_FORMULA_START)


def set_text(cell, value) -> None:
    """Write a value as literal text: a leading '=' or '+' is never evaluated by Excel.

    The text is stored as a string (never a formula) and keeps its exact value, so readers and
    ``evaluate`` see what was written; text that looks like a formula also gets Excel's quote prefix
    (what typing a leading apostrophe does), so editing the cell in Excel or LibreOffice keeps it text.
    """
    if isinstance(value, CellRichText):
        cell.value = value
        cell.data_type = "s"
        if looks_like_formula(str(value)):
            cell.quotePrefix = True
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        cell.value = value
        return
    text = safe_text("" if value is None else str(value))
    if len(text) > EXCEL_CELL_LIMIT:
        text = text[: EXCEL_CELL_LIMIT - 1] + "…"
    cell.value = text
    cell.data_type = "s"
    if looks_like_formula(text):
        cell.quotePrefix = True


def sheet_title(title: str, taken: Iterable[str] = ()) -> str:
    """A sheet name Excel accepts (no []:*?/\\, no edge apostrophes, 31 characters), unique in the book."""
    base = _SHEET_TITLE_FORBIDDEN.sub("_", safe_text(str(title))).strip().strip("'")[:31] or "Sheet"
    taken = {t.lower() for t in taken}
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        name = f"{base[:31 - len(str(n)) - 1]} {n}"
    return name


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


def text_width(text: str) -> float:
    """Estimated width of one line of Calibri 11, in Excel's column-width units."""
    width = sum(map(_CHAR_WIDTH.get, text, repeat(_DEFAULT_CHAR_WIDTH)))
    if not text.isascii():  # CJK and other full-width characters take two
        width += sum(1.0 for c in text if unicodedata.east_asian_width(c) in "WF")
    return width


def wrapped_lines(text: str, width: float, scale: float = 1.0) -> int:
    """How many lines ``text`` takes in a wrapping cell ``width`` wide (explicit newlines included);
    stops counting where a row could not be taller anyway."""
    usable = max(width - _CELL_PADDING, 1.0)
    space = _CHAR_WIDTH[" "] * scale
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        if lines > _MAX_LINES:
            return lines
        # One line; the length test spares measuring a paragraph far too long for that.
        if len(paragraph) * 0.5 * scale <= usable and text_width(paragraph) * scale <= usable:
            continue
        # Per-word widths from the paragraph's average letter (spaces apart): one pass over the
        # characters, not one per word.
        sample = paragraph[:4000]
        spaces = sample.count(" ")
        factor = (text_width(sample) - spaces * _CHAR_WIDTH[" "]) * scale / max(len(sample) - spaces, 1)
        used = 0.0
        for word in paragraph.split(" "):
            w = len(word) * factor
            if used and used + space + w <= usable:
                used += space + w
                continue
            if used:
                lines += 1
            used = w
            while used > usable:  # a word longer than the line breaks where the cell ends
                lines += 1
                used -= usable
            if lines > _MAX_LINES:
                return lines
    return lines


def _cell_text(value) -> str:
    return "" if value is None else str(value)


def _longest_lines(texts: Iterable[str], keep: int = 25) -> list[str]:
    # Measuring every line of a large sheet would cost seconds; the widest are among the longest.
    return heapq.nlargest(keep, (line for t in texts if t for line in t.split("\n")), key=len)


def _natural_width(header: str, values: list[str]) -> float:
    """The width that shows the header (bold, beside its filter button) and every value whole."""
    head = max((text_width(line) for line in header.split("\n")), default=0.0) * _BOLD + _FILTER_BUTTON
    body = max((text_width(line) for line in _longest_lines(values)), default=0.0) + _CELL_PADDING
    return max(head, body, MIN_COLUMN_WIDTH)


def _finish_sheet(ws, header_row: int = 1, caps: dict[int, float] | None = None,
                  floors: dict[int, float] | None = None, header_text: str = "") -> None:
    """A table sheet as Excel users expect it: styled, frozen and filterable header; every column as
    wide as its content up to its cap (wider content wraps); rows tall enough for their wrapped text,
    which LibreOffice would not work out by itself; and print setup."""
    caps, floors = caps or {}, floors or {}
    for cell in ws[header_row]:
        cell.fill = _HEADER_FILL
        cell.font = _HEADER_FONT
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    ws.freeze_panes = f"A{header_row + 1}"  # by name: ws.cell() would create an empty data row
    # Also with no data rows yet (Corrections): the buttons are there when rows are typed in.
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(ws.max_column)}{max(ws.max_row, header_row)}"

    columns = range(1, ws.max_column + 1)
    texts = {c: [] for c in columns}
    for row in ws.iter_rows(min_row=header_row + 1, values_only=True):
        for c, value in zip(columns, row):
            if value is not None:
                texts[c].append(_cell_text(value))
    widths: dict[int, float] = {}
    wrap: set[int] = set()
    for c in columns:
        header = _cell_text(ws.cell(header_row, c).value)
        cap = caps.get(c, MAX_COLUMN_WIDTH)
        natural = _natural_width(header, texts[c])
        # Rounded up: a key one hair wider than its column loses its last character.
        widths[c] = math.ceil(min(max(natural, floors.get(c, 0.0)), max(cap, floors.get(c, 0.0))) * 10) / 10
        if natural > widths[c] or any("\n" in t for t in texts[c]):
            wrap.add(c)
        ws.column_dimensions[get_column_letter(c)].width = widths[c]

    header_lines = max((wrapped_lines(_cell_text(ws.cell(header_row, c).value),
                                      widths[c] - _FILTER_BUTTON + _CELL_PADDING, _BOLD) for c in columns), default=1)
    if header_lines > 1:
        ws.row_dimensions[header_row].height = min(header_lines * LINE_POINTS, MAX_ROW_POINTS)
    # The alignment's index in the workbook's style table, looked up once: assigning cell.alignment
    # hashes the Alignment for every cell, a third of the time of writing a large sheet.
    wrap_id, top_id = ws.parent._alignments.add(_WRAP), ws.parent._alignments.add(_TOP)
    for row in ws.iter_rows(min_row=header_row + 1):
        lines = 1
        for cell in row:
            wrapping = cell.column in wrap
            if cell._style is None:
                cell._style = StyleArray()
            cell._style.alignmentId = wrap_id if wrapping else top_id
            if wrapping and cell.value is not None:
                lines = max(lines, wrapped_lines(_cell_text(cell.value), widths[cell.column], _HIGHLIGHT))
        if lines > 1:
            ws.row_dimensions[row[0].row].height = min(lines * LINE_POINTS, MAX_ROW_POINTS)
    _print_setup(ws, header_row, header_text)


def _print_setup(ws, title_rows: int, header_text: str) -> None:
    """Landscape, one page wide and as many tall as it takes, the header row on every page, and the
    notice, file name and page numbers in the margins."""
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # 0: no limit, the rows flow on over as many pages as they need
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = _PRINT_MARGINS
    ws.print_options.gridLines = True
    if title_rows:
        ws.print_title_rows = f"1:{title_rows}"
    if header_text:
        # '&' starts a code in a header; a literal one is doubled.
        ws.oddHeader.center.text = safe_text(header_text).replace("&", "&&")[:200]
        ws.oddHeader.center.font = "Calibri,Bold"
    ws.oddFooter.left.text = "&F"
    ws.oddFooter.center.text = "&A"
    ws.oddFooter.right.text = "Page &P of &N"


def _append(ws, values: list) -> int:
    """Append a row; strings are written as text (never a formula), numbers as numbers.

    Cells are built first and handed to ``ws.append``, which knows the next row: ``ws.max_row``
    scans every cell, and asking it once a row made large sheets quadratic."""
    cells = []
    for value in values:
        cell = Cell(ws)
        if isinstance(value, (str, CellRichText)):
            set_text(cell, value)
        else:
            cell.value = value
        cells.append(cell)
    ws.append(cells)
    return cells[0].row if cells else ws.max_row


def _rich(text: str, spans) -> CellRichText | str:
    rich = highlighted(text, [(s.start, s.end, s.entity_type) for s in spans])
    return rich if isinstance(rich, CellRichText) else safe_text(rich[:EXCEL_CELL_LIMIT])


def note_headers(plan) -> list[str]:
    """Headers of the de-identified note columns of the Results sheet."""
    notes = plan.text_columns
    return ["De-identified note"] if len(notes) == 1 else [f"De-identified {c}" for c in notes]


_SHEET_PURPOSE = {
    "Results": "one row per input row, in the input's order: identifier columns replaced, each note de-identified "
               "with every replacement highlighted, how many replacements were made, and whether the row needs review.",
    "PHI findings": "where each replacement is (row, column, type, position in the de-identified text, detector); "
                    "never the original text.",
    "Codes": "suggested ICD-10-CM codes with their confidence and the de-identified words they rest on.",
    "Run info": "how this file was made: settings, row counts, program and model versions.",
}


def print_notice(mode: str, include_original: bool) -> str:
    """The one line every printed page of the shareable workbook carries at its top."""
    if include_original:
        return "CONTAINS PHI: original notes included - not de-identified - do not share"
    if mode == "surrogates":
        return "De-identified - names, places and dates are fictitious"
    return "De-identified - identifiers replaced by [TAGS]"


def notice_lines(mode: str, include_original: bool, original_columns: Iterable[str] = ()) -> list[str]:
    """What a recipient must know before reading the notes, first sheet first."""
    if mode == "surrogates":
        how = ("Names, places and dates in this file are FICTITIOUS. Every name, place, date, phone number, "
               "address, ID and other identifier that was found has been replaced by an invented stand-in; they "
               "do not refer to real people, places or dates. The same original always gets the same stand-in, "
               "and all dates of one patient are moved by the same number of days, so intervals between them "
               "are kept.")
    else:
        how = ("Every name, place, date, phone number, address, ID and other identifier that was found has been "
               "replaced by a tag in square brackets, such as [NAME] or [DATE].")
    lines = [how,
             "Patient IDs are replaced by pseudonymous keys (PT-...): one patient keeps one key, and only the "
             "in-house review file can link a key back to the patient.",
             f"Made in {mode} mode; the Run info sheet lists every setting.",
             "Detection is automatic and can miss an identifier: check rows marked \"yes\" under Needs review, "
             "and tell the sender of anything that still identifies a person."]
    if include_original:
        columns = ", ".join(original_columns) or "the note"
        lines.insert(0, f"WARNING: this file also contains the ORIGINAL text of {columns}, kept on request. It holds "
                        "protected health information and is NOT de-identified: do not share it.")
    return lines


def _write_about(ws, mode: str, include_original: bool, original_columns: list[str], sheets: list[str],
                 machine_suggestions: bool) -> None:
    """The first sheet a recipient sees: what the file is, what was done to it, what is in each sheet."""
    title = "CONTAINS PHI - original notes included" if include_original else "De-identified clinical notes"
    _append(ws, [title])
    ws["A1"].font = Font(bold=True, size=16, color="C00000" if include_original else "1F4E78")
    ws.row_dimensions[1].height = 24
    paragraphs = notice_lines(mode, include_original, original_columns)
    if machine_suggestions:
        paragraphs.append("Summaries and ICD-10-CM codes are machine suggestions made from the de-identified text, "
                          "not a diagnosis: have them checked before any use.")
    width = 110.0
    ws.column_dimensions["A"].width = width
    for paragraph in paragraphs:
        row = _append(ws, [paragraph])
        ws.cell(row, 1).alignment = _WRAP
        ws.row_dimensions[row].height = min(wrapped_lines(paragraph, width) * LINE_POINTS + 4, MAX_ROW_POINTS)
    if include_original:
        ws["A2"].font = Font(bold=True, color="C00000")
    elif mode == "surrogates":
        ws["A2"].font = Font(bold=True)
    _append(ws, [""])
    heading = _append(ws, ["Sheets in this file"])
    ws.cell(heading, 1).font = Font(bold=True, size=12)
    for name in sheets:
        text = f"{name}: {_SHEET_PURPOSE[name]}" if name in _SHEET_PURPOSE else name
        row = _append(ws, [text])
        ws.cell(row, 1).alignment = _WRAP
        ws.row_dimensions[row].height = min(wrapped_lines(text, width) * LINE_POINTS, MAX_ROW_POINTS)
    ws.sheet_view.showGridLines = False
    ws.sheet_properties.tabColor = "C00000" if include_original else "1F4E78"
    _print_setup(ws, 0, print_notice(mode, include_original))
    ws.print_options.gridLines = False


def write_results_workbook(path: Path, table_frame, plan, records: list[NoteRecord], run_info: list[tuple[str, str]],
                           include_original: bool = False, extra_columns: Iterable[tuple[str, str]] = (),
                           extra_sheets: Iterable[tuple[str, list[str], list[list]]] = (),
                           mode: str = "tags") -> None:
    """The shareable workbook: About this file, Results, PHI findings, any step's own sheets (Codes),
    and Run info.

    About this file comes first and is the sheet that opens: it says the content is de-identified and
    how (``mode``: "tags" or "surrogates", whose names, places and dates are fictitious), before anyone
    reads a note. Results keeps the sheet's columns in order, each as the plan says: identifiers
    replaced, free text de-identified (replacements highlighted), safe columns copied, excluded ones
    left out; the original note is left out unless asked for, and the de-identified note(s) follow.
    """
    if mode not in MODES:
        raise ValueError(f"unknown replacement mode {mode!r}")
    notice = print_notice(mode, include_original)
    wb = Workbook()
    about = wb.active
    about.title = ABOUT_SHEET
    ws = wb.create_sheet("Results")
    kept = [c for c in table_frame.columns if c in plan.output_columns or (include_original and c in plan.text_columns)]
    extra_columns = list(extra_columns)
    extra_sheets = list(extra_sheets)
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
    caps = {first_note + i: NOTE_WIDTH if len(notes) == 1 else MAX_COLUMN_WIDTH for i in range(len(notes))}
    after = first_note + len(notes)
    caps[after + 2] = 40.0  # review reasons
    caps.update({after + 3 + i: 50.0 for i in range(len(extra_columns))})
    # A short note column still gets room to read, and the printout a stable layout.
    floors = {c: 40.0 for c in range(first_note, after)}
    _finish_sheet(ws, caps=caps, floors=floors, header_text=notice)

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
    _finish_sheet(findings, header_text=notice)

    for title, sheet_headers, rows in extra_sheets:
        sheet = wb.create_sheet(sheet_title(title, wb.sheetnames + ["Run info"]))
        _append(sheet, list(sheet_headers))
        for values in rows:
            _append(sheet, list(values))
        _finish_sheet(sheet, header_text=notice)

    _write_run_info(wb.create_sheet("Run info"), run_info, notice)
    original_columns = [c for c in kept if c in plan.text_columns]
    _write_about(about, mode, include_original, original_columns, wb.sheetnames[1:],
                 bool(extra_columns or extra_sheets))
    wb.active = 0
    save_workbook(wb, path)


def _write_run_info(ws, run_info: list[tuple[str, str]], notice: str = "") -> None:
    _append(ws, ["Item", "Value"])
    for key, value in run_info:
        _append(ws, [key, value])
    _finish_sheet(ws, caps={1: 40.0, 2: 90.0}, header_text=notice)


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
REVIEW_NOTICE = "CONFIDENTIAL: contains protected health information"


def write_review_workbook(path: Path, records: list[NoteRecord], key_map: dict[str, str], id_column: str | None,
                          run_info: list[tuple[str, str]]) -> None:
    """In-house only: the original text with every detection highlighted, the key-to-ID map, and a
    Corrections sheet where a reviewer marks missed identifiers and false alarms for ``learn-review``."""
    from openpyxl.worksheet.datavalidation import DataValidation

    from core.phi.department import PHI_TYPES

    wb = Workbook()
    ws = wb.active
    ws.title = REVIEW_SHEET
    _append(ws, [REVIEW_NOTICE + ". For in-house review only; do not share."])
    ws["A1"].font = Font(bold=True, color="C00000", size=14)
    ws.row_dimensions[1].height = 21
    _append(ws, ["Row", "Key", "Column", "Original (detections highlighted)", "De-identified", "PHI count", "Needs review"])
    for r in records:
        for cell in r.cells:
            if not cell.text.strip():
                continue
            _append(ws, [r.row, r.patient_key or "", cell.column, _rich(cell.text, cell.phi),
                         _rich(cell.deidentified, cell.replacements), len(cell.phi), "yes" if r.needs_review else "no"])
    _finish_sheet(ws, header_row=2, caps={4: NOTE_WIDTH, 5: NOTE_WIDTH}, floors={4: 40.0, 5: 40.0},
                  header_text=REVIEW_NOTICE)

    corrections = wb.create_sheet(CORRECTIONS_SHEET)
    _append(corrections, ["Mark what the de-identifier missed or flagged wrongly, one per line, then run "
                          "`casenotes learn-review` on this workbook (or Learn from review in the window). "
                          "Exact text: as written in the original."])
    corrections["A1"].font = Font(bold=True)
    _append(corrections, CORRECTION_HEADERS)
    kinds = DataValidation(type="list", formula1=f'"{MISSED},{NOT_PHI}"', allow_blank=True)
    types = DataValidation(type="list", formula1='"' + ",".join(PHI_TYPES) + '"', allow_blank=True)
    for validation, col in ((kinds, "D"), (types, "E")):
        validation.add(f"{col}3:{col}{_CORRECTION_ROWS}")
        corrections.add_data_validation(validation)
    # Empty until a reviewer fills it in: room to type, whatever the headers need.
    _finish_sheet(corrections, header_row=2, floors={1: 8, 2: 18, 3: 40, 4: 16, 5: 14}, header_text=REVIEW_NOTICE)

    keys = wb.create_sheet("Key map - PHI")
    _append(keys, ["Pseudonymous key", id_column or "ID"])
    for key, original_id in sorted(key_map.items()):
        _append(keys, [key, original_id])
    _finish_sheet(keys, header_text=REVIEW_NOTICE)
    _write_run_info(wb.create_sheet("Run info"), run_info, REVIEW_NOTICE)
    save_workbook(wb, path, owner_only=True)
