"""The window's settings, saved between sessions with QSettings (never any note text or PHI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from core.pipeline import RunOptions


@dataclass
class AppSettings:
    summarize: bool = False
    code: bool = False
    mode: str = "tags"
    summarizer: str = ""  # "" = the embedded default; else a local model folder
    coder: str = ""
    deid_model: str = ""  # "" = the rules alone; else a PHI tagger folder from `casenotes train-deid`
    device: str = "auto"
    output_dir: str = ""  # "" = beside each input
    review: bool = False
    jsonl: bool = True
    overwrite: bool = False

    @classmethod
    def load(cls) -> "AppSettings":
        store = QSettings()
        values = {}
        for f in fields(cls):
            raw = store.value(f"run/{f.name}", getattr(cls, f.name))
            values[f.name] = _as_bool(raw) if f.type in ("bool", bool) else str(raw)
        return cls(**values)

    def save(self) -> None:
        store = QSettings()
        for key, value in asdict(self).items():
            store.setValue(f"run/{key}", value)
        store.sync()

    def run_options(self) -> RunOptions:
        return RunOptions(
            output_dir=Path(self.output_dir) if self.output_dir else None, mode=self.mode, jsonl=self.jsonl,
            review=self.review, overwrite=self.overwrite, device=self.device, summarize=self.summarize,
            summarizer=Path(self.summarizer) if self.summarize and self.summarizer else None,
            code=self.code, coder=Path(self.coder) if self.code and self.coder else None,
            deid_model=Path(self.deid_model) if self.deid_model else None,
        )


def _as_bool(value) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
