"""The de-identification step: every text cell of a row through the PHI engine, then replaced.

Each cell is read with the row's known identifiers and its column header as context; identifier
columns are replaced whole (the ID column by the patient key). It runs first, and a row it fails on
is blanked: nothing it has not seen can reach an output.
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

# Findings below this score are kept (recall first) but the row is flagged for a human look.
LOW_CONFIDENCE = 0.55


@dataclass(frozen=True)
class DeidentifySettings:
    keys: KeyRing  # the department's secret: tags, surrogates and date shifts agree across runs
    mode: str = "tags"
    spacy_model: str = DEFAULT_SPACY_MODEL
    department: DepartmentLists | None = field(default=None, repr=False)  # staff list, corrections: PHI
    deid_model: str | None = None  # a tagger from `casenotes train-deid`, added to the rules
    device: str = "cpu"  # for the tagger

    def build(self) -> "DeidentifyStep":
        engine = PhiEngine(self.spacy_model, department=self.department, deid_model=self.deid_model,
                           device=self.device)
        return DeidentifyStep(self, engine)


class DeidentifyStep:
    name = "deidentify"
    output_columns: tuple[OutputColumn, ...] = ()  # it fills the text columns themselves
    on_error = OnError.BLANK_ROW
    reads_originals = True
    in_processes = True  # spaCy and the rules are single-threaded Python

    def __init__(self, settings: DeidentifySettings, engine: PhiEngine | None = None):
        self.settings = settings
        self.engine = engine or PhiEngine(settings.spacy_model, department=settings.department,
                                          deid_model=settings.deid_model, device=settings.device)
        self.replacer = Replacer(settings.mode, settings.keys)

    def setup(self, progress: LoadProgress | None = None) -> None:
        self.engine.load()

    def describe(self) -> dict[str, str]:
        info = {"PHI engine": f"Presidio + clinical recognizers, spaCy {self.engine.model_version}",
                "Replacement mode": self.replacer.mode}
        if self.engine.deid_model:
            info["PHI tagger"] = f"{Path(self.engine.deid_model).name} (casenotes train-deid), added to the rules"
        if self.engine.department:
            info["Department lists"] = ", ".join(f"{n} {k}" for k, n in self.engine.department.counts().items())
        return info

    def sheets(self, records: Iterable[NoteRecord]) -> list[Sheet]:
        return []

    def __call__(self, batch: list[NoteRecord]) -> list[NoteRecord]:
        cells = [(record, cell) for record in batch for cell in record.cells]
        findings = self.engine.analyze([c.text for _, c in cells], [r.known for r, _ in cells],
                                       [c.context for _, c in cells])
        for (record, cell), found in zip(cells, findings):
            cell.phi = list(found)
            result = self.replacer.replace(cell.text, cell.phi, record.patient_key)
            cell.deidentified, cell.replacements = result.text, result.replacements
        for record in batch:
            record.replaced = {column: self.replacer.replace_identifier(kind, value, record.patient_key)
                               for column, (kind, value) in record.identifiers.items()}
            if any(f.score < LOW_CONFIDENCE for c in record.cells for f in c.phi):
                record.review_reasons.append("low-confidence PHI detection")
        return batch
