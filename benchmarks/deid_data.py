"""The de-identification evaluation sets, loaded the same way by the benchmark and the tests.

* PhysioNet nursing notes (../shared/data, real notes with surrogate PHI), with their patients, for
  cross-validation by patient.
* Presidio's synthetic sentences (../shared/data), scored against Safe Harbor identifiers only.
* Notes of other kinds written for this project with planted PHI (benchmarks/data/written_notes_*):
  discharge summaries, letters, radiology reports, referrals, telephone, visit, ED, nursing notes in
  capitals and lower case... Each PHI string is marked ``{{TYPE|text}}`` in the file. The ``dev`` set
  may be read while developing; the ``test`` set was written separately and is only scored.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from casenotes.metrics import TokenScore, recall_by_type, score_tokens

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "deid"
NURSING = SHARED / "physionet_nursing_notes_dev.jsonl"
SYNTH = SHARED / "presidio_synth_dataset_v2.json"
WRITTEN = {name: ROOT / "benchmarks" / "data" / f"written_notes_{name}" for name in ("dev", "test")}

# Presidio-research labels that are not HIPAA identifiers: not counted as gold PHI.
NON_HIPAA_SYNTH = {"TITLE", "NRP", "ORGANIZATION"}
# Gold types grouped for per-type recall.
TYPE_GROUPS = {
    "names": {"PTName", "PTNameInitial", "RelativeProxyName", "HCPName", "PATIENT", "RELATIVE", "CLINICIAN", "PERSON"},
    "dates": {"Date", "DateYear", "DATE", "DATE_TIME"},
    "locations": {"Location", "HOSPITAL", "LOCATION", "ADDRESS", "ZIP", "STREET_ADDRESS", "GPE", "ZIP_CODE"},
    "phones": {"Phone", "PHONE", "PHONE_NUMBER"},
    "ids": {"Other", "ID", "SSN", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "US_DRIVER_LICENSE"},
    "ages": {"Age", "AGE"},
    "contact": {"EMAIL", "URL", "IP", "EMAIL_ADDRESS", "IP_ADDRESS", "DOMAIN_NAME"},
}
_WEEKDAY_OR_YEAR = re.compile(
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|(?:19|20)\d\d)s?", re.IGNORECASE)


@dataclass
class Note:
    text: str
    spans: list[dict]  # {"start", "end", "type"}
    group: str = ""  # patient (nursing notes) or kind (written notes)
    name: str = ""


def load_nursing(limit: int | None = None) -> list[Note]:
    rows = [json.loads(line) for line in NURSING.read_text(encoding="utf-8").splitlines() if line.strip()]
    notes = [Note(r["text"], r["spans"], str(r["patient_id"]), f"{r['patient_id']}/{r['note_id']}") for r in rows]
    return notes[:limit] if limit else notes


def is_safe_harbor_identifier(entity_type: str, value: str) -> bool:
    """Safe Harbor removes ages over 89, date elements other than the year, and places smaller than a
    state; the synthetic set labels every age, year, weekday, country and state."""
    if entity_type == "AGE":
        return value.strip().isdigit() and int(value) > 89
    if entity_type == "DATE_TIME":
        return not _WEEKDAY_OR_YEAR.fullmatch(value.strip())
    if entity_type == "GPE":
        return not _is_country_or_state(value)
    return True


def _is_country_or_state(value: str) -> bool:
    from casenotes.phi import lexicon

    lower = value.strip().lower()
    return (lower in lexicon.countries() or lower in lexicon.us_states() or lower.upper() in lexicon.us_states().values()
            or lower in _OTHER_COUNTRY_NAMES)


# Countries as people name them where the gazetteer has another official name.
_OTHER_COUNTRY_NAMES = frozenset(
    ["usa", "us", "u.s.", "u.s.a.", "america", "united states", "uk", "u.k.", "britain", "great britain", "england",
     "scotland", "wales", "northern ireland", "russia", "south korea", "north korea", "korea", "czechia",
     "czech republic", "the netherlands", "holland", "vietnam", "iran", "syria", "laos", "bolivia", "venezuela",
     "tanzania", "moldova", "macedonia", "north macedonia", "ivory coast", "congo"])


def load_synth(limit: int | None = None) -> list[Note]:
    notes = []
    for item in json.loads(SYNTH.read_text(encoding="utf-8")):
        spans = [
            {"start": s["start_position"], "end": s["end_position"], "type": s["entity_type"]}
            for s in item["spans"]
            if s["entity_type"] not in NON_HIPAA_SYNTH and is_safe_harbor_identifier(s["entity_type"], s["entity_value"])
        ]
        notes.append(Note(item["full_text"], spans, "synthetic"))
    return notes[:limit] if limit else notes


def parse_marked(marked: str) -> tuple[str, list[dict]]:
    """Text without its ``{{TYPE|text}}`` marks, and the marked spans."""
    from casenotes.phi.learned import parse_marked as parse

    text, spans = parse(marked)
    return text, [{"start": a, "end": b, "type": kind} for a, b, kind in spans]


def load_written(name: str = "dev") -> list[Note]:
    """The written notes of one set. A US state alone is not gold PHI (Safe Harbor keeps states)."""
    from casenotes.phi import lexicon

    states = set(lexicon.us_states()) | {code.lower() for code in lexicon.us_states().values()}
    notes = []
    for path in sorted(WRITTEN[name].glob("*.txt")):
        text, spans = parse_marked(path.read_text(encoding="utf-8"))
        spans = [s for s in spans if text[s["start"] : s["end"]].lower().strip(". ") not in states]
        kind = re.sub(r"^\d+-", "", path.stem)
        notes.append(Note(text, spans, kind, path.name))
    return notes


def patient_folds(notes: list[Note], k: int = 5) -> list[list[int]]:
    """Indexes of the notes in each of k folds; all notes of a patient in one fold (a stable hash)."""
    folds: list[list[int]] = [[] for _ in range(k)]
    for i, note in enumerate(notes):
        folds[zlib.crc32(note.group.encode()) % k].append(i)
    return folds


@dataclass
class Scored:
    total: TokenScore = field(default_factory=TokenScore)
    by_type: dict[str, list[int]] = field(default_factory=dict)  # group -> [found, missed]

    def add(self, note: Note, predicted: list[tuple[int, int]]) -> None:
        self.total.add(score_tokens(note.text, [(s["start"], s["end"]) for s in note.spans], predicted))
        gold = [(s["start"], s["end"], _group(s["type"])) for s in note.spans]
        for kind, (found, missed) in recall_by_type(note.text, gold, predicted).items():
            counts = self.by_type.setdefault(kind, [0, 0])
            counts[0] += found
            counts[1] += missed

    def type_recall(self) -> dict[str, float]:
        return {k: round(f / (f + m), 4) for k, (f, m) in sorted(self.by_type.items()) if f + m}


def _group(kind: str) -> str:
    return next((g for g, members in TYPE_GROUPS.items() if kind in members), kind.lower())


def score(notes: list[Note], predictions: list[list[tuple[int, int]]]) -> Scored:
    scored = Scored()
    for note, pred in zip(notes, predictions):
        scored.add(note, pred)
    return scored
