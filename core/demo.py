"""The sample spreadsheet shipped in resources/: realistic notes written for casenotes with planted PHI."""

from __future__ import annotations

from pathlib import Path

DEMO_NAME = "demo_case_notes.xlsx"


def demo_spreadsheet() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "resources" / DEMO_NAME, here / "resources" / DEMO_NAME):
        if candidate.exists():
            return candidate
    from core.errors import ConfigurationError

    raise ConfigurationError(f"the demo spreadsheet {DEMO_NAME} is missing from resources/")
