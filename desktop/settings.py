"""The window's settings, saved between sessions with QSettings (never any note text or PHI)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from casenotes.options import RunOptions


_RUN = RunOptions()  # the run's defaults, defined once there


@dataclass
class AppSettings:
    summarize: bool = _RUN.summarize
    code: bool = _RUN.code
    mode: str = _RUN.mode
    summarizer: str = ""  # "" = the embedded default; else a local model folder
    coder: str = ""
    deid_model: str = ""  # "" = the rules alone; else a PHI tagger folder from `casenotes train-deid`
    device: str = _RUN.device
    output_dir: str = ""  # "" = beside each input
    review: bool = _RUN.review
    overwrite: bool = _RUN.overwrite
    # Where the window chooses otherwise than the command line, on purpose:
    # a file name can be PHI, so the window names outputs neutrally unless told (issue 16);
    # and it always writes the JSON Lines export, which it has no switch for: a note longer than an
    # Excel cell is whole only there.
    neutral_names: bool = True
    jsonl: bool = True

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
            review=self.review, overwrite=self.overwrite, output_names="neutral" if self.neutral_names else "input",
            device=self.device, summarize=self.summarize,
            summarizer=Path(self.summarizer) if self.summarize and self.summarizer else None,
            code=self.code, coder=Path(self.coder) if self.code and self.coder else None,
            deid_model=Path(self.deid_model) if self.deid_model else None,
        )


def _as_bool(value) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")


# --- what the window remembers besides the run settings: the queue, the last folder, recent files ---

RECENT_LIMIT = 8


def save_queue(entries: list[dict]) -> None:
    """The queued files and the clerk's choices for each (HandBrake keeps its queue the same way).
    Status is not stored: it is read again from the output folder (outputs or a checkpoint)."""
    store = QSettings()
    store.setValue("queue/files", json.dumps(entries))
    store.sync()


def load_queue() -> list[dict]:
    try:
        entries = json.loads(str(QSettings().value("queue/files", "[]")))
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict) and e.get("path")] if isinstance(entries, list) else []


def last_folder() -> str:
    """Where the Add dialog opens: the folder of the last files added (not the working directory)."""
    folder = str(QSettings().value("paths/last_folder", ""))
    return folder if folder and Path(folder).is_dir() else str(Path.home())


def remember_files(paths: list[Path]) -> None:
    if not paths:
        return
    store = QSettings()
    store.setValue("paths/last_folder", str(paths[-1].parent if paths[-1].is_file() else paths[-1]))
    recent = [str(p) for p in paths] + [p for p in recent_files() if p not in {str(x) for x in paths}]
    store.setValue("paths/recent", json.dumps(recent[:RECENT_LIMIT]))


def recent_files() -> list[str]:
    try:
        recent = json.loads(str(QSettings().value("paths/recent", "[]")))
    except ValueError:
        return []
    return [p for p in recent if isinstance(p, str)] if isinstance(recent, list) else []
