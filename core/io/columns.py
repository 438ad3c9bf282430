"""Which column holds the note, which identifies the patient, and which other columns hold identifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from core.errors import InputError

# Header patterns, most specific first, for the column that identifies the patient.
_PATIENT_ID_HEADERS = [
    r"^mrn$|medical.?record|\bmrn\b|^mr.?n(o|um(ber)?)?$",
    r"patient.?(id|key|number|no)\b|^pt.?(id|no)$|^subject.?id$|^person.?id$|^patient$",
    r"encounter|visit|admission.?id|hadm|^csn$|^fin$|account|acct",
    r"^(note|row|record|document|doc).?id$|^id$",
]
# Other identifier columns: kind -> header pattern.
_IDENTIFIER_HEADERS = {
    "ID": r"mrn|medical.?record|\bssn\b|social.?sec|account|acct|encounter|visit.?(id|no|number)|insurance|member|policy"
    r"|subscriber|medicaid|medicare|licen[cs]e|\bnpi\b|\bcsn\b|\bfin\b|hadm|patient.?(id|no|number)|^pt.?id$|subject.?id",
    "NAME": r"name|surname|clinician|provider|physician|attending|nurse|author|signed|doctor|^dr$|next.?of.?kin|contact",
    "DATE": r"\bdob\b|birth|date|admit|discharge|\bdos\b|\bdod\b|death|time.?stamp|datetime",
    "ADDRESS": r"address|street|\bcity\b|town|county|\bstate\b|^addr",
    "ZIP": r"\bzip|postal|postcode",
    "PHONE": r"phone|\btel\b|mobile|\bcell\b|fax|pager",
    "EMAIL": r"e-?mail",
}
_CONTENT_PATTERNS = {
    "EMAIL": re.compile(r"^[\w.+-]+@[\w-]+\.[\w.]+$"),
    "PHONE": re.compile(r"^\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}$"),
    "ID": re.compile(r"^\d{3}-\d{2}-\d{4}$"),
    "DATE": re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4})(\s.*)?$"),
}


@dataclass
class ColumnPlan:
    text_column: str
    id_column: str | None
    identifier_columns: dict[str, str] = field(default_factory=dict)  # column -> kind (ID, NAME, DATE, ...)


def plan_columns(frame: pd.DataFrame, text_column: str | None = None, id_column: str | None = None,
                 source: str = "input") -> ColumnPlan:
    columns = list(frame.columns)
    if text_column is not None and text_column not in columns:
        raise InputError(f"{source}: no column named '{text_column}' (columns: {', '.join(columns)})")
    if id_column is not None and id_column not in columns:
        raise InputError(f"{source}: no column named '{id_column}' (columns: {', '.join(columns)})")
    text = text_column or detect_text_column(frame)
    if text is None:
        raise InputError(f"{source}: no column of free text found; name the note column with --text-column")
    ident = id_column if id_column is not None else detect_id_column(frame, exclude=text)
    identifiers = {}
    for column in columns:
        if column == text:
            continue
        kind = classify_identifier_column(column, frame[column])
        if kind:
            identifiers[column] = kind
    if ident is not None:
        identifiers[ident] = "ID"
    return ColumnPlan(text, ident, identifiers)


def detect_text_column(frame: pd.DataFrame) -> str | None:
    """The column with the longest free text: long on average and made of words."""
    best, best_len = None, 0.0
    for column in frame.columns:
        values = [v for v in frame[column].astype(str) if v.strip()]
        if not values:
            continue
        mean_len = sum(len(v) for v in values) / len(values)
        wordy = sum(1 for v in values if len(v.split()) >= 4) / len(values)
        if mean_len >= 20 and wordy >= 0.3 and mean_len > best_len:
            best, best_len = column, mean_len
    return best


def detect_id_column(frame: pd.DataFrame, exclude: str | None = None) -> str | None:
    candidates = [c for c in frame.columns if c != exclude]
    for pattern in _PATIENT_ID_HEADERS:
        for column in candidates:
            if re.search(pattern, column.strip().lower()):
                return column
    return None


def classify_identifier_column(column: str, values: pd.Series) -> str | None:
    header = column.strip().lower()
    for kind, pattern in _IDENTIFIER_HEADERS.items():
        if re.search(pattern, header):
            return kind
    sample = [v.strip() for v in values.astype(str).head(200) if v.strip()]
    if len(sample) >= 3:
        for kind, pattern in _CONTENT_PATTERNS.items():
            if sum(bool(pattern.match(v)) for v in sample) / len(sample) >= 0.8:
                return kind
    return None
