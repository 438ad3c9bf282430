"""What the window shows before a run: a file's sheets, columns and detected plan, and the first
rows before and after de-identification, computed by the same engine and replacer as a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.io.columns import plan_columns
from core.io.readers import SPREADSHEET_EXTENSIONS, list_sheets, read_table

SAMPLE_VALUES = 3


@dataclass
class FileSummary:
    path: Path
    sheets: list[str]  # empty for CSV/TSV
    sheet: str | None
    rows: int
    columns: list[str]
    text_column: str
    id_column: str | None
    samples: dict[str, list[str]] = field(default_factory=dict)  # column -> its first values, shortened


@dataclass
class PreviewRow:
    row: int
    original: str
    deidentified: str
    findings: list[tuple[int, int, str]]  # offsets into the original
    replacements: list[tuple[int, int, str]]  # offsets into the de-identified text


def inspect_file(path: Path, sheet: str | None = None, text_column: str | None = None,
                 id_column: str | None = None) -> FileSummary:
    """Read a file and detect its columns; raises InputError with a one-line reason."""
    path = Path(path)
    sheets = list_sheets(path) if path.suffix.lower() in SPREADSHEET_EXTENSIONS else []
    table = read_table(path, sheet)
    plan = plan_columns(table.frame, text_column, id_column, source=path.name)
    frame = table.frame
    samples = {c: [_shorten(str(v)) for v in frame[c].head(SAMPLE_VALUES)] for c in frame.columns}
    return FileSummary(path, sheets, table.sheet, len(frame), list(frame.columns), plan.text_column, plan.id_column,
                       samples)


def preview_rows(path: Path, sheet: str | None, text_column: str, deidentify_step, count: int = 5) -> list[PreviewRow]:
    """The first non-empty notes, de-identified by the run's own step (tags or surrogates)."""
    from core.steps import NoteRecord

    frame = read_table(Path(path), sheet).frame
    records = []
    for i, value in enumerate(frame[text_column], start=1):
        if str(value).strip():
            records.append(NoteRecord(row=i, text=str(value)))
        if len(records) == count:
            break
    deidentify_step.process(records)
    return [PreviewRow(r.row, r.text, r.deidentified_text, [(f.start, f.end, f.entity_type) for f in r.phi],
                       [(x.start, x.end, x.entity_type) for x in r.replacements]) for r in records]


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
