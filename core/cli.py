"""The command line: ``casenotes run`` and ``casenotes demo``. It drives the same core as the window."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from pathlib import Path

from casenotes import hf
from casenotes.errors import CasenotesError
from casenotes.options import RunOptions


# The run's defaults live in RunOptions, once: the command line and the window read them from there.
_DEFAULT = RunOptions()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="casenotes", description="De-identify and annotate spreadsheets of case notes, offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="process one or more spreadsheets")
    run.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                     help=".xlsx, .xlsm, .csv or .tsv files; .parquet or .jsonl shards of a back catalogue")
    run.add_argument("-o", "--output-dir", type=Path, help="folder for the outputs (default: beside each input)")
    run.add_argument("--sheet", help="sheet name (default: the sheet that holds the notes)")
    run.add_argument("--text-column", action="append", default=[], metavar="NAME",
                     help="a note column; repeat for several, read together each under its header (default: detected)")
    run.add_argument("--id-column", help="the patient or row ID column (default: detected)")
    run.add_argument("--safe-column", action="append", default=[], metavar="NAME",
                     help="a column that holds no PHI: copied unchanged (repeatable; default: only what the content shows)")
    run.add_argument("--exclude-column", action="append", default=[], metavar="NAME",
                     help="a column left out of every output (repeatable)")
    run.add_argument("--mode", choices=["tags", "surrogates"], default=_DEFAULT.mode,
                     help=f"replacement mode (default: {_DEFAULT.mode})")
    run.add_argument("--jsonl", action="store_true", help="also write a JSON Lines export")
    run.add_argument("--parquet", action="store_true",
                     help="also write the Results table as Parquet (a back catalogue: no row limit; needs pyarrow)")
    run.add_argument("--review", action="store_true", help="also write an in-house review workbook (CONTAINS PHI)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run")
    run.add_argument("--overwrite", action="store_true", help="replace earlier outputs")
    run.add_argument("--output-names", choices=["input", "neutral"], default=_DEFAULT.output_names,
                     help="name outputs after the input or neutrally, from the local secret: a file name can be PHI "
                          f"(default: {_DEFAULT.output_names})")
    run.add_argument("--record-input-name", action="store_true",
                     help="write the input's file name into Run info (default: left out, only its SHA-256)")
    run.add_argument("--keep-original", action="store_true", help="keep the original note column in the results (PHI!)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default=_DEFAULT.device)
    run.add_argument("--batch-size", type=int, default=_DEFAULT.batch_size)
    run.add_argument("--workers", type=int, default=_DEFAULT.workers,
                     help="PHI worker processes, or actors per step with --backend ray (default: automatic)")
    run.add_argument("--backend", choices=["local", "ray"], default=_DEFAULT.backend,
                     help="run the steps here, or on Ray Data (needs the ray extra; default: local)")
    run.add_argument("--address", dest="ray_address", metavar="RAY_ADDRESS",
                     help="with --backend ray: the cluster to join (default: a Ray started on this machine)")
    run.add_argument("--spacy-model", default=_DEFAULT.spacy_model,
                     help=f"installed spaCy pipeline (name or folder) for names and places (default: {_DEFAULT.spacy_model})")
    run.add_argument("--deid-model", type=Path, metavar="PATH",
                     help="also tag PHI with this model from `casenotes train-deid` (it only adds detections)")
    run.add_argument("--summarize", action="store_true", help="add a summary of each note (embedded extractive default)")
    run.add_argument("--summarizer", type=Path, metavar="PATH",
                     help="summarize with this local Hugging Face model folder (implies --summarize)")
    run.add_argument("--summary-sentences", type=int, default=_DEFAULT.summary_sentences,
                     help=f"extractive summaries: most sentences (default {_DEFAULT.summary_sentences})")
    run.add_argument("--summary-max-tokens", type=int, default=_DEFAULT.summary_max_tokens,
                     help="model summaries: most tokens (default: the model folder's own setting, else 128)")
    run.add_argument("--summary-batch-size", type=int, default=_DEFAULT.summary_batch_size,
                     help="model summaries: notes per batch (default: from the GPU's free memory; 8 on a CPU)")
    run.add_argument("--summary-engine", choices=["auto", "torch", "ctranslate2"], default=_DEFAULT.summary_engine,
                     help="model summaries: auto (default: CTranslate2 int8 on a CPU when installed, else PyTorch), "
                          "torch or ctranslate2 (pip install 'casenotes[fast]')")
    run.add_argument("--code", action="store_true", help="suggest ICD-10-CM codes (embedded default coder)")
    run.add_argument("--coder", type=Path, metavar="PATH",
                     help="code with this department's coder folder from train-coder (implies --code)")
    run.add_argument("--code-threshold", type=float, default=_DEFAULT.code_threshold,
                     help=f"confidence for a code to be listed (default {_DEFAULT.code_threshold})")
    run.add_argument("--code-convention", choices=["active", "mentioned"], default=_DEFAULT.code_convention,
                     help="code only the diagnoses a note asserts (active), or negated and suspected findings too "
                          "(mentioned), as some departments do (default: what --coder learned from the department's "
                          "history, else active)")
    train = sub.add_parser("train-coder", help="learn an ICD-10-CM coder from the department's coded notes")
    train.add_argument("data", nargs="+", type=Path, metavar="DATA", help="spreadsheets of notes with their codes")
    train.add_argument("--text-column", required=True, help="the note column")
    train.add_argument("--codes-column", required=True, help="the codes column (codes separated by ; or ,)")
    train.add_argument("--id-column", help="patient ID column: the held-out split keeps each patient on one side")
    train.add_argument("--sheet", help="sheet name (default: the sheet that holds the notes)")
    train.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL_DIR", help="new model folder")
    train.add_argument("--base", type=Path, help="local encoder folder to start from (default: the bundled MiniLM)")
    train.add_argument("--classifier", action="store_true",
                       help="also fine-tune a classifier (most of the training time; worth it with many notes per code)")
    train.add_argument("--epochs", type=int, default=10, help="classifier: most epochs")
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--patience", type=int, default=2, help="classifier: epochs without improvement before stopping")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    _add_train_summarizer(sub)
    evaluate = sub.add_parser("evaluate", help="score a finished run against reference data")
    evaluate.add_argument("output", type=Path, metavar="OUTPUT.xlsx", help="a casenotes results workbook")
    evaluate.add_argument("--reference", type=Path,
                          help="reference spreadsheet (default: the run's input beside the output, with reference columns)")
    evaluate.add_argument("--text-column", help="original note column in the reference (for PHI spans)")
    evaluate.add_argument("--phi-column", help="reference PHI spans column (JSON offsets)")
    evaluate.add_argument("--summary-column", help="reference summary column")
    evaluate.add_argument("--codes-column", help="reference codes column")
    models = sub.add_parser("models", help="local summarizer and coder models installed here")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_add = models_sub.add_parser("add", help="check a model folder or zip and install it")
    models_add.add_argument("source", type=Path, help="a Hugging Face model folder or a zip of one")
    models_add.add_argument("--kind", choices=["summarizer", "coder", "deid"], required=True)
    models_add.add_argument("--name", help="name to list it under (default: the folder's name)")
    models_sub.add_parser("list", help="list installed models and check their files")
    models_remove = models_sub.add_parser("remove", help="remove an installed model")
    models_remove.add_argument("name")
    deid = sub.add_parser("train-deid", help="fine-tune a PHI tagger on annotated notes (used with run --deid-model)")
    deid.add_argument("data", nargs="+", type=Path, metavar="DATA",
                      help=".jsonl with text and spans, or folders / .txt files with PHI marked {{TYPE|text}}")
    deid.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL_DIR", help="new model folder")
    deid.add_argument("--base", help="local encoder folder (default: the bundled MiniLM)")
    deid.add_argument("--epochs", type=int, default=3)
    deid.add_argument("--surrogate-copies", type=int, default=1,
                      help="copies of each note with its PHI swapped for realistic surrogates (default 1)")
    deid.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    learn = sub.add_parser("learn-review", help="add a review workbook's corrections to the department's lists")
    learn.add_argument("review", type=Path, metavar="REVIEW.xlsx", help="a review workbook with its Corrections sheet filled in")
    staff = sub.add_parser("staff-list", help="load the department's clinician names (searched in every note)")
    staff.add_argument("file", type=Path, metavar="FILE", help=".xlsx, .csv or .tsv with one name per row")
    staff.add_argument("--column", help="the name column (default: 'Name', or first and last name columns)")
    staff.add_argument("--sheet", help="sheet name (default: detected; a cover sheet first is skipped)")
    gui = sub.add_parser("gui", help="open the desktop window (the same as casenotes-desktop)")
    gui.add_argument("files", nargs="*", type=Path, help="spreadsheets to queue")
    demo = sub.add_parser("demo", help="process the bundled sample spreadsheet")
    demo.add_argument("-o", "--output-dir", type=Path, help="where to write (default: ./casenotes-demo)")
    prepare = sub.add_parser("prepare", help="build the ICD-10-CM index now, so that no coded run waits for it (once)")
    prepare.add_argument("--into", type=Path, metavar="DIR",
                         help="put the index in this folder, to ship read-only with an installation (default: the user cache)")
    prepare.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except CasenotesError as exc:  # bad input or settings: one line, no traceback
        print(f"casenotes: error: {exc}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from casenotes.lifetime import terminate_as_interrupt

    terminate_as_interrupt()
    hf.offline()
    logging.basicConfig(level=logging.WARNING, format="casenotes: %(levelname)s: %(message)s")
    if args.command == "prepare":  # before the pipeline's imports: preparing loads nothing but the index's model
        return _prepare(args)

    if args.command == "gui":
        return _open_window([str(f) for f in args.files])
    if args.command == "train-coder":
        return _train_coder(args)
    if args.command == "train-summarizer":
        return _train_summarizer(args)
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "models":
        return _models(args)
    if args.command == "train-deid":
        return _train_deid(args)
    if args.command in ("learn-review", "staff-list"):
        return _department(args)
    if args.command == "demo":
        from casenotes.demo import demo_spreadsheet

        out = args.output_dir or Path.cwd() / "casenotes-demo"
        options = RunOptions(output_dir=out, jsonl=True, review=True, overwrite=True)
        results = _run_with_progress([demo_spreadsheet()], options)
        if results and results[0].status == "done":
            print(f"Demo output: {results[0].outputs['workbook']}")
            print(f"Review workbook (contains the demo's made-up PHI): {results[0].outputs['review']}")
        return 0 if all(r.status == "done" for r in results) else 1

    options = RunOptions(
        output_dir=args.output_dir, sheet=args.sheet, text_columns=tuple(args.text_column), id_column=args.id_column,
        safe_columns=tuple(args.safe_column), excluded_columns=tuple(args.exclude_column),
        mode=args.mode, jsonl=args.jsonl, parquet=args.parquet, review=args.review, resume=args.resume, overwrite=args.overwrite,
        include_original=args.keep_original, output_names=args.output_names,
        record_input_name=args.record_input_name, device=args.device, batch_size=max(1, args.batch_size), workers=args.workers,
        backend=args.backend, ray_address=args.ray_address,
        spacy_model=args.spacy_model, deid_model=args.deid_model, summarize=args.summarize or bool(args.summarizer), summarizer=args.summarizer,
        summary_sentences=max(1, args.summary_sentences), summary_max_tokens=0 if args.summary_max_tokens <= 0 else max(8, args.summary_max_tokens),
        summary_batch_size=max(0, args.summary_batch_size), summary_engine=args.summary_engine,
        code=args.code or bool(args.coder), coder=args.coder, code_threshold=min(1.0, max(0.0, args.code_threshold)),
        code_convention=args.code_convention,
    )
    results = _run_with_progress(args.inputs, options)
    return 0 if results and all(r.status == "done" for r in results) else 1


def _prepare(args) -> int:
    import time

    from casenotes.coding import icd10, index
    from casenotes.paths import cache_dir

    entries = icd10.index_entries()
    target = args.into or cache_dir()
    if args.into:
        built = index.built_in(args.into, entries)
    else:  # a shipped index serves as well as a cached one
        built = index.find_built(entries)
    if built:
        print(f"ICD-10-CM index already built: {built}")
        return 0
    elsewhere = index.find_built(entries) if args.into else None
    if elsewhere:  # the one this machine built is the same file: shipping it needs no second build
        print(f"ICD-10-CM index copied from {elsewhere}: {index.copy_into(elsewhere, args.into)}")
        return 0
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    path, _ = index.build(target, device, _build_progress(), entries)
    print(f"ICD-10-CM index built ({len(entries):,} names, {time.perf_counter() - started:.0f} s): {path}")
    return 0


def _build_progress():
    """One line redrawn on a terminal; in a log (make, CI) a line every tenth of the way."""
    from casenotes.coding.index import BuildEstimate

    estimate = BuildEstimate()
    tty = sys.stderr.isatty()
    shown = {"tenth": -1, "width": 0}

    def report(done: int, total: int) -> None:
        text = estimate(done, total)
        if tty:
            print("\r" + text.ljust(shown["width"]), end="\n" if done >= total else "", file=sys.stderr, flush=True)
            shown["width"] = len(text)
        elif 10 * done // max(1, total) > shown["tenth"]:
            shown["tenth"] = 10 * done // max(1, total)
            print(text, file=sys.stderr, flush=True)

    return report


def _train_deid(args) -> int:
    from casenotes.phi.learned import DeidTrainer, DeidTrainOptions, load_examples
    from casenotes.steps import resolve_device

    examples = load_examples(args.data)
    print(f"{len(examples)} annotated notes, {sum(len(e.spans) for e in examples)} PHI spans")
    options = DeidTrainOptions(base=args.base, epochs=max(1, args.epochs), device=resolve_device(args.device),
                               surrogate_copies=max(0, args.surrogate_copies))
    try:
        card = DeidTrainer(options, print).run(examples, args.output)
    except KeyboardInterrupt:
        print("casenotes: training cancelled; nothing was saved", file=sys.stderr)
        return 1
    m = card["held_out_metrics"]
    print(f"saved {args.output} (held-out token recall {m.get('recall')}, precision {m.get('precision')}); "
          f"use it with: casenotes run --deid-model {args.output}")
    return 0


def _department(args) -> int:
    """Counts only: the lists are PHI and are never printed."""
    from casenotes.phi.department import DepartmentLists, learn_from_review, read_staff_list

    lists = DepartmentLists.load()
    if args.command == "learn-review":
        lines = learn_from_review(args.review, lists).lines()
    else:
        names = read_staff_list(args.file, args.column, args.sheet)
        lines = [f"{lists.add_staff(names)} new staff name(s) of {len(names)} read"]
    lists.save()
    totals = ", ".join(f"{n} {what}" for what, n in lists.counts().items())
    for line in [*lines, f"department lists now hold {totals}"]:
        print(line)
    return 0


def _train_coder(args) -> int:
    from rich.console import Console

    from casenotes.coding.train import Trainer, TrainOptions, load_training_data, map_versus_default
    from casenotes.steps import resolve_device

    console = Console(stderr=True, markup=False, highlight=False)
    try:
        data = load_training_data(args.data, args.text_column, args.codes_column, args.id_column, args.sheet)
        if data.invalid_codes:
            worst = ", ".join(f"{c} x{n}" for c, n in sorted(data.invalid_codes.items(), key=lambda x: -x[1])[:10])
            console.print(f"skipped {sum(data.invalid_codes.values())} invalid or non-billable codes: {worst}")
        console.print(f"{len(data.texts)} notes with codes from {data.files} file(s); "
                      f"{data.rows_without_codes} rows without a note or a billable code skipped")
        options = TrainOptions(base=args.base, epochs=max(1, args.epochs), batch_size=max(1, args.batch_size),
                               patience=max(1, args.patience), device=resolve_device(args.device),
                               sheet=args.sheet, id_column=args.id_column, classifier=args.classifier)
        trainer = Trainer(options, _training_progress(console))
        card = trainer.run(data, args.output)
    except CasenotesError as exc:
        console.print(f"casenotes: error: {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("casenotes: training cancelled; nothing was saved")
        return 1
    m = card["trained_coder_metrics"]
    figures = f" ({map_versus_default(m, card.get('default_coder_metrics'))}, micro-F1 {m.get('micro_f1')})" if m else ""
    console.print(f"saved {args.output}{figures}; use it with: casenotes run --coder {args.output}")
    return 0


def _add_train_summarizer(sub) -> None:
    from casenotes.summarize.train import FULL_LEARNING_RATE, LORA_LEARNING_RATE, SummarizerTrainOptions

    d = SummarizerTrainOptions()
    p = sub.add_parser("train-summarizer", help="fine-tune a local summarization model on note/summary pairs")
    p.add_argument("pairs", nargs="+", type=Path, metavar="PAIRS", help="spreadsheets of notes with their summaries")
    p.add_argument("--text-column", required=True, help="the note column")
    p.add_argument("--summary-column", required=True, help="the reference summary column (discharge summary, impression)")
    p.add_argument("--base", type=Path, required=True, metavar="MODEL_DIR",
                   help="local seq2seq (BART, T5...) or causal instruction model folder to start from")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL_DIR", help="new model folder")
    p.add_argument("--id-column", help="patient ID column: the held-out split keeps each patient on one side")
    p.add_argument("--sheet", help="sheet name (default: the sheet that holds the notes)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--learning-rate", type=float,
                   help=f"default {FULL_LEARNING_RATE:g}; {LORA_LEARNING_RATE:g} with --lora")
    p.add_argument("--max-input-tokens", type=int, default=d.max_input_tokens,
                   help=f"tokens of each note (default {d.max_input_tokens}, at most the model's window)")
    p.add_argument("--max-summary-tokens", type=int, default=d.max_summary_tokens,
                   help=f"tokens of each summary (default {d.max_summary_tokens})")
    p.add_argument("--validation-fraction", type=float, default=d.validation_fraction,
                   help=f"share held out to score each epoch (default {d.validation_fraction})")
    p.add_argument("--patience", type=int, default=d.patience, help="epochs without a better ROUGE-L before stopping")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters, merged when saved (needs casenotes[lora])")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=int, default=d.seed)


def _train_summarizer(args) -> int:
    from rich.console import Console

    from casenotes.steps import resolve_device
    from casenotes.summarize.train import (SummarizerTrainer, SummarizerTrainOptions, describe, load_pairs,
                                           rouge_versus_lead)

    # Lines kept whole for a log, and brackets as written: "casenotes[lora]" is not rich markup.
    console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
    try:
        data = load_pairs(args.pairs, args.text_column, args.summary_column, args.id_column, args.sheet)
        console.print(f"{len(data.notes)} note/summary pairs from {data.files} file(s); "
                      f"{data.rows_skipped} rows without a note or a summary skipped")
        options = SummarizerTrainOptions(
            base=args.base, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
            max_input_tokens=max(16, args.max_input_tokens), max_summary_tokens=max(8, args.max_summary_tokens),
            validation_fraction=min(0.9, max(0.0, args.validation_fraction)), patience=args.patience,
            lora=args.lora, seed=args.seed, device=resolve_device(args.device), sheet=args.sheet,
            id_column=args.id_column)
        trainer = SummarizerTrainer(options, lambda p: (line := describe(p)) and console.print(line))
        card = trainer.run(data, args.output)
    except CasenotesError as exc:
        console.print(f"casenotes: error: {exc}")
        return 1
    except KeyboardInterrupt:
        console.print("casenotes: training cancelled; nothing was saved")
        return 1
    console.print(f"saved {args.output} (best epoch {card['best_epoch']}: "
                  f"{rouge_versus_lead(card['held_out_rouge'], card['lead_2_rouge'])}); "
                  f"use it with: casenotes run --summarizer {args.output}")
    return 0


def _training_progress(console):
    from casenotes.coding.train import map_versus_default

    state = {"last": None}

    def report(p) -> None:
        if p.stage == "training" and p.step in (1, p.steps):
            console.print(f"epoch {p.epoch}/{p.epochs}: batch {p.step}/{p.steps}, loss {p.loss:.4f}")
        elif p.stage == "scored the default coder" and p.default_metrics:
            d = p.default_metrics
            console.print(f"default coder on the {p.steps} held-out notes: MAP {d.get('MAP')}, recall@5 "
                          f"{d.get('recall@5')}, micro-F1 {d.get('micro_f1')}")
        elif p.stage == "scored the trained coder" and p.trained_metrics:
            n = p.trained_metrics
            console.print(f"trained coder on the same notes: {map_versus_default(n, p.default_metrics)}, recall@5 "
                          f"{n.get('recall@5')}, micro-F1 {n.get('micro_f1')}")
        elif p.stage == "evaluated" and p.report:
            m = p.report.metrics
            console.print(f"epoch {p.epoch}: train loss {p.report.train_loss:.4f}; "
                          f"{map_versus_default(m, p.default_metrics)}, "
                          f"recall@5 {m.get('recall@5')}, micro-F1 {m.get('micro_f1')}, macro-F1 {m.get('macro_f1')}, "
                          f"accuracy {m.get('accuracy')} ({p.report.seconds} s)")
        elif p.stage != state["last"] and p.stage in ("de-identifying", "scoring the default coder", "reading the notes",
                                                       "embedding the notes", "learning from the training split",
                                                       "learning from all notes", "saving"):
            console.print(f"{p.stage}…")
        state["last"] = p.stage

    return report


def _evaluate(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from casenotes.evaluate import evaluate

    console = Console()
    try:
        result = evaluate(args.output, args.reference, args.text_column, args.phi_column, args.summary_column,
                          args.codes_column)
    except CasenotesError as exc:
        Console(stderr=True).print(f"casenotes: error: {exc}")
        return 1
    table = Table(title=f"{args.output.name} against {result.reference} ({result.rows} rows)")
    for name in ("Section", "Measure", "Value"):
        table.add_column(name)
    for row in result.lines():
        table.add_row(*row)
    console.print(table)
    console.print(f"written to the Evaluation sheet of {args.output}")
    return 0


def _models(args) -> int:
    from casenotes import models

    try:
        if args.models_command == "add":
            m = models.add(args.source, args.kind, args.name)
            print(f"installed {m.kind} '{m.name}' ({m.architecture}; {m.files} files, {m.size_mb} MB, sha256 {m.sha256[:12]}…)")
            print(f"use it with: casenotes run --{'summarizer' if m.kind == 'summarizer' else 'coder'} {m.path}")
        elif args.models_command == "remove":
            models.remove(args.name)
            print(f"removed '{args.name}'")
        else:
            found = models.installed()
            if not found:
                print(f"no local models installed (folder: {models.models_dir()})")
            for m in found:
                state = "ok" if m.verify() else "CHANGED since it was added"
                print(f"{m.name:24} {m.kind:10} {m.size_mb:>8} MB  {m.added}  {state}  {m.path}")
    except CasenotesError as exc:
        print(f"casenotes: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _open_window(files: list[str]) -> int:
    """The window is a separate, optional package: found through its entry point, so core never imports Qt."""
    from importlib.metadata import entry_points

    found = entry_points(group="console_scripts", name="casenotes-desktop")
    if not found:
        print("casenotes: error: the desktop window is not installed", file=sys.stderr)
        return 1
    return next(iter(found)).load()(files)


def _run_with_progress(inputs, options):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from casenotes.pipeline import RunState, run

    console = Console(stderr=True)
    labels = _terminal_labels(inputs, options)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
               TextColumn("{task.fields[rate]:>7.1f} rows/s"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def on_progress(p):
            label = labels[p.file_index]
            if p.file_index not in tasks:
                tasks[p.file_index] = bar.add_task(label, total=p.rows_total, rate=0.0)
            # A loading stage (the index build, with its own estimate) is shown beside the name, not as rows.
            busy = p.stage not in ("processing", "writing", "done")
            bar.update(tasks[p.file_index], completed=p.rows_done, total=p.rows_total, rate=p.rows_per_s,
                       description=f"{label}: {p.stage}" if busy else label)

        finished: list = []
        state = RunState(on_progress, finished.append)
        try:
            with _interrupt_cancels(state):
                results = run(inputs, options, state)
        except CasenotesError as exc:
            console.print(f"casenotes: error: {exc}")
            return []
        except KeyboardInterrupt:
            state.cancel()
            done = [r for r in finished if r.status == "done"]
            left = len(inputs) - len(done)
            console.print(f"casenotes: interrupted; {len(done)} of {len(inputs)} file(s) finished"
                          + (f"; run again with --resume to continue the other {left}" if left else ""))
            return []
    for index, r in enumerate(results):
        label = labels[index]
        if r.status == "done" and r.note:
            console.print(f"[green]done[/] {label}: {r.note} -> {r.outputs['workbook']}", highlight=False)
        elif r.status == "done":
            sheet = f" (sheet {r.sheet!r})" if r.sheet else ""
            console.print(f"[green]done[/] {label}{sheet}: {r.rows} rows, {r.rows_needing_review} to review -> {r.outputs['workbook']}",
                          highlight=False)
            console.print(f"  {r.verdict()}", highlight=False)
            if r.seconds:  # the time, and the writing's share of it
                console.print(f"  {r.summary_lines()[-1]}", highlight=False)
        else:
            error = r.error.replace(r.input.name, label) if options.output_names == "neutral" else r.error
            console.print(f"[red]{r.status}[/] {error}", highlight=False)
    return results


def _terminal_labels(inputs, options) -> list[str]:
    """What the terminal calls each input. With neutral output names that is the file's place in the
    command and its outputs' neutral name, not its own name: a file name can be PHI, and terminal
    output ends up in scroll-back, logs and tickets."""
    from casenotes.pipeline import output_paths

    if options.output_names != "neutral":
        return [Path(p).name for p in inputs]
    return [f"file {i} of {len(inputs)} ({output_paths(Path(p), options)['workbook'].name.split('.')[0]})"
            for i, p in enumerate(inputs, 1)]


@contextlib.contextmanager
def _interrupt_cancels(state):
    """Ctrl+C (and SIGTERM, taken as one) also sets the run's cancel flag: should a library swallow
    the KeyboardInterrupt, the pipeline still stops at the next batch instead of running on to the end."""
    def interrupted(signum, frame):
        state.cancel()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
