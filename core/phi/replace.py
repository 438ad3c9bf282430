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
from core.phi.findings import ENTITY_TAGS, PhiFinding

MODES = ("tags", "surrogates")
# The identifier kind of the patient ID column: its value becomes the pseudonymous patient key.
PATIENT_KEY = "PATIENT_KEY"


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

    def replace_identifier(self, kind: str, value: str, patient_key: str | None = None) -> str:
        """Replace a whole identifier cell: the patient key column, ID, name, date-of-birth columns...

        Ages are identifiers only over 89 (Safe Harbor): those become "90+", the others stay.
        """
        if not value.strip():
            return value
        if kind == PATIENT_KEY:
            return self.keys.pseudonym(value, "PT")
        if kind == "AGE":
            number = re.match(r"\s*(\d+)", value)
            return value if number and int(number[1]) <= 89 else "90+"
        if kind == "ID" and self.mode == "tags":
            return self.keys.pseudonym(value, "ID")  # a stable key keeps rows of one account together
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
        """A surrogate for any value: never a tag, never the value itself."""
        if entity_type == "AGE":
            return "90+"
        self._faker.seed_instance(self.keys.seed(f"surrogate:{entity_type}", value.lower()))
        f = self._faker
        if entity_type == "DATE":
            return shift_date(value, shift_days) or _date_like(value, f.date_between("-30y", "-1y"))
        if entity_type == "NAME":
            fake = self._name(value)
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
        if not any(c.isdigit() for c in value):
            return f.bothify("??-####").upper()  # an identifier written in letters
        return _same_shape_digits(value, f)


    def _name(self, value: str) -> str:
        """Word by word, each word always to the same surrogate word, so that a name gets the same
        surrogate wherever and however it is written ("Howard Willis" in a name column, "Mr Willis"
        and "howard" in the note). A first name keeps its sex; initials stay initials."""
        return _NAME_WORD.sub(lambda m: self._name_word(m.group()), value) if _NAME_WORD.search(value) else self._name_word(value)

    def _name_word(self, word: str) -> str:
        from core.phi import lexicon

        f = self._faker
        f.seed_instance(self.keys.seed("surrogate:NAME:word", word.lower()))
        if len(word) == 1:
            fake = f.random_uppercase_letter()
            while fake == word.upper():
                fake = f.random_uppercase_letter()
            return fake
        role = lexicon.name_role(word)
        fake = {"male": f.first_name_male, "female": f.first_name_female, "first": f.first_name}.get(role, f.last_name)()
        return fake if fake.lower() != word.lower() else fake + "s"


_NAME_WORD = re.compile(r"[^\W\d_]+(?:['\-][^\W\d_]+)*")


def _same_shape_digits(value: str, faker) -> str:
    """Keep punctuation and letters' places, draw new digits: '410-555-9876' -> '734-219-0462'."""
    return "".join(str(faker.random_digit()) if c.isdigit() else c for c in value)


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_NUMERIC = re.compile(r"^(\d{1,2})([/\-.])(\d{1,2})(?:([/\-.])(\d{2}|\d{4}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTH_DAY = re.compile(r"^([A-Za-z]+)\.?\s*(\d{1,2})(st|nd|rd|th)?(?:,?\s*(\d{4}))?$")
_DAY_MONTH = re.compile(r"^(\d{1,2})(st|nd|rd|th)?[\s\-]*(?:of\s+)?([A-Za-z]+)\.?(?:[,\s\-]*(\d{4}|\d{2}))?$")
_MONTH_YEAR = re.compile(r"^(?:([A-Za-z]+)\.?\s*(?:of\s+)?,?\s*|(\d{1,2})/)('?\d{2}|\d{4})$")
_YEAR = re.compile(r"^(?:(\d{4})|'(\d{2})|(\d{2})')('?s)?$")
_ORDINAL_DAY = re.compile(r"^(\d{1,2})(st|nd|rd|th)$", re.IGNORECASE)


def shift_date(value: str, days: int) -> str | None:
    """Shift a date written in a note by whole days, keeping how it was written. None if unparseable.

    A partial date moves as the whole date would: a month alone from its middle, a year from mid-year.
    """
    text = value.strip()
    try:
        if m := _ISO.match(text):
            d = dt.date(int(m[1]), int(m[2]), int(m[3])) + dt.timedelta(days=days)
            return d.isoformat()
        if m := _NUMERIC.match(text):
            year = _full_year(m[5]) if m[5] else 2000  # a leap year when the note gives none: 2/29 is a date
            d = dt.date(year, int(m[1]), int(m[3])) + dt.timedelta(days=days)
            out = f"{d.month}{m[2]}{d.day}"
            if m[5]:
                out += f"{m[4]}{d.year if len(m[5]) == 4 else f'{d.year % 100:02d}'}"
            return out
        if (m := _MONTH_DAY.match(text)) and _month(m[1]):
            year = int(m[4]) if m[4] else 2000
            d = dt.date(year, _month(m[1]), int(m[2])) + dt.timedelta(days=days)
            return _month_name(d, m[1]) + f" {d.day}" + (_ordinal(d.day) if m[3] else "") + (f", {d.year}" if m[4] else "")
        if (m := _DAY_MONTH.match(text)) and _month(m[3]):
            year = _full_year(m[4]) if m[4] else 2000
            d = dt.date(year, _month(m[3]), int(m[1])) + dt.timedelta(days=days)
            sep = "-" if "-" in text else " "
            year_out = "" if not m[4] else f"{sep}{d.year}" if len(m[4]) == 4 else f"{sep}{d.year % 100:02d}"
            return f"{d.day}{_ordinal(d.day) if m[2] else ''}{sep}" + _month_name(d, m[3]) + year_out
        if m := _MONTH_YEAR.match(text):
            month = _month(m[1]) if m[1] else int(m[2])
            if month and 1 <= month <= 12:
                d = dt.date(_full_year(m[3].lstrip("'")), month, 15) + dt.timedelta(days=days)
                year = str(d.year) if len(m[3]) == 4 else f"'{d.year % 100:02d}" if m[3].startswith("'") else f"{d.year % 100:02d}"
                return f"{_month_name(d, m[1])} {year}" if m[1] else f"{d.month}/{year}"
        if _month(text) and text.isalpha():
            d = dt.date(2000, _month(text), 15) + dt.timedelta(days=days)
            return _month_name(d, text)
        if m := _YEAR.match(text):
            year = int(m[1]) if m[1] else _full_year(m[2] or m[3])
            if m[4]:  # a decade: "1990's" moves from its middle
                return f"{(dt.date(year + 5, 7, 2) + dt.timedelta(days=days)).year // 10 * 10}{m[4]}"
            shifted = (dt.date(year, 7, 2) + dt.timedelta(days=days)).year
            return str(shifted) if m[1] else f"'{shifted % 100:02d}" if m[2] else f"{shifted % 100:02d}'"
        if m := _ORDINAL_DAY.match(text):
            d = dt.date(2000, 1, int(m[1])) + dt.timedelta(days=days)
            return f"{d.day}{_ordinal(d.day)}"
    except ValueError:
        return None
    return None


_MONTH_SPELLINGS = {name: i // 2 + 1 for i, name in enumerate(
    "january jan february feb march mar april apr may may june jun july jul august aug september sep october oct "
    "november nov december dec".split())} | {"sept": 9}


def _month(name: str | None) -> int | None:
    return _MONTH_SPELLINGS.get(name.lower().rstrip(".")) if name else None


def _date_like(value: str, fake: dt.date) -> str:
    """A made-up date written like the original (for dates no parser reads: "3-5 May", "the 2nd week")."""
    if re.search(r"[A-Za-z]{3}", value):
        return fake.strftime("%B %-d")
    return f"{fake.month}/{fake.day}"


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
