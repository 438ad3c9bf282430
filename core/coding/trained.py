"""A department's trained coder: the embedded default coder with what ``train-coder`` learned.

The folder ``casenotes train-coder`` writes holds the members it learned from the department's
coded notes: the neighbour vote (``neighbours.npz``), the department's phrases (``phrases.npz``),
the ranker that weighs all the evidence (``ranker.json``) and, when asked for, a fine-tuned
classifier (a Hugging Face folder's files). ``coder.json`` lists them with the coding convention
the history showed. Each code keeps the names of the members that proposed it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from casenotes import embeddings
from casenotes.coding import icd10
from casenotes.coding.classifier import ClassifierCoder, with_closest_evidence
from casenotes.coding.default_coder import CONVENTIONS, CodeSuggestion, DefaultCoder, NoteClauses, settle_excludes1
from casenotes.coding.neighbours import NeighbourVote, has_neighbours
from casenotes.coding.phrases import DepartmentPhrases, has_phrases
from casenotes.coding.ranker import Ranker, candidates, has_ranker
from casenotes.errors import ConfigurationError

MANIFEST = "coder.json"
_MEMBER_FILES = {"neighbours": "neighbours.npz", "dictionary": "phrases.npz", "ranker": "ranker.json",
                 "classifier": "config.json"}
# The ranker's probability under which a candidate is not listed at all (the Codes sheet would
# otherwise show dozens of codes a note's neighbours carry), and the most listed per note.
LISTED_FLOOR = 0.03
MOST_LISTED = 40
# A code only the vote proposed shows the note's clause closest to its description as evidence
# only when it is at least this close: a loosely related clause would mislead the reviewer.
EVIDENCE_FLOOR = 0.4
# Without a ranker (too few coded notes, or a folder from before it existed): how much a unanimous
# vote adds (noisy-or), and the least share that counts as the vote proposing a code.
NEIGHBOUR_WEIGHT = 0.7
VOTE_SHARE = 0.05
MOST_VOTED = 30


def write_manifest(folder: Path, members: list[str], convention: str) -> None:
    (Path(folder) / MANIFEST).write_text(json.dumps({"members": members, "convention": convention}, indent=1),
                                         encoding="utf-8")


def read_manifest(folder: Path) -> dict:
    """The coder folder's manifest; a folder from before the manifest: its classifier's config."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {"members": ["classifier"], "convention": config.get("casenotes_convention", "active")}


def has_classifier(folder: Path) -> bool:
    return (Path(folder) / "config.json").is_file()


class TrainedCoder:
    kind = "trained"

    def __init__(self, default: DefaultCoder, classifier: ClassifierCoder | None = None,
                 neighbours: NeighbourVote | None = None, phrases: DepartmentPhrases | None = None,
                 ranker: Ranker | None = None):
        self.default, self.classifier, self.neighbours = default, classifier, neighbours
        self.phrases, self.ranker = phrases, ranker
        self._descriptions: dict[str, np.ndarray] = {}

    @classmethod
    def from_folder(cls, folder: Path, default: DefaultCoder) -> TrainedCoder:
        """The members the folder holds; a missing folder, or one without the members its manifest
        lists, is an error (a mistyped --coder must never run as the default coder unnoticed)."""
        folder, device = Path(folder), default.device
        if not folder.is_dir():
            raise ConfigurationError(f"Coder model folder '{folder.name}' not found")
        members = read_manifest(folder).get("members")
        if members is None:
            raise ConfigurationError(f"Coder folder '{folder.name}' has no coder.json or config.json: "
                                     "not a coder made by casenotes train-coder")
        missing = [f for m, f in _MEMBER_FILES.items() if m in members and not (folder / f).is_file()]
        if missing:
            raise ConfigurationError(f"Coder folder '{folder.name}' is incomplete (missing {', '.join(missing)}); "
                                     "train it again with casenotes train-coder")
        return cls(default,
                   ClassifierCoder(folder, device, evidence_from=default) if has_classifier(folder) else None,
                   NeighbourVote.from_folder(folder, device) if has_neighbours(folder) else None,
                   DepartmentPhrases.from_folder(folder, device) if has_phrases(folder) else None,
                   Ranker.from_folder(folder) if has_ranker(folder) else None)

    @property
    def model_name(self) -> str:
        members = [m for m in (
            self.classifier.model_name if self.classifier else None,
            f"{len(self.neighbours)} coded notes' neighbour vote" if self.neighbours else None,
            f"{len(self.phrases)} department phrases" if self.phrases else None,
            "a ranker trained on the department's codes" if self.ranker else None) if m]
        return " + ".join(members + [self.default.model_name])

    def settings(self) -> dict[str, str]:
        extra = {"neighbours": f"{self.neighbours.neighbours} of {len(self.neighbours)}"} if self.neighbours else {}
        return {**(self.classifier.settings() if self.classifier else {}), **extra, **self.default.settings()}

    def load(self) -> None:
        self.default.load()
        if self.classifier:
            self.classifier.load()

    def code(self, texts: list[str]) -> list[list[CodeSuggestion]]:
        found, read = self.default.code_with_clauses(texts)
        votes = self.neighbours.votes(texts) if self.neighbours else [{} for _ in texts]
        merged_notes = self.merged(texts, found, read, votes)
        if self.classifier:
            for merged, proposed in zip(merged_notes, self.classifier.code(texts)):
                for s in proposed:
                    if s.code in merged:
                        mine = merged[s.code]
                        mine.score = 1 - (1 - mine.score) * (1 - s.score)  # two independent signals
                        mine.sources = [*mine.sources, *s.sources]
                    else:
                        merged[s.code] = s
        # The ranker's scores replace the default's, so Excludes1 is settled again on them; without a
        # ranker the default already settled its own codes and halving them again would double it.
        return [finished(merged, settle=self.ranker is not None) for merged in merged_notes]

    def merged(self, texts, found, read, votes) -> list[dict[str, CodeSuggestion]]:
        """The members' codes for each note, before the classifier: ranked, or voted without a ranker."""
        return self.rank(found, read, votes) if self.ranker else self.voted(texts, found, votes)

    def rank(self, found: list[list[CodeSuggestion]], read: list[NoteClauses],
             votes: list[dict[str, float]]) -> list[dict[str, CodeSuggestion]]:
        """The ranker's codes for each note, from what the default coder found and read and the vote."""
        hits = self.phrases.matches(read) if self.phrases else [{} for _ in found]
        notes = [candidates(f, v, h, self.ranker.frequency) for f, v, h in zip(found, votes, hits)]
        excluded = CONVENTIONS[self.default.convention]
        # The vote proposes the department's usual codes again and again: each description is embedded once.
        new = sorted({c.code for note in notes for c in note if c.suggestion is None and c.phrase is None}
                     - set(self._descriptions))
        if new:
            self._descriptions.update(zip(new, embeddings.embed([icd10.description(c) for c in new], self.default.device)))
        descriptions = self._descriptions
        out = []
        for note, clauses in zip(notes, read):
            probability = self.ranker.probability(np.array([c.features for c in note])) if note else []
            listed = sorted(zip(note, probability), key=lambda t: -t[1])[:MOST_LISTED]
            merged: dict[str, CodeSuggestion] = {}
            for c, p in listed:
                if p < LISTED_FLOOR:
                    break
                sources = [*(["index"] if c.suggestion else []), *(["dictionary"] if c.phrase else []),
                           *(["neighbours"] if c.vote >= VOTE_SHARE else [])] or ["neighbours"]
                if c.suggestion is not None:  # a copy: the default coder's own stays as it found it
                    s = dataclasses.replace(c.suggestion, score=float(p), sources=sources)
                else:
                    if c.phrase is not None:
                        evidence = [clauses.clauses[c.phrase.clause]]
                    else:
                        evidence = _closest(clauses, descriptions[c.code])
                    traits = sorted(set(evidence[0].traits)) if evidence else []
                    s = CodeSuggestion(c.code, icd10.description(c.code), float(p), evidence, traits,
                                       excluded_traits=excluded, sources=sources)
                merged[c.code] = s
            out.append(merged)
        return out

    def voted(self, texts, found, votes) -> list[dict[str, CodeSuggestion]]:
        """A folder without a ranker: the vote raises a code by its weighted share (noisy-or)."""
        merged_notes = [{s.code: s for s in note} for note in found]
        wanted = [[(c, NEIGHBOUR_WEIGHT * share) for c, share in sorted(vote.items(), key=lambda kv: -kv[1])
                   if share >= VOTE_SHARE and icd10.is_billable(c)][:MOST_VOTED] for vote in votes]
        by_vote = with_closest_evidence(texts, [[(c, v) for c, v in w if c not in merged]
                                                for w, merged in zip(wanted, merged_notes)],
                                        self.default, self.default.device, "neighbours")
        for merged, note_wanted, proposed in zip(merged_notes, wanted, by_vote):
            for code, weighted in note_wanted:
                if code in merged:
                    s = merged[code]
                    s.score = 1 - (1 - s.score) * (1 - weighted)
                    s.sources = [*s.sources, "neighbours"]
            for s in proposed:
                merged[s.code] = s
        return merged_notes


def finished(merged: dict[str, CodeSuggestion], settle: bool = True) -> list[CodeSuggestion]:
    """One note's codes from all members, best first, Excludes1 settled across members too."""
    suggestions = list(merged.values())
    if settle:
        settle_excludes1(suggestions)
    return sorted(suggestions, key=lambda s: (not s.active, -s.score, s.code))


def _closest(clauses: NoteClauses, description: np.ndarray) -> list:
    if not len(clauses.clauses):
        return []
    similarity = clauses.vectors @ description
    best = int(np.argmax(similarity))
    return [clauses.clauses[best]] if similarity[best] >= EVIDENCE_FLOOR else []
