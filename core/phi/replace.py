"""Replace detected PHI with typed tags or consistent surrogates (Presidio's anonymizer does the splicing).

* ``tags``: ``[NAME]``, ``[DATE]``... (the default).
* ``surrogates``: realistic fakes derived from the local secret, so one value always gets the same
  surrogate in every file of every run; dates move by the patient's own offset, which keeps the
  intervals between them; ages over 89 become "90+".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Sequence

from core.keys import KeyRing
from core.phi.engine import ENTITY_TAGS, PhiFinding

MODES = ("tags", "surrogates")


@dataclass(frozen=True, order=True)
class Replacement:
    """Where a replacement landed in the de-identified text."""

    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class Deidentified:
    text: str
    replacements: tuple[Replacement, ...]


def tag(entity_type: str) -> str:
    return f"[{ENTITY_TAGS.get(entity_type, entity_type)}]"


class Replacer:
    def __init__(self, mode: str, keys: KeyRing):
        if mode not in MODES:
            raise ValueError(f"unknown replacement mode {mode!r}")
        # presidio-anonymizer imports the analyzer and transformers (seconds): loaded on first use, so
        # the window can show before it.
        from presidio_anonymizer import AnonymizerEngine

        self.mode = mode
        self.keys = keys
        self._engine = AnonymizerEngine()
        self._surrogates = SurrogateFactory(keys)

    def replace(self, text: str, findings: Sequence[PhiFinding], patient_key: str | None = None) -> Deidentified:
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        if not findings:
            return Deidentified(text, ())
        results = [RecognizerResult(f.entity_type, f.start, f.end, f.score) for f in findings]
        if self.mode == "tags":
            operators = {f.entity_type: OperatorConfig("replace", {"new_value": tag(f.entity_type)}) for f in findings}
        else:
            shift = self.keys.date_shift_days(patient_key or "")
            operators = {
                f.entity_type: OperatorConfig(
                    "custom", {"lambda": (lambda value, e=f.entity_type: self._surrogates.make(e, value, shift))}
                )
                for f in findings
            }
        result = self._engine.anonymize(text=text, analyzer_results=results, operators=operators)
        spans = tuple(sorted(Replacement(i.start, i.end, i.entity_type) for i in result.items))
        return Deidentified(result.text, spans)

    def replace_value(self, kind: str, value: str, patient_key: str | None = None) -> str:
        """Replace a whole identifier cell (a name column, a date-of-birth column...)."""
        if not value.strip():
            return value
        if self.mode == "tags":
            return tag(kind)
        return self._surrogates.make(kind, value, self.keys.date_shift_days(patient_key or ""))


class SurrogateFactory:
    """Deterministic fake values: the same input always gives the same output."""

    def __init__(self, keys: KeyRing):
        from faker import Faker

        self.keys = keys
        self._faker = Faker("en_US")

    def make(self, entity_type: str, value: str, shift_days: int) -> str:
        if entity_type == "DATE":
            return shift_date(value, shift_days) or tag("DATE")
        if entity_type == "AGE":
            return "90+"
        self._faker.seed_instance(self.keys.seed(f"surrogate:{entity_type}", value))
        f = self._faker
        if entity_type == "NAME":
            words = value.split()
            if len(words) == 1 or len(value.strip(".")) <= 2:
                fake = f.last_name() if len(value) > 2 else f.random_uppercase_letter()
            else:
                fake = f"{f.first_name()} {f.last_name()}"
            return fake.upper() if value.isupper() else fake.lower() if value.islower() else fake
        if entity_type == "LOCATION":
            return f.city()
        if entity_type == "FACILITY":
            return f"{f.last_name()} {f.random_element(('Hospital', 'Medical Center', 'Clinic', 'Rehab'))}"
        if entity_type == "ADDRESS":
            return f.street_address()
        if entity_type == "ZIP":
            return f.zipcode()
        if entity_type == "PHONE":
            return _same_shape_digits(value, f)
        if entity_type == "EMAIL":
            return f.email(safe=True)
        if entity_type == "URL":
            return f"https://{f.domain_word()}.example.org"
        if entity_type == "IP_ADDRESS":
            return f.ipv4_private()
        if entity_type == "SSN":
            return f"9{f.numerify('##')}-{f.numerify('##')}-{f.numerify('####')}"  # 9xx: never issued
        return _same_shape_digits(value, f)


def _same_shape_digits(value: str, faker) -> str:
    """Keep punctuation and letters' places, draw new digits: '410-555-9876' -> '734-219-0462'."""
    return "".join(str(faker.random_digit()) if c.isdigit() else c for c in value)


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_NUMERIC = re.compile(r"^(\d{1,2})([/\-.])(\d{1,2})(?:([/\-.])(\d{2}|\d{4}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH_DAY = re.compile(r"^([A-Za-z]+)\.?\s*(\d{1,2})(st|nd|rd|th)?(?:,?\s*(\d{4}))?$")
_DAY_MONTH = re.compile(r"^(\d{1,2})(st|nd|rd|th)?\s*(?:of\s+)?([A-Za-z]+)\.?(?:,?\s*(\d{4}))?$")


def shift_date(value: str, days: int) -> str | None:
    """Shift a date written in a note by whole days, keeping how it was written. None if unparseable."""
    text = value.strip()
    try:
        if m := _ISO.match(text):
            d = dt.date(int(m[1]), int(m[2]), int(m[3])) + dt.timedelta(days=days)
            return d.isoformat()
        if m := _NUMERIC.match(text):
            year = _full_year(m[5]) if m[5] else 2001  # a non-leap year when the note gives none
            d = dt.date(year, int(m[1]), int(m[3])) + dt.timedelta(days=days)
            out = f"{d.month}{m[2]}{d.day}"
            if m[5]:
                out += f"{m[4]}{d.year if len(m[5]) == 4 else f'{d.year % 100:02d}'}"
            return out
        if (m := _MONTH_DAY.match(text)) and m[1][:3].lower() in _MONTHS:
            year = int(m[4]) if m[4] else 2001
            d = dt.date(year, _MONTHS.index(m[1][:3].lower()) + 1, int(m[2])) + dt.timedelta(days=days)
            return _month_name(d, m[1]) + f" {d.day}" + (_ordinal(d.day) if m[3] else "") + (f", {d.year}" if m[4] else "")
        if (m := _DAY_MONTH.match(text)) and m[3][:3].lower() in _MONTHS:
            year = int(m[4]) if m[4] else 2001
            d = dt.date(year, _MONTHS.index(m[3][:3].lower()) + 1, int(m[1])) + dt.timedelta(days=days)
            return f"{d.day}{_ordinal(d.day) if m[2] else ''} " + _month_name(d, m[3]) + (f", {d.year}" if m[4] else "")
    except ValueError:
        return None
    return None


def _ordinal(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _full_year(text: str) -> int:
    year = int(text)
    if len(text) == 4:
        return year
    return 2000 + year if year < 50 else 1900 + year


def _month_name(d: dt.date, like: str) -> str:
    name = d.strftime("%B") if len(like) > 3 else d.strftime("%b")
    return name.upper() if like.isupper() else name.lower() if like.islower() else name
