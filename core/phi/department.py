"""The department's own lists: identifiers a reviewer marked as missed, false alarms, and staff names.

They come from the review workbook (``casenotes learn-review``) and from a staff list loaded once
(``casenotes staff-list``), and are PHI themselves: they are kept beside the secret in the user data
folder, readable by its owner only, and never shown (commands report counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from casenotes.paths import private_home, write_private
from casenotes.phi.known import KnownIdentifiers

FILE_NAME = "department-lists.json"
# Types a reviewer can give a missed identifier (the review workbook's drop-down).
PHI_TYPES = ("NAME", "LOCATION", "FACILITY", "ADDRESS", "ZIP", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID")
# Detections that a reviewer's "not PHI" never removes: the row's own identifiers and these lists.
TRUSTED_DETECTORS = ("known:", "department:")


@dataclass
class DepartmentLists:
    phi_terms: dict[str, str] = field(default_factory=dict)  # phrase -> entity type
    not_phi: set[str] = field(default_factory=set)  # lower-cased phrases
    staff_names: list[str] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def load(cls, home: Path | None = None) -> "DepartmentLists":
        path = private_home(home) / FILE_NAME
        if not path.exists():
            return cls(path=path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(dict(data.get("phi_terms", {})), set(data.get("not_phi", [])), list(data.get("staff_names", [])),
                   path)

    def save(self) -> None:
        data = {"phi_terms": self.phi_terms, "not_phi": sorted(self.not_phi), "staff_names": self.staff_names}
        write_private(self.path or private_home() / FILE_NAME, json.dumps(data, ensure_ascii=False, indent=1).encode())

    def __bool__(self) -> bool:
        return bool(self.phi_terms or self.not_phi or self.staff_names)

    def counts(self) -> dict[str, int]:
        return {"missed identifiers": len(self.phi_terms), "false alarms": len(self.not_phi),
                "staff names": len(self.staff_names)}

    def add_phi(self, phrase: str, entity: str) -> bool:
        phrase = " ".join(phrase.split())
        if not phrase or self.phi_terms.get(phrase) == entity:
            return False
        self.phi_terms[phrase] = entity
        self.not_phi.discard(phrase.lower())
        return True

    def add_not_phi(self, phrase: str) -> bool:
        phrase = " ".join(phrase.split()).lower()
        if not phrase or phrase in self.not_phi:
            return False
        self.not_phi.add(phrase)
        return True

    def add_staff(self, names) -> int:
        known = {n.lower() for n in self.staff_names}
        added = 0
        for name in names:
            name = " ".join(str(name).split())
            if len(name) > 1 and name.lower() not in known:
                self.staff_names.append(name)
                known.add(name.lower())
                added += 1
        return added

    def known_values(self) -> KnownIdentifiers:
        """What the department recognizer searches for in every note."""
        known = KnownIdentifiers(initials=False)
        for name in self.staff_names:
            known.add("NAME", name)
        for phrase, entity in self.phi_terms.items():
            known.add_phrase(entity, phrase)
        return known

    def is_false_alarm(self, text: str, detector: str) -> bool:
        return " ".join(text.split()).lower() in self.not_phi and not detector.startswith(TRUSTED_DETECTORS)


@dataclass
class LearnReport:
    """Counts only: the corrections are PHI and are never echoed."""
    missed_added: int = 0
    not_phi_added: int = 0
    already_known: int = 0
    not_found: int = 0  # the exact text is not in that row's original text: a typo, not learned
    incomplete: int = 0  # a line without its text, its kind or (for missed PHI) its type

    def lines(self) -> list[str]:
        out = [f"{self.missed_added} missed identifier(s) and {self.not_phi_added} false alarm(s) added to the "
               f"department's lists"]
        if self.already_known:
            out.append(f"{self.already_known} correction(s) already known")
        if self.not_found:
            out.append(f"{self.not_found} correction(s) skipped: the exact text is not in that row's original note")
        if self.incomplete:
            out.append(f"{self.incomplete} line(s) skipped: exact text, correction or PHI type missing")
        return out


def learn_from_review(path: Path, lists: DepartmentLists) -> LearnReport:
    """Add a review workbook's Corrections sheet to ``lists`` (the caller saves them).

    A correction counts only when its exact text occurs in the original text of the row (and column)
    it names, so that a typo never teaches the de-identifier a wrong phrase.
    """
    from casenotes.errors import InputError
    from casenotes.io.writers import CORRECTION_HEADERS, CORRECTIONS_SHEET, MISSED, NOT_PHI, REVIEW_SHEET
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - one line for the user, whatever openpyxl raises
        raise InputError(f"{Path(path).name}: not a readable review workbook ({type(exc).__name__})") from None
    try:
        if CORRECTIONS_SHEET not in wb.sheetnames or REVIEW_SHEET not in wb.sheetnames:
            raise InputError(f"{Path(path).name}: not a casenotes review workbook (no '{CORRECTIONS_SHEET}' sheet)")
        originals: dict[tuple[str, str], str] = {}
        for values in wb[REVIEW_SHEET].iter_rows(min_row=3, values_only=True):
            if values and values[0] is not None and len(values) > 3:
                originals[(_cell(values[0]), _cell(values[2]))] = _cell(values[3])
        report = LearnReport()
        for values in wb[CORRECTIONS_SHEET].iter_rows(min_row=3, max_col=len(CORRECTION_HEADERS), values_only=True):
            row, column, text, kind, entity = (_cell(v) for v in (*values, *[None] * 5)[:5])
            if not (row or column or text or kind or entity):
                continue
            kind = {MISSED.lower(): MISSED, NOT_PHI.lower(): NOT_PHI}.get(kind.lower())
            entity = entity.upper()
            if not text or kind is None or (kind == MISSED and entity not in PHI_TYPES):
                report.incomplete += 1
                continue
            if not _occurs(text, row, column, originals):
                report.not_found += 1
                continue
            added = lists.add_phi(text, entity) if kind == MISSED else lists.add_not_phi(text)
            if not added:
                report.already_known += 1
            elif kind == MISSED:
                report.missed_added += 1
            else:
                report.not_phi_added += 1
        return report
    finally:
        wb.close()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _occurs(text: str, row: str, column: str, originals: dict[tuple[str, str], str]) -> bool:
    wanted = text.lower()
    candidates = [t for (r, c), t in originals.items() if (not row or r == row) and (not column or c == column)]
    return any(wanted in " ".join(t.split()).lower() for t in candidates)


# Headers of a staff list's name columns, most specific first.
_STAFF_NAME_HEADERS = ("full name", "name", "staff", "clinician", "provider", "physician", "nurse", "employee")
_FIRST, _LAST = ("first name", "first", "given name", "forename"), ("last name", "last", "surname", "family name")


def read_staff_list(path: Path, column: str | None = None, sheet: str | None = None) -> list[str]:
    """Clinicians' names from a spreadsheet or CSV: the named column, a 'Name' column, or first and
    last name columns joined."""
    from casenotes.errors import InputError
    from casenotes.io.readers import read_table

    frame = read_table(Path(path), sheet).frame
    headers = {str(c).strip().lower(): c for c in frame.columns}
    if column:
        if column not in frame.columns:
            # the columns are not listed: a staff list without a header row has a name as its header
            raise InputError(f"{Path(path).name}: no column named '{column}'")
        return [v for v in (str(x).strip() for x in frame[column]) if v]
    first = next((headers[h] for h in _FIRST if h in headers), None)
    last = next((headers[h] for h in _LAST if h in headers), None)
    if first is not None and last is not None:
        return [" ".join(f"{a} {b}".split()) for a, b in zip(frame[first], frame[last]) if f"{a}{b}".strip()]
    for wanted in _STAFF_NAME_HEADERS:
        found = next((c for h, c in headers.items() if wanted in h), None)
        if found is not None:
            return [v for v in (str(x).strip() for x in frame[found]) if v]
    if len(frame.columns) == 1:
        return [v for v in (str(x).strip() for x in frame[frame.columns[0]]) if v]
    raise InputError(f"{Path(path).name}: no name column found (a 'Name' column, or 'First name' and 'Last name')")
