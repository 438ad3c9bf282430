"""Pipeline steps. A step takes a batch of note records and fills in its own annotations.

De-identification is always first; summarization and ICD-10-CM coding plug in after it and only
ever read ``record.deidentified_text``. Models load once, lazily, on the device the run asks for.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.phi.engine import PhiEngine
from core.phi.findings import PhiFinding
from core.phi.known import KnownIdentifiers
from core.phi.replace import Replacement, Replacer


@dataclass
class TextCell:
    """One cell the PHI engine reads: a note, or another column's free text."""

    column: str
    text: str  # the original: held in memory only, never written to a shareable output
    is_note: bool = True
    context: str | None = None  # the column header, read before the text as context
    deidentified: str = ""
    phi: list[PhiFinding] = field(default_factory=list)  # offsets into ``text``
    replacements: tuple[Replacement, ...] = ()  # offsets into ``deidentified``


@dataclass
class NoteRecord:
    """One input row on its way through the steps."""

    row: int  # 1-based data row
    cells: list[TextCell] = field(default_factory=list)
    patient_key: str | None = None
    identifiers: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (kind, value): replaced whole
    known: KnownIdentifiers | None = None  # identifier values of the row and its patient: memory only
    replaced: dict[str, str] = field(default_factory=dict)  # column -> replacement value of an identifier cell
    review_reasons: list[str] = field(default_factory=list)
    failed: bool = False
    extra: dict = field(default_factory=dict)  # later steps: "summary", "codes"

    @classmethod
    def of_text(cls, row: int, text: str, patient_key: str | None = None) -> "NoteRecord":
        """A record with one note and nothing else (benchmarks, previews of a single column)."""
        return cls(row, [TextCell("note", text)], patient_key)

    @property
    def needs_review(self) -> bool:
        return bool(self.review_reasons)

    @property
    def notes(self) -> list[TextCell]:
        return [c for c in self.cells if c.is_note]

    @property
    def text(self) -> str:
        """The original note as the later steps would read it (several note columns: joined, headed)."""
        return _joined(self.notes, "text")[0]

    @property
    def deidentified_text(self) -> str:
        """What summarization and coding read: the de-identified note(s)."""
        return _joined(self.notes, "deidentified")[0]

    @property
    def phi(self) -> list[PhiFinding]:
        """Findings in the notes, offsets into ``text``."""
        _, offsets = _joined(self.notes, "text")
        return [PhiFinding(f.start + o, f.end + o, f.entity_type, f.score, f.detector)
                for cell, o in zip(self.notes, offsets) if o is not None for f in cell.phi]

    @property
    def replacements(self) -> tuple[Replacement, ...]:
        """Replacements in the notes, offsets into ``deidentified_text``."""
        _, offsets = _joined(self.notes, "deidentified")
        return tuple(Replacement(x.start + o, x.end + o, x.entity_type)
                     for cell, o in zip(self.notes, offsets) if o is not None for x in cell.replacements)

    @property
    def phi_count(self) -> int:
        return sum(len(c.phi) for c in self.cells) + sum(1 for _, v in self.identifiers.values() if v.strip())

    def output_value(self, column: str) -> str | None:
        """The value a shareable output shows for a de-identified column, or None if the step did not touch it."""
        if column in self.replaced:
            return self.replaced[column]
        for cell in self.cells:
            if cell.column == column:
                return cell.deidentified
        return None

    def blank(self) -> None:
        """Never let un-de-identified text through: a row that failed keeps no text at all."""
        self.failed = True
        for cell in self.cells:
            cell.deidentified, cell.phi, cell.replacements = "", [], ()
        self.replaced = {column: "" for column in self.identifiers}


def _joined(cells: list[TextCell], attr: str) -> tuple[str, list[int | None]]:
    """One note, or several as "Header:\ntext" blocks; and where each cell's text starts in the result."""
    if len(cells) == 1:
        return getattr(cells[0], attr), [0]
    parts, offsets, pos = [], [], 0
    for cell in cells:
        value = getattr(cell, attr)
        if not cell.text.strip():
            offsets.append(None)
            continue
        head = f"{cell.column}:\n"
        if parts:
            pos += 2
        offsets.append(pos + len(head))
        parts.append(head + value)
        pos += len(head) + len(value)
    return "\n\n".join(parts), offsets


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
    """Finds PHI with the Presidio engine (in worker processes when that pays) and replaces it.

    Every text cell of the row goes through the engine with the row's known identifiers; identifier
    columns are replaced whole (the ID column by the patient key).
    """

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
                initargs=(os.getpid(), self.engine.spacy_model, self.engine.score_threshold, self.engine.department,
                          self.engine.deid_model),
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def describe(self) -> dict[str, str]:
        info = {"PHI engine": f"Presidio + clinical recognizers, spaCy {self.engine.model_version}",
                "Replacement mode": self.replacer.mode}
        if self.engine.deid_model:
            info["PHI tagger"] = f"{Path(self.engine.deid_model).name} (casenotes train-deid), added to the rules"
        if self.engine.department:
            info["Department lists"] = ", ".join(f"{n} {k}" for k, n in self.engine.department.counts().items())
        return info

    def process(self, batch: list[NoteRecord]) -> None:
        cells = [(record, cell) for record in batch for cell in record.cells]
        findings = self._analyze([c.text for _, c in cells], [r.known for r, _ in cells], [c.context for _, c in cells])
        for (record, cell), found in zip(cells, findings):
            cell.phi = list(found)
            result = self.replacer.replace(cell.text, cell.phi, record.patient_key)
            cell.deidentified, cell.replacements = result.text, result.replacements
        for record in batch:
            record.replaced = {column: self.replacer.replace_identifier(kind, value, record.patient_key)
                               for column, (kind, value) in record.identifiers.items()}
            if any(f.score < LOW_CONFIDENCE for c in record.cells for f in c.phi):
                record.review_reasons.append("low-confidence PHI detection")

    def _analyze(self, texts: list[str], known: list, contexts: list) -> list[list[PhiFinding]]:
        if self._pool is None or len(texts) < 2 * self.workers:
            return self.engine.analyze(texts, known, contexts)
        size = -(-len(texts) // self.workers)
        chunks = [(texts[i : i + size], known[i : i + size], contexts[i : i + size]) for i in range(0, len(texts), size)]
        results: list[list[PhiFinding]] = []
        for part in self._pool.map(_analyze_in_worker, chunks):
            results.extend(part)
        return results


_worker_engine: PhiEngine | None = None


def _init_worker(parent: int, spacy_model: str, threshold: float, department, deid_model: str | None) -> None:
    global _worker_engine
    import signal

    from core.lifetime import die_with_parent

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the run; a worker must not die mid-batch
    _worker_engine = PhiEngine(spacy_model, threshold, department, deid_model)  # the tagger on the CPU there
    _worker_engine.load()


def _analyze_in_worker(chunk) -> list[list[PhiFinding]]:
    texts, known, contexts = chunk
    return _worker_engine.analyze(texts, known, contexts)
