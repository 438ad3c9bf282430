"""What is done to each column of a sheet: every column is de-identified unless it is provably safe.

* note: the free-text note(s); de-identified by the PHI engine, then summarized and coded.
* patient key: the patient or row ID; replaced by a pseudonymous key (the same ID, the same key).
* identifier: a column of names, dates of birth, phones, addresses... (by header or content);
  each cell is replaced whole, and its values are searched for in the row's text.
* free text: any other column with text ("Comments", "Seen by"); each cell goes through the PHI
  engine with its header as context.
* kept: content that shows it is safe: numbers and measurements, codes from a closed set, short
  categories repeated across many rows (ward "4B", sex, status), empty columns, or the user's choice.
* left out: the user excluded it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from casenotes.errors import InputError

NOTE, PATIENT_KEY, IDENTIFIER, FREE_TEXT, KEPT, LEFT_OUT = "note", "patient key", "identifier", "free text", "kept", "left out"
# The choices the window and the command line offer for a column.
ACTIONS = (NOTE, PATIENT_KEY, IDENTIFIER, FREE_TEXT, KEPT, LEFT_OUT)

# Header patterns, most specific first, for the column that identifies the patient.
_PATIENT_ID_HEADERS = [
    r"^mrn$|medical.?record|\bmrn\b|^mr.?n(o|um(ber)?)?$",
    r"patient.?(id|key|number|no)\b|^pt.?(id|no)$|^subject.?id$|^person.?id$|^patient$",
    r"encounter|visit|admission.?id|hadm|^csn$|^fin$|account|acct",
    r"^(note|row|record|document|doc).?id$|^id$",
]
# Identifier columns: kind -> header pattern. NAME and ADDRESS also need short cells, DATE cells that
# read as dates: a long free-text "Referral notes" column is free text, not a column of names.
_IDENTIFIER_HEADERS = {
    "ID": r"mrn|medical.?record|\bssn\b|social.?sec|account|acct|encounter|visit.?(id|no|number)"
    r"|insurance|member|policy|subscriber|medicaid|medicare|licen[cs]e|\bnpi\b|\bcsn\b|\bfin\b|hadm"
    r"|patient.?(id|no|number)|^pt.?id$|subject.?id|passport|\bnhs\b|serial",
    "AGE": r"^age\b|\bage$|age.?(years|yrs|at)",
    "NAME": r"name|surname|clinician|provider|physician|attending|nurse|author|signed|doctor|^dr$|next.?of.?kin|\bnok\b"
    r"|contact|seen.?by|written.?by|entered.?by|ordered.?by|reviewed.?by|by$|referr(er|ing)|\bgp\b|\bpcp\b"
    r"|consultant|surgeon|therapist|carer|caregiver|relative|guardian|proxy|staff|user|family",
    "DATE": r"\bdob\b|birth|date|\bdos\b|\bdod\b|death|time.?stamp|datetime|admi(t|ssion).?(dt|time)|discharge.?(dt|time)",
    "ADDRESS": r"address|street|\bcity\b|town|county|\bstate\b|^addr|residence|postal.?addr",
    "ZIP": r"\bzip|postal.?code|postcode",
    "PHONE": r"phone|\btel\b|mobile|\bcell\b|fax|pager",
    "EMAIL": r"e-?mail",
}
_SHORT_CELL_KINDS = ("NAME", "ADDRESS")
_CONTENT_PATTERNS = {
    "EMAIL": re.compile(r"^[\w.+-]+@[\w-]+\.[\w.]+$"),
    "PHONE": re.compile(r"^(\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(\s*(x|ext\.?)\s*\d+)?$", re.I),
    "ID": re.compile(r"^\d{3}-\d{2}-\d{4}$|^0\d{4,}$|^\d{6,}$|^(?=.*\d)[A-Z]{1,4}[-/]?\d[\dA-Z\-/]{3,}$"),
    "DATE": re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}[\s-][A-Za-z]{3,9}[\s-]\d{2,4})(\s.*)?$"),
}
_UNITS = (r"%|mg|mcg|ug|g|kg|lbs?|oz|ml|l|cc|mmhg|cmh2o|bpm|/min|cm|mm|m|in|ft|°?[cf]|mmol/l|mg/dl|g/dl|meq/l|u/l"
          r"|iu|units?|hrs?|hours?|days?|d|wks?|weeks?|mos?|months?|yrs?|years?|x|breaths/min|kcal")
_NUMBER = r"[<>≤≥~]?\s*[-+]?(?:\d{1,4}|\d{1,3}(?:,\d{3})+)(?:\.\d+)?"
_MEASUREMENT = re.compile(rf"^{_NUMBER}(?:\s*(?:/|-|x|to)\s*{_NUMBER})?\s*(?:{_UNITS})?$", re.IGNORECASE)
_CODE = re.compile(r"^(?=.*\d)[A-Z]{0,3}\d[A-Z0-9.\-/]{0,8}$|^[A-Z]{1,4}$", re.IGNORECASE)
CATEGORY_MAX_VALUES = 30
_IDENTIFIER_REASONS = {
    "ID": "identifiers: each replaced by a pseudonymous key (ID-...)",
    "AGE": "ages: those over 89 written as 90+",
    "NAME": "names: each cell replaced",
    "DATE": "dates: each cell replaced",
    "ADDRESS": "addresses: each cell replaced",
    "ZIP": "ZIP codes: each cell replaced",
    "PHONE": "phone numbers: each cell replaced",
    "EMAIL": "e-mail addresses: each cell replaced",
}


@dataclass(frozen=True)
class ColumnDecision:
    action: str  # one of ACTIONS
    reason: str  # why, in words shown in Run info and the window
    kind: str | None = None  # identifier kind: ID, NAME, DATE, ADDRESS, ZIP, PHONE, EMAIL, AGE


@dataclass
class ColumnPlan:
    columns: dict[str, ColumnDecision] = field(default_factory=dict)  # every column, in sheet order

    def _with(self, *actions: str) -> list[str]:
        return [c for c, d in self.columns.items() if d.action in actions]

    @property
    def text_columns(self) -> list[str]:
        return self._with(NOTE)

    @property
    def id_column(self) -> str | None:
        found = self._with(PATIENT_KEY)
        return found[0] if found else None

    @property
    def identifier_columns(self) -> dict[str, str]:
        """Columns replaced cell by cell, with their kind (the patient key column: ID, or NAME when it holds names)."""
        return {c: d.kind or "ID" for c, d in self.columns.items() if d.action in (IDENTIFIER, PATIENT_KEY)}

    @property
    def free_text_columns(self) -> list[str]:
        return self._with(FREE_TEXT)

    @property
    def deidentified_columns(self) -> list[str]:
        """Every column whose content is changed before it is shared."""
        return self._with(NOTE, FREE_TEXT, IDENTIFIER, PATIENT_KEY)

    @property
    def kept_columns(self) -> list[str]:
        return self._with(KEPT)

    @property
    def engine_columns(self) -> list[str]:
        """Columns whose every cell goes through the PHI engine."""
        return self._with(NOTE, FREE_TEXT)

    @property
    def output_columns(self) -> list[str]:
        """Original columns the shareable workbook keeps, in order (notes are added at the end)."""
        return [c for c, d in self.columns.items() if d.action not in (NOTE, LEFT_OUT)]

    def describe(self) -> list[tuple[str, str]]:
        return [(column, f"{d.action}: {d.reason}") for column, d in self.columns.items()]

    def signature(self) -> dict[str, str]:
        """What a resumed run must share with the interrupted one."""
        return {c: f"{d.action}/{d.kind or ''}" for c, d in self.columns.items()}


def plan_columns(frame: pd.DataFrame, text_columns: Sequence[str] | str | None = (), id_column: str | None = None,
                 source: str = "input", safe_columns: Sequence[str] = (), excluded_columns: Sequence[str] = (),
                 ) -> ColumnPlan:
    """Decide what to do with every column; names given by the user win over detection.

    ``id_column``: None detects it, "" means the sheet has none.
    """
    columns = list(frame.columns)
    if isinstance(text_columns, str):
        text_columns = [text_columns]
    text_columns = [c for c in (text_columns or ()) if c]
    for name in [*text_columns, *([id_column] if id_column else []), *safe_columns, *excluded_columns]:
        if name not in columns:
            raise InputError(f"{source}: no column named '{name}' (columns: {', '.join(columns)})")
    excluded = set(excluded_columns)
    notes = [c for c in text_columns if c not in excluded]
    if not notes:
        detected = detect_text_column(frame, exclude=excluded)
        if detected is None:
            raise InputError(f"{source}: no column of free text found; choose the note column")
        notes = [detected]
    ident = id_column if id_column is not None else detect_id_column(frame, exclude={*notes, *excluded})
    ident = ident or None
    if ident in notes or ident in excluded:
        ident = None

    plan = ColumnPlan()
    for column in columns:
        if column in excluded:
            plan.columns[column] = ColumnDecision(LEFT_OUT, "left out by the user")
        elif column in notes:
            how = "named by the user" if column in text_columns else "the longest free text"
            plan.columns[column] = ColumnDecision(NOTE, f"{how}; de-identified by the PHI engine")
        elif column == ident:
            # A patient column of names is a key and a name: its parts are searched for in the notes.
            kind = "NAME" if _names_share(frame[column]) >= 0.8 else "ID"
            plan.columns[column] = ColumnDecision(PATIENT_KEY, "replaced by a pseudonymous key (PT-...)", kind)
        elif column in safe_columns:
            plan.columns[column] = ColumnDecision(KEPT, "marked safe by the user; copied unchanged")
        else:
            plan.columns[column] = classify_column(column, frame[column])
    return plan


def plan_for(frame: pd.DataFrame, options, source: str = "input") -> ColumnPlan:
    """The plan under a run's options (``RunOptions``, with a file's own choices applied)."""
    return plan_columns(frame, options.text_columns, options.id_column, source, options.safe_columns,
                        options.excluded_columns)


def classify_column(column: str, values: pd.Series) -> ColumnDecision:
    """An identifier column (by header or content), a provably safe one, or free text."""
    cells = [str(v).strip() for v in values]
    filled = [v for v in cells if v]
    if not filled:
        return ColumnDecision(KEPT, "empty")
    kind = identifier_kind(column, filled)
    if kind:
        return ColumnDecision(IDENTIFIER, _IDENTIFIER_REASONS.get(kind, f"{kind.lower()} values: each cell replaced"), kind)
    safe = safe_reason(filled)
    if safe:
        return ColumnDecision(KEPT, f"{safe}; copied unchanged")
    return ColumnDecision(FREE_TEXT, "each cell de-identified by the PHI engine, its header read as context")


def identifier_kind(column: str, filled: list[str]) -> str | None:
    header = column.strip().lower()
    sample = filled[:200]
    short = sum(len(v) <= 60 and len(v.split()) <= 6 for v in sample) / len(sample) >= 0.9
    for kind, pattern in _IDENTIFIER_HEADERS.items():
        if not re.search(pattern, header):
            continue
        if kind in _SHORT_CELL_KINDS and not short:
            continue
        if kind == "DATE" and _share(sample, _CONTENT_PATTERNS["DATE"]) < 0.5:
            continue
        if kind == "AGE" and _share(sample, re.compile(r"^\d{1,3}(\.\d+)?\s*(y|yo|yrs?|years?)?$", re.I)) < 0.8:
            continue
        return kind
    for kind, pattern in _CONTENT_PATTERNS.items():
        # An ID is (nearly) unique to its row or patient; a repeated code is a category.
        if _share(sample, pattern) >= 0.8 and (kind != "ID" or len(set(sample)) >= 0.5 * len(sample)):
            return kind
    return None


def safe_reason(filled: list[str]) -> str | None:
    """Why a column's content is safe to copy unchanged, or None when it is not provably safe."""
    if all(_MEASUREMENT.match(v) for v in filled):
        return "numbers and measurements"
    counts = Counter(v.lower() for v in filled)
    repeated = len(counts) <= CATEGORY_MAX_VALUES and len(filled) >= 3 * len(counts) and min(counts.values()) >= 2
    if all(_CODE.match(v) for v in filled):
        if _all_icd10(counts):
            return "ICD-10-CM codes"
        if repeated:
            return f"codes from a closed set ({len(counts)} values)"
        return None
    if repeated and all(len(v) <= 40 and len(v.split()) <= 4 and _benign_category(v) for v in counts):
        return f"short categories repeated across rows ({len(counts)} values)"
    return None


_NAME_WORD = r"[^\W\d_](?:[^\W\d_]|['.\-])*"
_NAME_CELL = re.compile(rf"^{_NAME_WORD}(?:,?\s+{_NAME_WORD}){{1,3}}$")


def _names_share(values: pd.Series) -> float:
    """How many cells read as a person's name: two to four words of letters ("Quackenbush, Philippa")."""
    filled = [str(v).strip() for v in values.head(200) if str(v).strip()]
    return _share(filled, _NAME_CELL)


def _share(values: list[str], pattern: re.Pattern) -> float:
    return sum(bool(pattern.match(v)) for v in values) / len(values) if values else 0.0


def _all_icd10(counts: Counter) -> bool:
    import simple_icd_10_cm as cm

    return all(cm.is_valid_item(code.upper()) for code in counts)


def _benign_category(value: str) -> bool:
    """Words that are ordinary English or clinical vocabulary and never a person's name or a place;
    short abbreviations and numbers ("4B", "ICU", "F")."""
    from casenotes.phi import lexicon

    for word in re.findall(r"[A-Za-z][A-Za-z'\-]*|\d+", value):
        lower = word.lower()
        if word.isdigit() or (len(word) <= 4 and word.isupper()) or len(lower) == 1:
            continue
        if lower in lexicon.first_names() or lower in lexicon.last_names() or lower in lexicon.cities():
            if not lexicon.is_clinical(lower):
                return False
        if not (lexicon.is_clinical(lower) or lexicon.zipf(lower) >= 3.5):
            return False
    return True


def detect_text_column(frame: pd.DataFrame, exclude=()) -> str | None:
    """The column with the longest free text: long on average and made of words."""
    best, best_len = None, 0.0
    for column in frame.columns:
        if column in exclude:
            continue
        values = [v for v in frame[column].astype(str) if v.strip()]
        if not values:
            continue
        mean_len = sum(len(v) for v in values) / len(values)
        wordy = sum(1 for v in values if len(v.split()) >= 4) / len(values)
        if mean_len >= 20 and wordy >= 0.3 and mean_len > best_len:
            best, best_len = column, mean_len
    return best


def notes_score(frame: pd.DataFrame) -> tuple[int, int]:
    """How much a sheet looks like the notes: the notes in its best text column, then the rows.
    A cover or read-me sheet has a paragraph or two; the notes sheet has a note per row."""
    column = detect_text_column(frame)
    if column is None:
        return 0, len(frame)
    return sum(1 for v in frame[column].astype(str) if len(v.split()) >= 4), len(frame)


def detect_id_column(frame: pd.DataFrame, exclude=()) -> str | None:
    candidates = [c for c in frame.columns if c not in exclude]
    for pattern in _PATIENT_ID_HEADERS:
        for column in candidates:
            if re.search(pattern, column.strip().lower()):
                return column
    return None
