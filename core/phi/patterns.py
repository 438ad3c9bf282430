"""Regular-expression rules for PHI that has a shape: dates, phone numbers, ages over 89, IDs, addresses.

Each rule marks the named group ``phi`` (or the whole match) and may carry a veto: a pattern of the
words just before the match that shows it is clinical (``PEEP 10/5``, ``pain 4/10``). Rules are
written for nursing notes: ALL CAPS, lower case and telegraphic style all occur.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import regex

MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MM = r"(?:0?[1-9]|1[0-2])"
_DD = r"(?:0?[1-9]|[12]\d|3[01])"
_YEAR = r"(?:(?:18|19|20)\d{2}|'?\d{2})"
_ORD = r"(?:st|nd|rd|th)"


@dataclass(frozen=True)
class Rule:
    entity: str
    pattern: regex.Pattern
    score: float
    name: str
    veto_before: regex.Pattern | None = None  # tested on the 24 characters before the match
    veto_after: regex.Pattern | None = None  # tested on the 16 characters after the match
    validator: Callable[[str, int, int], bool] | None = None  # (text, start, end) -> keep?
    # Something every match needs somewhere in the text ("five digits in a row"), searched once per
    # text and shared by the rules that name the same one: a text without it skips the rule, which
    # is much cheaper than trying the full pattern at every position.
    needs: regex.Pattern | None = None
    # Try every start, so that a match the validator refuses ("She lives at Harjukuja 54") does not
    # hide the one inside it ("Harjukuja 54").
    overlapped: bool = False


def _rule(entity, name, pattern, score=0.85, veto_before=None, veto_after=None, validator=None, needs=None,
          overlapped=False) -> Rule:
    # Simple case folding (regex's VERSION0): the patterns spell out the letters whose folding would
    # differ ("stra(?:ss|ß)e"), and full folding made the rules take almost twice as long.
    flags = regex.IGNORECASE
    return Rule(
        entity=entity,
        pattern=regex.compile(pattern, flags),
        score=score,
        name=name,
        veto_before=regex.compile(veto_before + r"\s*$", flags) if veto_before else None,
        veto_after=regex.compile(r"^\s*" + veto_after, flags) if veto_after else None,
        validator=validator,
        needs=_needed(needs) if needs else None,
        overlapped=overlapped,
    )


@functools.cache
def _needed(pattern: str) -> regex.Pattern:
    return regex.compile(pattern, regex.IGNORECASE)


_FIVE_DIGITS = r"\d{5}"
_DIGITS_DATE = r"\d[/\-.]\d"


_FRACTIONS = {"1/2", "1/3", "1/4", "2/3", "3/4", "1/8", "3/8", "5/8", "7/8"}
_I = regex.IGNORECASE
_DATE_CUE_BEFORE = regex.compile(r"\b(?:on|since|until|till|dated|admitted|adm|thru|through|from)\s*$", _I)
_SETTING_BEFORE = regex.compile(
    r"\b(?:psv|ps|peep|cpap|bipap|bi-pap|ips|ipap|epap|eps|flowby|flow-by|ventilation|vent|settings?|imv|simv|a/c|"
    r"prvc|pressure\s+support|mask|weaned?|bp|sbp|nbp|abp|map|pap|pas|cvp|strength|str|murmur|grade|ratio|gcs|i/o|"
    r"motor|power|pupils|rass|riker|x|@|=|~)\W*(?:of|on|to|at|is|are|was|from|down\s+to)?\s*:?\s*$", _I)
_SETTING_AFTER = regex.compile(r"^\s*(?:%|\d+\s*%|peep|ips|cpap|ps\b|fio2|x\s*\d|mmhg|\.\d)", _I)
_FRACTION_AFTER = regex.compile(
    r"^\s*(?:way|up|of\b|str\b|strength|ns\b|amp|dose|nph|bld|blood|cultures?|bottles?|sets?|tabs?|tsp|cup|[a-z]*ns\b)", _I)
_PAIN_BEFORE = regex.compile(r"(?:pain|cp\b|c/o|discomfort|ache|rated?|rates|score|scale|level|#)", _I)


_STREET_SUFFIX_ABBREV = regex.compile(r"(?:st|ave|rd|blvd|dr|ln|ct|pl|ter|pkwy|hwy|cir|sq|way|place|court|square)\.?$", _I)


def _street_ok(text: str, start: int, end: int) -> bool:
    """'19 Clover St.' but not '8 TRACH IN PLACE' or '4 MG SQ': the street name is not clinical or a function word."""
    from casenotes.phi import lexicon

    words = regex.findall(r"[A-Za-z][A-Za-z'\-]*", text[start:end])
    name_words = [w for w in words[:-1] if not _STREET_SUFFIX_ABBREV.fullmatch(w) or w is words[0]]
    from casenotes.phi.words import is_mixed_case

    if is_mixed_case(text) and all(w[0].isupper() and not w.isupper() for w in words):
        return bool(name_words)  # "41 Quarry Hill Road": capitals make ordinary words a street's name
    for w in words:
        if _STREET_SUFFIX_ABBREV.fullmatch(w):
            break
        if lexicon.is_clinical_term(w) or w.lower() in _FUNCTION_WORDS:
            return False
    return bool(name_words)


def _mixed_case(text: str) -> bool:
    from casenotes.phi.words import is_mixed_case

    return is_mixed_case(text)


def _month_day_or_day_month(value: str) -> bool:
    """"3/14/1950" and "14/03/2024" are dates; "14/14/20" is not."""
    first, second = (int(x) for x in regex.findall(r"\d+", value)[:2])
    return min(first, second) <= 12


def _name_words_ok(words: list[str]) -> bool:
    """The words of a place name are not clinical, generic or function words."""
    from casenotes.phi import lexicon

    return bool(words) and all(
        w.lower() not in _FUNCTION_WORDS and w.lower() not in ("the", "this", "that") and not lexicon.is_clinical_term(w)
        for w in words)


def _foreign_street_ok(value: str) -> bool:
    """"Harjukuja 54": the street's words are not clinical, and the first one is not an ordinary word."""
    from casenotes.phi import lexicon

    words = [w for w in value.split() if not w[0].isdigit()]
    if not words or not _name_words_ok(words):
        return False
    # "She lives at Harjukuja 54": prose before the street ("tér", "gate", "du" are a street's own words)
    if any(w in _FUNCTION_WORDS or w == "via" for w in (w.lower() for w in words[1:])):
        return False
    # "Careport 1030": one word and a clock time is a time, not a house number
    numbers = [w.rstrip(".") for w in value.split() if w[0].isdigit()]
    if len(words) == 1 and numbers and _CLOCK_TIME.fullmatch(numbers[-1]):
        return False
    first = words[0].lower()
    return not lexicon.is_common_word(first) and not lexicon.is_name_word(first)


# A reading: a short name and a number of up to three digits ("FiO2 0.6", "PEEP 14"); flats, boxes
# and postcodes are not ("Apt. 12, Harjukuja 54", "Harjukuja 54, Helsinki 00100").
_READING = r"(?!(?i:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|box|no|nr)\b)[\p{L}][\p{L}\d/]*\s+[<>]?\d{1,3}(?:\.\d+)?%?(?!\d)"
_READING_BEFORE = regex.compile(rf"\b{_READING}\s*[,;]\s*$")
_READING_AFTER = regex.compile(rf"\s*[,;]\s*{_READING}\s*(?:[,;.]|$)")


def _among_readings(text: str, start: int, end: int) -> bool:
    """"FiO2 0.6, Pplat 27, DP 13": a word and a number in a list of readings, not a street and its number."""
    return bool(_READING_BEFORE.search(text, max(0, start - 24), start) or _READING_AFTER.match(text, end))


_CLOCK_TIME = regex.compile(r"(?:[01]\d|2[0-3])[0-5]\d")  # "call him at 1400": a time, not a number to dial
_NUMBER_WORDS = regex.compile(r"\d{1,3}(?:-(?-i:[a-z]+))+")
_MEASURE = regex.compile(r"\d+(?:\.\d+)?(?:mg|mcg|g|ml|l|cc|units?|u|yo|y|yr|yrs|yom|yof|hrs?|h|min|mins|am|pm|x)",
                         regex.IGNORECASE)


# A unit right after a number on the same line: "order 30-40 mmHg stockings" orders no identifier.
_UNIT_NEXT = regex.compile(r"[ \t]*(?:mmhg|cc|ml|mls|mg|mcg|g|gm|kg|units?|meq|mmol|%|mm|cm)\b", regex.IGNORECASE)


def _not_a_phrase_or_measure(value: str) -> bool:
    """"27-year-old" or "2-week" (a number and lower-case words) and "40mg", "72yo", "1000mL" are not
    identifiers, whatever keyword comes before them ("Referral: 27-year-old", "Rx 40mg")."""
    return not _NUMBER_WORDS.fullmatch(value) and not _MEASURE.fullmatch(value)


def _county_ok(value: str) -> bool:
    """"Baltimore County", "County Kerry", "BALTIMORE COUNTY": a named county, in capitals or a known one."""
    from casenotes.phi import lexicon

    words = [w for w in value.split() if w.lower() != "county"]
    if not _name_words_ok(words):
        return False
    if all(w[0].isupper() and not w.isupper() for w in words):
        return True
    name = " ".join(words).lower()
    return name in lexicon.counties() or name in lexicon.cities()


# The small words inside European street names: "rue de la Paix", "Via del Corso".
_STREET_PARTICLES = frozenset("de del della la le les des du di da do dos das van von der den am an".split())

_FUNCTION_WORDS = frozenset("a an the and or of in on at to into for with by per as is was x from up".split())


_LINE_START = regex.compile(r"(?:^|\n)[ \t]*$")
_LINE_END = regex.compile(r"[ \t]*(?:\n|$)")


def _slash_date_ok(text: str, start: int, end: int) -> bool:
    """A month/day pair, unless the words around it make it a setting, a fraction or a pain score."""
    value = text[start:end]
    before = text[max(0, start - 30) : start]
    after = text[end : end + 14]
    if _SETTING_BEFORE.search(before) or _SETTING_AFTER.match(after):
        return False
    alone_on_its_line = _LINE_START.search(before) and _LINE_END.match(after)  # a note's heading: "7/8"
    if value in _FRACTIONS and not alone_on_its_line and (
            _FRACTION_AFTER.match(after) or not _DATE_CUE_BEFORE.search(before)):
        return False
    if value.endswith("/10") and _PAIN_BEFORE.search(before[-25:]):
        return False
    if value == "2/2" and regex.match(r"\s+\p{L}", after) and not _DATE_CUE_BEFORE.search(before):
        return False  # "ESRD 2/2 HTN": secondary to
    numerator, denominator = (int(x) for x in value.split("/")[:2])
    if numerator <= denominator <= 10 and (_SCORE_BEFORE.search(before) or _SCORE_AFTER.match(after)):
        return False  # "Mini-Cog 3/5", "distress thermometer 7/10", "HA 6/10 -> 3/10", "at 4/10 sites"
    return True


_SCORE_BEFORE = regex.compile(
    r"(?:score|scale|scored?|rated?|rates|rating|thermometer|cog|mmse|moca|gcs|apgar|strength|power|motor|reflexes"
    r"|criteria|pain|ha|headache|relief|intensity|severity|grade|level)\W*(?:of|is|was|at|to|for|from|now)?\W*$"
    r"|(?:->|→)\s*$"
    # a muscle's strength out of 5: "R ARM 2/5 (WAS 3/5)", "R hip 4/5", "grip 5/5"
    r"|\b(?:arms?|legs?|hips?|knees?|ankles?|grip|wrists?|elbows?|shoulders?|deltoids?|biceps|triceps|quads?"
    r"|hamstrings?|dorsiflexion|plantarflexion|flexion|extension|ext|flex|ue|le|rue|lue|rle|lle|bue|ble)\W*$"
    r"|\(\s*was\s*$", regex.IGNORECASE)
_SCORE_AFTER = regex.compile(r"^\s*(?:->|→|sites?|criteria|points?|tests?|positive|negative|of\b)", regex.IGNORECASE)


# One street of a corner: capitalised words, with numbers and the particles of European street names.
_CORNER_STREET = (r"(?:\d{1,5}\s+)?(?-i:\p{Lu})[\p{L}'\-.]*"
                  r"(?:\s+(?:\d{1,5}\b|(?-i:\p{Lu})[\p{L}'\-.]*|(?-i:de|del|la|des|du|di|da|van|von)\b)){0,4}")

_UNIT_AFTER = r"(?:cc|ml|mls|mg|mcg|g|gm|kg|units?|u\b|meq|mmol|l\b|%|mm|cm|hrs?|hours?|min|mins|minutes?|secs?|x\b|/)"

RULES: tuple[Rule, ...] = (
    # --- dates ---
    _rule("DATE", "date_numeric_full",
          rf"(?<![\d/.x*])(?P<phi>{_DD}(?:(?P<sep>[/\-]){_DD}(?:(?P=sep)|\.)|\.{_DD}\.)(?:(?:18|19|20)\d{{2}}|\d{{2}}))(?![\d/%]|\.\d|\s*%)",
          0.95, validator=lambda text, s, e: _month_day_or_day_month(text[s:e])
          and not _SETTING_BEFORE.search(text[max(0, s - 30) : s]), needs=_DIGITS_DATE),
    _rule("DATE", "date_iso", r"(?<!\d)(?P<phi>(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))(?!\d)", 0.95),
    _rule("DATE", "date_month_day_slash",
          rf"(?<![\d/.:+#x*])(?<!(?<![\d/])\d{{1,2}}-)(?P<phi>{_MM}/{_DD})(?![\d/]|\.\d|\s*(?:{_UNIT_AFTER}))",
          0.7, validator=_slash_date_ok),
    _rule("DATE", "date_month_year_slash", rf"(?<![\d/.])(?P<phi>{_MM}/(?:3[2-9]|[4-9]\d|(?:19|20)\d{{2}}))(?![\d/]|\.\d)",
          0.6, validator=_slash_date_ok),
    _rule("DATE", "date_month_name_day",
          rf"\b(?P<phi>{MONTH}\s*\d{{1,2}}{_ORD}?(?:\s*,?\s*(?:(?:18|19|20)\d{{2}}|'\d{{2}}))?)(?!\d|\s*(?:{_UNIT_AFTER}))",
          0.85),
    _rule("DATE", "date_day_month_name",
          rf"(?<![\d.])(?P<phi>\d{{1,2}}{_ORD}?(?:\s*(?:-|->|to)\s*\d{{1,2}}{_ORD}?)?(?:\s*|-)(?:of\s+)?{MONTH}(?:(?:\s*,?\s*|-)(?:(?:18|19|20)\d{{2}}|'?\d{{2}}))?)\b",
          0.85),
    _rule("DATE", "date_month_name_year", rf"\b(?P<phi>{MONTH}\s*(?:of\s+)?,?\s*(?:(?:18|19|20)\d{{2}}|'\d{{2}}))\b", 0.85),
    _rule("DATE", "date_full_month_name",
          r"\b(?P<phi>january|february|march|april|june|july|august|september|october|november|december)\b", 0.5,
          veto_after=r"(?:of\s+dimes|madness)"),
    # A month on its own is a date element: "since Feb", "in Nov", "early March" ("may" only as "May").
    _rule("DATE", "date_month_after_cue",
          r"\b(?:in|since|from|until|till|by|of|during|early|mid|late|last|next|this|through|thru|before|after)"
          r"[\s\-]+(?P<phi>(?:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?|(?-i:May))(?![\w/])",
          0.6, veto_after=r"(?:\d|of\s+\d)"),
    _rule("DATE", "date_ordinal_day",
          rf"\b(?:on|since|until|till|by|from|the|before|after)\s+(?:the\s+)?(?P<phi>(?:[1-9]|[12]\d|3[01]){_ORD})\b"
          r"(?=\s*(?:[.,;:)]|$|of\b|at\b|in\s+the\b|\n))",
          0.6, veto_after=r"(?:dose|day|degree|time|attempt|set|unit|bag|liter|l\b|try|round|cycle|shift|hour|week|month|trimester|rib|icS|intercostal|toe|finger|digit|cranial|nerve|heart|sound|floor|stage|line|of\s+(?:the|this)\s+(?:month|week))"),
    _rule("DATE", "date_year_context",
          r"\b(?:in|since|of|from|until|year|yr|circa|dx'?d?|diagnosed|born|dob|d\.o\.b\.?)\s*:?\s+(?P<phi>(?:18|19|20)\d{2}(?:'?s)?)(?!\d|\s*(?:cc|ml|mg|mcg|units?|kcal|cal|g|hrs?|pm|am)\b)",
          0.8, veto_after=r"(?:to|-|until|till)\s*\d{4}"),
    _rule("DATE", "date_year_not_time",
          r"(?<![\d.,/:\-])(?P<phi>(?:18[6-9]\d|19[6-9]\d|20[6-9]\d|19\d0'?s))(?![\d,/:]|\.\d|\s*(?:cc|ml|mg|mcg|units?|kcal|cal|g|hrs?)\b|\s*-\s*\d)",
          0.6),
    _rule("DATE", "date_two_digit_year",
          r"(?<![\w'])'(?P<phi>\d{2})(?![\w'])"
          r"|\b(?:in|since|of|from|cabg|avr|mvr|x\d+|dx|mi)\s+(?P<phi>\d{2})'(?![\w'])", 0.6, needs=r"\d{2}'|'\d{2}"),
    _rule("DATE", "date_keyword",
          r"\b(?:dob|d\.o\.b\.?|date of birth|birth ?date|admission date|discharge date|date of (?:admission|discharge|death|service|surgery)|dos|dod)\s*[:#]?\s*(?P<phi>[\d/.\-]{6,10}|\d{1,2}\s+\w+\s+\d{2,4})",
          0.95),
    # --- ages over 89 ---
    _rule("AGE", "age_over_89",
          r"(?<![\d.])(?P<phi>(?:9\d|1[01]\d))\s*(?:-|\s)?\s*(?=(?:yo\b|y/o|y\.o|yr|yrs|year|years|y\s*old|m/o|yom|yof|f\b|m\b))",
          0.85, veto_before=r"(?:\b(?:bp|hr|rr|sat|sats|spo2|o2|map|sbp|temp|t|glu|bs|weight|wt|x)|@|~|\d/)"),
    _rule("AGE", "age_over_89_words",
          r"\b(?P<phi>(?:ninety|one[\s\-]hundred(?:[\s\-]and)?|hundred)(?:[\s\-](?:one|two|three|four|five|six|seven|eight|nine))?)"
          r"(?=[\s\-]+(?:year|yr|y/o|yo\b))", 0.85),
    _rule("AGE", "age_over_89_keyword", r"\b(?:age|aged|age:)\s*(?P<phi>(?:9\d|1[01]\d))\b", 0.9),
    # --- phone, fax and pager numbers ---
    _rule("PHONE", "phone_us",
          r"(?<![\d\-/.])(?P<phi>(?:\+?1[\s.\-])?(?:\(\d{3}\)\s*|\d{3}[\s.\-]?)?\d{3}[\s.\-]\d{4}"
          r"(?:,?\s*(?:x|ext\.?|extension)\s*\d{1,5})?)(?![\d\-/]|\.\d)",
          0.8, veto_before=r"(?:\d[.,]?|(?<![a-z])x|i/o|\bins?|\bouts?|-|\btv|\bvt|vols?|volumes?|\bmg|\bcc|\bml)",
          validator=lambda text, s, e: not regex.fullmatch(r"\d*0[\s\-]\d*00", text[s:e]), needs=r"\d{3}[\s.\-]\d{4}"),
    # With its area code and joined by hyphens or dots, a number is a phone whatever comes before it
    # ("called 1930, 339-555-0185"), where a number list vetoes the looser rule above.
    _rule("PHONE", "phone_us_full",
          r"(?<![\d\-/.])(?P<phi>(?:\(\d{3}\)\s*|\d{3}(?P<sep>[.\-]))\d{3}(?(sep)(?P=sep)|[.\-])\d{4})(?![\d\-/]|\.\d)",
          0.8, veto_before=r"(?:\d[.\-/]|[/\-])", needs=r"\d{3}[.\-]\d{4}"),
    # A hospital's internal extension: "ext. 6-4418", "x4-8820".
    _rule("PHONE", "phone_extension", r"(?i:\b(?:ext|extension|x))\.?\s*(?P<phi>\d{1,2}-\d{4})(?![\d\-/]|\.\d)", 0.8),
    _rule("PHONE", "phone_after_keyword",
          r"\b(?:pager|pgr|pg|page[ds]?|beeper|beeped|bpr|beep|cell|cellular|tel|telephone|phone|fax|mobile|home|work|contact"
          r"|ext|extension|switchboard|call(?:\s+(?:me|us|him|her|them|back))*\s+(?:at|on)|reach(?:ed)?(?:\s+(?:me|us|him|her|them))?\s+(?:at|on)"
          r"|answering\s+at|messages?\s+to|text(?:\s+(?:me|us|him|her|them))?\s+(?:at|on))"
          r"\s*(?:number|no\.?|num|#|:|at|-)*\s*#?\s*"
          r"(?P<phi>(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)\s*)?\d[\d\s\-.]{2,12}\d)(?!\d|\.\d)",
          0.9, validator=lambda text, s, e: not _CLOCK_TIME.fullmatch(text[s:e])),
    # Digit groups labelled after the number, as contact blocks write them: "655 437 108 office",
    # "082 490 1693-Office", "(579)888-3058 fax".
    _rule("PHONE", "phone_before_label",
          r"(?<![\w+\-/.])(?P<phi>(?:\+\d{1,3}[ \t.\-]?)?(?:\(\d{1,4}\)[ \t.\-]?)?\d{2,5}(?:[ \t.\-]\d{2,5}){0,3}"
          r"[ \t.\-]\d{3,4})"
          r"(?=[ \t]*[\-(]?[ \t]*(?:office|fax|mobile|cell|home|work(?![ \t]+of\b)|landline|pager)\b)", 0.8,
          # a series of readings before "home": "BS 110 145 180 home readings"
          veto_before=r"(?:bs|bg|bgs|cbg|glucose|sugars?|fs|fsbs|fsbg|readings?|bp|sbp|hr|rr|sats?|spo2|temps?"
                      r"|weights?|wt|i/o|ins?|outs?|x|levels?|values?)",
          validator=lambda text, s, e: 7 <= len(regex.sub(r"\D", "", text[s:e])) <= 13),
    # National numbers with a trunk 0, as Britain, Europe and Australia write them: "07700 900123",
    # "020 7946 0958", "0412-345-678".
    _rule("PHONE", "phone_trunk",
          r"(?<![\d\-/.+])(?P<phi>0\d{2,4}[\s\-]?\d{3,4}[\s\-]?\d{3,4})(?![\d\-/]|\.\d)", 0.8,
          validator=lambda text, s, e: 10 <= len(regex.sub(r"\D", "", text[s:e])) <= 11),
    # Numbers dialled with a country code: "+44 20 7946 0958", "+33 (0)1 42 68 53 00".
    _rule("PHONE", "phone_international",
          r"(?<![\w+])(?P<phi>\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{1,4}(?:[\s.\-]\d{2,4}){1,4})(?![\d])", 0.85,
          validator=lambda text, s, e: len(regex.sub(r"\D", "", text[s:e])) >= 8),
    _rule("PHONE", "phone_area_code", r"(?<![\d\-])(?P<phi>\d{3})(?=[\s\-]+\d{3}[\s\-]\d{4}\b)", 0.8),
    # --- identifiers ---
    _rule("SSN", "ssn", r"(?<![\d\-])(?P<phi>\d{3}-\d{2}-\d{4})(?![\d\-])", 0.9, needs=r"\d{3}-\d{2}-\d{4}"),
    _rule("ID", "id_after_keyword",
          r"\b(?:mrn|mr#|medical\s+record(?:\s+(?:number|no\.?|#))?|acct|account|encounter|enc|visit|csn|fin|har"
          r"|member|policy|subscriber|insurance|medicaid|medicare|health\s+plan|plan|license|licence|lic|dl|dea|npi"
          r"|vin|plate|serial|device|implant|badge|employee|unit\s+number|patient\s+id|pt\s+id|id|accession|acc|nhi"
          r"|hospital\s+(?:no|number)|nhs|ticket|lot|s/n|sn|specimen|requisition|claim|case|reference|ref|confirmation"
          r"|order|passport|trauma\s+id)"
          r"(?:\s*(?:number|no\.?|num|#|id|identifier|code))?(?:\s+(?:is|was))?\s*[:#=]?\s*"
          r"(?P<phi>(?=[A-Z0-9\-]*\d)[A-Z0-9][A-Z0-9\-]{3,})\b",
          0.9, validator=lambda text, s, e: _not_a_phrase_or_measure(text[s:e]) and not _UNIT_NEXT.match(text, e)),
    # A number after "#" with four digits or more: "bag #b-4471", "interpreter #40562" ("#20" is a gauge)
    _rule("ID", "id_after_number_sign", r"(?<![\w#])#\s*(?P<phi>(?:[A-Z]{1,3}-?)?\d{4,}[A-Z]?)(?![\w\-/]|\.\d)", 0.75,
          veto_after=rf"{_UNIT_AFTER}", veto_before=r"\b(?:bed|room|rm|tube|units?|u|lot|size|gauge)\s*#"),
    # "SSN last 4: 1234": part of a social security number is still one
    _rule("SSN", "ssn_last_digits", r"\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:last\s*(?:4|four)"
          r"(?:\s+digits)?)\s*(?:is|was|[:#=])?\s*(?P<phi>\d{4})\b", 0.9),
    # Words that also start clinical phrases ("chart 0800", "sample 10mL", "subject: 72yo"): an
    # identifier only after a number marker, "Chart no. 55-21-09", "specimen tracking # S24-11873".
    _rule("ID", "id_after_numbered_keyword",
          r"\b(?:chart|file|folder|booking|referral|prescription|rx|tracking|barcode|wristband|armband|donor"
          r"|registry|participant|subject|sample|slide|group|lab|reg|registration)\s*(?:number|no\.?|num|#|id)(?:\s+(?:is|was))?\s*[:#=]?\s*"
          r"(?P<phi>(?=[A-Z0-9\-]*\d)[A-Z0-9][A-Z0-9\-]{3,})\b",
          0.9, validator=lambda text, s, e: _not_a_phrase_or_measure(text[s:e])),
    # The same numbers written in groups, after a keyword that only ever introduces an identifier:
    # "Our ref: 2024/00451", "Insurance ID: W2231 4478 901", "serial no. PM 2241-778". Every group
    # after an optional short capital prefix holds a digit, and the whole holds five or more, so
    # "policy 2 of 3" or "ref range 3-5" stay; keywords that also start clinical phrases ("plan",
    # "case", "order", "visit", "device") are left to the one-token rule above.
    _rule("ID", "id_grouped_after_keyword",
          r"\b(?:mrn|mr\s*#|medical\s+record|acct|account|member|policy|subscriber|insurance|medicaid|medicare"
          r"|nhs|chi|licen[cs]e|passport|serial\s*(?:no\.?|number|#)|s/n|ref|reference|claim|accession"
          r"|hospital\s+(?:no\.?|number)|patient\s+id|pt\s+id|confirmation|badge|employee|vin|plate|dea|npi"
          r"|health\s+card|ins\s*(?:id|#|no\.?))"
          r"\s*(?:number|no\.?|num|#|id|identifier)?\s*[:#=]?\s*"
          # an optional prefix of letters ("W", "XQH ", "JS/RT/"), then groups that each hold a digit,
          # or end in letters ("1234-567-890-AB")
          r"(?P<phi>(?:(?-i:[A-Z]{1,3})[\s/\-]?){0,2}[A-Z0-9]*\d[A-Z0-9]*(?:[ /\-][A-Z0-9]*\d[A-Z0-9]*){1,5}"
          r"(?:-(?-i:[A-Z]{1,3}))?)"
          rf"(?![\w/]|\.\d|\s*{_UNIT_AFTER})",
          0.85, validator=lambda text, s, e: sum(c.isdigit() for c in text[s:e]) >= 5, needs=r"\d[A-Z]*[ /\-][A-Z]*\d"),
    # Letters and five or more digits in one token are a record, specimen or device number, not a lab
    # value or a drug ("CT24-0318772", "LT2207814", "INC-0094471"; never "B12", "HbA1c", "CD4").
    _rule("ID", "alphanumeric_id",
          r"(?<![\w\-/.])(?P<phi>(?=[A-Z0-9\-]*[A-WYZ])(?=[A-Z0-9\-]*\d{5})[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){5,24})"
          r"(?![\w\-/]|\.\w)",  # a full stop may end the sentence after it
          0.7, validator=lambda text, s, e: not regex.search(r"\d[x\-]\d|\d(?:cc|ml|l|hr|mg|mcg|iu|units?)", text[s:e], regex.I),
          needs=_FIVE_DIGITS),
    _rule("ID", "long_number",
          r"(?<![\w.,/:\-])(?P<phi>\d{6,})(?![\d/]|[.,]\d|\s*(?:cc|ml|mg|mcg|units?|u\b|iu\b|cells|/))", 0.6,
          veto_before=r"(?:plt|plts|platelets?|wbc|cpk|ck|units?|u|x|@|=|ml|cc)", needs=_FIVE_DIGITS),
    _rule("ID", "five_digit_number",
          r"(?<![\w.,/:\-#])(?P<phi>\d{5})(?![\d/]|[.,]\d|\s*(?:cc|ml|mls|mg|mcg|units?|u\b|iu\b|cells|/|k\b|kcal|cal))", 0.5,
          veto_before=r"(?:plt|plts|platelets?|wbc|cpk|ck|units?|u|x|@|=|ml|cc|\$|heparin|i/o|ins?|outs?|total|los|balance|\+|-)",
          needs=_FIVE_DIGITS),
    # A web address written without its scheme: "gofundme.com/f/help-...", "caringbridge.org/visit/..."
    _rule("URL", "url_bare",
          r"(?<![@\w.\-/])(?P<phi>[a-z\d][a-z\d\-]*(?:\.[a-z\d\-]+)*\.(?:com|org|net|edu|gov|io|info|us|uk|ca)"
          r"(?:/[^\s<>\"')\]]*[^\s<>\"')\].,;:])?)(?![\w@])", 0.8),
    _rule("URL", "url", r"(?P<phi>\b(?:https?://|ftp://|www\.)[^\s<>\"')\]]+[^\s<>\"')\].,;:])", 0.9),
    # --- street addresses and ZIP codes ---
    _rule("ADDRESS", "street_address",
          r"(?<![\w/.])(?P<phi>\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[A-Za-z][A-Za-z'\-]+\s+){1,3}"
          r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|drive|dr|lane|ln|way|court|ct|place|pl|terrace|ter"
          r"|parkway|pkwy|highway|hwy|circle|cir|square|sq|gardens|close|crescent|row|mews|grove|plaza|trail|pike|alley"
          r"|heights|walk|rise)\b\.?(?:,?\s*(?:apt|apartment|unit|suite|ste|#)\.?\s*\w+)?"
          # the town that follows on the same line: "41 Quarry Hill Road, Marlstone"
          r"(?:,\s*(?!(?:apt|apartment|suite|ste|unit|flat|floor|room)\b)(?-i:\p{Lu}\p{Ll}+(?:[\s\-]\p{Lu}\p{Ll}+)?)(?![\w\-]))?)",
          0.85, validator=_street_ok, veto_after=r"(?:elevations?|depressions?|segments?|changes?|waves?)\b"),  # ST elevation
    # A house number, then a name and a street word in title case, from the rest of the US Postal
    # Service's list of street suffixes: "138 Dean Estates", "867 Stephen Tunnel", "12 Amber Ports".
    # The capitals are what make "Summit" or "Run" a street's word, so this reads normally cased text only.
    _rule("ADDRESS", "street_address_title_case",
          r"(?-i:(?<![\w/.])(?P<phi>\d{1,6}\s+(?:\p{Lu}\p{Ll}+\s+){1,3}"
          r"(?:Estate|Summit|Union|Port|Bypass|Tunnel|Path|Pass|Crossing|Point|Ridge|Hill|Harbou?r|Island"
          r"|Landing|Meadow|Park|Pine|Shore|Spring|Station|Valley|View|Village|Vista|Loop|Run|Creek|Fall"
          r"|Field|Fork|Junction|Knoll|Mill|Mount|Mountain|Orchard|Oval|Plain|Prairie|Ranch|Spur|Stream|Trace"
          r"|Track|Turnpike|Ville|Well|Expressway|Freeway|Causeway|Corner|Cove|Dale|Flat|Ford|Forge|Fort|Gateway"
          r"|Glen|Green|Haven|Hollow|Inlet|Isle|Key|Lake|Light|Lodge|Manor|Motorway|Overpass|Pike|Route"
          r"|Skyway|Trafficway|Underpass|Viaduct|Brook|Burg|Bluff|Branch|Bridge|Canyon|Cape|Cliff|Club|Common"
          r"|Crest|Curve|Extension|Garden|Grove|Neck|Square|Throughway|Walk|Circle|Street|Avenue|Road|Drive"
          r"|Lane|Way|Place|Court|Terrace|Boulevard|River|Camp|Center|Centre|Loaf|Shoal|Rapid|Ramp|Lock|Mall"
          r"|Parkway|Plaza|Row|Alley|Arcade|Bayou|Beach|Bend|Bottom|Crossroad|Divide|Dam)s?\b))",
          0.75, validator=lambda text, s, e: _mixed_case(text) and _name_words_ok(text[s:e].split()[1:-1])),
    # A street named without its number, in normally cased text: "Wellington Road", "Loch Raven Blvd".
    _rule("ADDRESS", "street_name",
          r"(?-i:\b(?P<phi>(?:[A-Z][a-z'\-]+\s){1,3}(?:Road|Street|Avenue|Lane|Drive|Boulevard|Way|Court|Place|Terrace"
          r"|Parkway|Highway|Gardens|Crescent|Close|Ave|Rd|St|Blvd|Hwy|Pkwy)\b\.?))",
          0.7, validator=lambda text, s, e: _name_words_ok(text[s:e].split()[:-1])),
    # European street lines: a house number after the street ("Harjukuja 54", "Rua do Arenque 1634"),
    # sometimes with a number before it too ("5049 Harjukuja 54").
    _rule("ADDRESS", "street_number_after",
          r"(?-i:(?<![\w/.\-])(?P<phi>(?:\d{1,5}\s+)?(?:\p{Lu}\p{Ll}[\p{L}'\-]*\s+)(?:[\p{L}'\-]+\s+){0,3}\d{1,5}[a-z]?\.?)"
          r"(?=\s*(?:,|$|\n|\s{2}|>|\?\?\?|(?i:apt|suite|ste|unit)\b)))",
          0.7, validator=lambda text, s, e: _foreign_street_ok(text[s:e]) and not _among_readings(text, s, e),
          overlapped=True),
    # The town after the flat number of an address block: "Apt. 595    LAPPEENRANTA", "Suite 501  Riisa".
    _rule("LOCATION", "town_after_unit",
          r"(?i:\b(?:apt|apartment|suite|ste|unit)\b\.?\s*#?\s*(?:\d\w*|(?-i:\p{Lu})\b))(?:\s{2,}|\s*>\s*|\s*,\s*|\s*\?\?\?\s*)"
          r"(?-i:(?P<phi>\p{Lu}[\p{L}\-']+(?:\s\p{Lu}[\p{L}\-']+){0,2}))", 0.7,
          validator=lambda text, s, e: _name_words_ok(text[s:e].split())),
    # The town before a state and ZIP code or a British postcode: "Baltimore, MD 21239", "London SE1 7EH".
    _rule("LOCATION", "town_before_postcode",
          r"(?-i:\b(?P<phi>[A-Z][a-z]+(?:[\s\-][A-Z][a-z]+){0,2})(?=,?\s+(?:[A-Z]{2},?\s+\d{5}(?:-\d{4})?\b"
          r"|[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b)))",
          0.75, validator=lambda text, s, e: _name_words_ok(text[s:e].split())),
    _rule("LOCATION", "county",
          r"\b(?P<phi>(?:[A-Za-z][A-Za-z'\-]+\s){1,2}county|county\s[A-Za-z][A-Za-z'\-]+)\b", 0.75,
          validator=lambda text, s, e: _county_ok(text[s:e])),
    _rule("ADDRESS", "unit_number", r"\b(?P<phi>(?:apt|apartment|suite|ste)\.?\s*#?\s*\d+[A-Z]?)\b", 0.8),
    # Street before house number, as written across Europe and Latin America.
    _rule("ADDRESS", "street_address_international",
          r"(?P<phi>\b(?-i:\p{Lu})[\p{L}\-]*(?:stra(?:ss|ß)e|str\.|weg|straat|laan|gasse|platz|tie|katu|gatan|vej|vägen)\s+\d{1,5}[a-z]?"
          r"|\b(?:rue|calle|avenida|avda\.|rua|ul\.|ulica|plac|piazza|piazzetta|largo|travessa|paseo|chemin)\s+"
          r"(?:[\p{L}'\-]+\s+){1,4}\d{1,5}[a-z]?"
          # words that are English too ("via PEG 240 units") only before a name in title case
          r"|(?-i:\b(?:Via|Viale|Corso|Avenue|Boulevard)\s+\p{Lu}\p{Ll}[\p{L}'\-]*\s+(?:[\p{L}'\-]+\s+){0,3})\d{1,5}[a-z]?)"
          r"(?![\d.,/]|\s*(?:mg|ml|cc|%|units?\b))", 0.8,
          needs=r"(?:stra(?:ss|ß)e|str\.|weg|straat|laan|gasse|platz|tie|katu|gatan|vej|vägen)\s+\d"
                r"|\b(?:rue|calle|avenida|avda\.|rua|ul\.|ulica|plac|piazza|piazzetta|largo|travessa|paseo|chemin"
                r"|via|viale|corso|avenue|boulevard)\s"),
    # A house number before the street word, as France, Spain and Italy write it: "56 rue La Boétie",
    # "12 avenue des Tuileries", "7 Via Roma". The street's name runs to the end of its line or part.
    _rule("ADDRESS", "street_word_after_number",
          r"(?<![\w/.])(?P<phi>\d{1,5},?[ \t]+(?:rue|avenue|av\.|boulevard|all[ée]e|chemin|impasse|quai|calle|carrera"
          r"|avenida|rua|travessa|(?-i:Via|Viale|Corso|Piazza|Place))[ \t]+(?:[\p{L}'\-]+[ \t]+){0,3}[\p{L}'\-]+)"
          r"(?=\s*(?:[,\n>]|\.(?:\s|$)|$|\s{2}))", 0.8,
          validator=lambda text, s, e: _name_words_ok(
              [w for w in text[s:e].split()[2:] if w.lower() not in _STREET_PARTICLES]),
          needs=r"\d,?\s+(?:rue|avenue|av\.|boulevard|all[ée]e|chemin|impasse|quai|calle|carrera|avenida|rua"
                r"|travessa|via|viale|corso|piazza|place)\s"),
    _rule("ADDRESS", "po_box", r"\b(?P<phi>p\.?\s*o\.?\s*box\s+\d+)\b", 0.9),
    _rule("ZIP", "zip_after_state",
          r"\b(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND"
          r"|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY),?\s+(?P<phi>\d{5}(?:-\d{4})?)\b",
          0.9, needs=_FIVE_DIGITS),
    # UK and Canadian postcodes have shapes no clinical text has: "SE1 7EH", "M5V 2T6".
    # The inward part never uses C, I, K, M, O or V: "MS04 2MG" is a dose, not a postcode.
    _rule("ZIP", "postcode_uk", r"(?-i:\b(?P<phi>[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2})\b)", 0.8),
    _rule("ZIP", "postcode_canada", r"(?-i:\b(?P<phi>[A-Z]\d[A-Z]\s\d[A-Z]\d)\b)", 0.8),
    # After its label a postcode may have any country's shape: "ZIP: 3520", "postcode 7412 SL", "394 13".
    _rule("ZIP", "zip_keyword",
          r"\b(?:zip|zip\s*code|postal\s*code|postcode)[ \t]*(?:is|:|#|no\.?)?[ \t]*"
          r"(?P<phi>\d{3,6}(?:[ \t\-]\d{2,4})?(?:[ \t](?-i:[A-Z]{2})(?=[ \t]*(?:$|[,.;)\n])))?)\b", 0.9),
    # US military and diplomatic mail: "PSC 6477, Box 2981", "Unit 8524 Box 0979", "APO AE 09012", and a
    # ship's name as its address line, "USNS Comfort" (not "USS": in British notes an ultrasound scan).
    _rule("ADDRESS", "military_mail",
          r"\b(?P<phi>(?:psc|cmr|unit)\s+\d{2,5},?\s+box\s+\d{1,5}|(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5}"
          r"|(?-i:(?:USNS|USCGC|USNV)\s+\p{Lu}[\p{L}\-]+(?:\s\p{Lu}[\p{L}\-]+)?))\b", 0.85),
    # Two streets named as a meeting point: "the corner of Nieuwe Baan 473 and Inna Loop".
    _rule("ADDRESS", "street_corner",
          r"\bcorner\s+of\s+(?:the\s+)?(?P<phi>" + _CORNER_STREET + r"\s+(?:and|&)\s+" + _CORNER_STREET + ")", 0.75,
          validator=lambda text, s, e: _mixed_case(text) and _name_words_ok(
              [w for w in text[s:e].split() if not w[0].isdigit() and w.lower() not in _STREET_PARTICLES | {"and", "&"}])),
)
