"""Pipeline steps. A step takes a batch of note records and fills in its own annotations.

De-identification is always first; summarization and ICD-10-CM coding plug in after it and only
ever read ``record.deidentified_text``. Models load once, lazily, on the device the run asks for.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from core.phi.engine import PhiEngine, PhiFinding
from core.phi.replace import Replacement, Replacer


@dataclass
class NoteRecord:
    row: int  # 1-based data row
    text: str  # the original note: held in memory only, never written to a shareable output
    patient_key: str | None = None
    deidentified_text: str = ""
    phi: list[PhiFinding] = field(default_factory=list)
    replacements: tuple[Replacement, ...] = ()
    review_reasons: list[str] = field(default_factory=list)
    failed: bool = False
    extra: dict = field(default_factory=dict)  # later steps: "summary", "codes"

    @property
    def needs_review(self) -> bool:
        return bool(self.review_reasons)


class Step(Protocol):
    name: str

    def load(self) -> None: ...

    def process(self, batch: list[NoteRecord]) -> None: ...

    def describe(self) -> dict[str, str]: ...


def resolve_device(requested: str = "auto") -> str:
    """'cuda' when asked for or available, else 'cpu'. Never fails for a CPU-only machine with 'auto'."""
    if requested == "cpu":
        return "cpu"
    try:
        import torch

        available = torch.cuda.is_available()
    except Exception:
        available = False
    if requested == "cuda" and not available:
        from core.errors import ConfigurationError

        raise ConfigurationError("--device cuda was asked for but no CUDA GPU is available")
    return "cuda" if available else "cpu"


# Findings below this score are kept (recall first) but the row is flagged for a human look.
LOW_CONFIDENCE = 0.55


class DeidentifyStep:
    """Finds PHI with the Presidio engine (in worker processes when that pays) and replaces it."""

    name = "deidentify"

    def __init__(self, replacer: Replacer, engine: PhiEngine | None = None, workers: int = 1):
        self.engine = engine or PhiEngine()
        self.replacer = replacer
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def load(self) -> None:
        self.engine.load()
        if self.workers > 1 and self._pool is None:
            import multiprocessing

            # spawn, not fork: the GUI runs this from a thread, and forking a threaded process is unsafe.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.engine.spacy_model, self.engine.score_threshold),
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def describe(self) -> dict[str, str]:
        return {"PHI engine": f"Presidio + clinical recognizers, spaCy {self.engine.model_version}",
                "Replacement mode": self.replacer.mode}

    def process(self, batch: list[NoteRecord]) -> None:
        texts = [r.text for r in batch]
        findings = self._analyze(texts)
        for record, found in zip(batch, findings):
            record.phi = list(found)
            result = self.replacer.replace(record.text, record.phi, record.patient_key)
            record.deidentified_text = result.text
            record.replacements = result.replacements
            if any(f.score < LOW_CONFIDENCE for f in record.phi):
                record.review_reasons.append("low-confidence PHI detection")

    def _analyze(self, texts: list[str]) -> list[list[PhiFinding]]:
        if self._pool is None or len(texts) < 2 * self.workers:
            return self.engine.analyze(texts)
        size = -(-len(texts) // self.workers)
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        results: list[list[PhiFinding]] = []
        for part in self._pool.map(_analyze_in_worker, chunks):
            results.extend(part)
        return results


_worker_engine: PhiEngine | None = None


def _init_worker(spacy_model: str, threshold: float) -> None:
    global _worker_engine
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _worker_engine = PhiEngine(spacy_model, threshold)
    _worker_engine.load()


def _analyze_in_worker(texts: list[str]) -> list[list[PhiFinding]]:
    return _worker_engine.analyze(texts)
