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
import stat
import tempfile
import threading
import time
import unicodedata
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Callable, Iterable

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins

from casenotes.phi.replace import MODES
from casenotes.steps import NoteRecord

EXCEL_CELL_LIMIT = 32_767
EXCEL_MAX_ROWS = 1_048_576  # rows in one sheet, the header included
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
_LONGEST_KEPT = 25  # lines a column's width is measured on: the widest are among the longest
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
    with atomic_path(final, owner_only) as tmp, _scratch_files_in(tmp.parent):
        wb.save(tmp)


@contextmanager
def _scratch_files_in(folder: Path):
    """Point ``tempfile`` (and so openpyxl's scratch files) at ``folder`` for the block: process-wide,
    hence the lock."""
    with _WRITE_LOCK:
        previous = tempfile.tempdir
        tempfile.tempdir = str(folder)
        try:
            yield
        finally:
            tempfile.tempdir = previous


@contextmanager
def streamed_workbook(final: Path, owner_only: bool = False):
    """A write-only workbook, saved atomically when the block ends.

    Each sheet streams its rows to a scratch file as they are appended (openpyxl's write-only mode),
    so memory stays flat however many rows a file has, and a row costs a fraction of a normal cell's
    time; the scratch files lie in the private temporary folder, as in ``save_workbook``. A sheet's
    column widths, filter and print setup are set before its first row (``_write_table``).
    """
    with atomic_path(final, owner_only) as tmp, _scratch_files_in(tmp.parent):
        wb = Workbook(write_only=True)
        try:
            yield wb
        except BaseException:
            _abandon(wb)
            raise
        wb.save(tmp)


def _abandon(wb: Workbook) -> None:
    """Close an interrupted workbook's sheet streams here and quietly: left to the garbage collector,
    their generators fail on the half-written XML at exit and Python prints the tracebacks."""
    for ws in wb.worksheets:
        for stream in (getattr(ws, "_rows", None), getattr(getattr(ws, "_writer", None), "xf", None)):
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001 - the file is thrown away; nothing in it matters
                    pass


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
    return removed + remove_stale_ray_folders(Path(folder) / RAY_FOLDER)


RAY_FOLDER = ".casenotes-ray"  # a Ray started for a run keeps its session files here (core/ray_runner.py)


def remove_stale_ray_folders(folder: Path) -> int:
    """Ray names a session folder after the process that started it ("session_<date>_<time>_<pid>"),
    and casenotes its spill folder ("spill_<pid>"): one whose process is gone was left by a killed
    run, with logs or spilled records in it."""
    removed = 0
    try:
        sessions = [p for p in folder.iterdir() if p.name.startswith(("session_", "spill_")) and p.is_dir()]
    except OSError:
        return 0
    for session in sessions:
        pid = session.name.rsplit("_", 1)[-1]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(session, ignore_errors=True)
            removed += 1
    try:
        if not any(p.name.startswith(("session_", "spill_")) for p in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)  # what is left (a "session_latest" link) belongs to no run
    except OSError:
        pass
    return removed


# openpyxl deletes its scratch files within the save that made them: one a day old belongs to no live
# program, only to a process killed while saving.
STALE_SCRATCH_AGE_S = 24 * 3600


def remove_stale_library_scratch(folder: Path | None = None, max_age_s: float = STALE_SCRATCH_AGE_S) -> int:
    """Remove this user's day-old ``openpyxl.*`` scratch files from the system temp folder: casenotes
    0.1 left them there when it was killed while saving, with a sheet's XML in them (notes
    included). Runs since write that scratch into the output folder's private temporary folder."""
    folder = Path(folder or tempfile.gettempdir())
    removed = 0
    now = time.time()
    try:
        entries = list(folder.glob("openpyxl.*"))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.lstat()
            mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
            if mine and stat.S_ISREG(st.st_mode) and now - st.st_mtime >= max_age_s:
                entry.unlink()
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


def _natural_width(header: str, lines: list[str]) -> float:
    """The width that shows the header (bold, beside its filter button) and every line whole."""
    head = max((text_width(line) for line in header.split("\n")), default=0.0) * _BOLD + _FILTER_BUTTON
    body = max((text_width(line) for line in lines), default=0.0) + _CELL_PADDING
    return max(head, body, MIN_COLUMN_WIDTH)


def _write_table(ws, headers: list[str], rows: Callable[[bool], Iterable[list]], caps: dict[int, float] | None = None,
                 floors: dict[int, float] | None = None, header_text: str = "",
                 title: tuple[str, Font, float | None] | None = None) -> None:
    """Stream a table sheet as Excel users expect it: styled, frozen and filterable header; every
    column as wide as its content up to its cap (wider content wraps); rows tall enough for their
    wrapped text, which LibreOffice would not work out by itself; and print setup.

    ``rows(plain)`` yields the rows and is called twice: once with ``plain=True`` to measure the
    columns (plain strings are enough, and cheaper than highlighted text), then to write them.
    ``title`` is an optional line above the header: (text, font, height in points or None)."""
    caps, floors = caps or {}, floors or {}
    header_row = 2 if title else 1
    columns = range(1, len(headers) + 1)
    # The widest lines are among the longest: keeping the longest few of each column is enough.
    longest: dict[int, list[tuple[int, str]]] = {c: [] for c in columns}
    multiline: set[int] = set()
    count = 0
    for values in rows(True):
        count += 1
        for c, value in zip(columns, values):
            if value is None:
                continue
            text = _cell_text(value)
            if "\n" in text:
                multiline.add(c)
            heap = longest[c]
            for line in text.split("\n") if "\n" in text else (text,):
                if len(heap) < _LONGEST_KEPT:
                    heapq.heappush(heap, (len(line), line))
                elif len(line) > heap[0][0]:
                    heapq.heapreplace(heap, (len(line), line))
    widths: dict[int, float] = {}
    wrap: set[int] = set()
    for c in columns:
        cap = caps.get(c, MAX_COLUMN_WIDTH)
        natural = _natural_width(headers[c - 1], [line for _, line in longest[c]])
        # Rounded up: a key one hair wider than its column loses its last character.
        widths[c] = math.ceil(min(max(natural, floors.get(c, 0.0)), max(cap, floors.get(c, 0.0))) * 10) / 10
        if natural > widths[c] or c in multiline:
            wrap.add(c)
    # A sheet holds at most EXCEL_MAX_ROWS rows: more continue on "Results (2)" and so on, each
    # with its own header, filter and print setup (a longer sheet would not open in Excel).
    per_sheet = EXCEL_MAX_ROWS - header_row
    parts = max(1, math.ceil(count / per_sheet))
    sheets = [ws] + [ws.parent.create_sheet(sheet_title(f"{ws.title} ({n})", ws.parent.sheetnames))
                     for n in range(2, parts + 1)]
    for i, sheet in enumerate(sheets):
        _begin_table(sheet, headers, widths, min(per_sheet, count - i * per_sheet), header_row, header_text, title)
    # The alignment's index in the workbook's style table, looked up once: assigning cell.alignment
    # hashes the Alignment for every cell, a third of the time of writing a large sheet.
    wrap_id, top_id = ws.parent._alignments.add(_WRAP), ws.parent._alignments.add(_TOP)
    written = 0
    for values in rows(False):
        sheet = sheets[min(written // per_sheet, parts - 1)]
        row_index = header_row + written % per_sheet + 1
        written += 1
        lines = 1
        cells = []
        for c, value in zip(columns, values):
            cell = _text_cell(sheet, value)
            if cell._style is None:
                cell._style = StyleArray()
            cell._style.alignmentId = wrap_id if c in wrap else top_id
            if c in wrap and value is not None:
                lines = max(lines, wrapped_lines(_cell_text(value), widths[c], _HIGHLIGHT))
            cells.append(cell)
        if lines > 1:
            sheet.row_dimensions[row_index].height = min(lines * LINE_POINTS, MAX_ROW_POINTS)
        sheet.append(cells)
        sheet.row_dimensions.pop(row_index, None)  # written out with its row: memory stays flat


def _begin_table(ws, headers: list[str], widths: dict[int, float], rows: int, header_row: int, header_text: str,
                 title: tuple[str, Font, float | None] | None) -> None:
    """A table sheet's widths, frozen header, filter, print setup, title line and header row."""
    for c, width in widths.items():
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.freeze_panes = f"A{header_row + 1}"
    # Also with no data rows yet (Corrections): the buttons are there when rows are typed in.
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(headers))}{header_row + rows}"
    _print_setup(ws, header_row, header_text)
    if title:
        text, font, height = title
        cell = _text_cell(ws, text)
        cell.font = font
        if height:
            ws.row_dimensions[1].height = height
        ws.append([cell])
    header_cells = []
    for header in headers:
        cell = _text_cell(ws, header)
        cell.fill, cell.font = _HEADER_FILL, _HEADER_FONT
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        header_cells.append(cell)
    header_lines = max((wrapped_lines(headers[c - 1], widths[c] - _FILTER_BUTTON + _CELL_PADDING, _BOLD)
                        for c in widths), default=1)
    if header_lines > 1:
        ws.row_dimensions[header_row].height = min(header_lines * LINE_POINTS, MAX_ROW_POINTS)
    ws.append(header_cells)


def _print_setup(ws, title_rows: int, header_text: str) -> None:
    """Landscape, one page wide and as many tall as it takes, the header row on every page, and the
    notice, file name and page numbers in the margins."""
    ws.page_setup.orientation = "landscape"
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


def _text_cell(ws, value) -> Cell:
    """A cell for ``value``: strings as text (never a formula), numbers as numbers."""
    cell = Cell(ws, row=1, column=1)  # the write-only sheet moves it to its place as it is appended
    if isinstance(value, (str, CellRichText)):
        set_text(cell, value)
    else:
        cell.value = value
    return cell


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
    width = 110.0
    ws.column_dimensions["A"].width = width
    ws.sheet_view.showGridLines = False
    ws.sheet_properties.tabColor = "C00000" if include_original else "1F4E78"
    _print_setup(ws, 0, print_notice(mode, include_original))
    ws.print_options.gridLines = False

    def line(text: str, font: Font | None = None, height: float | None = None, wrap: bool = True) -> None:
        cell = _text_cell(ws, text)
        if font is not None:
            cell.font = font
        if wrap:
            cell.alignment = _WRAP
        rows[0] += 1
        if height or wrap:
            ws.row_dimensions[rows[0]].height = height or min(wrapped_lines(text, width) * LINE_POINTS, MAX_ROW_POINTS)
        ws.append([cell])

    rows = [0]  # rows written so far
    title = "CONTAINS PHI - original notes included" if include_original else "De-identified clinical notes"
    line(title, Font(bold=True, size=16, color="C00000" if include_original else "1F4E78"), 24, wrap=False)
    paragraphs = notice_lines(mode, include_original, original_columns)
    if machine_suggestions:
        paragraphs.append("Summaries and ICD-10-CM codes are machine suggestions made from the de-identified text, "
                          "not a diagnosis: have them checked before any use.")
    for i, paragraph in enumerate(paragraphs):
        # the first paragraph is the warning or the fictitious-names notice: bold (red for a warning)
        font = (Font(bold=True, color="C00000") if include_original else Font(bold=True) if mode == "surrogates"
                else None) if i == 0 else None
        line(paragraph, font, min(wrapped_lines(paragraph, width) * LINE_POINTS + 4, MAX_ROW_POINTS))
    line("", wrap=False)
    line("Sheets in this file", Font(bold=True, size=12), wrap=False)
    for name in sheets:
        line(f"{name}: {_SHEET_PURPOSE[name]}" if name in _SHEET_PURPOSE else name)


def results_table(table_frame, plan, records: Iterable[NoteRecord], include_original: bool = False,
                  extra_columns: list[tuple[str, str]] = ()):
    """The Results table: the kept input columns, the note column(s) and the steps' columns.

    Returns (kept input columns, note headers, headers, rows) where ``rows(plain)`` yields each
    record's row, with replacements highlighted unless ``plain``."""
    kept = [c for c in table_frame.columns if c in plan.output_columns or (include_original and c in plan.text_columns)]
    notes = note_headers(plan)
    headers = kept + notes + ["PHI count", "Needs review", "Review reason"] + [h for h, _ in extra_columns]

    def rows(plain: bool):
        mark = (lambda text, spans: text) if plain else _rich
        for record in records:
            values = table_frame.iloc[record.row - 1]
            cells = {c.column: c for c in record.cells}
            out: list = []
            for name in kept:
                cell = cells.get(name)
                if cell is not None and not cell.is_note:
                    out.append(mark(cell.deidentified, cell.replacements))
                elif name in record.replaced:
                    out.append(record.replaced[name])
                else:
                    out.append(str(values[name]))  # a safe column, or the original note when asked for
            if len(notes) == 1:
                out.append(mark(record.deidentified_text, record.replacements))
            else:
                out += [mark(c.deidentified, c.replacements) for c in record.notes]
            out += [record.phi_count, "yes" if record.needs_review else "no", "; ".join(record.review_reasons)]
            out += [str(getattr(record, key) or "") for _, key in extra_columns]
            yield out

    return kept, notes, headers, rows


def write_results_workbook(path: Path, table_frame, plan, records: Iterable[NoteRecord], run_info: list[tuple[str, str]],
                           include_original: bool = False, extra_columns: Iterable[tuple[str, str]] = (),
                           extra_sheets: Iterable[tuple[str, list[str], Callable[[], Iterable[list]]]] = (),
                           mode: str = "tags", writing_started: float | None = None) -> None:
    """The shareable workbook: About this file, Results, PHI findings, any step's own sheets (Codes),
    and Run info.

    ``writing_started`` (a ``time.perf_counter()`` value) fills Run info's WRITING_TIME row with the
    time spent writing outputs so far: Run info is the last sheet written, so that is everything but
    the file's final compression when this workbook is written last.

    About this file comes first and is the sheet that opens: it says the content is de-identified and
    how (``mode``: "tags" or "surrogates", whose names, places and dates are fictitious), before anyone
    reads a note. Results keeps the sheet's columns in order, each as the plan says: identifiers
    replaced, free text de-identified (replacements highlighted), safe columns copied, excluded ones
    left out; the original note is left out unless asked for, and the de-identified note(s) follow.
    """
    if mode not in MODES:
        raise ValueError(f"unknown replacement mode {mode!r}")
    notice = print_notice(mode, include_original)
    extra_columns = list(extra_columns)
    extra_sheets = list(extra_sheets)
    kept, notes, headers, results = results_table(table_frame, plan, records, include_original, extra_columns)

    def findings(plain: bool):
        for record in records:
            for cell in record.cells:
                # Offsets into the de-identified text, which the sheet shows: the original's would give
                # away each name's length. One replacement per finding, in order.
                found = cell.phi if len(cell.phi) == len(cell.replacements) else [None] * len(cell.replacements)
                for x, f in zip(cell.replacements, found):
                    yield [record.row, cell.column, x.entity_type, x.start, x.end, f.score if f else None,
                           f.detector if f else None]
            for column, (kind, _) in record.identifiers.items():
                if record.replaced.get(column, "").strip():  # the values themselves left with the originals
                    yield [record.row, column, kind, None, None, 1.0, "column"]

    first_note = len(kept) + 1
    caps = {first_note + i: NOTE_WIDTH if len(notes) == 1 else MAX_COLUMN_WIDTH for i in range(len(notes))}
    after = first_note + len(notes)
    caps[after + 2] = 40.0  # review reasons
    caps.update({after + 3 + i: 50.0 for i in range(len(extra_columns))})
    # A short note column still gets room to read, and the printout a stable layout.
    floors = {c: 40.0 for c in range(first_note, after)}
    titles = ["Results", "PHI findings"]
    for title, _, _ in extra_sheets:
        titles.append(sheet_title(title, titles + ["Run info"]))
    titles.append("Run info")
    original_columns = [c for c in kept if c in plan.text_columns]

    with streamed_workbook(path) as wb:
        _write_about(wb.create_sheet(ABOUT_SHEET), mode, include_original, original_columns, titles,
                     bool(extra_columns or extra_sheets))
        _write_table(wb.create_sheet("Results"), headers, results, caps=caps, floors=floors, header_text=notice)
        _write_table(wb.create_sheet("PHI findings"), ["Row", "Column", "Entity type", "Start", "End", "Score", "Detector"],
                     findings, header_text=notice)
        for title, (_, sheet_headers, rows) in zip(titles[2:], extra_sheets):
            _write_table(wb.create_sheet(title), sheet_headers, lambda plain, rows=rows: rows(), header_text=notice)
        _write_run_info(wb.create_sheet("Run info"), run_info, notice, writing_started)


# A Run info value known only while the outputs are written: filled in by the sheet that can know it.
WRITING_TIME = "(writing time)"


def _write_run_info(ws, run_info: list[tuple[str, str]], notice: str = "", writing_started: float | None = None) -> None:
    """The Run info sheet. The WRITING_TIME row gets the time spent writing this run's outputs so far
    (given ``writing_started``: the last sheet of the last file written), or is left out."""
    rows = []
    for key, value in run_info:
        if value == WRITING_TIME:
            if writing_started is None:
                continue
            value = (f"{time.perf_counter() - writing_started:.1f} (every output of this run up to this sheet; "
                     "the file's final compression not counted)")
        rows.append([key, value])
    _write_table(ws, ["Item", "Value"], lambda plain: rows, caps={1: 40.0, 2: 90.0}, header_text=notice)


def write_jsonl(path: Path, records: Iterable[NoteRecord]) -> None:
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
                if r.summary is not None:
                    item["summary"] = r.summary
                if r.codes is not None:
                    item["codes"] = r.codes
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")


PARQUET_ROW_GROUP = 10_000  # rows held before each write: memory stays flat however many rows


def parquet_available() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def write_parquet(path: Path, table_frame, plan, records: Iterable[NoteRecord], include_original: bool = False,
                  extra_columns: Iterable[tuple[str, str]] = ()) -> None:
    """The Results table as Parquet, for a back catalogue: any number of rows (a sheet stops at
    Excel's 1,048,576), a "Row" column first, every value text as in the sheet, no highlighting."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, _, headers, rows = results_table(table_frame, plan, records, include_original, list(extra_columns))
    names = ["Row"] + headers
    schema = pa.schema([pa.field(name, pa.int64() if name == "Row" else pa.string()) for name in names])
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            group: list[list] = [[] for _ in names]
            for row, values in enumerate(rows(True), start=1):
                group[0].append(row)
                for column, value in zip(group[1:], values):
                    column.append(_cell_text(value))
                if len(group[0]) == PARQUET_ROW_GROUP:
                    writer.write_batch(pa.record_batch(group, schema=schema))
                    group = [[] for _ in names]
            if group[0]:
                writer.write_batch(pa.record_batch(group, schema=schema))


REVIEW_SHEET = "CONTAINS PHI - review"
CORRECTIONS_SHEET = "Corrections"
CORRECTION_HEADERS = ["Row", "Column", "Exact text", "Correction", "PHI type"]
MISSED, NOT_PHI = "missed PHI", "not PHI"
_CORRECTION_ROWS = 500
REVIEW_NOTICE = "CONFIDENTIAL: contains protected health information"


def write_review_workbook(path: Path, records: Iterable[NoteRecord], original: Callable[[int], NoteRecord],
                          key_map: dict[str, str], id_column: str | None, run_info: list[tuple[str, str]]) -> None:
    """In-house only: the original text with every detection highlighted, the key-to-ID map, and a
    Corrections sheet where a reviewer marks missed identifiers and false alarms for ``learn-review``.
    ``original(row)`` reads a row's original text again from the input: the records no longer hold it."""
    from openpyxl.worksheet.datavalidation import DataValidation

    from casenotes.phi.department import PHI_TYPES

    def review_rows(plain: bool):
        mark = (lambda text, spans: text) if plain else _rich
        for r in records:
            for cell, source in zip(r.cells, original(r.row).cells):
                if source.text.strip():
                    yield [r.row, r.patient_key or "", cell.column, mark(source.text, cell.phi),
                           mark(cell.deidentified, cell.replacements), len(cell.phi), "yes" if r.needs_review else "no"]

    with streamed_workbook(path, owner_only=True) as wb:
        _write_table(wb.create_sheet(REVIEW_SHEET),
                     ["Row", "Key", "Column", "Original (detections highlighted)", "De-identified", "PHI count",
                      "Needs review"], review_rows, caps={4: NOTE_WIDTH, 5: NOTE_WIDTH}, floors={4: 40.0, 5: 40.0},
                     header_text=REVIEW_NOTICE,
                     title=(REVIEW_NOTICE + ". For in-house review only; do not share.",
                            Font(bold=True, color="C00000", size=14), 21))

        corrections = wb.create_sheet(CORRECTIONS_SHEET)
        kinds = DataValidation(type="list", formula1=f'"{MISSED},{NOT_PHI}"', allow_blank=True)
        types = DataValidation(type="list", formula1='"' + ",".join(PHI_TYPES) + '"', allow_blank=True)
        for validation, col in ((kinds, "D"), (types, "E")):
            validation.add(f"{col}3:{col}{_CORRECTION_ROWS}")
            corrections.data_validations.append(validation)
        # Empty until a reviewer fills it in: room to type, whatever the headers need.
        _write_table(corrections, CORRECTION_HEADERS, lambda plain: (), floors={1: 8, 2: 18, 3: 40, 4: 16, 5: 14},
                     header_text=REVIEW_NOTICE,
                     title=("Mark what the de-identifier missed or flagged wrongly, one per line, then run "
                            "`casenotes learn-review` on this workbook (or Learn from review in the window). "
                            "Exact text: as written in the original.", Font(bold=True), None))

        _write_table(wb.create_sheet("Key map - PHI"), ["Pseudonymous key", id_column or "ID"],
                     lambda plain: ([key, original_id] for key, original_id in sorted(key_map.items())),
                     header_text=REVIEW_NOTICE)
        _write_run_info(wb.create_sheet("Run info"), run_info, REVIEW_NOTICE)
