"""Does a summary say only what its note says?

A generative model can invent a number, a date or a drug, or drop a "no" and turn an absent
finding into a present one. Each check returns a reason for "needs review"; the reasons name the
kind of problem, never the words, because the review column is part of the shareable workbook.
"""

from __future__ import annotations

import re

from casenotes.clinical_text import states_a_negation

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w])")
_DATE = re.compile(
    r"\[DATE\]|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]{3,}")
_SENTENCE = re.compile(r"[^.;!?\n]+")
_STOP = frozenset(
    "with that this there their they have been were from into also some more most very than then what when which "
    "while will would could should about after before again being both each few other such only same over under "
    "patient noted seen shows show showed appears appear evidence significant".split()
)

# USAN stems and common drug names: enough to notice a drug the note never mentions.
_DRUG_STEMS = (
    "pril", "sartan", "olol", "alol", "statin", "cillin", "mycin", "micin", "floxacin", "cycline", "azole", "prazole",
    "dipine", "parin", "xaban", "gatran", "semide", "thiazide", "tidine", "triptan", "ciclovir", "vir", "gliptin",
    "glitazone", "formin", "oxetine", "pramine", "azepam", "zolam", "codone", "morphone", "profen", "olone", "asone",
    "isone", "lukast", "terol", "tropium", "setron", "mab", "tinib", "platin", "rubicin", "caine", "curium", "barbital",
    "peridol", "apine", "idone", "afil", "dronate", "tretin",
)
_DRUG_NAMES = frozenset(
    "aspirin acetaminophen tylenol ibuprofen heparin warfarin coumadin insulin lasix furosemide morphine fentanyl "
    "digoxin amiodarone nitroglycerin metformin prednisone dexamethasone vancomycin ceftriaxone zosyn levaquin "
    "albuterol ativan lorazepam haldol propofol clopidogrel plavix lisinopril metoprolol atorvastatin potassium "
    "magnesium dilaudid oxycodone tramadol gabapentin levothyroxine synthroid protonix pantoprazole omeprazole "
    "zofran ondansetron benadryl diphenhydramine narcan naloxone epinephrine norepinephrine levophed dopamine "
    "dobutamine vasopressin labetalol hydralazine diltiazem cardizem adenosine atropine lidocaine ketamine "
    "midazolam versed precedex dexmedetomidine bactrim flagyl metronidazole cipro keflex penicillin".split()
)


def is_drug(word: str) -> bool:
    w = word.lower()
    return w in _DRUG_NAMES or (len(w) > 5 and w.endswith(_DRUG_STEMS))


def unsupported(summary: str, source: str) -> list[str]:
    """Reasons this summary needs a human look; empty when everything in it is backed by the note."""
    reasons = []
    source_numbers = {_norm_number(n) for n in _NUMBER.findall(source)}
    if any(_norm_number(n) not in source_numbers for n in _NUMBER.findall(summary)):
        reasons.append("summary has a number not in the note")
    source_dates = {d.lower() for d in _DATE.findall(source)}
    if any(d.lower() not in source_dates for d in _DATE.findall(summary)):
        reasons.append("summary has a date not in the note")
    source_words = {w.lower() for w in _WORD.findall(source)}
    if any(is_drug(w) and w.lower() not in source_words for w in _WORD.findall(summary)):
        reasons.append("summary names a drug not in the note")
    if _negation_mismatch(summary, source):
        reasons.append("summary changes a negation of the note")
    return reasons


def _norm_number(text: str) -> str:
    text = text.replace(",", ".")
    return text.rstrip("0").rstrip(".") if "." in text else text.lstrip("0") or "0"


def _negation_mismatch(summary: str, source: str) -> bool:
    """A finding negated in the summary but never in the note, or stated in the summary but only ever negated in it."""
    negated, asserted = _findings(source)
    for sentence in _SENTENCE.findall(summary):
        words = {w.lower() for w in _WORD.findall(sentence)} - _STOP
        if not words:
            continue
        if states_a_negation(sentence):
            # Negated in the summary: some sentence of the note must negate at least one of these words.
            if words & (negated | asserted) and not words & negated:
                return True
        elif words & negated and not words & asserted:
            return True
    return False


def _findings(text: str) -> tuple[set[str], set[str]]:
    negated: set[str] = set()
    asserted: set[str] = set()
    for sentence in _SENTENCE.findall(text):
        words = {w.lower() for w in _WORD.findall(sentence)} - _STOP
        (negated if states_a_negation(sentence) else asserted).update(words)
    return negated, asserted
