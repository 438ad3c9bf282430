"""The ranker: one calibrated score per candidate code from all the evidence the members found.

Each member says something different about a code: the embedded coder found the code set's words
or a clause close in meaning (and whether the note negates it or lists it as history), the
neighbour vote says how many similar coded notes carry it, the department's phrases say the note
names it the way the department's notes do, and the history says how common the code is. A
logistic regression over these features, trained by ``casenotes train-coder`` on candidates of
the department's own notes (each scored with members built without it), turns them into the
probability that the department's coders would assign the code. It learns what a hand-set rule
cannot: how much the vote is worth against the words, whether this department codes negated
findings, how often its coders add a history code. The weights are a few numbers in
``ranker.json``, read back without any code execution.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casenotes.clinical_text import HISTORY
from casenotes.coding import icd10
from casenotes.coding.default_coder import CodeSuggestion
from casenotes.coding.phrases import PhraseMatch

RANKER_FILE = "ranker.json"
FEATURES = (
    "index score", "index: code set's words", "index: clause meaning", "negated", "history", "hypothetical",
    "vote share", "vote share (square root)", "phrase similarity", "phrase precision", "phrase: both",
    "code frequency (log)", "seen in the history", "symptom code (R)", "external cause (V-Y)", "status code (Z)",
)
# Fewer right candidates than this (a few coded notes) teach a regression nothing it can be trusted
# with: the trained coder then ranks with the vote alone.
MIN_RIGHT_CANDIDATES = 20
MIN_VOTE_SHARE = 0.02  # below this a code is carried by one loosely similar note: not a candidate
TOP_VOTED = 40
_NEVER_SEEN = 1e-4  # frequency of a code the history never assigned


@dataclass
class Candidate:
    code: str
    features: np.ndarray
    suggestion: CodeSuggestion | None  # the embedded coder's, with its evidence
    phrase: PhraseMatch | None
    vote: float


def candidates(found: list[CodeSuggestion], vote: dict[str, float], phrase_hits: dict[str, PhraseMatch],
               frequency: dict[str, float]) -> list[Candidate]:
    """Every code any member proposes for one note, with its features (billable codes only)."""
    by_code = {s.code: s for s in found if icd10.is_billable(s.code)}
    voted = [c for c, share in sorted(vote.items(), key=lambda kv: -kv[1])
             if share >= MIN_VOTE_SHARE and icd10.is_billable(c)][:TOP_VOTED]
    codes = list(dict.fromkeys([*by_code, *voted, *(c for c in phrase_hits if icd10.is_billable(c))]))
    out = []
    for code in codes:
        s, phrase, share = by_code.get(code), phrase_hits.get(code), vote.get(code, 0.0)
        traits = set(s.traits) if s else set()
        kinds = {m.kind for m in s.evidence} if s else set()
        seen = frequency.get(code, 0.0)
        features = np.array([
            s.score if s else 0.0, float("term" in kinds), float(kinds == {"clause"}),
            float("NEGATION" in traits), float(HISTORY in traits), float("HYPOTHETICAL" in traits),
            share, math.sqrt(share),
            phrase.similarity if phrase else 0.0, phrase.precision if phrase else 0.0,
            (phrase.precision if phrase else 0.0) * (s.score if s else 0.0),
            math.log(max(seen, _NEVER_SEEN)), float(seen > 0),
            float(code[0] == "R"), float(code[0] in "VWXY"), float(code[0] == "Z"),
        ], dtype=np.float32)
        out.append(Candidate(code, features, s, phrase, share))
    return out


class Ranker:
    def __init__(self, weights: np.ndarray, intercept: float, frequency: dict[str, float]):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.intercept = float(intercept)
        self.frequency = frequency  # share of the department's coded notes that carry each code

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, frequency: dict[str, float],
            strength: float = 1.0) -> Ranker | None:
        """None when the history is too small to learn from (see MIN_RIGHT_CANDIDATES)."""
        from sklearn.linear_model import LogisticRegression

        if labels.sum() < MIN_RIGHT_CANDIDATES or labels.all():
            return None
        model = LogisticRegression(C=strength, max_iter=2000)
        model.fit(features, labels)
        return cls(model.coef_[0], model.intercept_[0], frequency)

    def probability(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-(features @ self.weights + self.intercept)))

    def save(self, folder: Path) -> None:
        (Path(folder) / RANKER_FILE).write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(float(w), 6) for w in self.weights],
            "intercept": round(self.intercept, 6), "code_frequency": self.frequency}, indent=1), encoding="utf-8")

    @classmethod
    def from_folder(cls, folder: Path) -> Ranker:
        data = json.loads((Path(folder) / RANKER_FILE).read_text(encoding="utf-8"))
        if list(data.get("features", [])) != list(FEATURES):
            from casenotes.errors import ConfigurationError

            raise ConfigurationError(f"coder folder '{Path(folder).name}': its ranker was trained by another "
                                     "casenotes version; train it again with casenotes train-coder")
        return cls(np.array(data["weights"]), data["intercept"], dict(data.get("code_frequency", {})))

    def explain(self) -> list[tuple[str, float]]:
        """The features by weight, for the model card."""
        return sorted(zip(FEATURES, self.weights.round(3).tolist()), key=lambda kv: -abs(kv[1]))


def code_frequency(codes: list[list[str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for note in codes:
        for c in set(note):
            counts[c] = counts.get(c, 0) + 1
    return {c: round(n / max(1, len(codes)), 6) for c, n in sorted(counts.items())}


def has_ranker(folder: Path | None) -> bool:
    return bool(folder) and (Path(folder) / RANKER_FILE).is_file()
