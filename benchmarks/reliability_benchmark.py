"""Reliability under interruption (issue 16): kill/resume cycles of `casenotes run` and a long soak run.

    .venv/bin/python benchmarks/reliability_benchmark.py [--cycles 30] [--rows 3000] [--soak-rows 100000]
                                                         [--skip-soak] [--seed 16] [--format xlsx|csv] [--keep]
    .venv/bin/python benchmarks/reliability_benchmark.py --cycles 3 --rows 500 --skip-soak   # a quick check

The input is generated here: a workbook of synthetic notes (Faker, seeded) with planted fake PHI, columns
Ref (R000001...), Patient ID, Note and Ward. Every run is `casenotes run IN -o OUT --jsonl --review
--safe-column Ref` (`--resume` after the first; Ref is kept so the Results sheet's order can be read),
a subprocess in a session and process group of its own, with TMPDIR (and TMP, TEMP) pointed at a
private empty folder and CASENOTES_HOME at a private one (the same secret for every run, so every
finished output can be compared with an uninterrupted run's; only when core/ did not change between
the two: its sources are hashed before every run).

First one uninterrupted run of the kill-cycle file: the reference output, and the time to the first
checkpointed batch and the time spent writing, which place the kill points. Then each cycle, in a fresh
output folder: the first run is killed; each resume is killed again with probability --rekill (at most
--max-kills kills a cycle); the last resume runs to completion. Odd cycles kill with SIGKILL, even ones
with SIGTERM (which casenotes takes as Ctrl+C). A kill point is seeded: a phase (startup 25 %,
processing 50 %, writing 25 %) and a place in it: a time within the calibrated startup, a count of rows
in the checkpoint (OUT/.<stem>.casenotes-checkpoint/rows.jsonl, watched every 0.1 s) between the
run's first and the file's last row, or a time within the calibrated writing after the last row is
checkpointed. The signal goes to the casenotes process alone, as `kill` or the OOM killer sends it: its
PHI worker processes must end by themselves (--signal-to group sends it to the whole group, as Ctrl+C
in a terminal does). A kill that comes after the run finished is counted as missed.

Checks, after every finished run: the JSON Lines export has exactly one line per input row, in order
("row" 1..N: rows lost, repeated, reordered), its rows equal the uninterrupted run's, the workbook's
Results sheet has one row per input row with the Ref column in order (read with openpyxl, read-only),
and the output folder holds only the expected outputs (no checkpoint, no `.~*.tmp`, nothing else).
After every run: files left in its private TMPDIR (any is a leak: openpyxl's temporary sheet XML holds
note text; folders are listed, not counted: torch makes an empty torchinductor_<user> on import),
processes still alive --grace seconds after the run ended (those of its process group, its descendants
seen while it ran and any carrying its environment tag), and whether its stdout or stderr holds a
traceback or any planted name, MRN, phone number, e-mail or address. A SIGTERM'd run that has not
stopped after --term-timeout seconds is counted as hung and killed.

The soak: one uninterrupted run over a generated file of --soak-rows rows with --jsonl: wall time,
rows per second, peak memory (RSS summed over the process tree, sampled every 0.5 s; shared pages count
once per process, so it overstates), the time to the first checkpointed batch, and the share of the
wall time spent writing the outputs (from the last row checkpointed to the checkpoint's removal, which
follows the last output; the time from there to exit is shown beside it), with the same checks.

Prints a markdown table ready for the README; exits with 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]

POLL_S = 0.1
MEMORY_EVERY_S = 0.5
TAG_VARIABLE = "CASENOTES_RELIABILITY_TAG"
PHASES = (("startup", 0.25), ("processing", 0.5), ("writing", 0.25))  # where kills are aimed
# Every run: a JSON Lines export and a review workbook (the issue saw the review sheet's XML in temp
# files); Ref is a row reference, kept so that the Results sheet's order can be checked.
RUN_OPTIONS = ["--jsonl", "--review", "--safe-column", "Ref"]


def core_version() -> str:
    """A hash of core/'s sources: a finished run is compared with the uninterrupted one only when
    both ran the same code (other engineers may be editing core/ while this runs)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((REPO / "core").rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        try:
            digest.update(path.read_bytes())
        except OSError:
            pass
    return digest.hexdigest()[:12]


def output_names(stem: str, review: bool) -> set[str]:
    """What a finished run leaves in its output folder (casenotes.pipeline.output_paths)."""
    names = {f"{stem}.casenotes.xlsx", f"{stem}.casenotes.jsonl"}
    if review:
        names.add(f"{stem}.REVIEW-CONTAINS-PHI.casenotes.xlsx")
    return names


def checkpoint_rows_path(out: Path, stem: str) -> Path:
    return out / f".{stem}.casenotes-checkpoint" / "rows.jsonl"


# ---------------------------------------------------------------------------------------------------
# The input: synthetic notes with planted PHI

CLINICAL = [
    "Denies chest pain or shortness of breath.", "Afebrile overnight, tolerating diet.",
    "Wound clean and dry, dressing changed.", "BP {sys}/{dia}, HR {hr}, SpO2 {spo2}% on room air.",
    "Mobilising with a frame, physio to review.", "Pain controlled on regular paracetamol.",
    "Troponin negative x2, ECG sinus rhythm.", "Blood glucose {glu} mmol/L before lunch.",
    "Catheter removed, passed urine since.", "Creatinine {cr} umol/L, improving.",
    "Reports poor sleep; melatonin started.", "Chest clear on auscultation, no oedema.",
]
PLANS = ["continue IV antibiotics and repeat bloods tomorrow", "discharge home once mobile with the OT",
         "CT head booked for the morning", "increase furosemide to 40 mg and weigh daily",
         "refer to the diabetes nurse", "stop heparin and start apixaban"]
TEMPLATES = [
    "{date}: {name} (DOB {dob}, MRN {mrn}) seen on {ward} by Dr. {doctor}. {clinical} Plan: {plan}.",
    "Spoke to {relation} {relative} on {phone} about {first}'s progress. {clinical} Lives at {street}, {city}.",
    "Pt {name}, {age} y/o, admitted {date} from {street}, {city}. {clinical} Dr. {doctor} aware. Plan: {plan}.",
    "{clinical} {first} asked that {relation} {relative} be called on {phone}; email {email}. Plan: {plan}.",
    "Ward round {date} (Dr. {doctor}): {name} MRN {mrn}. {clinical}",
]
RELATIONS = ["daughter", "son", "wife", "husband", "sister", "brother", "neighbour"]
WARDS = ["Ward 4B", "Ward 7", "ICU", "CCU", "Ward 12", "Day unit", "Ward 3A"]


@dataclass
class Planted:
    """The fake PHI the notes hold: none of it may ever be printed."""

    values: set[str] = field(default_factory=set)

    def add(self, *values: str) -> None:
        self.values.update(v for v in values if len(v) >= 6)

    def found_in(self, text: str) -> list[str]:
        return sorted(v for v in self.values if v in text)


def make_notes(rows: int, seed: int) -> tuple[list[list[str]], Planted]:
    from faker import Faker

    Faker.seed(seed)
    fake = Faker("en_US")
    rng = random.Random(seed)
    pool = min(rows, 2000)
    people = [(fake.first_name(), fake.last_name()) for _ in range(pool)]
    doctors = [fake.last_name() for _ in range(200)]
    places = [(fake.street_address(), fake.city()) for _ in range(pool)]
    emails = [fake.email() for _ in range(pool)]
    planted = Planted()
    table = []
    for i in range(1, rows + 1):
        first, last = rng.choice(people)
        relative = " ".join(rng.choice(people))
        street, city = rng.choice(places)
        mrn = f"MRN{rng.randrange(10**7):07d}"
        phone = f"({rng.randrange(201, 990)}) 555-{rng.randrange(10000):04d}"
        email = rng.choice(emails)
        clinical = " ".join(rng.sample(CLINICAL, rng.randint(1, 4))).format(
            sys=rng.randint(95, 180), dia=rng.randint(50, 100), hr=rng.randint(50, 120), spo2=rng.randint(90, 100),
            glu=round(rng.uniform(4, 14), 1), cr=rng.randint(60, 300))
        values = dict(name=f"{first} {last}", first=first, relative=relative, relation=rng.choice(RELATIONS),
                      doctor=rng.choice(doctors), mrn=mrn, phone=phone, email=email, street=street, city=city,
                      date=fake.date_between("-2y", "today").strftime("%d/%m/%Y"), age=rng.randint(18, 99),
                      dob=fake.date_of_birth(minimum_age=18, maximum_age=99).strftime("%m/%d/%Y"),
                      ward=rng.choice(WARDS), clinical=clinical, plan=rng.choice(PLANS))
        note = " ".join(rng.choice(TEMPLATES).format(**values) for _ in range(rng.randint(1, 3)))
        if i % 997 == 0:
            note = ""  # an empty note now and then: its row must still be there
        patient_id = f"P{rng.randrange(10**8):08d}"
        planted.add(f"{first} {last}", relative, mrn, phone, email, street, patient_id)
        table.append([f"R{i:06d}", patient_id, note, values["ward"]])
    return table, planted


def write_input(path: Path, table: list[list[str]]) -> Path:
    headers = ["Ref", "Patient ID", "Note", "Ward"]
    if path.suffix == ".csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(headers)
            out.writerows(table)
        return path
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Notes")
    ws.append(headers)
    for row in table:
        ws.append(row)
    wb.save(path)
    return path


# ---------------------------------------------------------------------------------------------------
# One run of casenotes, watched


@dataclass
class KillPlan:
    phase: str  # "startup", "processing" or "writing"
    fraction: float  # where in that phase, 0..1
    signum: int


@dataclass
class RunRecord:
    label: str
    rc: int | None = None
    wall_s: float = 0.0
    first_row_s: float | None = None  # first batch checkpointed in this run
    all_rows_s: float | None = None  # every row checkpointed
    written_s: float | None = None  # the checkpoint removed: the outputs are written
    core_version: str = ""  # a hash of core/'s sources when the run started (others may be editing them)
    peak_rss: int = 0
    killed: str | None = None  # the signal's name
    kill_phase: str | None = None  # where the kill landed
    missed_kill: bool = False  # the run finished before its kill point
    stop_s: float | None = None  # from the signal to exit
    hung: bool = False  # did not stop after SIGTERM within --term-timeout
    orphans: list[str] = field(default_factory=list)
    lingering: int = 0  # orphans still alive 30 s later (then killed here)
    tmp_leaks: list[str] = field(default_factory=list)  # files left in its TMPDIR
    tmp_dirs: list[str] = field(default_factory=list)  # folders left there (torch makes an empty one on import)
    tracebacks: int = 0
    warnings: list[str] = field(default_factory=list)  # "...Warning: ..." lines printed (listed, not counted)
    phi_printed: list[str] = field(default_factory=list)


class CheckpointWatch:
    """Counts the checkpoint's complete lines, reading only what was appended since the last look."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.lines = 0
        self.seen = False  # the file existed at some point of this run
        self.removed = False  # ... and is gone now (the run finished writing)

    def poll(self) -> int:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self.removed = self.seen
            return self.lines
        self.seen, self.removed = True, False
        if size < self.offset:  # started again from empty (a run without --resume)
            self.offset = self.lines = 0
        if size > self.offset:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(size - self.offset)
            end = chunk.rfind(b"\n") + 1  # a torn last line is counted once it is complete
            self.lines += chunk.count(b"\n", 0, end)
            self.offset += end
        return self.lines


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tagged_processes(tag: str, pgid: int, known: dict[int, float]) -> list[psutil.Process]:
    """Live processes of a run: its process group, descendants seen while it ran, its environment tag."""
    found = []
    for p in psutil.process_iter(["pid", "create_time"]):
        try:
            if p.pid == os.getpid():
                continue
            if known.get(p.pid) == p.info["create_time"] or os.getpgid(p.pid) == pgid:
                found.append(p)
                continue
            if p.environ().get(TAG_VARIABLE) == tag:
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return [p for p in found if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def describe(p: psutil.Process) -> str:
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        cmd = "?"
    return f"pid {p.pid}: {cmd[:100]}"


class Runner:
    def __init__(self, args, workdir: Path, planted: Planted):
        self.args = args
        self.workdir = workdir
        self.planted = planted
        self.home = workdir / "casenotes-home"
        self.home.mkdir(exist_ok=True)
        self.count = 0
        self.records: list[RunRecord] = []
        exe = Path(args.casenotes) if args.casenotes else Path(sys.executable).parent / "casenotes"
        self.command = [str(exe)] if exe.exists() else [sys.executable, "-m", "casenotes.cli"]

    def run(self, label: str, source: Path, out: Path, tmp: Path, rows: int, extra: list[str],
            kill: KillPlan | None = None, calibration: dict | None = None) -> RunRecord:
        self.count += 1
        tag = f"{os.getpid()}-{self.count}"
        logs = out.parent / "logs"
        logs.mkdir(exist_ok=True)
        stdout_path, stderr_path = logs / f"{label}.out", logs / f"{label}.err"
        env = dict(os.environ, TMPDIR=str(tmp), TMP=str(tmp), TEMP=str(tmp), CASENOTES_HOME=str(self.home),
                   HF_HUB_OFFLINE="1", **{TAG_VARIABLE: tag})
        env.setdefault("CASENOTES_CACHE", str(REPO / ".cache"))
        record = RunRecord(label, core_version=core_version())
        watch = CheckpointWatch(checkpoint_rows_path(out, source.stem))
        start_lines = watch.poll()
        target_lines = None
        if kill and kill.phase == "processing":
            target_lines = min(rows, start_lines + max(1, round(kill.fraction * (rows - start_lines))))
        known: dict[int, float] = {}
        with stdout_path.open("wb") as so, stderr_path.open("wb") as se:
            started = time.perf_counter()
            proc = subprocess.Popen([*self.command, "run", str(source), "-o", str(out), *extra], cwd=REPO, env=env,
                                    stdout=so, stderr=se, stdin=subprocess.DEVNULL, start_new_session=True)
            root = psutil.Process(proc.pid)
            next_memory = started
            signalled_at = None
            while True:
                now = time.perf_counter()
                elapsed = now - started
                lines = watch.poll()
                if lines > start_lines and record.first_row_s is None:
                    record.first_row_s = elapsed
                if (lines >= rows or watch.removed) and record.all_rows_s is None:
                    record.all_rows_s = elapsed
                if watch.removed and record.written_s is None:
                    record.written_s = elapsed
                if now >= next_memory:
                    next_memory = now + MEMORY_EVERY_S
                    rss = 0
                    for p in tree(root):
                        try:
                            known.setdefault(p.pid, p.create_time())
                            rss += p.memory_info().rss
                        except psutil.Error:
                            pass
                    record.peak_rss = max(record.peak_rss, rss)
                if proc.poll() is not None:
                    break
                if kill and signalled_at is None and self._kill_due(kill, elapsed, lines, record, target_lines, calibration):
                    record.kill_phase = ("finishing" if watch.removed else "writing" if lines >= rows
                                         else "processing" if lines > start_lines else "startup")
                    record.killed = signal.Signals(kill.signum).name
                    for p in tree(root):  # the descendants, as they are at the kill
                        try:
                            known.setdefault(p.pid, p.create_time())
                        except psutil.Error:
                            pass
                    if self.args.signal_to == "group":
                        os.killpg(proc.pid, kill.signum)
                    else:
                        proc.send_signal(kill.signum)
                    signalled_at = now
                if signalled_at is not None and now - signalled_at > self.args.term_timeout:
                    record.hung = True
                    proc.kill()
                time.sleep(POLL_S)
            ended = time.perf_counter()
        record.rc = proc.returncode
        record.wall_s = ended - started
        if kill and signalled_at is None:
            record.missed_kill = True
        if signalled_at is not None:
            record.stop_s = ended - signalled_at
        self._orphans(record, tag, proc.pid, known)
        left = sorted(tmp.rglob("*"))
        record.tmp_leaks = [str(p.relative_to(tmp)) for p in left if not p.is_dir()]
        record.tmp_dirs = [str(p.relative_to(tmp)) for p in left if p.is_dir()]
        shutil.rmtree(tmp, ignore_errors=True)  # the next run starts with an empty one
        tmp.mkdir()
        printed = (stdout_path.read_text(encoding="utf-8", errors="replace") + "\n"
                   + stderr_path.read_text(encoding="utf-8", errors="replace"))
        record.tracebacks = printed.count("Traceback (most recent call last)")
        record.warnings = [m.group(0)[:120] for m in re.finditer(r"\w*Warning: .*", printed)]
        record.phi_printed = self.planted.found_in(printed)
        self.records.append(record)
        return record

    @staticmethod
    def _kill_due(kill: KillPlan, elapsed: float, lines: int, record: RunRecord, target_lines: int | None,
                  calibration: dict) -> bool:
        if kill.phase == "startup":
            return elapsed >= kill.fraction * calibration["first_row_s"]
        if kill.phase == "processing":
            return lines >= target_lines
        return record.all_rows_s is not None and elapsed >= record.all_rows_s + kill.fraction * calibration["writing_s"]

    def _orphans(self, record: RunRecord, tag: str, pgid: int, known: dict[int, float]) -> None:
        deadline = time.perf_counter() + self.args.grace
        alive = tagged_processes(tag, pgid, known)
        while alive and time.perf_counter() < deadline:
            time.sleep(0.25)
            alive = [p for p in alive if _alive(p)]
        record.orphans = [describe(p) for p in alive]
        if alive:  # do they end by themselves at all?
            _, still = psutil.wait_procs(alive, timeout=30)
            record.lingering = len(still)
            for p in still:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(still, timeout=5)



# ---------------------------------------------------------------------------------------------------
# The outputs of a finished run


@dataclass
class Integrity:
    lines: int = 0
    lost: int = 0
    repeated: int = 0
    reordered: int = 0
    malformed: int = 0
    differing: int = 0  # rows whose JSON line differs from the uninterrupted run's
    sheet_rows: int | None = None
    sheet_lost: int = 0
    sheet_repeated: int = 0
    sheet_reordered: int = 0
    missing: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    run_info: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.repeated or self.reordered or self.malformed or self.differing or self.missing
                    or self.leftovers or self.sheet_lost or self.sheet_repeated or self.sheet_reordered)


def sequence_faults(seen: list[int], rows: int) -> tuple[int, int, int]:
    """(lost, repeated, reordered) of a sequence that should be 1..rows: reordered counts the places
    where a row comes after a higher one."""
    distinct = set(seen)
    lost = len(set(range(1, rows + 1)) - distinct)
    repeated = len(seen) - len(distinct) + len(distinct - set(range(1, rows + 1)))
    reordered = sum(1 for a, b in zip(seen, seen[1:]) if b < a)
    return lost, repeated, reordered


def check_outputs(out: Path, stem: str, rows: int, review: bool, reference: dict[int, str] | None) -> Integrity:
    result = Integrity()
    expected = output_names(stem, review)
    present = {p.name for p in out.iterdir()} if out.exists() else set()
    result.missing = sorted(expected - present)
    result.leftovers = sorted(present - expected)
    jsonl = out / f"{stem}.casenotes.jsonl"
    if jsonl.exists():
        seen = []
        with jsonl.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    row = int(json.loads(line)["row"])
                except (ValueError, KeyError, TypeError):
                    result.malformed += 1
                    continue
                seen.append(row)
                if reference is not None and reference.get(row) != line:
                    result.differing += 1
        result.lines = len(seen) + result.malformed
        result.lost, result.repeated, result.reordered = sequence_faults(seen, rows)
    workbook = out / f"{stem}.casenotes.xlsx"
    if workbook.exists():
        from openpyxl import load_workbook

        wb = load_workbook(workbook, read_only=True)
        try:
            sheet = wb["Results"].iter_rows(values_only=True)
            header = list(next(sheet, ()))
            ref = header.index("Ref") if "Ref" in header else None
            refs, count = [], 0
            for values in sheet:
                if not any(v not in (None, "") for v in values):
                    continue
                count += 1
                if ref is not None:
                    match = re.fullmatch(r"R(\d+)", str(values[ref] or ""))
                    refs.append(int(match.group(1)) if match else -1)
            result.sheet_rows = count
            if ref is not None:
                result.sheet_lost, result.sheet_repeated, result.sheet_reordered = sequence_faults(refs, rows)
            elif count != rows:
                result.sheet_lost, result.sheet_repeated = max(0, rows - count), max(0, count - rows)
            if "Run info" in wb.sheetnames:
                for values in wb["Run info"].iter_rows(min_row=2, values_only=True):
                    if values and values[0]:
                        result.run_info[str(values[0])] = str(values[1])
        finally:
            wb.close()
    return result


def reference_lines(out: Path, stem: str) -> dict[int, str]:
    lines = {}
    with (out / f"{stem}.casenotes.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            lines[int(json.loads(line)["row"])] = line
    return lines


# ---------------------------------------------------------------------------------------------------
# Cycles and soak


@dataclass
class Cycle:
    number: int
    signum: int
    runs: list[RunRecord] = field(default_factory=list)
    integrity: Integrity | None = None
    finished: bool = False  # the last run ended with exit status 0
    compared: bool = False  # its output was compared with the uninterrupted run's (the same core/)

    @property
    def kills(self) -> list[RunRecord]:
        return [r for r in self.runs if r.killed]


def draw_plan(rng: random.Random, signum: int) -> KillPlan:
    phase = rng.choices([p for p, _ in PHASES], [w for _, w in PHASES])[0]
    return KillPlan(phase, rng.random(), signum)


def kill_cycle(args, runner: Runner, number: int, source: Path, rows: int, calibration: dict,
               reference: dict[int, str], reference_version: str) -> Cycle:
    signum = signal.SIGKILL if number % 2 else signal.SIGTERM
    cycle = Cycle(number, signum)
    rng = random.Random(f"{args.seed}-cycle-{number}")  # each cycle's draws whatever happened in the others
    folder = runner.workdir / f"cycle-{number:03d}"
    out, tmp = folder / "out", folder / "tmp"
    out.mkdir(parents=True)
    tmp.mkdir()
    extra = RUN_OPTIONS
    while True:
        kills = len(cycle.kills)
        plan = None
        if kills == 0 or (kills < args.max_kills and rng.random() < args.rekill):
            plan = draw_plan(rng, signum)
        resume = ["--resume"] if cycle.runs else []
        record = runner.run(f"run-{len(cycle.runs) + 1}", source, out, tmp, rows, extra + resume, plan, calibration)
        cycle.runs.append(record)
        if record.killed and not record.hung:
            continue
        break
    last = cycle.runs[-1]
    cycle.finished = last.rc == 0 and not last.killed
    if cycle.finished:
        cycle.compared = last.core_version == reference_version
        cycle.integrity = check_outputs(out, source.stem, rows, True, reference if cycle.compared else None)
    return cycle


def cycle_line(cycle: Cycle, cycles: int) -> str:
    kills = ", ".join(f"{r.kill_phase}" + (f" (stopped in {r.stop_s:.1f} s)" if r.killed == "SIGTERM" else "")
                      for r in cycle.kills) or "none"
    missed = sum(r.missed_kill for r in cycle.runs)
    i = cycle.integrity
    state = ("resume FAILED (exit status %s)" % cycle.runs[-1].rc if not cycle.finished
             else "outputs ok" if i.ok else
             f"lost {i.lost}/{i.sheet_lost}, repeated {i.repeated}/{i.sheet_repeated}, reordered {i.reordered}/"
             f"{i.sheet_reordered}, differing {i.differing}, leftovers {len(i.leftovers)}, missing {len(i.missing)}")
    leaks = sum(len(r.tmp_leaks) for r in cycle.runs)
    orphans = sum(len(r.orphans) for r in cycle.runs)
    return (f"cycle {cycle.number}/{cycles} {signal.Signals(cycle.signum).name}: kills {kills}"
            f"{f' ({missed} missed)' if missed else ''}; {len(cycle.runs)} runs; {state}; temp leaks {leaks}; "
            f"orphans {orphans}")


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.1f}" if seconds else "-"


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def duration(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def name_pattern(name: str) -> str:
    """A leftover file's name with its random part and process id shown as *: counts group by kind."""
    name = re.sub(r"(?<=[.\-_])[A-Za-z0-9_]{6,}$", "*", name)
    return re.sub(r"\.\d+\.tmp$", ".*.tmp", name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30, help="kill/resume cycles (default 30; 0: none)")
    parser.add_argument("--rows", type=int, default=3000, help="rows of the kill-cycle file (default 3000)")
    parser.add_argument("--soak-rows", type=int, default=100_000, help="rows of the soak file (default 100000)")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx", help="input format (default xlsx)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--rekill", type=float, default=0.3,
                        help="probability that a resume is killed again (default 0.3)")
    parser.add_argument("--max-kills", type=int, default=3, help="most kills in one cycle (default 3)")
    parser.add_argument("--signal-to", choices=["process", "group"], default="process",
                        help="send the kill to the casenotes process alone (default) or to its process group")
    parser.add_argument("--grace", type=float, default=3.0,
                        help="seconds after a run ends before a live process of it counts as orphaned (default 3)")
    parser.add_argument("--term-timeout", type=float, default=60.0,
                        help="seconds a SIGTERM'd run may take to stop before it counts as hung (default 60)")
    parser.add_argument("--casenotes", help="the casenotes program (default: the one beside this Python)")
    parser.add_argument("--workdir", type=Path, help="keep inputs, outputs and logs here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (it is kept when a check fails)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="casenotes-reliability-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runner_planted = Planted()
    runner = Runner(args, workdir, runner_planted)
    failures: list[str] = []
    lines: list[tuple[str, str]] = []
    details: list[str] = []
    t0 = time.perf_counter()

    if args.cycles > 0:
        table, planted = make_notes(args.rows, args.seed)
        runner_planted.values |= planted.values
        source = write_input(workdir / f"notes.{args.format}", table)
        print(f"kill cycles: {args.rows:,} rows in {source.name}, {os.cpu_count()} cores; workdir {workdir}",
              file=sys.stderr)
        ref_out, ref_tmp = workdir / "reference" / "out", workdir / "reference" / "tmp"
        ref_out.mkdir(parents=True)
        ref_tmp.mkdir()
        base = runner.run("reference", source, ref_out, ref_tmp, args.rows, RUN_OPTIONS)
        base_check = check_outputs(ref_out, source.stem, args.rows, True, None) if base.rc == 0 else None
        if base.rc != 0 or base.first_row_s is None or base.all_rows_s is None:
            print(f"the uninterrupted run failed (exit status {base.rc}); see {ref_out.parent / 'logs'}", file=sys.stderr)
            return 1
        written = base.written_s if base.written_s is not None else base.wall_s
        calibration = {"first_row_s": base.first_row_s, "writing_s": max(0.2, written - base.all_rows_s)}
        print(f"uninterrupted run: {duration(base.wall_s)}, first batch checkpointed at {base.first_row_s:.1f} s, "
              f"writing {calibration['writing_s']:.1f} s, peak {mib(base.peak_rss)}", file=sys.stderr)
        if not base_check.ok or base.tmp_leaks or base.orphans or base.tracebacks or base.phi_printed:
            failures.append("the uninterrupted run itself failed a check")
            details.append(f"uninterrupted run: outputs ok {base_check.ok} (leftovers {base_check.leftovers}, "
                           f"lost {base_check.lost}, repeated {base_check.repeated}, reordered {base_check.reordered}), "
                           f"temp leaks {len(base.tmp_leaks)}, orphans {len(base.orphans)}, "
                           f"tracebacks {base.tracebacks}, PHI printed {len(base.phi_printed)}")
        reference = reference_lines(ref_out, source.stem)

        cycles = []
        for number in range(1, args.cycles + 1):
            cycle = kill_cycle(args, runner, number, source, args.rows, calibration, reference, base.core_version)
            cycles.append(cycle)
            print(cycle_line(cycle, args.cycles), file=sys.stderr)
        runs = [r for c in cycles for r in c.runs]
        kills = [r for r in runs if r.killed]
        done = [c.integrity for c in cycles if c.integrity]
        phases = {p: sum(r.kill_phase == p for r in kills) for p in ("startup", "processing", "writing", "finishing")}
        term_stops = [r.stop_s for r in kills if r.killed == "SIGTERM" and r.stop_s is not None]
        total = lambda attr: sum(getattr(i, attr) for i in done)  # noqa: E731
        unfinished = sum(not c.finished for c in cycles)
        compared = sum(c.compared for c in cycles)
        out_left = sum(len(i.leftovers) for i in done)
        tmp_left = sum(len(r.tmp_leaks) for r in runs)
        orphans = sum(len(r.orphans) for r in runs)
        lingering = sum(r.lingering for r in runs)
        tracebacks = sum(r.tracebacks for r in runs)
        phi = sorted({v for r in runs for v in r.phi_printed})
        hung = sum(r.hung for r in runs)
        lines += [
            ("Kill/resume cycles", f"{len(cycles)} of {args.rows:,} rows ({args.format}), {len(runs)} runs, "
                                   f"{os.cpu_count()} cores"),
            ("Kills: SIGKILL / SIGTERM", f"{sum(r.killed == 'SIGKILL' for r in kills)} / "
                                         f"{sum(r.killed == 'SIGTERM' for r in kills)}"),
            ("Kills in startup / processing / writing / after writing (missed)",
             f"{phases['startup']} / {phases['processing']} / {phases['writing']} / {phases['finishing']} "
             f"({sum(r.missed_kill for r in runs)})"),
            ("Resumes that did not finish", str(unfinished)),
            ("Rows lost / repeated / reordered (JSON Lines)",
             f"{total('lost')} / {total('repeated')} / {total('reordered')}"),
            ("Rows lost / repeated / reordered (Results sheet)",
             f"{total('sheet_lost')} / {total('sheet_repeated')} / {total('sheet_reordered')}"),
            ("Rows differing from an uninterrupted run", str(total("differing")) + (
                f" ({len(done) - compared} of {len(done)} cycles not compared: core/ changed meanwhile)"
                if compared < len(done) else "")),
            ("Leftover files: output folder / system temp", f"{out_left} / {tmp_left}"),
            (f"Orphaned processes ({args.grace:g} s after; alive 30 s later)", f"{orphans} ({lingering})"),
            ("SIGTERM: slowest stop / hung", f"{max(term_stops):.1f} s / {hung}" if term_stops else f"- / {hung}"),
            ("Tracebacks printed", str(tracebacks)),
            ("PHI printed", str(len(phi))),
            ("Peak memory (process tree RSS)", mib(max(r.peak_rss for r in runs)) if runs else "-"),
        ]
        if unfinished:
            failures.append(f"{unfinished} cycle(s) did not finish")
        for what, n in [("rows lost, repeated or reordered", sum(total(a) for a in (
                            "lost", "repeated", "reordered", "sheet_lost", "sheet_repeated", "sheet_reordered",
                            "malformed"))),
                        ("rows differing from the uninterrupted run", total("differing")),
                        ("missing outputs", sum(len(i.missing) for i in done)),
                        ("leftover files in output folders", out_left), ("files left in the system temp", tmp_left),
                        ("orphaned processes", orphans), ("runs hung after SIGTERM", hung),
                        ("tracebacks printed", tracebacks), ("planted PHI values printed", len(phi))]:
            if n:
                failures.append(f"kill cycles: {n} {what}")
        leftover_kinds: dict[str, int] = {}
        for i in done:
            for name in i.leftovers:
                leftover_kinds[name_pattern(name)] = leftover_kinds.get(name_pattern(name), 0) + 1
        if leftover_kinds:
            details.append("left in output folders: " + ", ".join(f"{k} x{n}" for k, n in sorted(leftover_kinds.items())))
        leak_kinds: dict[str, int] = {}
        for r in runs:
            where = f"{r.killed} in {r.kill_phase}" if r.killed else "finished run"
            for name in r.tmp_leaks:
                key = f"{name_pattern(name)} ({where})"
                leak_kinds[key] = leak_kinds.get(key, 0) + 1
        if leak_kinds:
            details.append("left in the system temp: " + ", ".join(f"{k} x{n}" for k, n in sorted(leak_kinds.items())))
        for c in cycles:
            for r in c.runs:
                if r.orphans:
                    details.append(f"cycle {c.number} {r.label} ({r.killed or 'finished'} in {r.kill_phase}): "
                                   f"{len(r.orphans)} orphan(s), {r.lingering} alive 30 s later: "
                                   + "; ".join(r.orphans[:3]))
                if r.tracebacks:
                    details.append(f"cycle {c.number} {r.label} ({r.killed or 'finished'} in {r.kill_phase}): "
                                   f"{r.tracebacks} traceback(s) printed; see its log")
        if phi:
            details.append(f"planted PHI printed: {len(phi)} value(s) (not shown here)")

    if not args.skip_soak and args.soak_rows > 0:
        table, planted = make_notes(args.soak_rows, args.seed + 1)
        runner_planted.values = planted.values
        soak_dir = workdir / "soak"
        soak_dir.mkdir(exist_ok=True)
        source = write_input(soak_dir / f"soak.{args.format}", table)
        del table
        out, tmp = soak_dir / "out", soak_dir / "tmp"
        out.mkdir(exist_ok=True)
        tmp.mkdir(exist_ok=True)
        print(f"soak: {args.soak_rows:,} rows in {source.name}", file=sys.stderr)
        soak = runner.run("soak", source, out, tmp, args.soak_rows, ["--jsonl", "--safe-column", "Ref"])
        check = check_outputs(out, source.stem, args.soak_rows, False, None) if soak.rc == 0 else Integrity()
        written = soak.written_s if soak.written_s is not None else soak.wall_s
        writing = written - soak.all_rows_s if soak.all_rows_s is not None else None
        lines += [
            ("Soak rows", f"{args.soak_rows:,} ({args.format}, --jsonl)" + ("" if soak.rc == 0 else
                                                                          f": FAILED, exit status {soak.rc}")),
            ("Soak time", duration(soak.wall_s) + (f" (first batch checkpointed at {soak.first_row_s:.1f} s)"
                                                   if soak.first_row_s is not None else "")),
            ("Soak rows/s (whole run)", rate(args.soak_rows, soak.wall_s)),
            ("Soak rows/s (Run info: processing only)", check.run_info.get("Rows per second", "-")),
            ("Soak model loading / processing (Run info)",
             f"{check.run_info.get('Model loading (s)', '-')} s / {check.run_info.get('Processing time (s)', '-')} s"),
            ("Soak peak memory (process tree RSS)", mib(soak.peak_rss)),
            ("Soak writing share (last row checkpointed to outputs written)",
             f"{100 * writing / soak.wall_s:.0f} % ({duration(writing)}; then {duration(soak.wall_s - written)} "
             "to exit)" if writing else "-"),
            ("Soak rows lost / repeated / reordered (JSON Lines; Results sheet)",
             f"{check.lost} / {check.repeated} / {check.reordered}; "
             f"{check.sheet_lost} / {check.sheet_repeated} / {check.sheet_reordered}"),
            ("Soak leftover files (output folder / system temp), orphans, tracebacks, PHI printed",
             f"{len(check.leftovers)} / {len(soak.tmp_leaks)}, {len(soak.orphans)}, {soak.tracebacks}, "
             f"{len(soak.phi_printed)}"),
        ]
        if soak.rc != 0:
            failures.append(f"soak: exit status {soak.rc}")
        elif not check.ok:
            failures.append("soak: outputs failed a check")
        if soak.tmp_leaks or soak.orphans or soak.tracebacks or soak.phi_printed:
            failures.append("soak: temp files, orphans, tracebacks or PHI printed")
        if soak.tmp_leaks:
            details.append("soak left in the system temp: " + ", ".join(sorted({name_pattern(n) for n in soak.tmp_leaks})))
        if check.leftovers:
            details.append("soak left in its output folder: " + ", ".join(check.leftovers))

    warned: dict[str, int] = {}
    for r in runner.records:
        for w in r.warnings:
            key = f"{re.sub(r'[0-9]+', 'N', w)} ({r.killed + ' in ' + str(r.kill_phase) if r.killed else r.label})"
            warned[key] = warned.get(key, 0) + 1
    if warned:
        details.append("warnings printed (not counted): " + "; ".join(f"{k} x{n}" for k, n in sorted(warned.items())))
    folders = sorted({d for r in runner.records for d in r.tmp_dirs})
    if folders:
        details.append("folders left in the system temp (not counted; torch makes torchinductor_<user> on import): "
                       + ", ".join(folders))
    print()
    print("| Measure | Result |")
    print("|---|---|")
    for name, value in lines:
        print(f"| {name} | {value} |")
    print()
    for line in details:
        print(f"* {line}")
    print(f"\n{len(failures)} check(s) failed" + (": " + "; ".join(failures) if failures else "")
          + f" ({duration(time.perf_counter() - t0)} in all)")
    if failures or args.keep or args.workdir:
        print(f"inputs, outputs and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
