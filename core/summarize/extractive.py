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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from core import embeddings
from core.clinical_text import Sentence, note_sentences

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
    from core.phi import lexicon

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

    def __init__(self, device: str = "cpu", length: SummaryLength | None = None, redundancy: float = 0.85):
        self.device = device
        self.length = length or SummaryLength()
        self.redundancy = redundancy

    @property
    def model_name(self) -> str:
        return f"embedded extractive ranking, {embeddings.model_name()}"

    def settings(self) -> dict[str, str]:
        return {"max sentences": str(self.length.max_sentences), "ratio": str(self.length.ratio),
                "max words": str(self.length.max_words)}

    def load(self) -> None:
        embeddings.embed(["warm up"], self.device)

    def summarize(self, texts: list[str]) -> list[str]:
        per_note = [note_sentences(t) if t and t.strip() else [] for t in texts]
        flat = [s.text for sentences in per_note for s in sentences]
        vectors = embeddings.embed(flat, self.device)
        out, cursor = [], 0
        for sentences in per_note:
            out.append(self._pick(sentences, vectors[cursor : cursor + len(sentences)]))
            cursor += len(sentences)
        return out

    def _pick(self, sentences: list[Sentence], vectors: np.ndarray) -> str:
        if not sentences:
            return ""
        if len(sentences) == 1:
            return sentences[0].text
        centroid = vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        centrality = vectors @ centroid
        scores = [self.score(s, float(c)) for s, c in zip(sentences, centrality)]
        wanted = self.length.sentences_for(len(sentences))
        chosen: list[int] = []
        words = 0
        for i in sorted(range(len(sentences)), key=lambda i: -scores[i]):
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


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else text + "."
