"""Is a mention an active diagnosis? ConText-style rules for negation, hypotheticals, family and history.

A cue affects the mentions after it (or, for the post-cues, before it) in the same clause: the
scope ends at the sentence end or at a word like "but" or "however". Sections say it too: a
problem listed under FAMILY HISTORY is the family's, one under PAST MEDICAL HISTORY is history.
Only mentions with no trait are coded as active diagnoses.
"""

from __future__ import annotations

import re

from casenotes.clinical_text import FAMILY_HISTORY_HEADERS, PAST_HISTORY_HEADERS, PROCEDURE_RECORD_HEADERS

NEGATION, HYPOTHETICAL, FAMILY, HISTORY = "NEGATION", "HYPOTHETICAL", "FAMILY", "HISTORY"

_PRE = {
    NEGATION: r"no|not|non|nor|denie[sd]|deny|denying|without|w/o|negative for|neg for|free of|absence of|absent|"
              r"no evidence of|no signs? of|no history of|never had|ruled out|rules out|resolution of|"
              r"unremarkable for|fails to reveal|did not (?:show|reveal|have)|does not have|no new|no further",
    HYPOTHETICAL: r"r/o|rule out|ruling out|to rule out|possible|possibly|suspected|suspect|suspicion of|suspicious for|"
                  r"question of|questionable|concern for|concerning for|may have|might have|could be|if|in case of|"
                  r"risk of|at risk for|risk factors? for|evaluate for|evaluation for|screening for|differential|"
                  r"versus|vs\.?|likely|probable|presumed|cannot rule out|prophylaxis (?:of|for)|prevention of",
    FAMILY: r"mother|father|sister|brother|siblings?|aunt|uncle|grand(?:mother|father|parents?)|parents?|cousin|"
            r"family history|family hx|fhx|fh|maternal|paternal|mother's|father's",
    HISTORY: r"history of|hx of|h/o|past medical history|pmh|previous|previously|prior|s/p|status post|"
             r"in the past|old|remote|resolved|childhood|personal history of",
}
_POST = {
    NEGATION: r"(?:was|were|is|are|has been|have been)?\s*(?:ruled out|excluded|negative|absent|not (?:seen|found|present|"
              r"detected|identified|observed)|unlikely|resolved)",
    HYPOTHETICAL: r"(?:was|is|are)?\s*(?:suspected|possible|not excluded|cannot be excluded|could not be ruled out|"
                  r"to be ruled out|\?)",
    HISTORY: r"(?:\d+\s+(?:years?|months?)\s+ago|in (?:19|20)\d\d|in the past)",
}
_PRE_RE = {t: re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for t, p in _PRE.items()}
# Does a sentence state a negation at all (the summarizer's faithfulness check asks this)?
NEGATION_CUE = re.compile(rf"\b(?:{_PRE[NEGATION]}|never|none)\b", re.IGNORECASE)
_POST_RE = {t: re.compile(rf"^\W*{p}(?:\b|$)", re.IGNORECASE) for t, p in _POST.items()}
# Words that end a cue's scope within a sentence.
_TERMINATE = re.compile(r"\b(?:but|however|although|though|yet|except|which|apart from|aside from|presents?|"
                        r"presented|presenting|now|currently|who)\b|[;:]", re.IGNORECASE)
# The reach of a cue, not a sentence for a summary (core/clinical_text.py splits those): a line
# break ends it, and transcriptions often run lines together as ".," so that ends it too.
_SENTENCE_END = re.compile(r"[.!?\n](?:\s|$)|\.,")

SECTION_TRAITS = {**{h: FAMILY for h in FAMILY_HISTORY_HEADERS}, **{h: HISTORY for h in PAST_HISTORY_HEADERS}}
_SECTION_HEADER = re.compile(r"(?:^|\n)\s*(" + "|".join(sorted(map(re.escape, SECTION_TRAITS), key=len, reverse=True))
                             + r")\s*:", re.IGNORECASE)
_ANY_HEADER = re.compile(r"(?:^|\n)\s*[A-Za-z][A-Za-z /&]{1,40}:")


def traits(text: str, start: int, end: int) -> list[str]:
    """The traits of the mention text[start:end]; empty for an active diagnosis."""
    sentence_start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    m = _SENTENCE_END.search(text, end)
    sentence_end = m.start() + 1 if m else len(text)
    before = text[sentence_start:start]
    after = text[end:sentence_end]
    # Scope: from the last terminator before the mention, up to the first one after it.
    cut = max((t.end() for t in _TERMINATE.finditer(before)), default=0)
    before_scope = before[cut:]
    stop = _TERMINATE.search(after)
    after_scope = after[: stop.start()] if stop else after
    found = []
    for trait, pattern in _PRE_RE.items():
        # ConText: a cue reaches to the end of its sentence unless a word like "but" ends it first,
        # so "Negative for tremors, headaches, ..., chest pain" negates the whole list.
        if pattern.search(before_scope):
            found.append(trait)
    for trait, pattern in _POST_RE.items():
        if trait not in found and pattern.search(after_scope[:60]):
            found.append(trait)
    section = _section_trait(text, start)
    if section and section not in found:
        found.append(section)
    return sorted(found)


_NOT_DIAGNOSES_HEADER = re.compile(r"(?:^|\n|[.,]\s*,?|;)\s*(" + "|".join(sorted(map(re.escape, PROCEDURE_RECORD_HEADERS), key=len, reverse=True))
                                   + r")\s*:", re.IGNORECASE)
_NEXT_HEADER = re.compile(r"(?:^|\n|[.,]\s*,?|;)\s*[A-Z][A-Z /&\-]{2,40}:")


def excluded_spans(text: str) -> list[tuple[int, int]]:
    """Where the note records the procedure itself (anesthesia, blood loss, specimens...): not coded."""
    spans = []
    for m in _NOT_DIAGNOSES_HEADER.finditer(text):
        following = _NEXT_HEADER.search(text, m.end())
        spans.append((m.start(1), following.start() if following else len(text)))
    return spans


def _section_trait(text: str, position: int) -> str | None:
    last = None
    for m in _SECTION_HEADER.finditer(text, 0, position):
        last = m
    if last is None:
        return None
    # A later header of another kind ends that section.
    if any(h.start() > last.start() for h in _ANY_HEADER.finditer(text, last.end(), position)):
        return None
    return SECTION_TRAITS[" ".join(last.group(1).lower().split())]
