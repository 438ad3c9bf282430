"""The step contract: what a batch is, what a step declares and how a runner drives it.

A batch is a list of ``NoteRecord``: one per input row, with declared fields (row, patient key, the
text cells and their de-identified text and PHI findings, review reasons, summary, codes). A step is
built from plain, picklable settings (``settings.build()`` makes an equal step in a worker process
or on a cluster), loads its models in ``setup()`` and maps a batch to a batch with ``step(batch)``.
It declares the Results columns it fills, the sheets it adds and what a failure on a row means.
Nothing passes between steps but the batch; parallelism belongs to the runner (core/runner.py).

De-identification (core/phi/step.py) is always first; summarization and ICD-10-CM coding come
after it and only ever read ``record.deidentified_text``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple, Protocol

from casenotes.phi.findings import PhiFinding
from casenotes.phi.known import KnownIdentifiers
from casenotes.phi.replace import Replacement


@dataclass
class TextCell:
    """One cell the PHI engine reads: a note, or another column's free text."""

    column: str
    text: str  # the original: memory only, and emptied by the runner right after de-identification
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
    summary: str | None = None  # the summarize step
    codes: list[dict] | None = None  # the code step: every suggestion kept, with its evidence
    code_list: str = ""  # the code step: the active codes at or above the threshold, as Results shows them

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
        """The original note, joined under headers if several; empty once the originals were dropped."""
        return _joined(self.notes, "text")[0]

    @property
    def deidentified_text(self) -> str:
        """What summarization and coding read: the de-identified note(s)."""
        return _joined(self.notes, "deidentified")[0]

    @property
    def phi(self) -> list[PhiFinding]:
        """Findings in the notes, offsets into ``text`` (while the originals are held: with several note
        columns the offsets need them)."""
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
        # identifier cells count by what replaced them (their values leave with the originals); a
        # failed row replaced nothing and counts none
        return sum(len(c.phi) for c in self.cells) + sum(1 for v in self.replaced.values() if v.strip())

    @property
    def note_is_empty(self) -> bool:
        """The row had no note text (read from what de-identification wrote: the original may be gone)."""
        return not self.failed and not self.deidentified_text.strip()

    def drop_originals(self) -> None:
        """Right after de-identification the original text and identifier values leave the batch, so
        that no later step, here or on a cluster, can ever read them (the review workbook reads the
        originals again from the input)."""
        for cell in self.cells:
            cell.text = ""
        self.identifiers = {column: (kind, "") for column, (kind, _) in self.identifiers.items()}
        self.known = None

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
        if not value.strip():
            offsets.append(None)
            continue
        head = f"{cell.column}:\n"
        if parts:
            pos += 2
        offsets.append(pos + len(head))
        parts.append(head + value)
        pos += len(head) + len(value)
    return "\n\n".join(parts), offsets


class OutputColumn(NamedTuple):
    header: str  # the Results sheet's column
    field: str  # the NoteRecord field it shows


class Sheet(NamedTuple):
    title: str
    headers: list[str]
    rows: Callable[[], Iterable[list]]  # a fresh pass over the rows on each call: the writer makes two


class OnError(enum.Enum):
    """What a runner does with a row a step fails on, once the batch has been retried row by row."""

    BLANK_ROW = "blank"  # de-identification: a row it could not read keeps no text at all
    FLAG_ROW = "flag"  # later steps: the row keeps its de-identified text and is marked for review


LoadProgress = Callable[[int, int], None]  # (done, total) of a one-time build during setup


class StepSettings(Protocol):
    """Plain, picklable settings; ``build()`` makes the step they describe."""

    def build(self) -> "Step": ...


class Step(Protocol):
    name: str
    settings: StepSettings
    output_columns: tuple[OutputColumn, ...]
    on_error: OnError
    reads_originals: bool  # only de-identification: the runner drops the originals after the last such step
    # CPU-bound Python that gains from copies in worker processes (the runner decides how many);
    # model steps use the device's own parallelism instead.
    in_processes: bool

    def setup(self, progress: LoadProgress | None = None) -> None: ...

    def __call__(self, batch: list[NoteRecord]) -> list[NoteRecord]: ...

    def describe(self) -> dict[str, str]: ...

    def sheets(self, records: Iterable[NoteRecord]) -> list[Sheet]:
        """``records`` may be iterated more than once, a record at a time (a Sheet's rows are made lazily)."""
        ...


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
        from casenotes.errors import ConfigurationError

        raise ConfigurationError("--device cuda was asked for but no CUDA GPU is available")
    return "cuda" if available else "cpu"
