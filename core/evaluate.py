"""Score a finished run against reference data: ``casenotes evaluate OUTPUT.xlsx --reference REF``.

The reference is a spreadsheet with one row per input row, in the same order (the input itself
when it carries reference columns): reference PHI spans (a JSON list of [start, end] or
{"start", "end"} offsets into the original note), reference summaries, reference codes (separated
by ; or ,). Whatever is present is scored: PHI recall and precision (token level, binary), ROUGE
of the summaries, recall@k, MAP and micro P/R/F1 of the codes. The figures are added to the
workbook as an "Evaluation" sheet (written atomically) and returned for the terminal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from casenotes.coding.train import parse_codes
from casenotes.errors import InputError
from casenotes.io.readers import read_table
from casenotes.io.writers import save_workbook
from casenotes.metrics import TokenScore, mean_rouge, score_codes, score_tokens

PHI_COLUMNS = ("reference phi", "phi_spans", "phi spans", "phi")
SUMMARY_COLUMNS = ("reference summary", "summary", "impression")
CODE_COLUMNS = ("reference codes", "codes", "icd10", "icd-10-cm", "icd10cm_codes", "icd-10-cm codes")


@dataclass
class Evaluation:
    rows: int
    reference: str = ""
    sections: dict[str, dict] = field(default_factory=dict)  # "PHI", "Summaries", "Codes" -> measures

    def lines(self) -> list[tuple[str, str, str]]:
        return [(section, k, str(v)) for section, values in self.sections.items() for k, v in values.items()]


def _find(columns: list[str], wanted: str | None, names: tuple[str, ...], exclude: set[str]) -> str | None:
    if wanted:
        if wanted not in columns:
            raise InputError(f"the reference has no column named '{wanted}'")
        return wanted
    lower = {c.lower().strip(): c for c in columns if c not in exclude}
    return next((lower[n] for n in names if n in lower), None)


def _input_beside(output: Path, info: dict) -> Path | None:
    """The run's input in the output's folder: by the name Run info recorded, else by its SHA-256
    (Run info leaves the input's name out unless asked)."""
    named = output.parent / str(info.get("Input file") or "")
    if info.get("Input file") and named.is_file():
        return named
    digest = str(info.get("Input SHA-256") or "")
    if not digest:
        return None
    from casenotes.io.readers import SUPPORTED_EXTENSIONS

    for candidate in sorted(output.parent.iterdir()):
        if (candidate.suffix.lower() in SUPPORTED_EXTENSIONS and candidate.is_file() and candidate != output
                and ".casenotes" not in candidate.name
                and hashlib.sha256(candidate.read_bytes()).hexdigest() == digest):
            return candidate
    return None


def evaluate(output: Path, reference: Path | None, text_column: str | None = None, phi_column: str | None = None,
             summary_column: str | None = None, codes_column: str | None = None, sheet: str | None = None,
             write: bool = True) -> Evaluation:
    import openpyxl

    output = Path(output)
    try:
        wb = openpyxl.load_workbook(output, rich_text=True)
    except Exception as exc:
        raise InputError(f"{output.name}: not a casenotes output workbook ({type(exc).__name__})") from None
    if "Results" not in wb.sheetnames:
        raise InputError(f"{output.name}: no Results sheet; is it a casenotes output workbook?")
    results = list(wb["Results"].iter_rows(values_only=True))
    headers, body = [str(h) for h in results[0]], results[1:]
    info = {r[0]: r[1] for r in wb["Run info"].iter_rows(values_only=True)} if "Run info" in wb.sheetnames else {}
    if reference is None:  # the input itself, with reference columns, beside the output (the default place)
        reference = _input_beside(output, info)
        if reference is None:
            raise InputError(f"{output.name}: give --reference (the input file is not beside the output)")
    reference = Path(reference)
    ref = read_table(reference, sheet).frame
    if len(ref) != len(body):
        raise InputError(f"{reference.name} has {len(ref)} rows but {output.name} has {len(body)}; they must match row for row")
    columns = list(ref.columns)
    produced = {c for c in headers}
    evaluation = Evaluation(len(body), reference.name)

    phi_col = _find(columns, phi_column, PHI_COLUMNS, set())
    if phi_col:
        note_col = text_column or info.get("Note column")
        if not note_col or note_col not in columns:
            raise InputError("PHI spans need the original note text: name its column with --text-column")
        predicted: dict[int, list[tuple[int, int]]] = {}
        for row in wb["PHI findings"].iter_rows(min_row=2, values_only=True):
            if row[1] == info.get("Note column", note_col) and row[3] is not None:
                predicted.setdefault(int(row[0]), []).append((int(row[3]), int(row[4])))
        total = TokenScore()
        for i in range(len(ref)):
            gold = _spans(ref[phi_col].iloc[i])
            total.add(score_tokens(str(ref[note_col].iloc[i]), gold, predicted.get(i + 1, [])))
        evaluation.sections["PHI"] = {"recall": round(total.recall, 4), "precision": round(total.precision, 4),
                                      "f1": round(total.f1, 4), "tokens tp/fp/fn": f"{total.tp}/{total.fp}/{total.fn}"}

    summary_col = _find(columns, summary_column, SUMMARY_COLUMNS, set())
    if summary_col and "Summary" in produced:
        at = headers.index("Summary")
        pairs = [(str(ref[summary_col].iloc[i]), str(body[i][at] or "")) for i in range(len(body))
                 if str(ref[summary_col].iloc[i]).strip()]
        rouge = mean_rouge([r for r, _ in pairs], [s for _, s in pairs])
        evaluation.sections["Summaries"] = {"pairs": len(pairs), **{
            k.upper().replace("ROUGE", "ROUGE-"): round(v, 4) for k, v in rouge.items()}}

    codes_col = _find(columns, codes_column, CODE_COLUMNS, {summary_col, phi_col})
    if codes_col and "ICD-10-CM codes" in produced:
        at = headers.index("ICD-10-CM codes")
        ranked: dict[int, list[tuple[float, str]]] = {}
        if "Codes" in wb.sheetnames:
            for row in wb["Codes"].iter_rows(min_row=2, values_only=True):
                if row[5] == "yes":  # active codes only
                    ranked.setdefault(int(row[0]), []).append((-float(row[4]), str(row[2])))
        gold = [set(parse_codes(ref[codes_col].iloc[i])) for i in range(len(body))]
        ranking = [[c for _, c in sorted(ranked.get(i + 1, []))] for i in range(len(body))]
        chosen = [set(parse_codes(body[i][at] or "")) for i in range(len(body))]
        score = score_codes(gold, ranking, chosen)
        evaluation.sections["Codes"] = {k: v for k, v in score.as_dict().items() if k not in ("tp", "fp", "fn")}

    if not evaluation.sections:
        raise InputError(f"{reference.name}: no reference PHI spans, summaries or codes to score against")
    if write:
        _write_sheet(wb, output, evaluation, reference.name)
    return evaluation


def _spans(cell) -> list[tuple[int, int]]:
    text = str(cell or "").strip()
    if not text:
        return []
    try:
        items = json.loads(text)
    except ValueError:
        raise InputError("reference PHI spans must be JSON, such as [[0, 5], [12, 20]]") from None
    return [(int(s["start"]), int(s["end"])) if isinstance(s, dict) else (int(s[0]), int(s[1])) for s in items]


def _write_sheet(wb, output: Path, evaluation: Evaluation, reference_name: str) -> None:
    if "Evaluation" in wb.sheetnames:
        del wb["Evaluation"]
    ws = wb.create_sheet("Evaluation")
    ws.append(["Section", "Measure", "Value"])
    ws.append(["Reference", "file", reference_name])
    ws.append(["Reference", "rows", evaluation.rows])
    for section, measure, value in evaluation.lines():
        ws.append([section, measure, value])
    for col, width in zip("ABC", (14, 20, 30)):
        ws.column_dimensions[col].width = width
    save_workbook(wb, output)
