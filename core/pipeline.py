"""The batch pipeline: ``run(paths, options, state)`` reads, de-identifies and writes each file.

No Qt here. Progress goes to ``state.report`` (the CLI draws a terminal bar from it, the GUI turns
it into signals); cancellation is checked between batches; each batch is checkpointed, so a killed
or cancelled run continues with ``resume=True``. One bad file is reported and the others go on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from casenotes import __version__
from casenotes.checkpoint import Checkpoint
from casenotes.durations import format_duration
from casenotes.errors import Cancelled, CasenotesError, OutputError
from casenotes.io.columns import ColumnPlan, plan_for
from casenotes.io.readers import Table, read_table, sheetless_label
from casenotes.io.writers import (EXCEL_CELL_LIMIT, WRITING_TIME, parquet_available, remove_stale_library_scratch,
                                   remove_stale_temporaries, write_jsonl, write_parquet, write_results_workbook,
                                   write_review_workbook)
from casenotes.keys import KeyRing
from casenotes.options import RunOptions
from casenotes.phi.department import DepartmentLists
from casenotes.phi.step import DeidentifySettings
from casenotes.rows import RowSource
from casenotes.runner import LocalRunner
from casenotes.steps import NoteRecord, Step, resolve_device

log = logging.getLogger(__name__)


@dataclass
class Progress:
    file: str
    file_index: int
    files_total: int
    rows_done: int
    rows_total: int
    elapsed_s: float  # since rows started flowing in this session (model loading not counted)
    stage: str = "processing"
    rows_resumed: int = 0  # done by an interrupted run before this session: not part of the rate

    @property
    def rows_per_s(self) -> float:
        return (self.rows_done - self.rows_resumed) / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class FileResult:
    input: Path
    status: str  # "done", "failed", "cancelled"
    outputs: dict[str, Path] = field(default_factory=dict)
    error: str | None = None
    rows: int = 0
    rows_failed: int = 0
    rows_needing_review: int = 0
    sheet: str | None = None  # the sheet processed (detected or chosen)
    phi_by_type: dict[str, int] = field(default_factory=dict)  # detections and replaced identifier cells
    columns_deidentified: int = 0
    columns_kept: int = 0
    codes_suggested: int = 0
    seconds: float = 0.0
    writing_seconds: float = 0.0
    note: str | None = None  # e.g. "finished by an earlier run; nothing to resume"

    def verdict(self) -> str:
        """One line a clerk can act on, in the manner of Dangerzone's 'safe to share'."""
        if self.status == "cancelled":
            return "not finished: cancelled; resume to process the remaining rows"
        if self.status != "done":
            return f"not processed: {self.error or 'failed'}"
        if self.note:
            return self.note
        # The column counts are in summary_lines; the verdict says what to do.
        if self.rows_failed:
            return (f"safe to share, with gaps: {self.rows_failed} row(s) could not be de-identified "
                    "and were left blank")
        if self.rows_needing_review:
            # Not "safe" while rows are flagged: a flagged row may hold what the rules were unsure of.
            return (f"check before sharing: {self.rows_needing_review} row(s) flagged for review "
                    "(see the Needs review column)")
        return "safe to share: no row flagged for review" + ("" if self.columns_deidentified else
                                                             "; no column needed de-identifying")

    def summary_lines(self) -> list[str]:
        """Counts only, never note text: rows, PHI found by type, review, codes, time."""
        if self.note:
            return [self.note]
        found = ", ".join(f"{n:,} {kind.lower().replace('_', ' ')}" for kind, n in sorted(self.phi_by_type.items(), key=lambda x: -x[1]))
        lines = [f"{self.rows:,} rows; {self.columns_deidentified} column(s) de-identified, {self.columns_kept} kept unchanged",
                 f"PHI replaced: {found or 'none found'}",
                 f"rows needing review: {self.rows_needing_review:,}; rows failed: {self.rows_failed:,}"]
        if self.codes_suggested:
            lines.append(f"codes suggested: {self.codes_suggested:,}")
        if self.seconds:
            lines.append(f"time: {format_duration(self.seconds)}"
                         + (f", of which writing the outputs {format_duration(self.writing_seconds)}"
                            if self.writing_seconds >= 1 else ""))
        return lines


@dataclass
class PriorRun:
    """What an earlier run of a file left in its output folder: finished outputs or a checkpoint."""

    status: str  # "done" or "interrupted"
    outputs: dict[str, Path]
    rows_done: int = 0
    rows_total: int = 0


def prior_run(path: Path, options: RunOptions) -> PriorRun | None:
    """The earlier run of ``path`` under ``options``' output folder, if any (the window shows it
    after a restart: a finished file is done, a checkpoint can be resumed)."""
    outputs = output_paths(Path(path), options)
    checkpoint = Checkpoint(outputs["checkpoint"])
    if checkpoint.exists():
        try:
            total = int(checkpoint.meta().get("rows", 0))
        except (OSError, ValueError):
            total = 0
        return PriorRun("interrupted", {"checkpoint": outputs["checkpoint"]}, checkpoint.rows_done(), total)
    written = {k: v for k, v in outputs.items() if k != "checkpoint" and v.exists()}
    if "workbook" in written:
        return PriorRun("done", written)
    return None


class RunState:
    """Progress reporting and cancellation, shared by the caller and the pipeline thread."""

    def __init__(self, on_progress: Callable[[Progress], None] | None = None,
                 on_file_done: Callable[[FileResult], None] | None = None, cancel_event=None):
        self._on_progress = on_progress
        self._on_file_done = on_file_done
        # Any event with set() and is_set(): a multiprocessing one when the caller is another process.
        self._cancel = cancel_event if cancel_event is not None else threading.Event()

    def report(self, progress: Progress) -> None:
        if self._on_progress is not None:
            self._on_progress(progress)

    def file_done(self, result: FileResult) -> None:
        if self._on_file_done is not None:
            self._on_file_done(result)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


OUTPUT_KINDS = ("workbook", "jsonl", "parquet", "review")


def output_paths(input_path: Path, options: RunOptions, keys: KeyRing | None = None) -> dict[str, Path]:
    folder = Path(options.output_dir) if options.output_dir else input_path.parent
    if options.output_names == "neutral":
        keys = keys or KeyRing.load_or_create()
        # The resolved path, so that two inputs of one name in different folders get two names.
        stem = "deidentified-" + keys.pseudonym(str(Path(input_path).resolve()), "N")[2:10]
    elif options.output_names == "input":
        stem = input_path.stem
    else:
        raise ValueError(f"unknown output naming {options.output_names!r}")
    return {
        "workbook": folder / f"{stem}.casenotes.xlsx",
        "jsonl": folder / f"{stem}.casenotes.jsonl",
        "parquet": folder / f"{stem}.casenotes.parquet",
        "review": folder / f"{stem}.REVIEW-CONTAINS-PHI.casenotes.xlsx",
        "checkpoint": folder / f".{stem}.casenotes-checkpoint",
    }


def output_clashes(paths: Sequence[Path], options: RunOptions, keys: KeyRing | None = None,
                   per_file: dict[Path, dict] | None = None) -> dict[Path, Path]:
    """Inputs whose outputs would replace an earlier input's of the same run (``a/notes.csv`` and
    ``b/notes.csv`` into one folder): each such input -> the earlier input it clashes with."""
    per_file = per_file or {}
    owner: dict[Path, Path] = {}
    clashes: dict[Path, Path] = {}
    for path in map(Path, paths):
        workbook = output_paths(path, replace(options, **per_file.get(path, {})), keys)["workbook"].resolve()
        if workbook in owner and owner[workbook].resolve() != path.resolve():
            clashes[path] = owner[workbook]
        else:
            owner.setdefault(workbook, path)
    return clashes


def run(paths: Sequence[Path], options: RunOptions, state: RunState | None = None,
        keys: KeyRing | None = None, per_file: dict[Path, dict] | None = None) -> list[FileResult]:
    """Process every file; a failure in one is recorded in its result and the rest continue.

    ``per_file`` overrides options for single files (the window lets the clerk pick each file's
    sheet and columns, and resume only the files that were cancelled); models load once for all.
    """
    per_file = per_file or {}
    state = state or RunState()
    keys = keys or KeyRing.load_or_create()
    runner = make_runner(options, keys, Path(options.output_dir or Path(paths[0]).parent) if paths else None)
    clashes = output_clashes(paths, options, keys, per_file)
    results: list[FileResult] = []
    try:
        for index, path in enumerate(paths):
            path = Path(path)
            if path in clashes:
                result = FileResult(path, "failed", error=(
                    f"{path.name}: not processed: its outputs would replace those of the earlier input of the same "
                    f"name ({_shown_folder(clashes[path])}); choose another output folder or neutral output names"))
                results.append(result)
                state.file_done(result)
                continue
            result = _run_one(path, replace(options, **per_file.get(path, {})), state, keys, runner, index, len(paths))
            results.append(result)
            state.file_done(result)
    finally:
        runner.close()
    return results


def make_runner(options: RunOptions, keys: KeyRing, output_dir: Path | None = None):
    """The local runner, or the Ray Data runner for ``backend="ray"``: the same steps either way."""
    settings = step_settings(options, keys)
    if options.backend == "ray":
        from casenotes.ray_runner import RayRunner

        return RayRunner(settings, options.ray_address, actors=max(1, options.workers or 1),
                         batch_size=options.batch_size, gpus_per_actor=1.0, output_dir=output_dir)
    if options.backend != "local":
        raise ValueError(f"unknown backend {options.backend!r}")
    return LocalRunner([s.build() for s in settings])


def step_settings(options: RunOptions, keys: KeyRing) -> list:
    """The settings of the run's steps, in order: de-identification first, then the model steps asked
    for. Plain and picklable: a runner builds the steps from them wherever they run."""
    department = DepartmentLists.load()
    device = resolve_device(options.device)
    deid_model = str(options.deid_model) if options.deid_model else None
    deid_device = device if deid_model else "cpu"
    settings: list = [DeidentifySettings(keys, options.mode, options.spacy_model, department, deid_model, deid_device)]
    if options.summarize or options.summarizer:
        from casenotes.summarize.step import SummarizeSettings

        settings.append(SummarizeSettings(keys, options.summarizer, device, options.summary_sentences,
                                          options.summary_max_tokens, options.summary_batch_size,
                                          options.spacy_model, department, deid_model, deid_device,
                                          engine=options.summary_engine))
    if options.code or options.coder:
        from casenotes.coding.step import CodingSettings

        settings.append(CodingSettings(options.coder, device, options.code_threshold, options.code_convention))
    return settings


def _run_one(path: Path, options: RunOptions, state: RunState, keys: KeyRing, runner,
             index: int, total: int) -> FileResult:
    if state.cancelled:
        return FileResult(path, "cancelled", error="cancelled before start")
    try:
        return process_file(path, options, state, keys, runner, index, total)
    except Cancelled:
        return FileResult(path, "cancelled", outputs={"checkpoint": output_paths(path, options, keys)["checkpoint"]},
                          error="cancelled; run again with resume to continue")
    except CasenotesError as exc:  # reported once, by whoever shows the result
        return FileResult(path, "failed", error=str(exc))
    except OSError as exc:  # the disk or the file system, not a bug: say what happened and what to do
        return FileResult(path, "failed", error=f"{path.name}: {os_error_message(exc)}")
    except Exception as exc:  # a bug must not stop the other files, nor show note text
        # No traceback: exception messages can quote cell contents.
        log.error("unexpected error in file %d of %d (%s)", index + 1, total, type(exc).__name__)
        return FileResult(path, "failed", error=f"{path.name}: internal error ({type(exc).__name__})")


def _shown_folder(path: Path) -> str:
    return f"in {path.parent.name or path.parent}" if path.parent.name else str(path)


def os_error_message(exc: OSError) -> str:
    """What a file-system failure means for the clerk, and what to do; never the file's content."""
    import errno

    name = Path(exc.filename).name if getattr(exc, "filename", None) else "a file"
    if isinstance(exc, PermissionError):
        return (f"cannot write {name}: permission denied (close it if it is open in Excel, "
                "or choose an output folder you can write to)")
    if exc.errno == errno.ENOSPC:
        return "the disk is full; free some space, then run again with resume to continue"
    if exc.errno == errno.EROFS:
        return "the output folder is read-only; choose another output folder"
    if exc.errno == errno.ENAMETOOLONG:
        return "a file name is too long for this folder; choose a shorter output folder or neutral output names"
    return f"cannot read or write {name} ({exc.strerror or type(exc).__name__})"


def process_file(path: Path, options: RunOptions, state: RunState, keys: KeyRing, runner,
                 file_index: int = 0, files_total: int = 1) -> FileResult:
    """One file, holding its checkpoint's lock, so a second run on the same outputs is refused."""
    outputs = output_paths(path, options, keys)
    _check_input_output(path, outputs)
    checkpoint = Checkpoint(outputs["checkpoint"])
    try:
        if not checkpoint.claim():
            raise OutputError(f"{path.name}: another casenotes run is working on this file's outputs now; "
                              "wait for it to finish or stop it first")
    except OSError as exc:
        raise OutputError(f"{path.name}: {os_error_message(exc)}") from None
    try:
        remove_stale_temporaries(outputs["workbook"].parent)
        remove_stale_library_scratch()
        return _process_claimed(path, outputs, checkpoint, options, state, keys, runner, file_index, files_total)
    finally:
        checkpoint.release()


def _process_claimed(path: Path, outputs: dict[str, Path], checkpoint: Checkpoint, options: RunOptions,
                     state: RunState, keys: KeyRing, runner, file_index: int,
                     files_total: int) -> FileResult:
    started = time.perf_counter()
    wanted = _wanted_outputs(options)
    if options.resume and not checkpoint.exists() and outputs["workbook"].exists():
        # Finished before (a Ctrl+C after the last write, or resume pressed twice): nothing to redo.
        missing = [k for k in wanted if not outputs[k].exists()]
        if missing:
            raise OutputError(f"{path.name}: an earlier run finished without the {', '.join(missing)} output; "
                              "run with overwrite to make it")
        return FileResult(path, "done", {k: outputs[k] for k in wanted}, note="finished by an earlier run; nothing to resume")
    _check_outputs(path, outputs, options, checkpoint)
    input_bytes = path.read_bytes() if path.is_file() else b""
    table = read_table(path, options.sheet, options.text_columns)  # raises InputError with a one-line reason
    plan = plan_for(table.frame, options, path.name)
    sha256 = hashlib.sha256(input_bytes).hexdigest()
    device = resolve_device(options.device)

    frame = table.frame
    total = len(frame)
    rows = RowSource(frame, plan, keys)

    meta = {"input_sha256": sha256, "sheet": table.sheet, "columns": plan.signature(),
            "mode": options.mode, "rows": total, "steps": [s.name for s in runner.steps]}
    done: set[int] = set()
    if options.resume and checkpoint.exists():
        old = checkpoint.meta()
        if old.get("input_sha256") != sha256:
            raise OutputError(f"{path.name}: the input changed since the interrupted run; start again without resume")
        if {k: old.get(k) for k in meta} != meta:
            raise OutputError(f"{path.name}: the interrupted run used other settings; start again without resume")
        done = checkpoint.load_rows()
    else:
        checkpoint.start(meta)

    todo = [i for i in range(1, total + 1) if i not in done]
    finished = len(done)

    runner.use_workers(_worker_count(options, len(todo)))
    steps = runner.steps

    # Rows per second counts rows against the time spent on rows: the clock starts once the steps
    # have loaded, so a model load or the index build does not read as a slow run.
    processing_started: float | None = None

    def report(stage="processing"):
        elapsed = time.perf_counter() - processing_started if processing_started is not None else 0.0
        state.report(Progress(path.name, file_index, files_total, finished, total, elapsed, stage, len(done)))

    loading_started = time.perf_counter()
    from casenotes.coding.index import BuildEstimate

    # a one-time build during setup (the ICD-10-CM index) shows as its own stage, with an estimate
    estimate = BuildEstimate()
    runner.setup(lambda done, of: report(estimate(done, of)))
    loading = time.perf_counter() - loading_started
    processing_started = time.perf_counter()

    def batches():
        for start in range(0, len(todo), options.batch_size):
            if state.cancelled:
                raise Cancelled(f"{path.name}: cancelled")
            yield [rows.record(r) for r in todo[start : start + options.batch_size]]

    report()
    for batch in runner.run_stream(batches()):
        if state.cancelled:
            raise Cancelled(f"{path.name}: cancelled")
        for r in batch:
            if any(len(c.deidentified) > EXCEL_CELL_LIMIT for c in r.cells):
                r.review_reasons.append("text longer than an Excel cell: full text in the JSON Lines export")
        checkpoint.append(batch)
        finished += len(batch)
        report()

    # The outputs are written from the checkpoint, a record at a time: memory does not grow with rows.
    records = checkpoint.saved_records(rows.record, total)
    report("writing")
    elapsed = time.perf_counter() - processing_started
    tally = RunTally.of(records)
    info = _run_info(path, sha256, table, plan, options, tally, steps, device, elapsed, loading, len(todo))
    extra_columns = [column for step in steps for column in step.output_columns]
    extra_sheets = [sheet for step in steps for sheet in step.sheets(records)]
    # Written into the checkpoint's private folder first, then renamed into place together: no output
    # exists under its final name while the run can still fail, and a kill before the checkpoint is
    # removed is resumed by writing them again.
    writing_started = time.perf_counter()
    staged = {k: checkpoint.staging / outputs[k].name for k in OUTPUT_KINDS}
    written = []
    if options.jsonl or tally.longer_than_a_cell:
        write_jsonl(staged["jsonl"], records)
        written.append("jsonl")
    if options.parquet:
        write_parquet(staged["parquet"], frame, plan, records, options.include_original, extra_columns)
        written.append("parquet")
    if options.review:
        write_review_workbook(staged["review"], records, rows.record, rows.key_map, plan.id_column, info)
        written.append("review")
    # The shareable workbook last: its Run info sheet, written last, can tell how long writing took.
    write_results_workbook(staged["workbook"], frame, plan, records, info, options.include_original,
                           extra_columns, extra_sheets, mode=options.mode, writing_started=writing_started)
    written.insert(0, "workbook")
    # An earlier run's output of a kind this run does not make is kept: a review workbook may hold a
    # reviewer's corrections.
    for kind in written:
        os.replace(staged[kind], outputs[kind])
    writing = time.perf_counter() - writing_started
    checkpoint.remove()
    report("done")
    return FileResult(path, "done", {k: outputs[k] for k in written}, rows=total, rows_failed=tally.failed,
                      rows_needing_review=tally.needing_review, sheet=table.sheet, phi_by_type=tally.phi_by_type,
                      columns_deidentified=len(plan.deidentified_columns), columns_kept=len(plan.kept_columns),
                      codes_suggested=tally.codes,
                      seconds=time.perf_counter() - started, writing_seconds=writing)


@dataclass
class RunTally:
    """A run's counts, made in one pass over its records (read back from the checkpoint)."""

    rows: int = 0
    empty: int = 0
    failed: int = 0
    needing_review: int = 0
    phi_detections: int = 0
    codes: int = 0
    longer_than_a_cell: bool = False
    phi_by_type: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, records) -> "RunTally":
        tally = cls()
        by_type = tally.phi_by_type
        for r in records:
            tally.rows += 1
            tally.empty += r.note_is_empty
            tally.failed += r.failed
            tally.needing_review += r.needs_review
            tally.phi_detections += r.phi_count
            tally.codes += len(r.codes or [])
            tally.longer_than_a_cell |= any(len(c.deidentified) > EXCEL_CELL_LIMIT for c in r.cells)
            for cell in r.cells:
                for f in cell.phi:
                    by_type[f.entity_type] = by_type.get(f.entity_type, 0) + 1
            for column, (kind, _) in r.identifiers.items():
                if r.replaced.get(column, "").strip():
                    by_type[kind] = by_type.get(kind, 0) + 1
        return tally


def _wanted_outputs(options: RunOptions) -> list[str]:
    return (["workbook"] + (["jsonl"] if options.jsonl else []) + (["parquet"] if options.parquet else [])
            + (["review"] if options.review else []))


def _check_input_output(path: Path, outputs: dict[str, Path]) -> None:
    if any(outputs[k].resolve() == path.resolve() for k in OUTPUT_KINDS):
        raise OutputError(f"{path.name}: the output would overwrite the input")
    try:
        outputs["workbook"].parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path.name}: cannot create the output folder ({os_error_message(exc)})") from None


def _check_outputs(path: Path, outputs: dict[str, Path], options: RunOptions, checkpoint: Checkpoint) -> None:
    if options.parquet and not parquet_available():
        raise OutputError(f"{path.name}: the Parquet export needs pyarrow (install casenotes with the 'catalogue' extra)")
    if checkpoint.exists() and not options.resume and not options.overwrite:
        raise OutputError(f"{path.name}: an interrupted run exists; use resume to continue it or overwrite to start again")
    if not options.resume and not options.overwrite:
        for kind in OUTPUT_KINDS:
            if outputs[kind].exists():
                raise OutputError(f"{path.name}: {outputs[kind].name} already exists; use overwrite to replace it")


def _worker_count(options: RunOptions, rows: int) -> int:
    if options.workers:
        return options.workers
    # Starting a worker loads its own spaCy model (a few seconds): worth it for long files only.
    return min(os.cpu_count() or 1, 4) if rows >= 400 else 1


def _run_info(path: Path, sha256: str, table: Table, plan: ColumnPlan, options: RunOptions,
              tally: RunTally, steps: list[Step], device: str, elapsed: float, loading: float = 0.0,
              rows_processed: int | None = None) -> list[tuple[str, str]]:
    """``elapsed``: the rows' time (``rows_processed`` of them, fewer than all on a resumed run);
    ``loading``: loading the steps' models and building the ICD-10-CM index, counted apart."""
    import platform

    import openpyxl
    import pandas
    import presidio_analyzer
    import spacy

    info = [
        ("Input file", path.name if options.record_input_name
         else "(name left out: a file name can identify a patient; the SHA-256 below identifies the file)"),
        ("Input SHA-256", sha256),
        ("Sheet", table.sheet or sheetless_label(path)),
        ("Text encoding", table.encoding or "(workbook)"),
        ("Note column", ", ".join(plan.text_columns)),
        ("ID column", plan.id_column or "(none)"),
        *[(f"Column: {column}", what) for column, what in plan.describe()],
        ("Rows in", str(tally.rows)),
        ("Rows out", str(tally.rows)),
        ("Rows with an empty note", str(tally.empty)),
        ("Rows failed", str(tally.failed)),
        ("Rows needing review", str(tally.needing_review)),
        ("PHI detections", str(tally.phi_detections)),
        ("Original note column included", "yes (this file contains PHI)" if options.include_original else "no"),
        ("Settings", ", ".join(f"{k}={v}" for k, v in asdict(options).items() if k not in ("output_dir",))),
        ("Device", device),
        ("Model loading (s)", f"{loading:.1f}"),
        ("Processing time (s)", f"{elapsed:.1f}"),
        ("Writing time (s)", WRITING_TIME),
        ("Rows per second", f"{(tally.rows if rows_processed is None else rows_processed) / elapsed:.1f}" if elapsed else "-"),
        ("casenotes", __version__),
        ("Python", platform.python_version()),
        ("presidio-analyzer", presidio_analyzer.__version__ if hasattr(presidio_analyzer, "__version__") else _dist_version("presidio-analyzer")),
        ("presidio-anonymizer", _dist_version("presidio-anonymizer")),
        ("spaCy", spacy.__version__),
        ("pandas", pandas.__version__),
        ("openpyxl", openpyxl.__version__),
    ]
    for step in steps:
        info += [(f"{step.name}: {k}", v) for k, v in step.describe().items()]
    return info


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
