"""The summarization step: reads ``record.deidentified_text``, writes ``record.summary``.

It never sees the original note. What a generative model writes is de-identified again before it
is kept (a model can invent a name or a date), and every summary is checked against its note;
a summary with a number, date, drug or negation the note does not support marks the row for review.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from casenotes.keys import KeyRing
from casenotes.phi.department import DepartmentLists
from casenotes.phi.engine import DEFAULT_SPACY_MODEL, PhiEngine
from casenotes.phi.replace import Replacer
from casenotes.steps import LoadProgress, NoteRecord, OnError, OutputColumn, Sheet
from casenotes.summarize.ctranslate import CTranslateSummarizer, use_ctranslate2
from casenotes.summarize.extractive import ExtractiveSummarizer, SummaryLength
from casenotes.summarize.faithfulness import unsupported
from casenotes.summarize.generative import GenerativeSummarizer


def make_summarizer(folder: Path | None, device: str, max_sentences: int = 3, max_new_tokens: int = 0,
                    batch_size: int = 0, engine: str = "auto"):
    """The embedded extractive default, or a model folder's summarizer on the engine asked for
    (``auto``: CTranslate2 on a CPU when the ``fast`` extra is installed, else PyTorch)."""
    if folder:
        engine_class = CTranslateSummarizer if use_ctranslate2(engine, device) else GenerativeSummarizer
        return engine_class(Path(folder), device, max_new_tokens=max_new_tokens, batch_size=batch_size)
    return ExtractiveSummarizer(device, SummaryLength(max_sentences=max_sentences))


@dataclass(frozen=True)
class SummarizeSettings:
    keys: KeyRing  # a model's summary is de-identified again, with tags
    folder: Path | None = None  # a local Hugging Face model; None: the embedded extractive default
    device: str = "cpu"
    max_sentences: int = 3
    max_new_tokens: int = 0  # model summaries: most tokens; 0: the model folder's own, else 128
    batch_size: int = 0  # model summaries: notes per batch; 0: from the device's free memory
    spacy_model: str = DEFAULT_SPACY_MODEL  # the PHI engine that reads what a model wrote: the run's own
    department: DepartmentLists | None = field(default=None, repr=False)  # staff list, corrections: PHI
    deid_model: str | None = None
    deid_device: str = "cpu"
    engine: str = "auto"  # model summaries: auto, torch or ctranslate2 (core/summarize/ctranslate.py)

    def build(self) -> "SummarizeStep":
        return SummarizeStep(self)


class SummarizeStep:
    name = "summarize"
    output_columns = (OutputColumn("Summary", "summary"),)
    on_error = OnError.FLAG_ROW
    reads_originals = False
    in_processes = False

    def __init__(self, settings: SummarizeSettings):
        self.settings = settings
        self.summarizer = make_summarizer(settings.folder, settings.device, settings.max_sentences,
                                          settings.max_new_tokens, settings.batch_size, settings.engine)
        self.tag_replacer = Replacer("tags", settings.keys)
        # Only a model's text can hold PHI the note did not (an extract is the note's own de-identified words).
        self.engine = (PhiEngine(settings.spacy_model, department=settings.department,
                                 deid_model=settings.deid_model, device=settings.deid_device)
                       if self.summarizer.kind == "generative" else None)

    def setup(self, progress: LoadProgress | None = None) -> None:
        if self.engine is not None:
            self.engine.load()
        self.summarizer.load()

    def describe(self) -> dict[str, str]:
        settings = "; ".join(f"{k} {v}" for k, v in self.summarizer.settings().items())
        return {"Summarizer": self.summarizer.model_name, "Summarizer settings": settings}

    def sheets(self, records: Iterable[NoteRecord]) -> list[Sheet]:
        return []

    def __call__(self, batch: list[NoteRecord]) -> list[NoteRecord]:
        summaries = self.summarizer.summarize([r.deidentified_text for r in batch])
        if self.engine is not None:
            found = self.engine.analyze(summaries)
            summaries = [self.tag_replacer.replace(s, f).text for s, f in zip(summaries, found)]
        for record, summary in zip(batch, summaries):
            record.summary = summary
            record.review_reasons += unsupported(summary, record.deidentified_text)
        return batch
