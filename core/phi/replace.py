"""Replace detected PHI with typed tags or consistent surrogates (Presidio's anonymizer does the splicing).

* ``tags``: ``[NAME]``, ``[DATE]``... (the default).
* ``surrogates``: realistic fakes derived from the local secret, so one value always gets the same
  surrogate in every file of every run; a name is replaced word by word, so "Quackenbush", "W.
  Quackenbush" and "QUACKENBUSH, WENDELINE" stay one person; dates move by the patient's own offset,
  which keeps the intervals between them; ages over 89 become "90+". No surrogate is the value itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Sequence

from casenotes.keys import KeyRing
from casenotes.phi.findings import ENTITY_TAGS, PhiFinding

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
    """Deterministic fake values: the same input always gives the same output, never the input itself."""

    def __init__(self, keys: KeyRing):
        from faker import Faker

        self.keys = keys
        self._faker = Faker("en_US")
        self._letters = _initials_map(keys)

    def make(self, entity_type: str, value: str, shift_days: int) -> str:
        """A surrogate for any value: never a tag, never the value itself."""
        if entity_type == "AGE":
            return "90+"
        if entity_type == "DATE":
            return self._date(value, shift_days)
        fake = value
        # A draw that happens to give the value back (a phone's four digits, a ZIP, a short ID) is
        # drawn again from a numbered seed: still the same answer for the same value in every run.
        for attempt in range(_ATTEMPTS):
            fake = self._make(entity_type, value, attempt)
            if not _echoes(fake, value):
                break
        return fake

    def _make(self, entity_type: str, value: str, attempt: int) -> str:
        if entity_type == "NAME":
            return self._name(value, attempt)
        purpose = f"surrogate:{entity_type}" + (f"#{attempt}" if attempt else "")
        self._faker.seed_instance(self.keys.seed(purpose, value.lower()))
        f = self._faker
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

    def _date(self, value: str, days: int) -> str:
        """The date moved by the patient's shift. A shift can leave some dates as written (a year alone
        shifted within that year, "3/4" moved by exactly 365 days): those move on, day by day in the
        shift's direction, to the nearest date that reads differently."""
        shifted = shift_date(value, days)
        if shifted is None:
            for attempt in range(_ATTEMPTS):
                purpose = "surrogate:DATE" + (f"#{attempt}" if attempt else "")
                self._faker.seed_instance(self.keys.seed(purpose, value.lower()))
                shifted = _date_like(value, self._faker.date_between("-30y", "-1y"))
                if not _echoes(shifted, value):
                    break
            return shifted
        step = 1 if days >= 0 else -1
        extra = 0
        while _echoes(shifted, value) and extra < _DATE_MAX_EXTRA_DAYS:
            extra += 1
            shifted = shift_date(value, days + step * extra) or shifted
        return shifted

    # names --------------------------------------------------------------------------------------
    def _name(self, value: str, attempt: int = 0) -> str:
        """A name part by part, each word always to the same surrogate word wherever and however it is
        written, so that "Wendeline Quackenbush" in a name column, "QUACKENBUSH, WENDELINE" on a form,
        "W. Quackenbush" and "Mrs Quackenbush" in a note stay one person. Titles, credentials and
        suffixes stay; each word keeps its own case; a first name keeps its sex. Every surrogate word
        starts with the letter that the original's initial maps to, so an initial agrees with the name
        it stands for, and that letter is never the original's, so no word comes back unchanged."""
        out = _NAME_PART.sub(lambda m: self._name_part(m.group(), value), value)
        if attempt or _echoes(out, value):
            # Nothing in it was a name word ("Dr.", "MD"), or an earlier draw gave the value back.
            seed = self.keys.seed(f"surrogate:NAME:whole#{attempt}", value)
            first = _pick(_name_pool("first", _pick(_COMMON_INITIALS, seed)), seed >> 8)
            last = _pick(_name_pool("last", _pick(_COMMON_INITIALS, seed >> 16)), seed >> 24)
            out = _cased(f"{first} {last}", value if value.strip() else "Title")
        return out

    def _name_part(self, word: str, value: str) -> str:
        lower = word.lower()
        if lower in _kept_name_words():
            return word
        if _is_initials(word):
            return "".join(self._initial(c) for c in word)
        return _cased(self._name_word(lower), word)

    def _initial(self, letter: str) -> str:
        ascii_letter = _fold(letter).upper()
        if ascii_letter in self._letters:
            fake = self._letters[ascii_letter]
        else:  # a letter of another script: any Latin letter differs from it
            fake = _pick(_COMMON_INITIALS, self.keys.seed("surrogate:NAME:initial", letter))
        return fake.lower() if letter.islower() else fake

    def _name_word(self, lower: str) -> str:
        """The surrogate of one name word (lower case), the same wherever the word appears."""
        from casenotes.phi import lexicon

        key = _fold(lower).replace("'", "").replace("\u2019", "")
        role = lexicon.name_role(key) if _is_listed_name(key) else "either"
        letter = self._letters.get(key[:1].upper()) or _pick(
            _COMMON_INITIALS, self.keys.seed("surrogate:NAME:initial", lower))
        pool = _name_pool(role, letter)
        seed = self.keys.seed("surrogate:NAME:word", lower)
        for offset in range(len(pool)):
            fake = _pick(pool, seed + offset)
            if fake != key:
                return fake
        return fake  # not reached: the pool's words start with another letter than the word


_ATTEMPTS = 16
_DATE_MAX_EXTRA_DAYS = 3700  # a decade ("the 1990s") moved from its middle needs up to five years
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Names start with these letters often enough for every kind of name to have many of them; the other
# letters (I O Q U X Y Z) lead to few names ("Xiong", "Xie"), so no initial maps to them.
_COMMON_INITIALS = "ABCDEFGHJKLMNPRSTVW"
_NAME_SUFFIXES = frozenset("jr jr. sr sr. ii iii iv esq".split())
# Possessive "'s" is not part of the name, nor a name of its own: "Smith's" is "Smith" + "'s".
_NAME_PART = re.compile(r"(?<!['\u2019])[^\W\d_]+(?:['\u2019](?![sS]\b)[^\W\d_]+)*")


@functools.cache
def _kept_name_words() -> frozenset[str]:
    """Words of a name cell that are not the person's name: they stay as written."""
    # casenotes.phi.words imports presidio's analyzer (seconds): only once a name is replaced.
    from casenotes.phi.words import CREDENTIALS, RELATIONS, TITLES

    return frozenset(TITLES | CREDENTIALS | RELATIONS | _NAME_SUFFIXES | {"ms", "mx", "and", "or"})


def _initials_map(keys: KeyRing) -> dict[str, str]:
    """A letter -> letter map, drawn from the local secret, with no letter mapped to itself: initials
    change, consistently, in every run. The common initials form one cycle (Sattolo's algorithm), so
    two of them never merge; each rare one maps to a different common one."""
    common = list(_COMMON_INITIALS)
    for i in range(len(common) - 1, 0, -1):
        j = keys.seed("surrogate:NAME:initials", f"cycle:{i}") % i  # j < i: no fixed point
        common[i], common[j] = common[j], common[i]
    mapping = dict(zip(_COMMON_INITIALS, common))
    targets = list(_COMMON_INITIALS)
    for rare in (c for c in _LETTERS if c not in mapping):
        mapping[rare] = targets.pop(keys.seed("surrogate:NAME:initials", f"rare:{rare}") % len(targets))
    return mapping


def _is_initials(word: str) -> bool:
    """'W', 'JS', 'JMS': a letter, or two or three capitals that are not a common name ('AMY', 'LEE',
    'JO' are). The census lists hold nearly every pair of letters as some rare surname, hence the
    share of the population."""
    from casenotes.phi import lexicon

    if len(word) == 1:
        return True
    if not (2 <= len(word) <= 3 and word.isupper()):
        return False
    lower = word.lower()
    if not any(c in "aeiouy" for c in lower):
        return True
    return max(shares.get(lower, 0.0) for shares in lexicon.census_shares()) < _COMMON_NAME_SHARE


_COMMON_NAME_SHARE = 0.005  # percent of the population: "Amy", "Lee", "Jo", "Wu", not "Ek" or "Ax"


def _is_listed_name(key: str) -> bool:
    from casenotes.phi import lexicon

    return (key in lexicon.census_first_names() or key in lexicon.census_surnames()
            or key in lexicon.first_names() or key in lexicon.last_names())


def _pick(pool, seed: int) -> str:
    return pool[seed % len(pool)]


def _fold(text: str) -> str:
    """'Núñez' -> 'nunez' (lists and initials are ASCII); letters of other scripts stay."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _cased(fake: str, like: str) -> str:
    """The fake written like the original word: UPPER, lower or Title (with "McDonald" kept)."""
    letters = [c for c in like if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return fake.upper()
    if letters and all(c.islower() for c in letters):
        return fake.lower()
    return " ".join(_title(w) for w in fake.split(" "))


def _title(word: str) -> str:
    if word.startswith("mc") and len(word) > 3:
        return "Mc" + word[2:].capitalize()
    return word.capitalize()


def _echoes(fake: str, value: str) -> bool:
    return fake.strip().casefold() == value.strip().casefold()


_POOL_SIZES = {"male": 40, "female": 40, "first": 80, "either": 40, "last": 150}
# Percent of the population (1990 census) below which a name is too rare to read as an ordinary one.
_MIN_SHARE = {"male": 0.002, "female": 0.005, "first": 0.002, "either": 0.001, "last": 0.001}
_MIN_POOL = 3


@functools.cache
def _name_pool(role: str, letter: str) -> tuple[str, ...]:
    """Surrogate names of one kind starting with one letter, the most common first (1990 census).

    Kinds: "male" / "female" / "first" first names; "last" surnames; "either" names common both as a
    first name and as a surname ("Morgan", "Ellis"), for a word the lists do not know, which may be
    either. A thin letter falls back to a broader kind."""
    from casenotes.phi import lexicon

    male, female, surnames = lexicon.census_shares()
    initial = letter.lower()

    def first_share(name: str) -> float:
        return male.get(name, 0.0) + female.get(name, 0.0)

    if role in ("male", "female"):
        shares = male if role == "male" else female
        candidates = [(n, v) for n, v in shares.items() if n[0] == initial and lexicon.name_role(n) == role]
    elif role == "first":
        candidates = [(n, first_share(n)) for n in dict.fromkeys([*male, *female]) if n[0] == initial]
    elif role == "either":
        candidates = [(n, v) for n, v in surnames.items() if n[0] == initial and first_share(n) >= 0.002]
    else:
        candidates = [(n, v) for n, v in surnames.items() if n[0] == initial and lexicon.name_role(n) == "last"]
    # Name order breaks ties: the pools, and so every surrogate, must not depend on hash seeds.
    candidates.sort(key=lambda item: (-item[1], item[0]))
    pool: list[str] = []
    for name, share in candidates:
        if share >= _MIN_SHARE[role] and _usable_surrogate(name):
            pool.append(name)
            if len(pool) == _POOL_SIZES[role]:
                break
    if len(pool) < _MIN_POOL:
        broader = {"male": "first", "female": "first", "first": "either", "either": "last"}.get(role)
        if broader:
            return tuple(dict.fromkeys(pool + list(_name_pool(broader, letter))))
    return tuple(pool)


@functools.cache
def _usable_surrogate(name: str) -> bool:
    """A census name that reads as a name in a note: not a clinical word, an eponym, an ordinary word
    ("Hope", "Stone"), an O'Brien written without its apostrophe ("obrien"), or a short abbreviation."""
    from casenotes.phi import lexicon
    from casenotes.phi.words import STOP

    if len(name) < 3 or not name.isascii() or not name.isalpha() or name in _kept_name_words() or name in STOP:
        return False
    if name in lexicon.AMBIGUOUS_FIRST_NAMES or name in lexicon.NICKNAMES or lexicon.is_clinical(name):
        return False
    rest = name[1:]
    if name.startswith("o") and len(name) > 4 and (rest in lexicon.census_surnames() or rest in lexicon.census_first_names()):
        return False
    return lexicon.is_name_word(name)


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
