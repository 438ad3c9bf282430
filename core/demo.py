"""The sample spreadsheet shipped in resources/: realistic notes written for casenotes with planted PHI."""

from __future__ import annotations

from pathlib import Path

DEMO_NAME = "demo_case_notes.xlsx"


def demo_spreadsheet() -> Path:
    import sys

    here = Path(__file__).resolve().parent
    # A checkout or the bundle; an installed wheel puts it in <prefix>/share/casenotes.
    for candidate in (here.parent / "resources" / DEMO_NAME, Path(sys.prefix) / "share" / "casenotes" / DEMO_NAME):
        if candidate.exists():
            return candidate
    from casenotes.errors import ConfigurationError

    raise ConfigurationError(f"the demo spreadsheet {DEMO_NAME} is missing from resources/")
