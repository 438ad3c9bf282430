"""The embedded default summarizer: picks the sentences a reader of the record needs.

Each sentence of the de-identified note is scored by
* the section it is in (assessment, impression and plan first; the chief complaint next; social
  history, medication lists and exam technique last),
* how central it is to the note (cosine similarity of its MiniLM embedding to the note's mean),
* whether it states a finding rather than a normal or absent one (abnormal findings are what an
  impression reports first),
and the best ones, minus near-duplicates, are returned in the note's own order. Nothing is
generated, so nothing can be invented; the length follows the note (a third of its sentences,
at least one, at most ``max_sentences`` and ``max_words``).

A note written in sections (a visit note, a discharge summary, an operative note) is summarized
problem first instead: "Reason:", "Key findings:" (abnormal ones only), "Assessment:" and "Plan:"
lines, each from the best sentences of that section, in the note's own words.

Any other note (a radiology or lab report, a nursing note) is summarized impression first: the
best of the sentences that state something abnormal, and when every sentence states a normal or
absent finding, plainly that: "No abnormality reported."
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from casenotes import embeddings
from casenotes.clinical_text import Sentence, context_cues, note_sentences, states_a_negation

SECTION_WEIGHT = {
    "assessment": 0.6,
    "complaint": 0.25,
    "plan": 0.5,
    "findings": 0.25,
    "other": 0.2,
    "history": 0.15,
    "procedure": 0.05,
    "background": -0.2,
}
# Sentences that describe how an exam was done, not what it found.
_TECHNIQUE = re.compile(
    r"\b(?:consists? of|views? (?:of|were)|radiographs? of|was (?:performed|obtained)|were obtained|comparison|"
    r"technique|compared (?:to|with)|dictated|transcribed|electronically signed|signed by|was explained|"
    r"consent was|informed consent|prepped and draped|was taken to the)\b",
    re.IGNORECASE,
)
_NORMAL = re.compile(
    r"\b(?:no|not|without|negative|normal|unremarkable|within normal limits|wnl|clear|intact|stable|"
    r"unchanged|absent|none|denies|resolved)\b",
    re.IGNORECASE,
)


# Words that state a finding is normal. Not "stable" or "unchanged": a stable effusion is still one.
_NORMAL_FINDING = re.compile(
    r"\b(?:normal|within normal limits|wnl|unremarkable|clear|intact|not enlarged|negative|no acute|"
    r"appropriate|symmetric|patent)\b", re.IGNORECASE)
# A measured thing, a change or a lesion is a finding, whatever else the sentence says
# ("9 mm nodule not definitively calcified", "worsening scoliosis with exaggeration of normal kyphosis").
_MEASURED = re.compile(r"\d\s*(?:mm|cm|millimet|centimet)", re.IGNORECASE)
_FINDING = re.compile(
    r"\b(?:new|newly|increas\w*|worse\w*|worsen\w*|enlarg\w*|progress\w*|improv\w*|decreas\w*|resolv\w*|"
    r"stable|unchanged|persist\w*|mass(?:es)?|nodul\w*|lesions?|opacit\w*|effusions?|consolidat\w*|fractur\w*|"
    r"infiltrat\w*|edema|oedema|suspicious|concerning)\b", re.IGNORECASE)
_LEADING_WORDS = 5  # "There is no ...", "The lungs are free of ...": a negation this early covers the sentence
NOTHING_ABNORMAL = "No abnormality reported."


def states_only_normal(sentence: str) -> bool:
    """Does every part of the sentence (split where a "but" or "however" turns it) say that a
    finding is normal or absent? Conservative: when in doubt, it is a finding."""
    return all(_normal_part(part) for part in context_cues().terminate.split(sentence) if _WORD.search(part.lower()))


def _normal_part(part: str) -> bool:
    if _MEASURED.search(part):
        return False
    if states_a_negation(" ".join(part.split()[:_LEADING_WORDS])):
        return True
    return bool(_NORMAL_FINDING.search(part)) and not _FINDING.search(part)


def _only_technique(sentence: str) -> bool:
    """How the exam was done ("frontal and lateral views were obtained"), saying nothing found."""
    return bool(_TECHNIQUE.search(sentence)) and not _MEASURED.search(sentence) and not _FINDING.search(sentence)


# Sentences about who called whom, titles and sign-offs: needed in the note, not in its summary.
_ADMINISTRATIVE = re.compile(
    r"\b(?:aware|called|notified|update[ds]?|at bedside|phone|paged|report given|family meeting|progress note|"
    r"nursing note|addendum|see (?:flow ?sheet|carevue|above)|will continue to monitor|cont(?:inue)? to monitor)\b",
    re.IGNORECASE,
)
_PLAN = re.compile(r"\b(?:plan|will|continue|start(?:ed)?|recommend\w*|follow[- ]up|schedul\w+|consult\w*|"
                   r"discharge|transfer|d/c|taper|increase|decrease|cath)\b", re.IGNORECASE)
# Problem abbreviations a note names its diagnosis with; ICD-10-CM words cover the spelled-out ones.
PROBLEM_ABBREVIATIONS = frozenset(
    "nstemi stemi mi acs chf hf copd cad afib a-fib aflutter dvt pe uti cva tia ards aki arf ckd esrd dka hhs gib "
    "ugib lgib sbo pna hap cap vap sepsis htn dm dm2 iddm niddm osa etoh cirrhosis hcc ca mets".split()
)
_WORD = re.compile(r"[a-z][a-z\-]+")
_TAG = re.compile(r"\[[A-Z_]+\]")


def _names_a_problem(text: str) -> bool:
    from casenotes.phi import lexicon

    words = _WORD.findall(text.lower())
    return any(w in PROBLEM_ABBREVIATIONS or (len(w) > 5 and w in lexicon.icd10_words() and lexicon.zipf(w) < 3.5)
               for w in words)


@dataclass(frozen=True)
class SummaryLength:
    max_sentences: int = 3
    ratio: float = 0.35
    max_words: int = 80

    def sentences_for(self, available: int) -> int:
        return max(1, min(self.max_sentences, round(available * self.ratio)))


class ExtractiveSummarizer:
    kind = "extractive"

    def __init__(self, device: str = "cpu", length: SummaryLength | None = None, redundancy: float = 0.85,
                 problem_oriented: bool = True):
        self.device = device
        self.length = length or SummaryLength()
        self.redundancy = redundancy
        # A note with at least two of the sections below is summarized as labelled lines; any other
        # (a radiology report's findings, a nursing note) by the ranking alone.
        self.problem_oriented = problem_oriented

    @property
    def model_name(self) -> str:
        return f"embedded extractive ranking, {embeddings.model_name()}"

    def settings(self) -> dict[str, str]:
        return {"max sentences": str(self.length.max_sentences), "ratio": str(self.length.ratio),
                "max words": str(self.length.max_words),
                "notes in sections": ("labelled lines, at most max sentences each, of at most "
                                      f"{_LINE_WORDS} words" if self.problem_oriented else "ranked like the others"),
                "encoder precision": embeddings.resolve_precision(self.device)}

    def load(self) -> None:
        embeddings.embed(["warm up"], self.device)

    def summarize(self, texts: list[str]) -> list[str]:
        per_note = [note_sentences(t) if t and t.strip() else [] for t in texts]
        plans = [self._plan(sentences) for sentences in per_note]
        # The encoder is most of the time: only notes whose summary depends on the ranking are embedded
        # (not a one-sentence note, nor one that states only normal findings), all in one call, so
        # that the sentences of the whole batch are sorted by length together.
        flat = [s.text for sentences, plan in zip(per_note, plans) if not isinstance(plan, str) for s in sentences]
        vectors = embeddings.embed(flat, self.device)
        out, cursor = [], 0
        for sentences, plan in zip(per_note, plans):
            if isinstance(plan, str):
                out.append(plan)
                continue
            out.append(self._pick(sentences, vectors[cursor : cursor + len(sentences)], plan))
            cursor += len(sentences)
        return out

    def _problem_oriented(self, sentences: list[Sentence]) -> bool:
        return self.problem_oriented and len({s.section for s in sentences} & set(_LINES)) >= 2

    def _plan(self, sentences: list[Sentence]) -> str | list[int] | None:
        """The summary when the ranking cannot change it; else the sentences an impression-first
        summary picks from (None: labelled lines, which rank every sentence)."""
        if not sentences:
            return ""
        if len(sentences) == 1:
            return sentences[0].text
        if self._problem_oriented(sentences):
            return None
        # Impression first: what is abnormal, or plainly that nothing is (how an exam was done says neither).
        stated = [i for i, sentence in enumerate(sentences) if not _only_technique(sentence.text)]
        abnormal = [i for i in stated if not states_only_normal(sentences[i].text)]
        if stated and not abnormal:
            return NOTHING_ABNORMAL
        return abnormal or list(range(len(sentences)))

    def _pick(self, sentences: list[Sentence], vectors: np.ndarray, candidates: list[int] | None = None) -> str:
        plan = self._plan(sentences) if candidates is None else candidates
        if isinstance(plan, str):
            return plan
        centroid = vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        centrality = vectors @ centroid
        scores = [self.score(s, float(c)) for s, c in zip(sentences, centrality)]
        if plan is None:
            return self._problem_lines(sentences, scores, vectors)
        wanted = self.length.sentences_for(len(sentences))
        chosen: list[int] = []
        words = 0
        for i in sorted(plan, key=lambda i: -scores[i]):
            if len(chosen) == wanted:
                break
            if any(float(vectors[i] @ vectors[j]) > self.redundancy for j in chosen):
                continue
            n = len(sentences[i].text.split())
            if chosen and words + n > self.length.max_words:
                continue
            chosen.append(i)
            words += n
        return " ".join(_as_sentence(sentences[i].text) for i in sorted(chosen))

    def _problem_lines(self, sentences: list[Sentence], scores: list[float], vectors: np.ndarray) -> str:
        """A multi-section note as short labelled lines, each the note's own best sentence(s) of that
        section: why the patient came, what was abnormal, what the clinician concluded, what is next."""
        lines, taken = [], []
        for kind, (label, most) in _LINES.items():
            ranked = sorted((i for i, s in enumerate(sentences) if s.section == kind and not _TECHNIQUE.search(s.text)
                             and len(_WORD.findall(s.text.lower())) >= 2), key=lambda i: -scores[i])
            if kind == "findings":  # only what is abnormal, and said in more than a phrase ("Same as above")
                ranked = [i for i in ranked if not _NORMAL.search(sentences[i].text) and len(sentences[i].text.split()) >= 4]
            if kind == "complaint":  # the reason is stated first
                ranked = sorted(ranked) or _reason_in_history(sentences)
            if kind == "procedure":  # its name, stated first, not the steps of its description
                ranked = [i for i in sorted(ranked) if len(sentences[i].text.split()) <= 20][:1]
            chosen: list[int] = []
            for i in ranked:  # a preoperative diagnosis repeated as the postoperative one is said once
                if len(chosen) < min(most, self.length.max_sentences) and not any(float(vectors[i] @ vectors[j]) > self.redundancy for j in taken):
                    chosen.append(i)
                    taken.append(i)
            chosen.sort()
            if chosen:
                lines.append(f"{label}: " + " ".join(_as_sentence(_shortened(sentences[i].text)) for i in chosen))
        return "\n".join(lines)

    @staticmethod
    def score(sentence: Sentence, centrality: float) -> float:
        text = sentence.text
        score = SECTION_WEIGHT.get(sentence.section, 0.0) + centrality
        if _TECHNIQUE.search(text):
            score -= 0.5
        if _ADMINISTRATIVE.search(text):
            score -= 0.3
        if len(_TAG.findall(text)) * 3 > len(text.split()):
            score -= 0.3  # mostly replaced identifiers: nothing clinical left to say
        if not _NORMAL.search(text):
            score += 0.15  # states a finding rather than its absence
            if _names_a_problem(text):
                score += 0.1
        if sentence.section in ("other", "history") and _PLAN.search(text):
            score += 0.1  # a plan in a note without a plan section
        # Earlier sentences of a section carry its point; the decay is slow.
        return score - 0.02 * math.log1p(sentence.index)


# Section kind -> the line's label and how many of its sentences it takes, in the order a reader wants.
_LINES = {"complaint": ("Reason", 1), "findings": ("Key findings", 2), "assessment": ("Assessment", 2),
          "procedure": ("Procedure", 1), "plan": ("Plan", 2)}
_LINE_WORDS = 40


# How the opening of a history says why the patient came, when no section is headed for it
# ("... who presents with 3 days of cough", "seen today for follow-up of", "referred for").
_REASON = re.compile(
    r"\b(?:present(?:s|ed|ing)\s+(?:to\s+\w+(?:\s+\w+)?\s+)?(?:with|for)"
    r"|here\s+(?:today\s+)?(?:for|with|because)|seen\s+(?:today\s+)?(?:for|in)|comes?\s+in|came\s+in"
    r"|complain(?:s|ed|ing)?\s+of|c/o|referred\s+(?:for|with|by)|admitted\s+(?:with|for)|(?:status\s+post|s/p)\b"
    r"|for\s+(?:routine\s+|a\s+)?(?:follow[- ]?up|evaluation|assessment|review))", re.IGNORECASE)
_ONE_LINER = re.compile(r"\b\d+[- ](?:year|yr|month|week|day)s?[- ]old\b.*\bwith\b", re.IGNORECASE)
_REASON_WITHIN = 3  # the reason is in the history's opening sentences, not its story


def _reason_in_history(sentences: list[Sentence]) -> list[int]:
    """The first sentence of the first history section's opening that says why the patient came."""
    history = [i for i, s in enumerate(sentences) if s.section == "history"]
    if not history:
        return []
    first_section = [i for i in history if i - history[0] < _REASON_WITHIN and
                     all(sentences[j].section == "history" for j in range(history[0], i + 1))]
    stated = [i for i in first_section if _REASON.search(sentences[i].text)][:1]
    # Else the history's one-liner ("a 60-year-old man with CKD stage 4 ...") names the main problem.
    return stated or [i for i in first_section[:1] if _ONE_LINER.search(sentences[i].text)]


def _shortened(text: str) -> str:
    """A sentence of at most _LINE_WORDS words, cut at a clause boundary where it runs on (lists)."""
    words = text.split()
    if len(words) <= _LINE_WORDS:
        return text
    cut = " ".join(words[:_LINE_WORDS])
    boundary = max(cut.rfind(", "), cut.rfind("; "))
    return (cut[:boundary] if boundary > len(cut) // 2 else cut).rstrip(",;") + " ..."


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else text + "."
