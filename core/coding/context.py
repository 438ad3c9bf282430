"""Where a note records the procedure itself (anesthesia, blood loss, specimens...): not coded.

The traits of a mention (negated, hypothetical, family, history) are ConText's, in
casenotes.clinical_text.
"""

from __future__ import annotations

import re

from casenotes.clinical_text import PROCEDURE_RECORD_HEADERS

_NOT_DIAGNOSES_HEADER = re.compile(r"(?:^|\n|[.,]\s*,?|;)\s*(" + "|".join(sorted(map(re.escape, PROCEDURE_RECORD_HEADERS), key=len, reverse=True))
                                   + r")\s*:", re.IGNORECASE)
_NEXT_HEADER = re.compile(r"(?:^|\n|[.,]\s*,?|;)\s*[A-Z][A-Z /&\-]{2,40}:")


def excluded_spans(text: str) -> list[tuple[int, int]]:
    """Where the note records the procedure itself (anesthesia, blood loss, specimens...): not coded."""
    spans = []
    for m in _NOT_DIAGNOSES_HEADER.finditer(text):
        following = _NEXT_HEADER.search(text, m.end())
        spans.append((m.start(1), following.start() if following else len(text)))
    return spans
