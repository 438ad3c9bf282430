"""Token-level binary PHI scoring, the measure used by the i2b2 / PhysioNet de-identification work.

Tokens are runs of letters or digits. A token is gold PHI when it overlaps a gold span and predicted
PHI when it overlaps a predicted span; the PHI type is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_TOKEN = re.compile(r"[A-Za-z0-9]+")


@dataclass
class TokenScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

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
