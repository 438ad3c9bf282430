"""Read a spreadsheet export of case notes into a table of strings, or fail with a one-line reason.

Supported: .xlsx/.xlsm (openpyxl: cached formula values, merged cells filled, Excel dates as ISO
dates), .csv and .tsv (UTF-8, UTF-8 with BOM, cp1252 / latin-1 detected). Every row between the
header and the last non-empty row is kept, in order, blank ones included.

For a back catalogue too large for one spreadsheet, shards: .parquet (pyarrow, an optional extra)
and .jsonl / .ndjson (one JSON object a line). Every record is a row, in order; the columns are the
schema's (Parquet) or every key in the order first seen (JSON Lines); values become text as a
spreadsheet cell would (numbers, ISO dates; nested values as JSON).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from casenotes.errors import InputError

SPREADSHEET_EXTENSIONS = (".xlsx", ".xlsm")
TEXT_EXTENSIONS = (".csv", ".tsv")
SHARD_EXTENSIONS = (".parquet", ".jsonl", ".ndjson")
SUPPORTED_EXTENSIONS = SPREADSHEET_EXTENSIONS + TEXT_EXTENSIONS + SHARD_EXTENSIONS
SUPPORTED_NAMES = ".xlsx, .xlsm, .csv, .tsv, .parquet, .jsonl or .ndjson"


def sheetless_label(path: Path) -> str:
    """What stands for the sheet name of a file without sheets."""
    return "(records file)" if Path(path).suffix.lower() in SHARD_EXTENSIONS else "(text file)"


@dataclass
class Table:
    """The cells of one sheet as strings ('' for empty), in the original row and column order."""

    frame: pd.DataFrame
    sheet: str | None
    encoding: str | None = None


def list_sheets(path: Path) -> list[str]:
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() not in SPREADSHEET_EXTENSIONS:
        return []
    workbook = _open_workbook(path, read_only=True)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def read_table(path: Path, sheet: str | None = None, text_columns: tuple[str, ...] = ()) -> Table:
    """One sheet as a table: ``sheet`` when named, else the sheet that holds the notes (a cover or
    read-me sheet often comes first), or the first sheet with all of ``text_columns``."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_EXTENSIONS:
        return _read_workbook(path, sheet, tuple(c for c in text_columns if c))
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return _read_json_lines(path)
    return _read_delimited(path, "\t" if suffix == ".tsv" else None)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path.name}: file not found")
    if path.is_dir():
        raise InputError(f"{path.name}: is a folder, not a spreadsheet")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: file is empty")
    suffix = path.suffix.lower()
    if suffix in (".xls", ".xlsb", ".ods", ".numbers"):
        head = path.read_bytes()[:512].lstrip().lower()
        if head.startswith((b"<", b"\xef\xbb\xbf<")):
            raise InputError(f"{path.name}: is a web page (HTML) saved with a {suffix} name; open it in Excel and save as .xlsx")
        raise InputError(f"{path.name}: {suffix} files are not supported; save the sheet as .xlsx or .csv")
    if suffix not in SUPPORTED_EXTENSIONS:
        raise InputError(f"{path.name}: unsupported file type '{suffix or 'none'}' (use {SUPPORTED_NAMES})")


def _open_workbook(path: Path, read_only: bool):
    import openpyxl

    if not zipfile.is_zipfile(path):
        if _is_encrypted_office_file(path):
            raise InputError(f"{path.name}: workbook is password-protected; remove the password in Excel and try again")
        if path.read_bytes()[:512].lstrip().lower().startswith(b"<"):
            raise InputError(f"{path.name}: is a web page (HTML), not an Excel workbook")
        raise InputError(f"{path.name}: is not a valid Excel workbook (the file is damaged or not .xlsx)")
    try:
        return openpyxl.load_workbook(path, read_only=read_only, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise InputError(f"{path.name}: could not be read as an Excel workbook ({type(exc).__name__})") from None


def _is_encrypted_office_file(path: Path) -> bool:
    try:
        import msoffcrypto

        with path.open("rb") as handle:
            return bool(msoffcrypto.OfficeFile(handle).is_encrypted())
    except Exception:
        return False


def _read_workbook(path: Path, sheet: str | None, text_columns: tuple[str, ...]) -> Table:
    workbook = _open_workbook(path, read_only=False)  # merged-cell ranges are not available in read-only mode
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise InputError(f"{path.name}: has no sheet named '{sheet}' (sheets: {', '.join(workbook.sheetnames)})")
            return Table(_sheet_frame(path, workbook[sheet]), sheet)
        if len(workbook.worksheets) == 1:
            worksheet = workbook.worksheets[0]
            return Table(_sheet_frame(path, worksheet), worksheet.title)
        return _notes_sheet(path, workbook, text_columns)
    finally:
        workbook.close()


def _notes_sheet(path: Path, workbook, text_columns: tuple[str, ...]) -> Table:
    """The sheet with the named note columns, else the one whose best text column holds the most notes."""
    from casenotes.io.columns import notes_score

    best, best_score, first_error = None, None, None
    for worksheet in workbook.worksheets:
        try:
            frame = _sheet_frame(path, worksheet)
        except InputError as exc:  # an empty cover sheet is not a reason to fail the file
            first_error = first_error or exc
            continue
        if text_columns:
            if all(c in frame.columns for c in text_columns):
                return Table(frame, worksheet.title)
            continue
        score = notes_score(frame)
        if best_score is None or score > best_score:
            best, best_score = Table(frame, worksheet.title), score
    if text_columns:
        raise InputError(f"{path.name}: no sheet has the column{'s' if len(text_columns) > 1 else ''} "
                         f"{', '.join(repr(c) for c in text_columns)} (sheets: {', '.join(workbook.sheetnames)})")
    if best is None:
        raise first_error
    return best


def _sheet_frame(path: Path, worksheet) -> pd.DataFrame:
    merged = [(r.min_row, r.min_col, r.max_row, r.max_col) for r in worksheet.merged_cells.ranges]
    rows = [[_cell_text(v) for v in row] for row in worksheet.iter_rows(values_only=True)]
    for min_row, min_col, max_row, max_col in merged:
        value = rows[min_row - 1][min_col - 1] if min_row - 1 < len(rows) else ""
        for r in range(min_row - 1, min(max_row, len(rows))):
            for c in range(min_col - 1, max_col):
                if c < len(rows[r]):
                    rows[r][c] = value
    single = len(worksheet.parent.worksheets) == 1
    return _to_frame(path.name if single else f"{path.name}, sheet '{worksheet.title}'", rows)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _value_text(value) -> str:
    """A shard's value as a cell's text: nested values (lists, objects) as compact JSON."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return _cell_text(value)


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path.name}: reading Parquet needs pyarrow (install casenotes with the 'catalogue' extra)") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged or non-Parquet files
        raise InputError(f"{path.name}: is not a readable Parquet file ({type(exc).__name__})") from None
    columns = [[_value_text(v) for v in column.to_pylist()] for column in table.columns]
    return Table(_columns_frame(path.name, list(table.column_names), columns), None)


def _read_json_lines(path: Path) -> Table:
    text, encoding = _decode(path, path.read_bytes())
    names: dict[str, None] = {}  # every key, in the order first seen
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise InputError(f"{path.name}: line {number} is not valid JSON") from None
        if not isinstance(item, dict):
            raise InputError(f"{path.name}: line {number} is not a JSON object (one record a line, with named fields)")
        names.update(dict.fromkeys(item))
        records.append(item)
    columns = [[_value_text(r.get(name)) for r in records] for name in names]
    return Table(_columns_frame(path.name, [str(n) for n in names], columns), None, encoding)


def _columns_frame(source: str, header: list[str], columns: list[list[str]]) -> pd.DataFrame:
    """A shard's columns as a table: every record a row, even an empty one (a record is a row)."""
    if not header:
        raise InputError(f"{source}: has no columns")
    if not columns[0]:
        raise InputError(f"{source}: has no records")
    return pd.DataFrame(dict(zip(_unique_names(header), columns)), dtype=object)


def _unique_names(header: list[str]) -> list[str]:
    names, seen = [], {}
    for i, name in enumerate(str(h).strip() for h in header):
        name = name or f"Column {i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        names.append(name)
    return names


def _read_delimited(path: Path, delimiter: str | None) -> Table:
    raw = path.read_bytes()
    text, encoding = _decode(path, raw)
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    # Python's csv refuses fields over 128 KiB, and a note can be longer: no field can exceed the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(f"{path.name}: is not a readable {path.suffix} file ({exc})") from None
    return Table(_to_frame(path.name, rows), None, encoding)


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    utf16 = _utf16_without_bom(raw)
    if utf16:
        return utf16
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path.name}: is not a text file (binary content); cannot read it as {path.suffix}")
    from charset_normalizer import from_bytes

    best = from_bytes(raw, cp_isolation=["cp1252", "latin_1", "iso8859_15", "cp850", "mac_roman"]).best()
    if best is None:
        raise InputError(f"{path.name}: text encoding could not be recognised; save it as UTF-8 CSV")
    encoding = best.encoding
    # cp1252 is a superset of latin-1 for printable text and is what Excel on Windows writes.
    if encoding in ("latin_1", "iso8859_15"):
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return str(best), encoding


def _utf16_without_bom(raw: bytes) -> tuple[str, str] | None:
    """The text and 'utf-16-le' or 'utf-16-be' when the bytes read as such: mostly Latin text has a
    zero byte in every other position (some exports write UTF-16 without the byte-order mark)."""
    sample = raw[:4096] if len(raw) % 2 == 0 else b""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    encoding = "utf-16-le" if odd > 0.6 * half and even < 0.1 * half else (
        "utf-16-be" if even > 0.6 * half and odd < 0.1 * half else None)
    if encoding is None:
        return None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return None
    return (text, encoding) if all(c.isprintable() or c in "\r\n\t" for c in text[:2000]) else None


def _to_frame(source: str, rows: list[list[str]]) -> pd.DataFrame:
    # The header is the first non-empty row; data runs to the last non-empty row.
    while rows and not any(str(v).strip() for v in rows[0]):
        rows.pop(0)
    while rows and not any(str(v).strip() for v in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError(f"{source}: has no rows")
    header = [str(h).strip() for h in rows[0]]
    width = max(len(r) for r in rows)
    header += [""] * (width - len(header))
    names = _unique_names(header)
    data = [[str(v) for v in r] + [""] * (width - len(r)) for r in rows[1:]]
    if not data:
        raise InputError(f"{source}: has a header row but no data rows")
    return pd.DataFrame(data, columns=names, dtype=object)
