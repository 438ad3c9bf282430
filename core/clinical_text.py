"""Clinical text: note sections and sentences, the one list of section headers, and ConText-style
traits of a mention (negated, hypothetical, a family member's, history).

Clinical notes are written in headed sections (``CHIEF COMPLAINT:``, ``HPI:``, ``IMPRESSION:``...),
and what belongs in a summary depends on the section: the assessment and plan matter more than
the social history or the technique of an X-ray. Headers are matched from a list of the ones
EHRs and transcription services use; any other ALL-CAPS label before a colon starts an "other"
section. Sentences are split with care for clinical abbreviations ("Dr.", "s/p", "q.d.") and for
numbered lists, which transcriptions often run together on one line.

The traits follow ConText (Chapman et al.): a cue reaches the mentions after it (forward cues) or
before it (backward cues) in the same sentence, until a terminating word such as "but"; phrases
that look like cues and are not ("no change in") are ignored. The cues are data, in
``context_cues.tsv`` beside this module. Sections say it too: a problem listed under FAMILY
HISTORY is the family's, one under PAST MEDICAL HISTORY is history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Section kind -> header phrases (lower case). Order matters where one phrase contains another.
SECTION_HEADERS: dict[str, tuple[str, ...]] = {
    "assessment": ("assessment and plan", "assessment/plan", "a/p", "assessment", "impression", "impressions",
                   "diagnosis", "diagnoses", "final diagnosis", "discharge diagnosis", "discharge diagnoses",
                   "preoperative diagnosis", "preoperative diagnoses", "postoperative diagnosis",
                   "postoperative diagnoses", "conclusion", "conclusions", "summary", "opinion", "problem list",
                   "problems", "clinical impression", "working diagnosis", "differential diagnosis"),
    "complaint": ("chief complaint", "cc", "reason for visit", "reason for consultation", "reason for admission",
                  "presenting complaint", "indication", "indications", "reason for exam", "reason for referral"),
    "history": ("history of present illness", "hpi", "history", "brief history", "interval history",
                "clinical history", "history of the present illness", "subjective", "hospital course",
                "brief hospital course", "course"),
    "findings": ("findings", "abnormal findings", "operative findings", "intraoperative findings", "objective",
                 "physical examination", "physical exam", "exam", "examination", "results", "laboratory data",
                 "labs", "imaging", "studies", "pathology", "echocardiogram", "ekg", "ecg"),
    "procedure": ("procedure", "procedures", "procedure performed", "procedures performed", "operation",
                  "operation performed", "operations", "name of operation", "title of operation",
                  "description of procedure", "procedure in detail", "description of operation",
                  "operative procedure", "procedure detail", "procedure note", "operative note"),
    "plan": ("plan", "recommendation", "recommendations", "disposition", "follow-up", "follow up",
             "discharge instructions", "discharge plan", "treatment plan"),
    "background": ("past medical history", "pmh", "past surgical history", "psh", "family history", "fh",
                   "social history", "sh", "medications", "current medications", "meds", "allergies",
                   "review of systems", "ros", "vital signs", "vitals", "anesthesia", "estimated blood loss",
                   "blood loss", "fluids", "fluids received", "urine output", "drains", "tubes and drains",
                   "specimen", "specimens", "complications", "counts", "condition", "technique", "comparison",
                   "heent", "neck", "lungs", "heart", "chest", "abdomen", "extremities", "skin", "neurologic",
                   "cardiovascular", "musculoskeletal", "genitourinary", "general", "psychiatric", "immunizations"),
}
# What the coder needs to know of a section: a diagnosis under these is past or a relative's, and
# these record how a procedure went, not what the patient has ("ANESTHESIA: General").
PAST_HISTORY_HEADERS = ("past medical history", "pmh", "past surgical history", "psh", "past history",
                        "medical history", "history")
FAMILY_HISTORY_HEADERS = ("family history", "fh", "fhx")
PROCEDURE_RECORD_HEADERS = ("anesthesia", "estimated blood loss", "blood loss", "ebl", "fluids", "fluids received",
                            "urine output", "drains", "tubes and drains", "specimen", "specimens", "counts",
                            "disposition", "technique", "complications", "condition", "procedure performed",
                            "procedures performed", "name of operation", "title of operation", "operation performed",
                            "operations performed")

_KIND_BY_HEADER = {phrase: kind for kind, phrases in SECTION_HEADERS.items() for phrase in phrases}
_KNOWN = "|".join(sorted((re.escape(p) for p in _KIND_BY_HEADER), key=len, reverse=True))
# A SOAP note's one-letter headers (Subjective, Objective, Assessment, Plan): a capital at the start
# of a line, never before a number, so that a pulse ("P: 72") or a sentence's "a:" is not one.
# (Added after _KNOWN is built: only the pattern's own capital-letter branch can match them.)
SOAP_HEADERS = {"s": "history", "o": "findings", "a": "assessment", "p": "plan"}
_KIND_BY_HEADER.update(SOAP_HEADERS)
# A header starts a line, or follows the end of a sentence or a transcription's ", ," line break.
_HEADER = re.compile(
    rf"(?:^|(?<=\n)|(?<=[.,;]\s)|(?<=[.,;]))\s*(?P<name>(?i:{_KNOWN})|[A-Z][A-Z0-9 /&\-]{{2,40}}"
    rf"|(?<![^\n])[SOAP](?=\s*:\s*[^\d\s]))\s*:",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offsets into the note
    end: int
    section: str  # a key of SECTION_HEADERS, or "other"
    index: int  # position in the note, 0-based


def section_kind(header: str) -> str:
    return _KIND_BY_HEADER.get(" ".join(header.lower().split()), "other")


def sections(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each section body, in order; text before the first header is "other"."""
    spans: list[tuple[str, int, int]] = []
    last_kind, last_start = "other", 0
    for m in _HEADER.finditer(text):
        if m.start("name") > last_start or not spans:
            spans.append((last_kind, last_start, m.start("name")))
        last_kind, last_start = section_kind(m.group("name")), m.end()
    spans.append((last_kind, last_start, len(text)))
    return [(k, s, e) for k, s, e in spans if text[s:e].strip(" ,.;:\n\t")]


# Words whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st vs approx appt e.g i.e etc fig no nos pt pts q.d b.i.d t.i.d q.i.d p.r.n p.o q.h "
    "mg mcg ml cc hr hrs min sec yr yrs wk wks mo mos b.i.d. a.m p.m am pm inc co ltd jr sr dept univ".split()
)
_SENTENCE_END = re.compile(r"[.!?](?=\s+|,\s*,|$)|[.!?],(?=\d{1,2}\.\s)|\n\s*\n|(?<=\S)\s*,\s*,\s*|;(?=\s+\d+\.\s)|(?=\s\d{1,2}\.\s+[A-Z])")


def split_sentences(text: str, start: int = 0, end: int | None = None, section: str = "other") -> list[Sentence]:
    end = len(text) if end is None else end
    out: list[Sentence] = []
    cursor = start
    for m in _SENTENCE_END.finditer(text, start, end):
        mark = m.group()
        if mark == "." and _is_abbreviation(text, cursor, m.start()):
            continue
        _add(out, text, cursor, m.start() + 1 if mark[:1] in (".", "!", "?") else m.start(), section)
        cursor = m.end()
    _add(out, text, cursor, end, section)
    return out


def note_sentences(text: str) -> list[Sentence]:
    sentences: list[Sentence] = []
    for kind, start, end in sections(text):
        sentences += split_sentences(text, start, end, kind)
    return [Sentence(s.text, s.start, s.end, s.section, i) for i, s in enumerate(sentences)]


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    word = re.search(r"([A-Za-z.]+)$", text[start:dot])
    if not word:
        # "3.5" never reaches here (the period is followed by a digit); "1." in a list does.
        return bool(re.search(r"(?:^|\s)\d{1,2}$", text[start:dot]))
    w = word.group(1).lower()
    return w in _ABBREVIATIONS or (len(w) == 1 and w.isalpha())


def _add(out: list[Sentence], text: str, start: int, end: int, section: str) -> None:
    # Strip list numbering and stray separators but keep offsets exact.
    while start < end and (text[start] in " \t\n,;:" or text[start] == "."):
        start += 1
    m = re.match(r"\d{1,2}\.\s+", text[start:end])
    if m:
        start += m.end()
    while end > start and text[end - 1] in " \t\n,;:":
        end -= 1
    if sum(c.isalpha() for c in text[start:end]) >= 2:
        out.append(Sentence(text[start:end], start, end, section, len(out)))


# --- ConText-style traits of a mention ---

NEGATION, HYPOTHETICAL, FAMILY, HISTORY = "NEGATION", "HYPOTHETICAL", "FAMILY", "HISTORY"
TRAITS = (NEGATION, HYPOTHETICAL, FAMILY, HISTORY)
_DIRECTIONS = ("forward", "backward", "terminate", "pseudo")
# A backward cue may follow its mention after an auxiliary: "pneumonia was ruled out".
_AUXILIARY = r"(?:(?:was|were|is|are|has been|have been)\s+)?"
# The reach of a cue, not a sentence for a summary (split_sentences makes those): a line break ends
# it, and transcriptions often run lines together as ".," so that ends it too.
_CUE_SENTENCE_END = re.compile(r"[.!?\n](?:\s|$)|\.,")


@dataclass(frozen=True)
class ContextCues:
    forward: dict[str, re.Pattern]  # trait -> any of its cues, anywhere
    backward: dict[str, re.Pattern]  # trait -> any of its cues, at the start of the text after a mention
    terminate: re.Pattern
    pseudo: re.Pattern


def _cue_pattern(cue: str) -> str:
    """A cue as a regular expression; a cue that begins or ends with a letter never does so inside a word."""
    out = [r"(?<!\w)" if cue[0].isalnum() else ""]
    for part in re.split(r"(<number>|<year>|\s+)", cue):
        if part == "<number>":
            out.append(r"\d+")
        elif part == "<year>":
            out.append(r"(?:19|20)\d\d")
        elif part and part.isspace():
            out.append(r"\s+")
        elif part:
            out.append(re.escape(part))
    out.append(r"(?!\w)" if cue[-1].isalnum() else "")
    return "".join(out)


def _any_of(cues: list[str]) -> str:
    # Longest first, so that "no evidence of" wins over "no".
    return "(?:" + "|".join(_cue_pattern(c) for c in sorted(set(cues), key=len, reverse=True)) + ")"


@lru_cache(maxsize=1)
def context_cues() -> ContextCues:
    """The cues of ``context_cues.tsv``, compiled once."""
    table: dict[tuple[str, str], list[str]] = {}
    text = resources.files("casenotes").joinpath("context_cues.tsv").read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        trait, direction, cue = line.split("\t")
        if direction not in _DIRECTIONS or (trait not in TRAITS and direction in ("forward", "backward")):
            raise ValueError(f"context_cues.tsv line {number}: unknown trait or direction")
        table.setdefault((trait, direction), []).append(cue.strip().lower())

    def cues(direction: str, trait: str = "-") -> list[str]:
        return table.get((trait, direction), [])

    return ContextCues(
        forward={t: re.compile(_any_of(cues("forward", t)), re.IGNORECASE) for t in TRAITS if cues("forward", t)},
        backward={t: re.compile(r"^\W*" + _AUXILIARY + _any_of(cues("backward", t)), re.IGNORECASE)
                  for t in TRAITS if cues("backward", t)},
        terminate=re.compile(_any_of(cues("terminate")), re.IGNORECASE),
        pseudo=re.compile(_any_of(cues("pseudo")), re.IGNORECASE),
    )


def states_a_negation(sentence: str) -> bool:
    """Does the sentence negate anything at all (a summary that drops it changes the meaning)?"""
    cues = context_cues()
    return bool(cues.forward[NEGATION].search(_masked(sentence, cues)) or _NEVER.search(sentence))


_NEVER = re.compile(r"\b(?:never|none)\b", re.IGNORECASE)


def _masked(text: str, cues: ContextCues) -> str:
    """The text with its pseudo-cues blanked out, offsets kept."""
    return cues.pseudo.sub(lambda m: " " * len(m.group()), text)


def mention_traits(text: str, start: int, end: int) -> list[str]:
    """The traits of the mention text[start:end]; empty for an active one."""
    cues = context_cues()
    sentence_start = max((m.end() for m in _CUE_SENTENCE_END.finditer(text, 0, start)), default=0)
    m = _CUE_SENTENCE_END.search(text, end)
    sentence_end = m.start() + 1 if m else len(text)
    before = _masked(text[sentence_start:start], cues)
    after = _masked(text[end:sentence_end], cues)
    # Scope: from the last terminator before the mention, up to the first one after it. A forward
    # cue reaches to the end of its sentence unless a terminator ends it first, so "Negative for
    # tremors, headaches, ..., chest pain" negates the whole list.
    cut = max((t.end() for t in cues.terminate.finditer(before)), default=0)
    before_scope = before[cut:]
    stop = cues.terminate.search(after)
    after_scope = (after[: stop.start()] if stop else after)[:60]
    found = [trait for trait, pattern in cues.forward.items() if pattern.search(before_scope)]
    found += [trait for trait, pattern in cues.backward.items() if trait not in found and pattern.search(after_scope)]
    section = section_trait(text, start)
    if section and section not in found:
        found.append(section)
    return sorted(found)


SECTION_TRAITS = {**{h: FAMILY for h in FAMILY_HISTORY_HEADERS}, **{h: HISTORY for h in PAST_HISTORY_HEADERS}}
_TRAIT_SECTION_HEADER = re.compile(
    r"(?:^|\n)\s*(" + "|".join(sorted(map(re.escape, SECTION_TRAITS), key=len, reverse=True)) + r")\s*:", re.IGNORECASE)
_ANY_HEADER = re.compile(r"(?:^|\n)\s*[A-Za-z][A-Za-z /&]{1,40}:")


def section_trait(text: str, position: int) -> str | None:
    """FAMILY or HISTORY when ``position`` lies in a family-history or past-history section."""
    last = None
    for m in _TRAIT_SECTION_HEADER.finditer(text, 0, position):
        last = m
    if last is None:
        return None
    # A later header of another kind ends that section.
    if any(h.start() > last.start() for h in _ANY_HEADER.finditer(text, last.end(), position)):
        return None
    return SECTION_TRAITS[" ".join(last.group(1).lower().split())]
