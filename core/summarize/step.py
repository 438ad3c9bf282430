"""The summarization step: reads ``record.deidentified_text``, writes ``record.extra["summary"]``.

It never sees the original note. What a generative model writes is de-identified again before it
is kept (a model can invent a name or a date), and every summary is checked against its note;
a summary with a number, date, drug or negation the note does not support marks the row for review.
"""

from __future__ import annotations

from pathlib import Path

from core.phi.engine import PhiEngine
from core.phi.replace import Replacer
from core.steps import NoteRecord
from core.summarize.extractive import ExtractiveSummarizer, SummaryLength
from core.summarize.faithfulness import unsupported
from core.summarize.generative import GenerativeSummarizer


def make_summarizer(folder: Path | None, device: str, max_sentences: int = 3, max_new_tokens: int = 128):
    if folder:
        return GenerativeSummarizer(Path(folder), device, max_new_tokens=max_new_tokens)
    return ExtractiveSummarizer(device, SummaryLength(max_sentences=max_sentences))


class SummarizeStep:
    name = "summarize"
    result_columns = (("Summary", "summary"),)

    def __init__(self, summarizer, engine: PhiEngine, tag_replacer: Replacer):
        self.summarizer = summarizer
        self.engine = engine  # the run's PHI engine, shared: loaded once
        self.tag_replacer = tag_replacer

    def load(self) -> None:
        self.engine.load()
        self.summarizer.load()

    def describe(self) -> dict[str, str]:
        settings = "; ".join(f"{k} {v}" for k, v in self.summarizer.settings().items())
        return {"Summarizer": self.summarizer.model_name, "Summarizer settings": settings}

    def process(self, batch: list[NoteRecord]) -> None:
        todo = [r for r in batch if not r.failed]
        summaries = self.summarizer.summarize([r.deidentified_text for r in todo])
        if self.summarizer.kind == "generative":
            found = self.engine.analyze(summaries)
            summaries = [self.tag_replacer.replace(s, f).text for s, f in zip(summaries, found)]
        for record, summary in zip(todo, summaries):
            record.extra["summary"] = summary
            record.review_reasons += unsupported(summary, record.deidentified_text)
