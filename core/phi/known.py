"""Identifiers the spreadsheet already gives: searched for in every text cell of the row and of the patient.

When a row has a patient-name, MRN, date-of-birth, phone, address or e-mail column, its values are
the strongest evidence a spreadsheet offers (Philter and NLM Scrubber use known PHI the same way).
Each value is expanded into the forms notes write it in (a name's parts and initials, an MRN without
its leading zeros or separators, a date in other formats, a phone number with any punctuation) and
found whatever the surrounding words. The values are PHI: they live in memory only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Iterable

import regex

from casenotes.phi.lexicon import zipf

# Column kinds (casenotes.io.columns) whose values are searched, and the entity type a hit gets.
SEARCHED_KINDS = {"NAME": "NAME", "ID": "ID", "DATE": "DATE", "PHONE": "PHONE", "ADDRESS": "ADDRESS",
                  "ZIP": "ZIP", "EMAIL": "EMAIL"}

_NAME_NOISE = frozenset("mr mrs ms miss dr prof jr sr ii iii iv md rn np pa phd the and of de la".split())
# A name part this common in English ("Will", "Long", "Young") is matched only as written with a capital,
# or anywhere in a note written all in lower case.
_COMMON_PART_ZIPF = 4.0
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_STATE_WORDS = frozenset(
    "al ak az ar ca co ct de fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd oh ok or pa "
    "ri sc sd tn tx ut vt va wa wv wi wy dc usa us".split())


@dataclass(frozen=True)
class _Form:
    pattern: regex.Pattern
    entity: str
    lowercase_notes_only: bool = False  # a common word: in mixed-case text, only its capitalised form


@dataclass
class KnownIdentifiers:
    """The identifier values of one row (and of the other rows of its patient)."""

    values: list[tuple[str, str]] = field(default_factory=list)  # (column kind, value)
    # A row's own patient is found by initials too ("J.S."); a department's staff list is not: across
    # hundreds of names, initials would be everywhere.
    initials: bool = True
    _forms: list[_Form] | None = field(default=None, repr=False, compare=False)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seen = set(self.values)

    def add(self, kind: str, value: str) -> None:
        value = value.strip()
        if kind in SEARCHED_KINDS and value:
            self._append((kind, value))

    def add_phrase(self, entity: str, phrase: str) -> None:
        """An exact phrase (a reviewer's missed identifier), found as whole words in any case."""
        phrase = phrase.strip()
        if phrase:
            self._append((f"={entity}", phrase))

    def _append(self, item: tuple[str, str]) -> None:
        # a patient with thousands of rows repeats the same values: the set keeps adding them linear
        if item not in self._seen:
            self._seen.add(item)
            self.values.append(item)
            self._forms = None

    def __bool__(self) -> bool:
        return bool(self.values)

    def __getstate__(self):  # sent to worker processes without the compiled patterns
        return {"values": self.values, "initials": self.initials, "_forms": None, "_seen": set(self.values)}

    def forms(self) -> list[_Form]:
        """The forms of every value, joined into one pattern per entity and case rule: a staff list of
        thousands of names is then a few searches per note, not thousands."""
        if self._forms is None:
            groups: dict[tuple, list[_Form]] = {}
            for kind, value in self.values:
                for form in _forms_of(kind, value, self.initials):
                    groups.setdefault((form.entity, form.lowercase_notes_only, form.pattern.flags), []).append(form)
            self._forms = []
            for (entity, lowercase_only, flags), forms in groups.items():
                # longest first: at one position the whole name wins over its first name
                sources = sorted({f.pattern.pattern for f in forms}, key=len, reverse=True)
                self._forms.append(_Form(regex.compile("|".join(f"(?:{p})" for p in sources), flags), entity,
                                         lowercase_only))
        return self._forms

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, entity) of every occurrence of a known value in the text."""
        lower_note = not any(c.isupper() for c in text)
        found = []
        for form in self.forms():
            if form.lowercase_notes_only and not lower_note:
                continue
            for m in form.pattern.finditer(text):
                found.append((m.start(), m.end(), form.entity))
        return found


def _words_pattern(words: str, case_sensitive: bool = False) -> regex.Pattern:
    """A phrase as whole words, any run of spaces or punctuation between them."""
    parts = [regex.escape(w) for w in regex.findall(r"[\p{L}\p{N}']+", words)]
    body = r"[\s,.\-/]{1,3}".join(parts)
    flags = regex.VERSION1 | (0 if case_sensitive else regex.IGNORECASE)
    return regex.compile(rf"(?<![\p{{L}}\p{{N}}]){body}(?![\p{{L}}\p{{N}}])", flags)


def _digits_pattern(digits: str) -> regex.Pattern:
    """A number with any punctuation or spaces between its digits, not inside a longer number."""
    body = r"[\s().\-/]{0,2}".join(digits)
    return regex.compile(rf"(?<![\p{{N}}]){body}(?![\p{{N}}])", regex.VERSION1)


def _forms_of(kind: str, value: str, initials: bool = True) -> Iterable[_Form]:
    if kind.startswith("="):
        yield _Form(_words_pattern(value), kind[1:])
        return
    entity = SEARCHED_KINDS[kind]
    if kind == "NAME":
        yield from _name_forms(value, initials)
    elif kind in ("ID", "ZIP"):
        yield from _id_forms(value, entity)
    elif kind == "PHONE":
        digits = re.sub(r"\D", "", value)
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) >= 7:
            yield _Form(_digits_pattern(digits), entity)
            if len(digits) == 10:
                yield _Form(_digits_pattern(digits[3:]), entity)  # the local number without the area code
    elif kind == "DATE":
        yield from _date_forms(value)
    elif kind == "ADDRESS":
        yield from _address_forms(value)
    elif kind == "EMAIL":
        yield _Form(_words_pattern(value), entity)
        local = value.split("@")[0]
        if len(local) >= 4 and "@" in value:
            yield _Form(regex.compile(rf"(?<![\w.]){regex.escape(local)}(?![\w])", regex.IGNORECASE), entity)


def _name_forms(value: str, with_initials: bool = True) -> Iterable[_Form]:
    # "Quackenbush, Philippa J" and "PHILIPPA QUACKENBUSH" alike: the words, each on its own too.
    if value.count(",") == 1:
        last, first = value.split(",")
        value = f"{first} {last}"
    words = [w for w in regex.findall(r"\p{L}[\p{L}'\-]*", value)]
    parts = [w for w in words if len(w) > 1 and w.lower().strip(".") not in _NAME_NOISE]
    if not parts:
        return
    yield _Form(_words_pattern(" ".join(words)), "NAME")
    pieces = set()
    for part in parts:
        pieces.add(part)
        if "-" in part:
            pieces.update(p for p in part.split("-") if len(p) > 1)
    for piece in sorted(pieces):
        if zipf(piece.lower()) >= _COMMON_PART_ZIPF:
            # "Ward", "WARD": the capitalised forms anywhere; "ward" only in an all-lower-case note.
            yield _Form(regex.compile(rf"(?<![\p{{L}}\p{{N}}])(?:{regex.escape(piece.capitalize())}|{regex.escape(piece.upper())})"
                                      rf"(?![\p{{L}}\p{{N}}])", regex.VERSION1), "NAME")
            yield _Form(regex.compile(rf"(?<![\p{{L}}\p{{N}}]){regex.escape(piece.lower())}(?![\p{{L}}\p{{N}}])",
                                      regex.VERSION1), "NAME", lowercase_notes_only=True)
        else:
            yield _Form(_words_pattern(piece), "NAME")
    # Initials, written "J.S.", "J. S." or "JS" (capitals only), unless they spell a word or an
    # abbreviation ("MD" for Mary Dunn, "PT", "OK").
    initials = [p[0].upper() for p in parts[:3]]
    if with_initials and len(initials) >= 2 and not _is_word_or_abbreviation("".join(initials)):
        dotted = r"\.?\s?".join(initials)
        yield _Form(regex.compile(rf"(?<![\p{{L}}\p{{N}}]){dotted}\.?(?![\p{{L}}\p{{N}}])", regex.VERSION1), "NAME")
        # "J. Smith" / "J Smith": an initial with a surname is caught by the surname; "Smith J" likewise.


def _is_word_or_abbreviation(letters: str) -> bool:
    from casenotes.phi import lexicon
    from casenotes.phi.words import CREDENTIALS, STOP, TITLES

    lower = letters.lower()
    return (lower in CREDENTIALS or lower in TITLES or lower in STOP or lexicon.is_clinical(lower)
            or lexicon.zipf(lower) >= 5.0)


def _id_forms(value: str, entity: str) -> Iterable[_Form]:
    compact = re.sub(r"[\s\-./]", "", value)
    if len(compact) < 4:
        return  # a short number ("12") is everywhere in notes
    if compact.isdigit():
        yield _Form(_digits_pattern(compact), entity)
        stripped = compact.lstrip("0")
        if stripped != compact and len(stripped) >= 4:
            yield _Form(_digits_pattern(stripped), entity)
    else:
        yield _Form(_words_pattern(value), entity)
        if compact != value:
            yield _Form(regex.compile(rf"(?<![\p{{L}}\p{{N}}]){regex.escape(compact)}(?![\p{{L}}\p{{N}}])",
                                      regex.IGNORECASE | regex.VERSION1), entity)
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 5:
            yield _Form(_digits_pattern(digits), entity)


def parse_date(value: str) -> dt.date | None:
    """A date as spreadsheets hold it (ISO from Excel, US month/day/year, day-month-name-year)."""
    text = value.strip()
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", text)
    try:
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        m = re.match(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$", text)
        if m:
            year = int(m[3])
            year += 0 if year >= 100 else (2000 if year < 50 else 1900)
            return dt.date(year, int(m[1]), int(m[2]))
        m = re.match(r"^(\d{1,2})[\s\-]([A-Za-z]+)\.?[\s\-,]+(\d{4})$", text)
        if m and m[2][:3].lower() in [x[:3] for x in _MONTHS]:
            return dt.date(int(m[3]), [x[:3] for x in _MONTHS].index(m[2][:3].lower()) + 1, int(m[1]))
        m = re.match(r"^([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$", text)
        if m and m[1][:3].lower() in [x[:3] for x in _MONTHS]:
            return dt.date(int(m[3]), [x[:3] for x in _MONTHS].index(m[1][:3].lower()) + 1, int(m[2]))
    except ValueError:
        return None
    return None


def _date_forms(value: str) -> Iterable[_Form]:
    date = parse_date(value)
    if date is None:
        if len(value.strip()) >= 6:
            yield _Form(_words_pattern(value), "DATE")
        return
    d, m, y = date.day, date.month, date.year
    month = _MONTHS[m - 1]
    numeric_md = rf"0?{m}[/.\-]0?{d}"
    numeric_dm = rf"0?{d}[/.\-]0?{m}"
    year = rf"(?:{y}|{y % 100:02d})"
    names = rf"(?:{month}|{month[:3]}\.?{'|sept?' if m == 9 else ''})"
    day = rf"0?{d}(?:st|nd|rd|th)?"
    patterns = [
        rf"{numeric_md}(?:[/.\-]{year})?",  # 3/14/1950, 03-14-50, 3/14
        rf"{numeric_dm}[/.\-]{year}",  # 14/3/1950 (day first)
        rf"{y}[/.\-]0?{m}[/.\-]0?{d}",  # 1950-03-14
        rf"{names}\s*{day}(?:,?\s*{year})?",  # March 14th, 1950; Mar 14
        rf"{day}(?:\s*of)?[\s\-]*{names}(?:[\s\-,]*{year})?",  # 14 March 1950; 14-Mar-50
    ]
    for p in patterns:
        yield _Form(regex.compile(rf"(?<![\p{{L}}\p{{N}}/.\-]){p}(?![\p{{L}}\p{{N}}]|[/.\-]\d)",
                                  regex.IGNORECASE | regex.VERSION1), "DATE")


def _address_forms(value: str) -> Iterable[_Form]:
    yield _Form(_words_pattern(value), "ADDRESS")
    for part in re.split(r"[,;\n]", value):
        part = part.strip()
        if not part or part.lower() in _STATE_WORDS:
            continue
        words = regex.findall(r"[\p{L}\p{N}']+", part)
        if words and words[-1].lower() in _STATE_WORDS and len(words) > 1:
            words = words[:-1]
        if not words:
            continue
        if all(w.isdigit() for w in words):
            if len("".join(words)) >= 5:
                yield _Form(_digits_pattern("".join(words)), "ZIP")
            continue
        yield _Form(_words_pattern(" ".join(words)), "ADDRESS")
        # "42 Harbor View Rd": also "Harbor View Rd" and "Harbor View" without the house number.
        if words[0].isdigit() and len(words) > 1:
            street = words[1:]
            yield _Form(_words_pattern(" ".join(street)), "ADDRESS")
            if len(street) > 1:
                yield _Form(_words_pattern(" ".join(street[:-1])), "ADDRESS")
        elif len(words) == 1 and zipf(words[0].lower()) >= _COMMON_PART_ZIPF:
            continue  # a town called "Hope" or "Union": found by context, not everywhere
        # A town or city on its own line of the address: found as written.
