"""From a sheet's rows to the records the steps work on.

A record holds the row's text cells (its note columns, and every other free-text column with its
header as context), its identifier cells, its pseudonymous patient key, and the identifiers known
for its patient: the values of the identifier columns of every row of that patient, searched for
in each of the patient's text cells. The run, the window's preview and the benchmarks build
records here, so they de-identify the same way.
"""

from __future__ import annotations

import pandas as pd

from casenotes.io.columns import NOTE, PATIENT_KEY, ColumnPlan
from casenotes.keys import KeyRing
from casenotes.phi.known import SEARCHED_KINDS, KnownIdentifiers
from casenotes.phi.replace import PATIENT_KEY as PATIENT_KEY_KIND
from casenotes.steps import NoteRecord, TextCell


class RowSource:
    def __init__(self, frame: pd.DataFrame, plan: ColumnPlan, keys: KeyRing):
        self.frame = frame
        self.plan = plan
        self._columns = {c: list(frame[c].astype(str)) for c in frame.columns}
        ids = self._columns[plan.id_column] if plan.id_column else [""] * len(frame)
        self.patient_keys = [keys.pseudonym(v.strip(), "PT") if v.strip() else None for v in ids]
        self.key_map = {k: v.strip() for k, v in zip(self.patient_keys, ids) if k}  # review workbook only
        self._known = self._known_identifiers()
        notes = plan.text_columns
        # One note column needs no header; several are read, and later summarized, each under its own.
        self._cells = [(c, d.action == NOTE, None if d.action == NOTE and len(notes) == 1 else c)
                       for c, d in plan.columns.items() if c in plan.engine_columns]
        self._identifiers = [(c, PATIENT_KEY_KIND if d.action == PATIENT_KEY else d.kind or "ID")
                             for c, d in plan.columns.items() if c in plan.identifier_columns]

    def __len__(self) -> int:
        return len(self.frame)

    def record(self, row: int) -> NoteRecord:
        """The record of a 1-based data row."""
        i = row - 1
        return NoteRecord(
            row=row,
            cells=[TextCell(column, self._columns[column][i], is_note, context)
                   for column, is_note, context in self._cells],
            patient_key=self.patient_keys[i],
            identifiers={column: (kind, self._columns[column][i]) for column, kind in self._identifiers},
            known=self._known[i],
        )

    def _known_identifiers(self) -> list[KnownIdentifiers | None]:
        """The identifier values of each row, pooled over all rows of the same patient."""
        searched = {c: ("ID" if kind == "ID" else kind) for c, kind in self.plan.identifier_columns.items()
                    if kind in SEARCHED_KINDS}
        if not searched:
            return [None] * len(self.frame)
        groups: dict[str, KnownIdentifiers] = {}
        out: list[KnownIdentifiers | None] = []
        for i in range(len(self.frame)):
            group = self.patient_keys[i] or f"row {i}"
            known = groups.setdefault(group, KnownIdentifiers())
            for column, kind in searched.items():
                known.add(kind, self._columns[column][i])
            out.append(known)
        return [k if k else None for k in out]
