"""The department's own lists: identifiers a reviewer marked as missed, false alarms, and staff names.

They come from the review workbook (``casenotes learn-review``) and from a staff list loaded once
(``casenotes staff-list``), and are PHI themselves: they are kept beside the secret in the user data
folder, readable by its owner only, and never shown (commands report counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.keys import private_home, write_private
from core.phi.known import KnownIdentifiers

FILE_NAME = "department-lists.json"
# Types a reviewer can give a missed identifier (the review workbook's drop-down).
PHI_TYPES = ("NAME", "LOCATION", "FACILITY", "ADDRESS", "ZIP", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID")
# Detections that a reviewer's "not PHI" never removes: the row's own identifiers and these lists.
TRUSTED_DETECTORS = ("known:", "department:")


@dataclass
class DepartmentLists:
    phi_terms: dict[str, str] = field(default_factory=dict)  # phrase -> entity type
    not_phi: set[str] = field(default_factory=set)  # lower-cased phrases
    staff_names: list[str] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def load(cls, home: Path | None = None) -> "DepartmentLists":
        path = private_home(home) / FILE_NAME
        if not path.exists():
            return cls(path=path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(dict(data.get("phi_terms", {})), set(data.get("not_phi", [])), list(data.get("staff_names", [])),
                   path)

    def save(self) -> None:
        data = {"phi_terms": self.phi_terms, "not_phi": sorted(self.not_phi), "staff_names": self.staff_names}
        write_private(self.path or private_home() / FILE_NAME, json.dumps(data, ensure_ascii=False, indent=1).encode())

    def __bool__(self) -> bool:
        return bool(self.phi_terms or self.not_phi or self.staff_names)

    def counts(self) -> dict[str, int]:
        return {"missed identifiers": len(self.phi_terms), "false alarms": len(self.not_phi),
                "staff names": len(self.staff_names)}

    def add_phi(self, phrase: str, entity: str) -> bool:
        phrase = " ".join(phrase.split())
        if not phrase or self.phi_terms.get(phrase) == entity:
            return False
        self.phi_terms[phrase] = entity
        self.not_phi.discard(phrase.lower())
        return True

    def add_not_phi(self, phrase: str) -> bool:
        phrase = " ".join(phrase.split()).lower()
        if not phrase or phrase in self.not_phi:
            return False
        self.not_phi.add(phrase)
        return True

    def add_staff(self, names) -> int:
        known = {n.lower() for n in self.staff_names}
        added = 0
        for name in names:
            name = " ".join(str(name).split())
            if len(name) > 1 and name.lower() not in known:
                self.staff_names.append(name)
                known.add(name.lower())
                added += 1
        return added

    def known_values(self) -> KnownIdentifiers:
        """What the department recognizer searches for in every note."""
        known = KnownIdentifiers()
        for name in self.staff_names:
            known.add("NAME", name)
        for phrase, entity in self.phi_terms.items():
            known.add_phrase(entity, phrase)
        return known

    def is_false_alarm(self, text: str, detector: str) -> bool:
        return " ".join(text.split()).lower() in self.not_phi and not detector.startswith(TRUSTED_DETECTORS)
