"""The coding step: reads ``record.deidentified_text``, writes ``record.codes`` and ``record.code_list``.

Codes are suggestions for a coder to confirm (computer-assisted coding): each has a confidence,
its evidence in the de-identified note and its traits. The Results sheet lists the active codes at
or above the threshold; the Codes sheet lists every suggestion with its evidence; a row with a
low-confidence code or an Excludes1 conflict is marked for review.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from casenotes.coding import icd10
from casenotes.coding.default_coder import CONVENTIONS, DefaultCoder
from casenotes.steps import LoadProgress, NoteRecord, OnError, OutputColumn, Sheet

DEFAULT_THRESHOLD = 0.5
LOW_CONFIDENCE = 0.65  # codes between the threshold and this are listed but marked for review


def make_coder(folder: Path | None, device: str, convention: str | None = None):
    """The default coder, or a trained one with it. ``convention`` None: what the trained coder
    learned from the department's history, else "active"."""
    if convention is None:
        convention = learned_convention(folder) if folder else "active"
    default = DefaultCoder(device, convention=convention)
    if not folder:
        return default
    from casenotes.coding.trained import TrainedCoder

    return TrainedCoder.from_folder(Path(folder), default)


def learned_convention(folder: Path) -> str:
    """The coding convention `train-coder` found the department's history follows ("active" if none)."""
    from casenotes.coding.trained import read_manifest

    learned = read_manifest(folder).get("convention", "active")
    return learned if learned in CONVENTIONS else "active"


@dataclass(frozen=True)
class CodingSettings:
    folder: Path | None = None  # a coder folder from `casenotes train-coder`; None: the default
    device: str = "cpu"
    threshold: float = DEFAULT_THRESHOLD
    convention: str | None = None  # "active" or "mentioned"; None: the trained coder's, else "active"

    def build(self) -> "CodingStep":
        return CodingStep(self)


class CodingStep:
    name = "code"
    output_columns = (OutputColumn("ICD-10-CM codes", "code_list"),)
    on_error = OnError.FLAG_ROW
    reads_originals = False
    in_processes = False

    def __init__(self, settings: CodingSettings):
        self.settings = settings
        self.coder = make_coder(settings.folder, settings.device, convention=settings.convention)
        default = getattr(self.coder, "default", self.coder)
        self.excluded_traits = CONVENTIONS[default.convention]
        self.threshold = settings.threshold

    def setup(self, progress: LoadProgress | None = None) -> None:
        default = getattr(self.coder, "default", self.coder)
        if isinstance(default, DefaultCoder):
            default.progress = progress  # the ICD-10-CM index, built once if the install did not
        self.coder.load()

    def describe(self) -> dict[str, str]:
        settings = "; ".join(f"{k} {v}" for k, v in self.coder.settings().items())
        return {"Coder": self.coder.model_name, "Coder settings": f"{settings}; threshold {self.threshold}",
                "Code set": icd10.CODE_SET}

    def __call__(self, batch: list[NoteRecord]) -> list[NoteRecord]:
        for record, suggestions in zip(batch, self.coder.code([r.deidentified_text for r in batch])):
            suggestions = [s for s in suggestions if icd10.is_billable(s.code)]  # never an invalid code
            shown = [s for s in suggestions if s.active and s.score >= self.threshold]
            record.codes = [s.to_json() for s in suggestions if s.score >= self.threshold or not s.active]
            record.code_list = "; ".join(s.code for s in shown)
            # Low-confidence codes are marked on their own rows of the Codes sheet; the row as a whole needs a
            # look only when two codes it lists cannot go together.
            if any(set(s.excludes1_with) & {o.code for o in shown} for s in shown):
                record.review_reasons.append("ICD-10-CM codes that Excludes1 forbids together")
        return batch

    def sheets(self, records: Iterable[NoteRecord]) -> list[Sheet]:
        """The Codes sheet: one row per suggested code, with its evidence."""
        headers = ["Row", "ID", "Code", "Description", "Confidence", "Active", "Traits", "Evidence", "Start", "End",
                   "Needs review", "Excludes1 conflict with", "Proposed by"]

        def rows():
            for r in records:
                for c in r.codes or []:
                    first = c["evidence"][0] if c["evidence"] else {"start": "", "end": "", "text": ""}
                    active = not (set(c["traits"]) & self.excluded_traits)
                    review = active and (c["score"] < LOW_CONFIDENCE or bool(c.get("excludes1_with")))
                    yield [r.row, r.patient_key or "", c["code"], c["description"], c["score"],
                           "yes" if active else "no", ", ".join(c["traits"]),
                           " | ".join(e["text"] for e in c["evidence"]), first["start"], first["end"],
                           "yes" if review else "", ", ".join(c.get("excludes1_with", [])),
                           ", ".join(c.get("sources", []))]

        return [Sheet("Codes", headers, rows)]
