"""Neighbours: the codes the department gave its most similar coded notes (a nearest-neighbour vote).

A classifier needs many notes per code; a vote of the nearest coded notes needs one. It carries
the department's habits that no code description names: the catch-all and history codes its
coders add, the external causes they pair with an injury. ``casenotes train-coder`` stores one
unit vector per de-identified training note (the mean of its MiniLM passage vectors, never its
text) with the note's codes, in the model folder; the coding step embeds each new note the same
way and lets the ``NEIGHBOURS`` closest notes vote, each weighted by its similarity raised to
``SHARPNESS`` so that a close note counts far more than a loosely related one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from casenotes import embeddings

NEIGHBOURS_FILE = "neighbours.npz"
NEIGHBOURS = 20
SHARPNESS = 3
_PASSAGE_CHARS = 600  # MiniLM reads 256 word pieces; a passage of about this many characters fits
_SENTENCE_END = re.compile(r"(?<=[.;:!?])\s+")


def note_vectors(texts: list[str], device: str = "cpu") -> np.ndarray:
    """One unit vector per note: the mean of its passages' embeddings (a long note is not cut off)."""
    passages, owner = [], []
    for i, text in enumerate(texts):
        for passage in _passages(text or ""):
            passages.append(passage)
            owner.append(i)
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    if passages:
        np.add.at(vectors, owner, embeddings.embed(passages, device))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


def _passages(text: str) -> list[str]:
    out, current = [], ""
    for sentence in _SENTENCE_END.split(text.strip()):
        if current and len(current) + len(sentence) > _PASSAGE_CHARS:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    return out + [current] if current else out


def save(folder: Path, vectors: np.ndarray, codes: list[list[str]]) -> None:
    """Vectors and codes only: nothing of the notes' text is kept, and the notes are shuffled so that
    the file's order does not lead back to the rows of the training spreadsheet. (The codes are still
    the department's: the model folder stays in-house, like the review workbook.)"""
    order = np.random.default_rng().permutation(len(codes))
    np.savez_compressed(Path(folder) / NEIGHBOURS_FILE, vectors=vectors[order].astype(np.float16),
                        codes=np.array([json.dumps(codes[i]) for i in order]))


def has_neighbours(folder: Path | None) -> bool:
    return bool(folder) and (Path(folder) / NEIGHBOURS_FILE).is_file()


class NeighbourVote:
    """The codes of a note's nearest coded notes, each with the share of the (weighted) vote it got."""

    def __init__(self, vectors: np.ndarray, codes: list[list[str]], device: str = "cpu",
                 neighbours: int = NEIGHBOURS, sharpness: float = SHARPNESS):
        self.vectors = vectors.astype(np.float32)
        self.codes = codes
        self.device = device
        self.neighbours = neighbours
        self.sharpness = sharpness

    @classmethod
    def from_folder(cls, folder: Path, device: str = "cpu") -> NeighbourVote:
        with np.load(Path(folder) / NEIGHBOURS_FILE, allow_pickle=False) as data:
            return cls(data["vectors"], [json.loads(c) for c in data["codes"]], device)

    def __len__(self) -> int:
        return len(self.codes)

    def votes(self, texts: list[str]) -> list[dict[str, float]]:
        if not len(self) or not texts:
            return [{} for _ in texts]
        return self.votes_for(note_vectors(texts, self.device))

    def votes_for(self, vectors: np.ndarray) -> list[dict[str, float]]:
        similarity = vectors @ self.vectors.T
        out = []
        for row in similarity:
            nearest = np.argsort(-row)[: self.neighbours]
            weights = np.maximum(row[nearest], 0) ** self.sharpness
            total = float(weights.sum())
            vote: dict[str, float] = {}
            for j, weight in zip(nearest, weights):
                for code in self.codes[j]:
                    vote[code] = vote.get(code, 0.0) + float(weight)
            out.append({code: v / total for code, v in vote.items()} if total > 0 else {})
        return out
