"""Recognizers for names, facilities and places that a note's layout and capitalisation give away.

* ``LabelledValueRecognizer``: the value after a label that announces a person or a place
  ("Patient: Harold J. Wood", "RE: Park, Ji-woo", "cc: Mrs M Bell", "Facility: Mercy Imaging").
* ``FacilityNameRecognizer``: a run of name words ending in what facilities are called ("Harbor
  Point Hospital", "Lakeview Neurology Associates", "CALVERT HOSPIATAL").
* ``CapitalizedWordRecognizer``: in normally cased text, a capitalised word that is neither clinical
  vocabulary nor an ordinary English word is a proper name when a name list, the gazetteer or
  spaCy's entity recognizer agrees: the allow-list idea of Philter, restricted to where capitals
  carry meaning. (Measured: without that agreement, most such words in nursing notes are drug
  misspellings and shorthand.) Its findings are scored low, so the row is marked for a look.

All three decide from the shape of the text and the general word lists of casenotes.phi.lexicon.
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer

from casenotes.phi import lexicon
from casenotes.phi.words import (CREDENTIALS, RELATIONS, ROLE_TITLES, STOP, TITLES, VISITORS_BY_ROLE, Tok,
                            is_mixed_case, phi_result, tokenize)

# --- labelled values ----------------------------------------------------------------------------------

_PERSON_LABELS = (
    r"patient(?:'s)?(?:\s+name)?|pt(?:\s+name)?|name|client|resident|re|regarding|cc|copy\s+to|attn|attention"
    r"|attending(?:\s+(?:physician|surgeon|md))?|surgeon|co-?surgeon|assistant|assistants?\s+surgeon|anesthesiologist"
    r"|anesthesia|anesthetist|provider|pcp|primary\s+care(?:\s+(?:physician|provider|doctor))?|gp|family\s+doctor"
    r"|referring(?:\s+(?:physician|provider|doctor|clinician|md))?|referred\s+by|ordering(?:\s+(?:physician|provider))?"
    r"|requesting(?:\s+(?:physician|provider))?|dictated\s+by|transcribed\s+by|(?:electronically\s+)?signed(?:\s+by)?"
    r"|author|seen\s+by|reviewed\s+by|examined\s+by|performed\s+by|interpreted\s+by|read\s+by|reading\s+(?:physician|radiologist)"
    r"|radiologist|pathologist|technologist|tech|nurse|primary\s+nurse|rn|case\s+manager|social\s+worker|therapist"
    r"|interpreter|scribe|consultant|resident|fellow|intern|(?:emergency\s+)?contact|next\s+of\s+kin|nok|guardian"
    r"|(?:health\s*care\s+)?proxy|hcp|poa|caregiver|spouse|mother|father|parent|to|from|dear"
)
_PLACE_LABELS = (
    r"facility|hospital|clinic|practice|site|organi[sz]ation|agency|pharmacy|employer|school|referred\s+to"
    r"|transferred\s+(?:from|to)|nursing\s+home|snf|rehab|place\s+of\s+service|location"
)
_TOWN_LABELS = r"city|town|county|village|hometown|birthplace|place\s+of\s+birth|where"
# A label starts a line, or follows two spaces, a tab, "|" or ";", and ends with ":" (or "#").
_LABEL = regex.compile(
    rf"(?:^|(?<=\n|\t|\s\s|[|;]))[ \t]*(?:(?P<person>{_PERSON_LABELS})|(?P<place>{_PLACE_LABELS})|(?P<town>{_TOWN_LABELS}))"
    r"[ \t]*[:#][ \t]*(?P<value>[^\n]*)", regex.IGNORECASE | regex.MULTILINE)
# A name announced in a sentence: "My name is Rubija", "his last name? Boyle", "goes by Seun".
_NAME_IS = regex.compile(
    r"\b(?:(?:my|his|her|their|your|patient'?s|the\s+patient'?s)\s+(?:first\s+|last\s+|full\s+|sur|given\s+|maiden\s+)?"
    r"name\s+(?:is|was)|(?:first|last|full|sur)name\??|goes\s+by|prefers\s+to\s+be\s+called|call\s+me|known\s+as"
    r"|i\s+am|i'm)\s+(?P<value>[^\n.;,!?]{1,60})", regex.IGNORECASE)
# Where a labelled value ends: two spaces, a tab, the next label, a bracket or a semicolon.
_VALUE_END = regex.compile(r"\s{2,}|\t|[;|(\[]|\s[A-Za-z][A-Za-z .'/#]{0,24}:\s| - |\s\u2013\s")
_NAME_TITLES = TITLES | {"ms", "mrs.", "mr.", "ms.", "dr."}


class LabelledValueRecognizer(EntityRecognizer):
    def __init__(self):
        super().__init__(supported_entities=["NAME", "FACILITY", "LOCATION"], name="LabelledValueRecognizer",
                         supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        mixed = is_mixed_case(text)
        out = []
        for m in _LABEL.finditer(text):
            value_start = m.start("value")
            raw = m["value"]
            cut = _VALUE_END.search(raw)
            value = raw[: cut.start()] if cut else raw
            if not value.strip():
                continue
            toks = [Tok(t.text, t.start + value_start, t.end + value_start) for t in tokenize(value)]
            if m["person"] and not any(_is_facility_head(t.lower) for t in toks):
                span = person_name(toks, mixed)
                if span:
                    out.append(phi_result("NAME", toks[span[0]].start, toks[span[1] - 1].end, 0.8, "label:person"))
            else:
                span = _place_value(toks, mixed)
                if span:
                    entity = "FACILITY" if m["place"] else "LOCATION"
                    out.append(phi_result(entity, toks[span[0]].start, toks[span[1] - 1].end, 0.75, f"label:{entity.lower()}"))
        for m in _NAME_IS.finditer(text):
            toks = [Tok(t.text, t.start + m.start("value"), t.end + m.start("value")) for t in tokenize(m["value"])]
            span = person_name(toks, mixed)
            if span and not (m.group().lower().startswith(("i am", "i'm")) and not toks[span[0]].text[0].isupper()):
                out.append(phi_result("NAME", toks[span[0]].start, toks[span[1] - 1].end, 0.75, "label:name_is"))
        return out


def person_name(toks: list[Tok], mixed: bool) -> tuple[int, int] | None:
    """The name at the start of a labelled value: "Harold J. Wood", "HUNTER, MARGARET A", "Mrs M Bell"."""
    i, n = 0, len(toks)
    while i < n and (toks[i].lower in _NAME_TITLES or toks[i].text == "."):
        i += 1
    start, end, words, comma = i, i, 0, False
    while end < n:
        tok = toks[end]
        if tok.text == "," and not comma and words and end + 1 < n and _name_like(toks[end + 1], mixed):
            comma = True
            end += 1
            continue
        if tok.text == "." and end > start and len(toks[end - 1].text) == 1:
            end += 1
            continue
        if not tok.is_word or tok.lower in CREDENTIALS or not (len(tok.text) == 1 or _name_like(tok, mixed)):
            break
        if end + 1 < n and toks[end + 1].text == ":":
            break  # the next label
        words += 1
        end += 1
        if words == 5:
            break
    while end > start and toks[end - 1].text in ",.":
        end -= 1
    run = [t for t in toks[start:end] if t.is_word and len(t.text) > 1]
    if not run:
        return None
    # At least one word must be a name: in the name lists, or too rare in English to be anything else.
    if not any(lexicon.is_name_word(t.lower) or lexicon.zipf(t.lower) < 3.5 for t in run):
        return None
    return start, end


def _name_like(tok: Tok, mixed: bool) -> bool:
    lower = tok.lower
    if not tok.is_word or lower in STOP or lower in RELATIONS or not _WORD_SHAPE.fullmatch(tok.text):
        return False
    if mixed and not tok.text[0].isupper():
        return False
    if lexicon.is_clinical(lower) and not lexicon.is_name_word(lower):
        return False
    return True


_WORD_SHAPE = regex.compile(r"\p{L}+(?:['\-.]\p{L}+)*")


def _place_value(toks: list[Tok], mixed: bool) -> tuple[int, int] | None:
    """A facility or town name: up to a comma or the end; it must hold a word that names something."""
    end = 0
    while end < len(toks) and toks[end].text not in ",":
        if not (toks[end].is_word or toks[end].text in "&'-."):
            break
        end += 1
    words = [t for t in toks[:end] if t.is_word]
    if not words or len(words) > 8:
        return None
    if any(_distinguishing(t, mixed) for t in words):
        return 0, end
    return None


# --- facility names -----------------------------------------------------------------------------------

# What facilities are called: a name run must end with one of these words, or with one of the phrases
# below (words such as "care" or "therapy" alone end too many ordinary phrases: "plan of care").
FACILITY_HEADS = frozenset(
    """hospital hosp hospitals center centre clinic clinics associates institute pediatrics physicians healthcare
    infirmary hospice manor laboratory laboratories osh ctr cntr ambulance vna foundation alliance school
    academy""".split()
)
# Words that end a facility's name only after a word that is clearly a name, a town or a state
# ("LAUREL REGIONAL", "BALTIMORE VA", "Maryland Rehab", "mazur campus", "Keeley House").
WEAK_FACILITY_HEADS = frozenset("regional memorial rehab rehabilitation campus va house home square general".split())
FACILITY_HEAD_PHRASES = frozenset(
    """assisted-living physical-therapy occupational-therapy family-medicine internal-medicine family-practice
    nursing-home urgent-care medical-group health-system health-services home-health home-care senior-living
    rehabilitation-hospital surgery-center medical-associates health-partners funeral-home""".split()
)
# Words that describe a facility without naming it: "Department of Hospital Medicine" names none.
GENERIC_FACILITY_WORDS = FACILITY_HEADS | frozenset(
    """medical health community university college children's childrens women's womens veterans
    family internal primary urgent day sleep wound infusion dialysis cancer heart vascular eye dental behavioral
    mental counseling nursing physical occupational speech diagnostic radiology pathology research clinical
    treatment recovery wellness senior adult pediatric orthopedic orthopaedic spine joint replacement endoscopy
    surgical specialty outpatient inpatient ambulatory department division unit program management service
    system systems network national state county city public private st saint the of and for at in
    high middle elementary primary secondary junior grammar sunday
    emergency trauma stroke transplant assisted skilled long term acute sub-acute subacute""".split()
)
_CONNECTORS = frozenset("and & of the st st. saint".split())
_PLACE_CUE_BEFORE = frozenset("to at from in into transferred transfered admitted adm tx sent via per by".split())


class FacilityNameRecognizer(EntityRecognizer):
    def __init__(self):
        super().__init__(supported_entities=["FACILITY"], name="FacilityNameRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        toks = tokenize(text)
        mixed = is_mixed_case(text)
        out = []
        for i, tok in enumerate(toks):
            if not tok.is_word or (mixed and not tok.text[0].isupper()):
                continue
            if _is_facility_head(tok.lower):
                head = i
            elif tok.lower in WEAK_FACILITY_HEADS and i > 0 and (
                    _clearly_named(toks[i - 1]) or _named_after_place_cue(toks, i, mixed)):
                head = i
            elif i > 0 and f"{toks[i - 1].lower}-{tok.lower}" in FACILITY_HEAD_PHRASES:
                head = i - 1
            elif mixed and tok.lower == "surgery" and i > 1 and toks[i - 1].text[:1].isupper():
                head = i  # a general practice in Britain: "Marsh Lane Surgery"
            else:
                continue
            start = _name_run_before(text, toks, head, mixed)
            end = _place_after_head(text, toks, i, mixed)
            if start is None and end > i + 1 and toks[i + 1].lower == "of":
                start = _generic_run_before(text, toks, head)  # "Life Care Center of Stoneham"
            if start is not None:
                out.append(phi_result("FACILITY", toks[start].start, toks[end - 1].end, 0.75, "context:facility_name"))
            elif _is_facility_head(tok.lower) and (named := _named_in_brackets(toks, i + 1)):
                # "transferred from OSH (Good Samaritan)"
                out.append(phi_result("FACILITY", toks[named[0]].start, toks[named[1] - 1].end, 0.75,
                                      "context:facility_name"))
        return out


def _place_after_head(text: str, toks: list[Tok], i: int, mixed: bool) -> int:
    """Where a facility's name ends when a place follows its head word on the same line: "Vibra Hospital
    of Southeastern Mass", "Kindred Hospital Boston North Shore" (capitalised words, in normal case)."""
    n = len(toks)
    j = i + 1
    of = j < n and toks[j].lower == "of"
    j += of
    end = j
    while end < n and end < j + 3 and toks[end].is_word and "\n" not in text[toks[end - 1].end : toks[end].start] \
            and text[toks[end - 1].end : toks[end].start].strip() == "" and toks[end].lower not in STOP:
        word = toks[end]
        if mixed and not (word.text[0].isupper() and not word.text.isupper()):
            break
        if not mixed and not (of and (word.lower in lexicon.cities() or not lexicon.is_common_word(word.lower))):
            break
        end += 1
    if end == j:
        return i + 1
    if not of and not any((t.lower in lexicon.cities() and lexicon.zipf(t.lower) < 5.0) or t.lower in lexicon.us_states()
                          for t in toks[j:end]):  # "Mercy Hospital Day 3": "day" is a town's name too
        return i + 1  # without "of", only a town or state continues the name ("Mercy Hospital Emergency" does not)
    return end


def _generic_run_before(text: str, toks: list[Tok], head: int) -> int | None:
    """The start of the descriptive words before a head word on its line ("Life Care Center")."""
    k = head
    while k > 0 and head - k < 4 and toks[k - 1].is_word and toks[k - 1].lower not in STOP \
            and "\n" not in text[toks[k - 1].end : toks[k].start] and toks[k - 1].text[0].isupper():
        k -= 1
    return k if k < head else None


def _named_in_brackets(toks: list[Tok], j: int) -> tuple[int, int] | None:
    """(start, end) of up to four name words in brackets at j: "(Good Samaritan)", "(ST ELIZABETHS)"."""
    n = len(toks)
    if j >= n or toks[j].text != "(":
        return None
    end = j + 1
    while end < n and end < j + 5 and toks[end].is_word and toks[end].lower not in STOP \
            and not lexicon.is_clinical(toks[end].lower) and toks[end].lower not in _MONTHS_AND_DAYS \
            and toks[end].lower not in _DAY_ABBREVIATIONS:
        end += 1
    if end == j + 1 or end >= n or toks[end].text != ")":
        return None
    # "(Good Samaritan)" names a place, "(records pending)", "(weekly)" do not
    if not any(not lexicon.is_common_word(t.lower) or lexicon.is_name_word(t.lower) for t in toks[j + 1 : end]):
        return None
    return j + 1, end


def _is_facility_head(lower: str) -> bool:
    if lower in FACILITY_HEADS:
        return True
    # A misspelt "hospital" ("HOSPIATAL", "hosptial") is still one.
    return 7 <= len(lower) <= 10 and lower[0] == "h" and _edit_distance(lower, "hospital") <= 2


def _name_run_before(text: str, toks: list[Tok], i: int, mixed: bool) -> int | None:
    """Where the facility's name starts, walking back from its head word over name words."""
    k, start, opening = i - 1, None, None
    while k >= 0 and i - k <= 5:
        tok = toks[k]
        if "\n" in text[tok.end : toks[k + 1].start]:
            break
        if tok.text in ("'", "-") or (tok.text == "." and k > 0 and toks[k - 1].lower == "st"):
            k -= 1
            continue
        if not tok.is_word:
            break
        lower = tok.lower
        if lower in _CONNECTORS:
            k -= 1
            continue
        if mixed and not tok.text[0].isupper():
            break
        if lower in STOP or lower in _PLACE_CUE_BEFORE:  # "Via ALS Ambulance", "To Mercy Hospital"
            break
        if mixed and _VERB_FORM.search(lower) and lexicon.is_common_word(lower) and not lexicon.is_name_word(lower) \
                and _SENTENCE_END.search(text[max(0, tok.start - 12) : tok.start]):
            opening = k  # a sentence's first word is capitalised whatever it is: "Attends Sunday School"
        start = k
        k -= 1
    if start is None:
        return None
    while start < i and toks[start].lower in _CONNECTORS:
        start += 1
    run = [t for t in toks[start:i] if t.is_word and t.lower not in _CONNECTORS]
    if not run:
        return None
    if any(_distinguishing(t, mixed) for t in run if opening is None or t is not toks[opening]):
        return start
    # In capitals a common word can still name a hospital when the text says one goes there: "TO HARBOR HOSPITAL".
    before = toks[start - 1].lower if start > 0 else ""
    if not mixed and before in _PLACE_CUE_BEFORE and all(not lexicon.is_clinical(t.lower) for t in run) and any(
            t.lower not in GENERIC_FACILITY_WORDS and lexicon.zipf(t.lower) < 5.0 for t in run):
        return start
    return None


def _named_after_place_cue(toks: list[Tok], i: int, mixed: bool) -> bool:
    """'transferred to hebrew rehab', 'from Laurel House': one word between a place cue and a weak head
    word names the place when it is not clinical, generic or a relation ("to cardiac rehab", "to
    sister's home" name none) and not among the commonest words."""
    if i < 2 or toks[i - 2].lower not in _PLACE_CUE_BEFORE:
        return False
    word = toks[i - 1]
    lower = word.lower.removesuffix("'s")  # "to sister's home" is no place's name
    if mixed and not (word.text[0].isupper() and toks[i].text[0].isupper()):
        return False
    return (word.is_word and len(lower) >= 3 and lower not in STOP and lower not in GENERIC_FACILITY_WORDS
            and lower not in RELATIONS and not lexicon.is_clinical(lower) and lexicon.zipf(lower) < 4.0)


def _clearly_named(tok: Tok) -> bool:
    """A listed name, town or state, or a word too rare in English to be anything else."""
    lower = tok.lower
    if not tok.is_word or lower in STOP or lower in GENERIC_FACILITY_WORDS or lexicon.is_clinical(lower):
        return False
    # ("call home", "go home": a surname that is also an everyday word does not name a place)
    return ((lexicon.is_name_word(lower) and lexicon.zipf(lower) < 4.5) or lower in lexicon.cities()
            or lower in lexicon.us_states() or not lexicon.is_common_word(lower))


def _distinguishing(tok: Tok, mixed: bool) -> bool:
    """A word that names this facility or town rather than describing it."""
    lower = tok.lower
    if lower in GENERIC_FACILITY_WORDS or lower in STOP or len(lower) < (2 if mixed else 3):
        return False
    if lexicon.is_clinical(lower) and not (lexicon.is_name_word(lower) or lower in lexicon.cities()):
        return False
    if mixed:
        return tok.text[0].isupper()  # "Harbor", "Kinetic Edge": capitals make ordinary words a name
    return not lexicon.is_common_word(lower) or lexicon.is_name_word(lower) or lower in lexicon.cities()


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# --- capitalised words in prose -----------------------------------------------------------------------

_SENTENCE_END = regex.compile(r"(?:[.!?:;]|\n|^)[\s\"'(\[*\-•\d.)]*$")
_VERB_FORM = regex.compile(r"(?:s|ed|ing)$")
_DAY_ABBREVIATIONS = frozenset("mon tue tues wed thu thur thurs fri sat sun".split())
_MONTHS_AND_DAYS = frozenset(
    """january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday""".split())


class CapitalizedWordRecognizer(EntityRecognizer):
    def __init__(self):
        super().__init__(supported_entities=["NAME", "LOCATION"], name="CapitalizedWordRecognizer",
                         supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        if not is_mixed_case(text):
            return []
        spacy_entities = [(e.start_char, e.end_char) for e in (nlp_artifacts.entities if nlp_artifacts else ())
                          if e.label_ in _SPACY_PROPER]
        out = []
        for tok in tokenize(text):
            if not _proper_name_candidate(tok):
                continue
            lower = tok.lower
            if lower in lexicon.countries() or lower in lexicon.us_states():
                continue  # countries and states are not Safe Harbor identifiers
            place = lower in lexicon.cities()
            listed = lexicon.is_name_word(lower) or place or _listed_common_name(tok)
            if not place and not _listed_common_name(tok) and lexicon.is_clinical_variant(lower):
                continue  # "Fent", "Lobetalol", "Groins": clinical shorthand, not a rare surname
            # "Sitter reported", "Caseworker stated": a role, not a name
            speaks = (_PERSON_VERB_AFTER.match(text, tok.end) is not None and lower not in ROLE_TITLES
                      and lower not in VISITORS_BY_ROLE and not lower.endswith(_ROLE_ENDINGS))
            if not listed and not speaks and not any(a <= tok.start and tok.end <= b for a, b in spacy_entities):
                continue
            # after an unlisted word that spaCy marks, a person's verb: "Folasade to collect"
            acts = _AUXILIARY_AFTER.match(text, tok.end) and not lexicon.is_common_word_misspelt(lower)
            if text[tok.start - 1 : tok.start] in ("/", "-"):
                continue  # "U/O's": part of shorthand
            if _SECTION_LABEL.match(text, tok.end):
                # "Endo: BS 212" labels a section; "Danielle: Remember me?" is someone speaking
                if not (tok.lower in lexicon.first_names() and tok.lower not in lexicon.AMBIGUOUS_FIRST_NAMES
                        and text[tok.end : tok.end + 1] == ":"):
                    continue
                out.append(phi_result("NAME", tok.start, tok.end, 0.55, "capitalized"))
                continue
            if is_eponym_use(text, tok.start, tok.end):
                continue
            # At the start of a sentence a capital means nothing: only a listed name that is rare, or a
            # first name that the sentence goes on with ("Kofi drives", "Anna is"), counts there.
            if _SENTENCE_END.search(text[max(0, tok.start - 12) : tok.start]) and not (
                    (listed and lexicon.zipf(lower) < 3.0)
                    or (_is_first_name(lower) and _VERB_AFTER.match(text, tok.end))
                    or (not listed and (acts or speaks))):
                continue
            out.append(phi_result("LOCATION" if place else "NAME", tok.start, tok.end, 0.5, "capitalized"))
        return out


_INNER_CAPITAL = regex.compile(r"(?<!^Mc|^Mac|^O'|^D'|^[A-Z][a-z]*[\-'])(?<=.)[A-Z]")
# What follows an eponym rather than a person: "Hoehn and Yahr stage", "Positive Neer test", "Breslow depth".
_EPONYM_AFTER = regex.compile(
    r"(?:'s)?(?:\s+and\s+[A-Z][\w\-]+(?:'s)?|[\s\-][A-Z][a-z]+)?\s+(?:sign|signs|test|tests|maneuver|manoeuvre|scale|score|stage|staging"
    r"|criteria|classification|grade|index|depth|level|syndrome|disease|phenomenon|reflex|port|catheter|tube|drain"
    r"|monitor|monitoring|valve|stocking|stockings|fracture|procedure|operation|repair|incision|needle|clamp|forceps"
    r"|retractor|suture|mask|bag|line|shunt|filter|method|technique|equation|formula|rule|position|fingers|nodes?"
    r"|collar|brace|boot|splint|frame|bed|chair|lift|pump|j\b"
    r"|cells?|bodies|lesions?|ulcers?|spots?|lines|triad|pentad|questionnaire|inventory|assessment|frailty)\b")
_EPONYM_BEFORE = regex.compile(r"(?:positive|negative|pos|neg|\+|-)\s*(?:\w+\s+and\s+)?$", regex.IGNORECASE)
_SECTION_LABEL = regex.compile(r"\s?(?::|-(?!\w)|\s-\s)")
_VERB_AFTER = regex.compile(
    r"\s+(?:is|was|has|had|will|would|can|could|to\s+\p{Ll}+|and\s+\p{Lu}|\p{Ll}+(?<!s)s|\p{Ll}+ed)\b")
# After an unlisted word only a person's verbs count: "Folasade to collect", not "Lacrilube applied".
_AUXILIARY_AFTER = regex.compile(r"\s+(?:is|was|has|had|will|would|can|could|to\s+\p{Ll}+)\b")
# Verbs only a person is the subject of: an unlisted rare word before one is a name ("Mehrudin
# shouted", "Tomomi lives in"), where a drug or device would be "given", "started" or "placed".
_ROLE_ENDINGS = ("ist", "worker", "keeper", "giver")
_PERSON_VERB_AFTER = regex.compile(
    r"[ \t]+(?:said|says|told|asked|shouted|spent|lives|lived|works|worked|visited|phoned|wants|wanted|feels|felt"
    r"|reports|reported|states|stated|denies|denied|agrees|agreed|prefers|preferred|speaks|spoke|brought|helps"
    r"|helped|arrived|grew\s+up|was\s+born|is\s+from|was\s+from|moved\s+to|thinks|thought|believes|believed"
    r"|expressed|verbalized|verbalizes|declined|refused)\b")
_SPACY_PROPER = frozenset("PERSON GPE LOC FAC ORG NORP".split())


def is_eponym_use(text: str, start: int, end: int) -> bool:
    """A surname used for a sign, test, scale or device ("Positive Neer test", "Breslow depth")."""
    return bool(_EPONYM_AFTER.match(text, end) or _EPONYM_BEFORE.search(text[max(0, start - 24) : start]))


def _is_first_name(lower: str) -> bool:
    return lower in lexicon.first_names() or lower in lexicon.census_first_names()


def _listed_common_name(tok: Tok) -> bool:
    """A first name or surname that is also a fairly common word ("Derek", "Teresa", "Murphy"): only
    mid-sentence with its capital does it read as a name."""
    return tok.lower in lexicon.first_names() or tok.lower in lexicon.last_names()


def _proper_name_candidate(tok: Tok) -> bool:
    text = tok.text
    if len(text) < 3 or not text[0].isupper() or not _WORD_SHAPE.fullmatch(text):
        return False
    if text.isupper() or _INNER_CAPITAL.search(text):
        return False  # an acronym or a brand: "MoCA", "HbSS", "PrEP" (but "McDonald", "O'Neill" are names)
    lower = tok.lower
    if lower in STOP or lower in TITLES or lower in RELATIONS or lower in CREDENTIALS or lower in _MONTHS_AND_DAYS:
        return False
    if lexicon.is_clinical(lower) or lexicon.is_eponym(lower):
        return False
    if lower in lexicon.AMBIGUOUS_FIRST_NAMES:
        return False
    return lexicon.zipf(lower) < (4.3 if lower in lexicon.first_names() or lower in lexicon.last_names() else 3.0)
