"""Words as the name and place recognizers see them: tokens, cue vocabularies, and the tests that
tell a name or a place from clinical or ordinary English words (name lists, word frequencies, the
clinical vocabulary of casenotes.phi.lexicon)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import regex

from presidio_analyzer import RecognizerResult

from casenotes.phi import lexicon
from casenotes.phi.findings import DETECTOR_KEY

def phi_result(entity: str, start: int, end: int, score: float, detector: str) -> RecognizerResult:
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        recognition_metadata={DETECTOR_KEY: detector},
    )



# Letters of any script: names such as "Kónya", "Núñez" or "Jožef" are one token.
_TOKEN = regex.compile(r"[\p{L}\p{N}](?:[\p{L}\p{N}'\-]*[\p{L}\p{N}])?|[^\s\p{L}\p{N}]")

# "Dr X" is a name whatever X looks like; "MD X", "HO X", "NP X" only when X looks like a name,
# and "MS" is mental status unless written "Ms" or "Ms.".
TITLES = frozenset("dr drs dr's doctor docter doc mr mrs miss mister prof professor".split())
WEAK_TITLES = frozenset("md ho np ms".split())
CREDENTIALS = frozenset(
    "rn rrt crt np pa pa-c md lpn cna msw licsw slp rd pharmd crna aprn cnm phd dds facs cns rph bsn msn".split()
)
RELATIONS = frozenset(
    """wife husband spouse daughter dtr dau son mother mom father dad sister sis brother bro niece neice nephew aunt
    uncle cousin grandson granddaughter grandmother grandfather grandma grandpa girlfriend boyfriend fiance fiancee
    partner friend neighbor neighbour guardian proxy hcp spokesperson stepdaughter stepson stepmother stepfather
    daughter-in-law son-in-law sister-in-law brother-in-law named""".split()
)
# Words that end a name: verbs and function words that follow names in notes.
STOP = frozenset(
    """a an the and or but of in on at to into onto from for with without by per via as is was were be been are am
    has had have his her him he she they them their its it this that these those who whom which what when where why
    how all any some no not nor yes so than then there here also only very just still again re regarding about
    aware notified called paged updated informed spoke spoken talked met visited visiting present here in at bedside
    made ordered placed stated states said says reports reported wants would will may can could should must did does
    done seen see saw came come went go gone left right bilat took take given give gave
    who's pt pt's patient patients family md's rn's note notes per till""".split()
)
FACILITY_SUFFIXES = frozenset(
    """hospital hosp hospitals medical clinic rehab rehabilitation memorial house regional va campus manor hospice
    infirmary institute healthcare center centre square home""".split()
)
SAINT_PREFIXES = frozenset("st st. saint holy sacred mount mt".split())
MOVE_VERBS = frozenset(
    """admitted admit adm transferred transfered transfer tx txd tx'd brought came sent taken d/c'd dc'd discharged
    discharge accepted returned arrived went seen screened evaluated lives living resides return returning w/u
    called phoned flew flown travel travelling traveling travelled traveled trip flying moving moved relocated
    relocating going returned vacation vacationing""".split()
)
PLACE_CUES = frozenset("in from to near at into on per by".split())
RESIDENCE_VERBS = frozenset(
    "lives living live lived resides reside resided moved vacationing visiting stays staying grew raised born".split())
NAME_LIKE_FACILITY_WORDS = frozenset("memorial general regional sacred holy".split())


@dataclass(frozen=True)
class Tok:
    text: str
    start: int
    end: int
    after_hyphen: bool = False  # the second part of a hyphenated word split by the tokenizer

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_word(self) -> bool:
        return self.text[0].isalpha()


# Job titles written before a colleague's name: "RN Abigail", "per attending Thorsen". ("RT" is
# also "right" in these notes, "PA" the pulmonary artery: neither is read as a title.)
ROLE_TITLES = frozenset(
    "rn lpn cna np md attending resident fellow intern student scribe chaplain interpreter sitter slp rrt msw lcsw "
    "licsw dpt cota pta mgr manager cm sw coordinator therapist pharmacist dietitian dietician educator nurse "
    "liaison navigator aide".split())


# People a note names by their job: "Pastor visited", "Sitter reported".
VISITORS_BY_ROLE = frozenset(
    """pastor chaplain priest rabbi imam minister reverend supervisor neighbor neighbour landlord landlady caseworker
    worker volunteer sitter aide officer police interpreter translator therapist pharmacist dietitian dietician
    nutritionist nurse doctor physician surgeon resident student manager coordinator counselor counsellor director
    guardian friend visitor lawyer attorney advocate""".split())

# Several recognizers read the same note: its tokens and its case are worked out once.
@functools.lru_cache(maxsize=32)
def tokenize(text: str) -> tuple[Tok, ...]:
    """Words, numbers and punctuation. A hyphenated word stays whole ("Forman-Lyons") unless a part
    of it is clinical or ordinary English ("VA-INTUBATED", "LA-10/3")."""
    toks = []
    for m in _TOKEN.finditer(text):
        word = m.group()
        if "-" in word and word.lower() not in RELATIONS and any(
            p and (lexicon.is_clinical(p) or lexicon.is_common_word(p) or p[0].isdigit()) for p in word.split("-")
        ):
            offset = m.start()
            for n, part in enumerate(word.split("-")):
                if part:
                    toks.append(Tok(part, offset, offset + len(part), after_hyphen=n > 0))
                offset += len(part) + 1
        else:
            toks.append(Tok(word, m.start(), m.end()))
    return tuple(toks)


def span_result(entity, toks, span, score, detector) -> RecognizerResult:
    start, end = span
    return phi_result(entity, toks[start].start, toks[end - 1].end, score, detector)


def skip_punct(toks, j, chars: str) -> int:
    while j < len(toks) and toks[j].text in chars:
        j += 1
    return j


def plausible_name(tok: Tok) -> bool:
    lower = tok.lower
    return (lower in lexicon.first_names() or lower in lexicon.last_names() or lower in lexicon.NICKNAMES
            or lexicon.zipf(lower) < 4.0) and not lexicon.is_clinical(lower)


def initial_surname(toks, i) -> bool:
    """'D. Phyl', 'K. ABRAMS', 'c. bertha': an initial, a dot and a rare word, after a cue word."""
    before = toks[i - 1].lower if i > 0 else ""
    if before not in ("to", "by", "per", "with", "and", "(", ",", "dr", "drs", "md", "np"):
        return False
    surname = toks[i + 2]
    if is_mixed_case(" ".join(t.text for t in toks[max(0, i - 20) : i + 20])) and not surname.text[0].isupper():
        return False
    return surname.is_word and len(surname.text) > 2 and is_surname(surname, lenient=True)


def is_state_code(lower: str) -> bool:
    return lower.upper() in _STATE_CODES


def is_state(tok: Tok) -> bool:
    return tok.is_word and (tok.text.upper() in _STATE_CODES or tok.lower in lexicon.us_states())


_STATE_CODES = frozenset(
    # codes that are also words or clinical abbreviations (IN, OR, CA, CO, DC...) are left out
    "AL AK AZ AR CT FL GA IL IA KS KY MD MA MI MN MO MT NE NV NH NJ NM NY NC ND RI SC SD TN TX UT VT VA WA WV WI WY".split()
)


# Letters, with an apostrophe or hyphen inside ("O'Neill", "Forman-Lyons"): never digits.
_NAME_SHAPE = regex.compile(r"\p{L}+(?:['\-]\p{L}+)*")
_NOT_NAME_SUFFIX = regex.compile(r"(?:ed|ing|ist|ists|ly|tion|ment|ness|ful|ous|less|able|ible)$")


def is_surname(tok: Tok, lenient: bool = False) -> bool:
    """A surname from the name lists, or a word too rare in English to be anything else.

    ``lenient`` is for strong contexts ("Dr. X", "X, RN"), where a fairly common word such as
    "Abrams" or "Spears" is still a name."""
    lower = tok.lower
    if len(lower) < 2 or lower in STOP or lexicon.is_clinical_term(lower) or not _NAME_SHAPE.fullmatch(tok.text):
        return False
    if lower in lexicon.last_names() or (lexicon.is_name_word(lower) and not lexicon.is_eponym(lower)):
        return True
    if lexicon.is_eponym(lower) or lower in RELATIONS or _NOT_NAME_SUFFIX.search(lower):
        return False
    if lexicon.is_inflected_word(lower):  # "agrees" after "mary smith": the verb, not a surname
        return False
    return lexicon.zipf(lower) < (4.3 if lenient else 3.3)


def continues_name(tok: Tok, mixed_case: bool = False) -> bool:
    """The next word of a name. In normally cased text a name's words have capitals: "Leiva flew" stops."""
    lower = tok.lower
    if lower in STOP or lexicon.is_clinical_term(lower) or (mixed_case and not tok.text[0].isupper()):
        return False
    return len(lower) == 1 or is_surname(tok, lenient=True) or lower in lexicon.first_names()


def is_credential_after_name(toks, i) -> bool:
    """'Smith MD' is a credential, 'MD Smith' or 'Ms. Smith' a title: it needs a name after it."""
    j = i + 2 if i + 1 < len(toks) and toks[i + 1].text == "." else i + 1
    return j >= len(toks) or not toks[j].is_word or (j + 1 < len(toks) and toks[j + 1].text == ":")


# Below this a text's case says too little ("BP OK", "pt ok"); a short cell such as "She named him
# Frank" or "Seen by Anna Lindqvist" is long enough.
_MIXED_CASE_MIN_LETTERS = 10


@functools.lru_cache(maxsize=32)
def is_mixed_case(text: str) -> bool:
    """Normally cased text, neither ALL CAPS nor all lower case."""
    letters = len(regex.findall(r"\p{L}", text))
    if letters < _MIXED_CASE_MIN_LETTERS:
        return False
    return 0.03 < len(regex.findall(r"\p{Lu}", text)) / letters < 0.5


