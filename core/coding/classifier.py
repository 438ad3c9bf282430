"""A fine-tuned multi-label classifier from a local Hugging Face folder (labels are ICD-10-CM codes).

A department's own model (``casenotes train-coder`` makes one) ranks codes for the whole note; long
notes are read in windows and each code takes its best window. The classifier says which codes,
not where: the evidence for each code is the note's clause closest to the code's description in
the MiniLM space, and that clause's context gives the code its traits.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from casenotes import embeddings, hf
from casenotes.coding import icd10
from casenotes.coding.default_coder import CONVENTIONS, CodeSuggestion, DefaultCoder, Mention
from casenotes.errors import ConfigurationError

log = logging.getLogger(__name__)


def calibrated(p: float, cut: float) -> float:
    """Map a probability so that the model's tuned cut lands on the coding step's 0.5, keeping order."""
    if cut <= 0 or cut >= 1:
        return p
    return 0.5 * p / cut if p < cut else 0.5 + 0.5 * (p - cut) / (1 - cut)


class ClassifierCoder:
    kind = "classifier"

    def __init__(self, folder: Path, device: str = "cpu", batch_size: int = 16, top: int = 30, evidence_from=None):
        self.folder = Path(folder)
        self.device = device
        self.batch_size = batch_size
        self.top = top
        self.evidence_from = evidence_from or DefaultCoder(device)  # finds clauses and their context
        self._model = None
        self._tokenizer = None
        self.labels: list[str | None] = []
        self.cut = 0.5  # the probability the training run found best; read from the folder's config

    @property
    def model_name(self) -> str:
        return f"{self.folder.name} (fine-tuned classifier, {sum(1 for x in self.labels if x)} codes, local)"

    def settings(self) -> dict[str, str]:
        return {"device": hf.device_label(self.device), "batch size": str(self.batch_size)}

    def load(self) -> None:
        if self._model is not None:
            return
        hf.offline()
        config = hf.read_config(self.folder, "Coder")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        id2label = config.get("id2label") or {}
        labels = [id2label.get(str(i)) for i in range(len(id2label))]
        valid = [lab if lab and icd10.is_billable(lab) else None for lab in labels]
        if not any(valid):
            raise ConfigurationError(f"Coder model folder '{self.folder.name}' has no ICD-10-CM billable codes as labels")
        if sum(1 for v in valid if v) < len(labels):
            log.warning("coder: %d of %d labels are not billable ICD-10-CM codes and are ignored",
                        len(labels) - sum(1 for v in valid if v), len(labels))
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(self.folder, local_files_only=True,
                                                                       dtype=hf.torch_dtype(self.device))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigurationError(f"Coder model folder '{self.folder.name}' does not load ({type(exc).__name__})") from None
        self._model = model.to(self.device).eval()
        self.labels = valid
        self.cut = float(config.get("casenotes_threshold", 0.5))
        self.evidence_from.load()

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(notes x labels) probabilities; each label takes its best window of the note."""
        import torch

        self.load()
        limit = min(getattr(self._tokenizer, "model_max_length", 512) or 512, 512)
        windows, owner = [], []
        for i, text in enumerate(texts):
            ids = self._tokenizer(text or "", add_special_tokens=False)["input_ids"]
            step = limit - 2
            for start in range(0, max(1, len(ids)), step):
                windows.append(self._tokenizer.decode(ids[start : start + step]))
                owner.append(i)
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
        for b in range(0, len(order), self.batch_size):
            chunk = order[b : b + self.batch_size]
            enc = self._tokenizer([windows[k] for k in chunk], truncation=True, max_length=limit, padding=True,
                                  return_tensors="pt").to(self.device)
            with torch.inference_mode():
                p = torch.sigmoid(self._model(**enc).logits.float()).cpu().numpy()
            for k, row in zip(chunk, p):
                probs[owner[k]] = np.maximum(probs[owner[k]], row)
        return probs

    def code(self, texts: list[str]) -> list[list[CodeSuggestion]]:
        probs = self.probabilities(texts)
        scored = []
        for row in probs:
            best = [j for j in np.argsort(-row)[: self.top] if self.labels[j] and row[j] > self.cut / 10]
            scored.append([(self.labels[j], calibrated(float(row[j]), self.cut)) for j in best])
        return with_closest_evidence(texts, scored, self.evidence_from, self.device, "classifier")


def with_closest_evidence(texts: list[str], scored: list[list[tuple[str, float]]], evidence_from: DefaultCoder,
                          device: str, source: str) -> list[list[CodeSuggestion]]:
    """Suggestions for codes that a whole-note model proposed (it says which codes, not where): the
    evidence of each is the note's clause closest to the code's description in the MiniLM space, and
    that clause's context gives the code its traits. Every clause and every description of the
    batch is embedded in one call each."""
    # Only the notes that have codes to place are read for clauses.
    clauses = [evidence_from.clauses(t) if wanted else [] for t, wanted in zip(texts, scored)]
    clause_vectors = embeddings.embed([c.text for note in clauses for c in note], device)
    codes = sorted({code for note in scored for code, _ in note})
    code_vectors = dict(zip(codes, embeddings.embed([icd10.description(c) for c in codes], device)))
    out, cursor = [], 0
    for note_clauses, note_scored in zip(clauses, scored):
        vectors = clause_vectors[cursor : cursor + len(note_clauses)]
        cursor += len(note_clauses)
        suggestions = []
        for code, p in note_scored:
            evidence: list[Mention] = [note_clauses[int(np.argmax(vectors @ code_vectors[code]))]] if note_clauses else []
            traits = sorted(set(evidence[0].traits)) if evidence else []
            suggestions.append(CodeSuggestion(code, icd10.description(code), p, evidence, traits,
                                              excluded_traits=CONVENTIONS[evidence_from.convention], sources=[source]))
        out.append(suggestions)
    return out
