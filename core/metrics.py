"""Scores against reference data, shared by the benchmarks, the tests and ``casenotes evaluate``.

PHI: token-level binary scoring, the measure of the i2b2 / PhysioNet de-identification work.
Tokens are runs of letters or digits. A token is gold PHI when it overlaps a gold span and predicted
PHI when it overlaps a predicted span; the PHI type is ignored.

Codes: recall@k and mean average precision of ranked suggestions, and micro precision, recall and
F1 of the suggestions above the threshold.

Summaries: mean ROUGE F-measures against reference summaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

_TOKEN = re.compile(r"[A-Za-z0-9]+")


class MicroCounts:
    """Micro precision, recall and F1 from true and false positives and false negatives: the one
    implementation every score here uses. ``EMPTY`` is what a ratio with nothing to count scores;
    each score says why it chose it."""

    EMPTY = 0.0
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else self.EMPTY

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else self.EMPTY

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class TokenScore(MicroCounts):
    # A note with no PHI in which nothing was flagged is de-identified perfectly: 1.0, not 0.0.
    EMPTY = 1.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "TokenScore") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn


def _covered(spans: Iterable[tuple[int, int]], length: int) -> bytearray:
    mask = bytearray(length)
    for start, end in spans:
        mask[max(0, start) : min(length, end)] = b"\x01" * (min(length, end) - max(0, start))
    return mask


def score_tokens(text: str, gold: Sequence[tuple[int, int]], predicted: Sequence[tuple[int, int]]) -> TokenScore:
    gold_mask = _covered(gold, len(text))
    pred_mask = _covered(predicted, len(text))
    score = TokenScore()
    for m in _TOKEN.finditer(text):
        is_gold = any(gold_mask[m.start() : m.end()])
        is_pred = any(pred_mask[m.start() : m.end()])
        if is_gold and is_pred:
            score.tp += 1
        elif is_pred:
            score.fp += 1
        elif is_gold:
            score.fn += 1
    return score


def recall_by_type(text: str, gold: Sequence[tuple[int, int, str]], predicted: Sequence[tuple[int, int]]
                   ) -> dict[str, tuple[int, int]]:
    """Per gold type: (gold tokens found, gold tokens missed), tokens as in ``score_tokens``."""
    pred_mask = _covered(predicted, len(text))
    out: dict[str, list[int]] = {}
    for start, end, kind in gold:
        counts = out.setdefault(kind, [0, 0])
        for m in _TOKEN.finditer(text, max(0, start), min(len(text), end)):
            counts[0 if any(pred_mask[m.start() : m.end()]) else 1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


@dataclass
class CodingScore(MicroCounts):
    """Ranked and thresholded scores of code suggestions against reference codes, over documents.
    With no code suggested (or none to find) there is nothing to credit: 0.0 (``MicroCounts.EMPTY``)."""

    documents: int = 0
    recall_at: dict[int, float] = field(default_factory=dict)  # k -> mean recall@k
    map: float = 0.0  # mean average precision
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def as_dict(self) -> dict:
        return {"documents": self.documents, **{f"recall@{k}": round(v, 4) for k, v in self.recall_at.items()},
                "MAP": round(self.map, 4), "micro_precision": round(self.precision, 4),
                "micro_recall": round(self.recall, 4), "micro_f1": round(self.f1, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn}


def score_codes(gold: list[set[str]], ranked: list[list[str]], chosen: list[set[str]] | None = None,
                ks: tuple[int, ...] = (5, 10)) -> CodingScore:
    """recall@k and MAP from each document's ranked codes; micro P/R/F1 from the chosen (thresholded) ones.

    Documents without reference codes are skipped for the ranked measures (their recall is undefined).
    """
    chosen = chosen if chosen is not None else [set(r) for r in ranked]
    score = CodingScore()
    recalls = {k: [] for k in ks}
    aps = []
    for g, r, c in zip(gold, ranked, chosen):
        score.tp += len(g & c)
        score.fp += len(c - g)
        score.fn += len(g - c)
        if not g:
            continue
        score.documents += 1
        for k in ks:
            recalls[k].append(len(g & set(r[:k])) / len(g))
        hits, precisions = 0, []
        for i, code in enumerate(r, start=1):
            if code in g:
                hits += 1
                precisions.append(hits / i)
        aps.append(sum(precisions) / len(g))
    score.recall_at = {k: sum(v) / len(v) if v else 0.0 for k, v in recalls.items()}
    score.map = sum(aps) / len(aps) if aps else 0.0
    return score


ROUGE_KINDS = ("rouge1", "rouge2", "rougeL")


def mean_rouge(references: Sequence[str], summaries: Sequence[str], kinds: Sequence[str] = ROUGE_KINDS
               ) -> dict[str, float]:
    """Mean ROUGE F-measure of each summary against its reference (stemmed, as the summarization
    literature reports it); 0.0 for every kind when there is no pair to score."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
    scores = [scorer.score(ref, summary) for ref, summary in zip(references, summaries)]
    return {k: sum(x[k].fmeasure for x in scores) / len(scores) if scores else 0.0 for k in kinds}


_CONTENT_WORD = re.compile(r"[a-z][a-z\-]{2,}")
_FUNCTION_WORDS = frozenset("the a an of and or to in on with for at by is was were be been has have had this that "
                            "his her he she pt patient who which from as are".split())


def chief_complaint(note: str) -> str | None:
    """The first sentence of the note's chief-complaint (reason for visit) section, if it has one."""
    from casenotes.clinical_text import note_sentences

    first = next((s for s in note_sentences(note) if s.section == "complaint"), None)
    return first.text if first and _content_words(first.text) else None


def history_opening(note: str) -> str | None:
    """The first sentence of the note's first history section (HPI, subjective): where a note with
    no chief-complaint section usually says why the patient came."""
    from casenotes.clinical_text import note_sentences

    first = next((s for s in note_sentences(note) if s.section == "history"), None)
    return first.text if first and _content_words(first.text) else None


def names_the_complaint(summary: str, complaint: str, share: float = 0.6) -> bool:
    """Does the summary say why the patient came: most (``share``) of the complaint's content words?"""
    wanted = _content_words(complaint)
    return bool(wanted) and len(wanted & _content_words(summary)) >= share * len(wanted)


def _content_words(text: str) -> set[str]:
    return {w for w in _CONTENT_WORD.findall(text.lower()) if w not in _FUNCTION_WORDS}
