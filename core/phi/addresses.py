"""Whole address blocks: once a street line is found, the lines that belong to it are PHI too.

An address is written as a block: an optional number before the street ("8116 56 rue La Boétie",
the house or building number of a letter's envelope form), the street line, then a flat or suite,
the town, a region code and a postcode, separated by commas, line breaks, ">" or wide gaps. The
shape rules find the street line; this extends the finding over the block's other parts while
each part still looks like one (a unit, a place name that is not clinical vocabulary, a region
code, a postcode), and stops at the first part that does not, so "12 Oak Street, Boston. Lungs
clear" keeps its second sentence. A state, province or country inside the block goes with it:
Safe Harbor would allow keeping it, but beside a town and a postcode it narrows the place further
and tells a reader nothing clinical.
"""

from __future__ import annotations

import regex

from casenotes.phi.findings import PhiFinding

_SEPARATOR = regex.compile(r"[ \t]*(?:,|\n|>|\?\?\?)[ \t\n,>]*|[ \t]{2,}")
# A flat or suite number ends its part, so one space may come before or after it.
_SPACE = regex.compile(r"[ \t]+")
# "Apt. 4B", "Suite 12", "Flat C": the number or letter of a unit ("units" is not one)
_UNIT = (r"(?:(?:apt|apartment|suite|ste|unit|flat|floor|fl|room|rm|box)\b\.?[ \t]*#?[ \t]*(?:\d\w{0,5}|(?-i:\p{Lu})\b)"
         r"|\d{1,2}(?:st|nd|rd|th)[ \t]+(?:floor|fl)\b\.?)")  # "1st fl", "2nd floor"
_POSTCODE = r"\d{3,6}(?:[ \t\-]\d{2,4})?(?:[ \t](?-i:[A-Z]{2}))?|(?-i:[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[A-Z]{2})"
_REGION_CODE = r"(?-i:[A-Z]{2,3})"  # checked against the lists below: "BP 120/80" after an address is not one
# States and provinces written as codes (US, Canada, Australia); another capital pair ends the block.
_CANADA_AUSTRALIA = frozenset("AB BC MB NB NL NS NT NU ON PE QC SK YT NSW VIC QLD SA WA TAS ACT".split())
_PLACE_WORD = r"(?-i:\p{Lu}[\p{L}'\-()]*)"
_PLACE = (rf"{_PLACE_WORD}(?:[ \t]+(?:{_PLACE_WORD}|(?:de|del|la|le|nad|am|an|sur|upon|on|by|do|da|di)(?=[ \t]+\p{{Lu}})))"
          r"{0,4}")
_PART_END = r"(?=[ \t]*(?:[,\n>.;:!?)]|\?\?\?|[ \t]{2}|$))"
# Each part must reach a separator, the end of the line or the end of a sentence, or end with a
# postcode: a capitalised word that runs on into lower-case prose is the next sentence, not a town.
_PART = regex.compile(
    rf"(?P<unit>{_UNIT})(?=\s|$|[,.;>])"
    rf"|(?:(?P<region>{_REGION_CODE})|(?P<place>{_PLACE}))[ \t]+(?P<postcode>{_POSTCODE})(?!\w)"
    rf"|(?:(?P<region>{_REGION_CODE})|(?P<place>{_PLACE})){_PART_END}"
    rf"|(?P<postcode>{_POSTCODE})(?!\w)",
    regex.IGNORECASE)
_NUMBER_BEFORE = regex.compile(r"(?:^|(?<=[\s>:]))\d{1,6}[ \t]+$")
# The same parts in a note written all in lower case or capitals, where case says nothing: a town
# counts only if it is a listed one or a postcode follows it, a region only if it is a state's code.
_PLACE_ANY_CASE = r"\p{L}[\p{L}'\-]*(?:[ \t]+\p{L}[\p{L}'\-]*){0,2}"
_PART_ANY_CASE = regex.compile(
    rf"(?P<unit>{_UNIT})(?=\s|$|[,.;>])"
    rf"|(?:(?P<region>[A-Za-z]{{2}})|(?P<place>{_PLACE_ANY_CASE}))[ \t]+(?P<postcode>{_POSTCODE})(?!\w)"
    rf"|(?:(?P<region>[A-Za-z]{{2}})|(?P<place>{_PLACE_ANY_CASE})){_PART_END}"
    rf"|(?P<postcode>{_POSTCODE})(?!\w)",
    regex.IGNORECASE)
_MAX_PARTS = 6


def address_blocks(text: str, findings: list[PhiFinding]) -> list[PhiFinding]:
    """Each street address widened over its block, as extra findings to merge with the others."""
    out = []
    for f in findings:
        if f.entity_type != "ADDRESS":
            continue
        number = _NUMBER_BEFORE.search(text, max(0, f.start - 8), f.start)
        start = number.start() if number else f.start
        end = _block_end(text, f.end)
        # as sure as its surest part, so that the merged span stays an address, not its postcode
        score = max(g.score for g in findings if start <= g.start and g.end <= end)
        out.append(PhiFinding(start, end, "ADDRESS", score, "address_block"))
    return out


def _block_end(text: str, end: int) -> int:
    """Where the block whose street line ends at ``end`` ends."""
    from casenotes.phi.words import is_mixed_case

    one_case = not is_mixed_case(text)
    after_unit = _UNIT_AT_END.search(text, max(0, end - 16), end) is not None
    for _ in range(_MAX_PARTS):
        separator = _SEPARATOR.match(text, end) or _SPACE.match(text, end)
        part = _PART.match(text, separator.end()) if separator else None
        if one_case and separator and not part:
            part = _PART_ANY_CASE.match(text, separator.end())
            if part and not _one_case_part_ok(part):
                break
        # after one space only a flat, or what follows a flat, or a ZIP or British postcode ("Dorchester 02121")
        if not part or (separator.re is _SPACE and not (
                after_unit or part["unit"] or (part.group() == part["postcode"] and _CLEAR_POSTCODE.fullmatch(part.group())))):
            break
        if (part["place"] and not _is_place(part["place"])) or (part["region"] and not _is_region(part["region"])):
            break
        end = part.end()
        after_unit = bool(part["unit"])
    return end


_UNIT_AT_END = regex.compile(_UNIT + r"$", regex.IGNORECASE)
_CLEAR_POSTCODE = regex.compile(r"\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]\d[A-Z]{2}")


def _one_case_part_ok(part: regex.Match) -> bool:
    from casenotes.phi import lexicon

    if part["region"]:
        return part["region"].upper() in _CANADA_AUSTRALIA or part["region"].upper() in lexicon.us_states().values()
    # a postcode in a one-case block has four or five digits ("walks 100 ft" is no town and postcode)
    if part["postcode"] and not regex.fullmatch(r"\d{4,5}(?:-\d{4})?", part["postcode"]):
        return False
    if part["place"]:
        return _is_place(part["place"]) and (bool(part["postcode"]) or " ".join(_words(part["place"])) in lexicon.cities())
    return True


def _is_region(code: str) -> bool:
    from casenotes.phi import lexicon

    return code in _CANADA_AUSTRALIA or code in lexicon.us_states().values()


def _words(place: str) -> list[str]:
    return [w for w in (w.strip("().'-").lower() for w in place.split()) if w]


def _is_state_or_country(place: str) -> bool:
    from casenotes.phi import lexicon

    name = " ".join(_words(place))
    return name in lexicon.countries() or name in lexicon.us_states()


def _is_place(place: str) -> bool:
    """A town is not a clinical word, a title or relation, or a very common word ("Today", "Then")."""
    from casenotes.phi import lexicon
    from casenotes.phi.words import RELATIONS, STOP, TITLES

    words = _words(place)
    if " ".join(words) in lexicon.cities() or _is_state_or_country(place):
        return True
    return all(not (w in STOP or w in TITLES or w in RELATIONS or (lexicon.is_clinical_term(w) and not lexicon.is_name_word(w))
                    or (len(w) > 2 and lexicon.zipf(w) >= 5.0)) for w in words)
