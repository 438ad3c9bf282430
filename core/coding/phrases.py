"""The department's phrases: how its own notes name each code it assigns (a learned dictionary).

The code set names a condition one way ("Localized edema"); a department's notes name it their own
way ("extremities without edemas", "swelling of both ankles"). ``casenotes train-coder`` aligns
each code of each coded note with the note's clause that names it: the clause the embedded coder
already took as the code's evidence, else the clause closest in meaning to the code's description
when it is close enough. Each aligned clause is kept as a MiniLM vector with its code (never its
text), and scored on all training notes: of the notes with a clause this close to it, the share
that carry the code (its precision, smoothed). A new note's clauses are compared with every kept
clause; the best match of each code, with its precision, is the code's dictionary evidence, and
the new note's matching clause is shown as the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casenotes import embeddings
from casenotes.coding import icd10

PHRASES_FILE = "phrases.npz"
# A clause at least this close to a code's description names it, when the embedded coder did not
# already take a clause as the code's evidence.
ALIGN_FLOOR = 0.5
# A new clause this close to a kept one says the same thing in the department's words.
MATCH_FLOOR = 0.75
_PRIOR_NOTES = 2  # precision smoothing: a clause aligned once is not yet proof


@dataclass
class PhraseMatch:
    similarity: float
    precision: float
    clause: int  # which of the note's clauses matched


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1)).astype(np.float32)


def description_vectors(codes, device: str = "cpu") -> dict[str, np.ndarray]:
    wanted = sorted(set(codes))
    return dict(zip(wanted, embeddings.embed([icd10.description(c) for c in wanted], device))) if wanted else {}


def aligned_clauses(note_clauses, codes: list[list[str]], found, descriptions: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """One vector per (note, code) alignment. ``note_clauses``: each note's NoteClauses; ``found``:
    the embedded coder's suggestions for each note (their evidence clauses align first);
    ``descriptions``: each code's description vector."""
    vectors, labels = [], []
    for read, note_codes, suggestions in zip(note_clauses, codes, found):
        if not len(read.clauses):
            continue
        evidence = {s.code: s.evidence for s in suggestions}
        for code in note_codes:
            chosen = {i for i, clause in enumerate(read.clauses)
                      for m in evidence.get(code, []) if clause.start <= m.start and m.end <= clause.end}
            if not chosen:
                similarity = read.vectors @ descriptions[code]
                best = int(np.argmax(similarity))
                if similarity[best] >= ALIGN_FLOOR:
                    chosen = {best}
            for i in sorted(chosen):
                vectors.append(read.vectors[i])
                labels.append(code)
    return (np.array(vectors, dtype=np.float32) if vectors else np.zeros((0, 384), np.float32)), labels


class DepartmentPhrases:
    def __init__(self, vectors: np.ndarray, codes: list[str], precision: np.ndarray, device: str = "cpu"):
        self.vectors = _unit(vectors) if len(vectors) else np.zeros((0, 384), np.float32)
        self.codes = list(codes)
        self.precision = precision.astype(np.float32)
        self.device = device

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def learn(cls, note_clauses, codes: list[list[str]], found, descriptions: dict[str, np.ndarray] | None = None,
              device: str = "cpu") -> DepartmentPhrases:
        if descriptions is None:
            descriptions = description_vectors([c for note in codes for c in note], device)
        vectors, labels = aligned_clauses(note_clauses, codes, found, descriptions)
        phrases = cls(vectors, labels, np.zeros(len(labels)), device)
        if not len(phrases):
            return phrases
        # Precision: of the training notes with a clause this close to the kept one, how many carry its code.
        hits = np.zeros(len(labels), np.float32)
        right = np.zeros(len(labels), np.float32)
        for read, note_codes in zip(note_clauses, codes):
            if not len(read.clauses):
                continue
            best = (_unit(read.vectors) @ phrases.vectors.T).max(axis=0)
            matched = best >= MATCH_FLOOR
            hits += matched
            right += matched & np.array([c in note_codes for c in labels])
        # The aligned note itself is among the hits; the prior keeps a clause seen once at about 1/3.
        phrases.precision = right / (hits + _PRIOR_NOTES)
        return phrases

    def matches(self, note_clauses) -> list[dict[str, PhraseMatch]]:
        """For each note, each code whose kept clauses one of its clauses matches: the best match."""
        out = []
        for read in note_clauses:
            best: dict[str, PhraseMatch] = {}
            if len(self) and len(read.clauses):
                similarity = _unit(read.vectors) @ self.vectors.T  # clauses x kept
                clause_of = similarity.argmax(axis=0)
                top = similarity.max(axis=0)
                for j in np.flatnonzero(top >= MATCH_FLOOR):
                    code = self.codes[j]
                    match = PhraseMatch(float(top[j]), float(self.precision[j]), int(clause_of[j]))
                    current = best.get(code)
                    if current is None or (match.similarity * match.precision > current.similarity * current.precision):
                        best[code] = match
            out.append(best)
        return out

    def save(self, folder: Path) -> None:
        """Vectors, codes and precisions only, shuffled: no clause text, no order back to the rows."""
        order = np.random.default_rng().permutation(len(self.codes))
        # float32: the match floor is a cosine, and half precision would move clauses across it.
        np.savez_compressed(Path(folder) / PHRASES_FILE, vectors=self.vectors[order].astype(np.float32),
                            codes=np.array([self.codes[i] for i in order]), precision=self.precision[order])

    @classmethod
    def from_folder(cls, folder: Path, device: str = "cpu") -> DepartmentPhrases:
        with np.load(Path(folder) / PHRASES_FILE, allow_pickle=False) as data:
            return cls(data["vectors"].astype(np.float32), [str(c) for c in data["codes"]], data["precision"], device)

    def summary(self) -> dict:
        """For the model card: how many clauses per code, and the codes best named."""
        per_code: dict[str, list[float]] = {}
        for code, p in zip(self.codes, self.precision):
            per_code.setdefault(code, []).append(float(p))
        return {"clauses": len(self.codes), "codes": len(per_code),
                "most_reliable": [c for c, _ in sorted(per_code.items(), key=lambda kv: -max(kv[1]))[:20]]}


def has_phrases(folder: Path | None) -> bool:
    return bool(folder) and (Path(folder) / PHRASES_FILE).is_file()

