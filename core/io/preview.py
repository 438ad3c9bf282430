"""What the window shows before a run: a file's sheets, columns and plan, and the first rows before
and after de-identification, computed by the same records, engine, replacer and secret as a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from casenotes.io.columns import ColumnDecision, ColumnPlan, classify_column, plan_columns, plan_for
from casenotes.io.readers import SPREADSHEET_EXTENSIONS, list_sheets, read_table

SAMPLE_VALUES = 3


@dataclass
class FileSummary:
    path: Path
    sheets: list[str]  # empty for CSV/TSV
    sheet: str | None
    rows: int
    columns: list[str]
    plan: ColumnPlan
    samples: dict[str, list[str]] = field(default_factory=dict)  # column -> its first values, shortened
    automatic: dict[str, ColumnDecision] = field(default_factory=dict)  # column -> what its content suggests

    @property
    def text_columns(self) -> list[str]:
        return self.plan.text_columns

    @property
    def id_column(self) -> str | None:
        return self.plan.id_column


@dataclass
class PreviewRow:
    row: int
    original: str
    deidentified: str
    findings: list[tuple[int, int, str]]  # offsets into the original
    replacements: list[tuple[int, int, str]]  # offsets into the de-identified text


def inspect_file(path: Path, options=None) -> FileSummary:
    """Read a file and plan its columns under ``options`` (a RunOptions with the file's own choices;
    None: all detected); raises InputError with a one-line reason."""
    path = Path(path)
    sheets = list_sheets(path) if path.suffix.lower() in SPREADSHEET_EXTENSIONS else []
    table = read_table(path, options.sheet, options.text_columns) if options else read_table(path)
    plan = plan_for(table.frame, options, path.name) if options else plan_columns(table.frame, source=path.name)
    frame = table.frame
    samples = {c: [_shorten(str(v)) for v in frame[c].head(SAMPLE_VALUES)] for c in frame.columns}
    automatic = {c: classify_column(c, frame[c]) for c in frame.columns}
    return FileSummary(path, sheets, table.sheet, len(frame), list(frame.columns), plan, samples, automatic)


def preview_rows(path: Path, options, deidentify_step, count: int = 5) -> list[PreviewRow]:
    """The first rows with a note, de-identified by the run's own step (the same mode and secret,
    the same patient keys, date shifts and known identifiers)."""
    from casenotes.rows import RowSource

    path = Path(path)
    table = read_table(path, options.sheet, options.text_columns)
    rows = RowSource(table.frame, plan_for(table.frame, options, path.name), deidentify_step.replacer.keys)
    records = []
    for row in range(1, len(rows) + 1):
        record = rows.record(row)
        if record.text.strip():
            records.append(record)
        if len(records) == count:
            break
    deidentify_step(records)
    return [_row_view(r, rows.plan) for r in records]


def _row_view(record, plan: ColumnPlan) -> PreviewRow:
    """Every column the run de-identifies, headed by its name: the notes first, then the other text
    and identifier columns, as the shareable workbook will show them."""
    cells = {c.column: c for c in record.cells}
    columns = [c for c in plan.text_columns if c in cells]
    columns += [c for c in plan.columns if c not in columns and (c in cells or c in record.identifiers)]
    original, deidentified, findings, replacements = [], [], [], []
    at_original = at_deidentified = 0
    for column in columns:
        if column in cells:
            cell = cells[column]
            before, after = cell.text, cell.deidentified
            found = [(f.start, f.end, f.entity_type) for f in cell.phi]
            replaced = [(x.start, x.end, x.entity_type) for x in cell.replacements]
        else:
            kind, before = record.identifiers[column]
            after = record.output_value(column) or ""
            found, replaced = ([(0, len(before), kind)], [(0, len(after), kind)]) if before.strip() else ([], [])
        if not before.strip():
            continue
        head = f"{column}: "
        for parts, text, spans, shift, out in ((original, before, found, at_original, findings),
                                               (deidentified, after, replaced, at_deidentified, replacements)):
            parts.append(head + text)
            out += [(a + shift + len(head), b + shift + len(head), e) for a, b, e in spans]
        at_original += len(head) + len(before) + 1
        at_deidentified += len(head) + len(after) + 1
    return PreviewRow(record.row, "\n".join(original), "\n".join(deidentified), findings, replacements)


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
