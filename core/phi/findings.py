"""What the PHI engine reports: detections as offsets and types, never the text itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

# Key under which our recognizers record which rule found a span (Presidio's recognition_metadata).
DETECTOR_KEY = "casenotes_detector"

# Tag shown in place of each entity type in the de-identified text.
ENTITY_TAGS = {
    "NAME": "NAME",
    "LOCATION": "LOCATION",
    "FACILITY": "HOSPITAL",
    "ADDRESS": "ADDRESS",
    "ZIP": "ZIP",
    "DATE": "DATE",
    "AGE": "AGE",
    "PHONE": "PHONE",
    "EMAIL": "EMAIL",
    "URL": "URL",
    "IP_ADDRESS": "IP",
    "SSN": "SSN",
    "ID": "ID",
}


@dataclass(frozen=True, slots=True)
class PhiFinding:
    """One detection: offsets into the text, never the text itself."""

    start: int
    end: int
    entity_type: str
    score: float
    detector: str


def merge_overlaps(findings: Iterable[PhiFinding]) -> list[PhiFinding]:
    """Union overlapping findings; the merged span takes the type and detector of its best part."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    merged: list[PhiFinding] = []
    for f in ordered:
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            best = last if last.score >= f.score else f
            merged[-1] = PhiFinding(last.start, max(last.end, f.end), best.entity_type, max(last.score, f.score),
                                    best.detector)
        else:
            merged.append(f)
    return merged
