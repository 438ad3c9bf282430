"""A learned PHI tagger beside the rules: a token classifier fine-tuned from a local encoder (the
bundled MiniLM by default), used as an ensemble that only adds detections, never removes one.

``casenotes train-deid`` builds the model folder from annotated notes: JSON Lines with ``text`` and
``spans`` (``start``, ``end``, ``type``), or text files with PHI marked ``{{TYPE|text}}``. Each note
is also seen again with its PHI swapped for realistic surrogates, so that the model learns the
shape of the context, not the names of the training set. Nothing is fetched: the base encoder and
the output are local folders, and the folder is never part of the repository.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from presidio_analyzer import EntityRecognizer

from casenotes import hf
from casenotes.errors import Cancelled, ConfigurationError, InputError
from casenotes.phi.findings import ENTITY_TAGS
from casenotes.phi.words import phi_result

# What the annotated sets call each kind of PHI, as the engine's entity types.
GOLD_TYPES = {
    "PTName": "NAME", "PTNameInitial": "NAME", "RelativeProxyName": "NAME", "HCPName": "NAME", "PATIENT": "NAME",
    "RELATIVE": "NAME", "CLINICIAN": "NAME", "PERSON": "NAME", "NAME": "NAME",
    "Date": "DATE", "DateYear": "DATE", "DATE": "DATE", "DATE_TIME": "DATE",
    "Location": "LOCATION", "LOCATION": "LOCATION", "GPE": "LOCATION", "HOSPITAL": "FACILITY", "FACILITY": "FACILITY",
    "ADDRESS": "ADDRESS", "STREET_ADDRESS": "ADDRESS", "ZIP": "ZIP", "ZIP_CODE": "ZIP",
    "Phone": "PHONE", "PHONE": "PHONE", "PHONE_NUMBER": "PHONE", "Age": "AGE", "AGE": "AGE",
    "EMAIL": "EMAIL", "EMAIL_ADDRESS": "EMAIL", "URL": "URL", "IP": "IP_ADDRESS", "IP_ADDRESS": "IP_ADDRESS",
    "Other": "ID", "ID": "ID", "SSN": "SSN", "US_SSN": "SSN",
}
LABELS = ["O", *ENTITY_TAGS]  # one class per entity type; a span is a run of tokens of one class
_MARK = re.compile(r"\{\{([A-Z_]+)\|([^{}|]+)\}\}")


@dataclass
class Example:
    text: str
    spans: list[tuple[int, int, str]]  # (start, end, entity type)
    group: str  # patient or file: the held-out split keeps a group on one side


@dataclass
class DeidTrainOptions:
    base: str | None = None  # local encoder folder; None: the bundled MiniLM
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 1e-4
    max_length: int = 256  # tokens per window; longer notes are read in windows that overlap by a quarter
    surrogate_copies: int = 1  # copies of each training note with its PHI swapped for surrogates
    validation_fraction: float = 0.15
    seed: int = 13
    device: str = "cpu"


def load_examples(paths: list[Path]) -> list[Example]:
    """Annotated notes from JSON Lines files and folders (or single files) of marked text."""
    examples: list[Example] = []
    for path in map(Path, paths):
        if path.is_dir():
            for file in sorted(path.glob("*.txt")):
                examples.append(_marked(file.read_text(encoding="utf-8"), file.name))
        elif path.suffix.lower() == ".jsonl":
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    examples.append(_from_json(line, path.name, n))
        elif path.suffix.lower() == ".txt":
            examples.append(_marked(path.read_text(encoding="utf-8"), path.name))
        else:
            raise InputError(f"{path.name}: use .jsonl (text and spans) or .txt with PHI marked {{{{TYPE|text}}}}")
    if not examples:
        raise InputError("no annotated notes found")
    return examples


def _from_json(line: str, source: str, n: int) -> Example:
    try:
        item = json.loads(line)
        spans = [(int(s["start"]), int(s["end"]), GOLD_TYPES.get(s["type"], "ID")) for s in item["spans"]]
        group = str(item.get("patient_id", item.get("group", f"{source}:{n}")))
        return Example(str(item["text"]), spans, group)
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{source} line {n}: expected {{\"text\": ..., \"spans\": [{{\"start\", \"end\", \"type\"}}]}}") from None


def parse_marked(marked: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Text without its ``{{TYPE|text}}`` marks, and the marked spans with their TYPE."""
    parts, spans, at, length = [], [], 0, 0
    for m in _MARK.finditer(marked):
        parts.append(marked[at : m.start()])
        length += m.start() - at
        spans.append((length, length + len(m[2]), m[1]))
        parts.append(m[2])
        length += len(m[2])
        at = m.end()
    parts.append(marked[at:])
    return "".join(parts), spans


def _marked(marked: str, name: str) -> Example:
    text, spans = parse_marked(marked)
    return Example(text, [(a, b, GOLD_TYPES.get(kind, "ID")) for a, b, kind in spans], name)


def with_surrogates(example: Example, make: Callable[[str, str], str]) -> Example:
    """The same note with each PHI span replaced by a realistic surrogate of its type."""
    out, spans, at, length = [], [], 0, 0
    for start, end, entity in sorted(example.spans):
        if start < at:
            continue
        out.append(example.text[at:start])
        length += start - at
        fake = make(entity, example.text[start:end])
        out.append(fake)
        spans.append((length, length + len(fake), entity))
        length += len(fake)
        at = end
    out.append(example.text[at:])
    return Example("".join(out), spans, example.group)


def split_by_group(examples: list[Example], fraction: float) -> tuple[list[int], list[int]]:
    held = [i for i, e in enumerate(examples) if zlib.crc32(e.group.encode()) % 1000 < fraction * 1000]
    chosen = set(held)
    return [i for i in range(len(examples)) if i not in chosen], held


class DeidTrainer:
    """One training job; ``cancel()`` from another thread stops it between batches."""

    def __init__(self, options: DeidTrainOptions, progress: Callable[[str], None] | None = None):
        self.options = options
        self.progress = progress or (lambda message: None)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self, examples: list[Example], output: Path) -> dict:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from casenotes import embeddings
        from casenotes.keys import KeyRing
        from casenotes.phi.replace import SurrogateFactory

        o = self.options
        hf.offline()
        output = Path(output)
        if output.exists() and any(output.iterdir()):
            raise ConfigurationError(f"output folder '{output.name}' is not empty")
        base = Path(o.base) if o.base else Path(embeddings.model_path())
        hf.read_config(base, "Base encoder")
        random.seed(o.seed)
        torch.manual_seed(o.seed)
        train_idx, held_idx = split_by_group(examples, o.validation_fraction)
        # Surrogates from a throwaway secret: the copies only need to look real.
        factory = SurrogateFactory(KeyRing(os.urandom(32)))
        train = [examples[i] for i in train_idx]
        for copy in range(o.surrogate_copies):
            train += [with_surrogates(examples[i], lambda kind, value: factory.make(kind, value, 30 + copy))
                      for i in train_idx]

        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        model = AutoModelForTokenClassification.from_pretrained(
            base, local_files_only=True, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
            label2id={label: i for i, label in enumerate(LABELS)})
        model.to(o.device)
        windows = [w for e in train for w in _windows(tokenizer, e, o.max_length)]
        optimizer = torch.optim.AdamW(model.parameters(), lr=o.learning_rate, weight_decay=0.01)
        started, history = time.perf_counter(), []
        for epoch in range(1, o.epochs + 1):
            model.train()
            random.shuffle(windows)
            losses = []
            for b in range(0, len(windows), o.batch_size):
                if self._cancel.is_set():
                    raise Cancelled("training cancelled; nothing was saved")
                batch = tokenizer.pad([{k: v for k, v in w.items() if k != "labels"} for w in windows[b : b + o.batch_size]],
                                      return_tensors="pt")
                width = batch["input_ids"].shape[1]
                labels = torch.tensor([w["labels"] + [-100] * (width - len(w["labels"]))
                                       for w in windows[b : b + o.batch_size]])
                loss = model(**{k: v.to(o.device) for k, v in batch.items()}, labels=labels.to(o.device)).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            history.append({"epoch": epoch, "train_loss": round(sum(losses) / max(1, len(losses)), 5)})
            self.progress(f"epoch {epoch}/{o.epochs}: train loss {history[-1]['train_loss']}")
        recognizer = LearnedPhiRecognizer.from_objects(model, tokenizer, o.device)
        held = [examples[i] for i in held_idx]
        metrics = _token_scores(held, [recognizer.spans(e.text) for e in held]) if held else {}
        card = {"base": base.name, "notes": len(examples), "training_notes": len(train_idx),
                "surrogate_copies": o.surrogate_copies, "held_out_notes": len(held_idx),
                "held_out_metrics": metrics, "history": history, "device": hf.device_label(o.device),
                "training_seconds": round(time.perf_counter() - started, 1), "settings": asdict(o)}
        _save(model, tokenizer, card, output)
        return card


def _windows(tokenizer, example: Example, max_length: int) -> list[dict]:
    """Overlapping windows of the note (by a quarter), each token labelled with the entity type it lies in."""
    enc = tokenizer(example.text, truncation=True, max_length=max_length, stride=max_length // 4,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    label_of = {label: i for i, label in enumerate(LABELS)}
    out = []
    for n in range(len(enc["input_ids"])):
        labels = []
        for a, b in enc["offset_mapping"][n]:
            if a == b:
                labels.append(-100)  # special tokens
                continue
            entity = next((e for s, t, e in example.spans if s < b and a < t), None)
            labels.append(label_of[entity] if entity in label_of else 0)
        out.append({"input_ids": enc["input_ids"][n], "attention_mask": enc["attention_mask"][n], "labels": labels})
    return out


def _token_scores(examples: list[Example], predicted: list[list[tuple[int, int, str]]]) -> dict:
    from casenotes.metrics import TokenScore, score_tokens

    total = TokenScore()
    for e, spans in zip(examples, predicted):
        total.add(score_tokens(e.text, [(s, t) for s, t, _ in e.spans], [(s, t) for s, t, _ in spans]))
    return {"recall": round(total.recall, 4), "precision": round(total.precision, 4), "f1": round(total.f1, 4)}


def _save(model, tokenizer, card: dict, output: Path) -> None:
    """Written beside the target, then renamed: never a half-written model."""
    tmp = output.with_name(output.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.config.casenotes_kind = "deid"
    model.config.casenotes_window = card["settings"]["max_length"]
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "training_metrics.json").write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    m = card["held_out_metrics"]
    (tmp / "README.md").write_text(
        f"# casenotes PHI tagger\n\nFine-tuned from {card['base']} on {card['training_notes']} annotated notes "
        f"(+{card['surrogate_copies']} surrogate copies each). Held-out notes ({card['held_out_notes']}, split by "
        f"patient or file): token recall {m.get('recall')}, precision {m.get('precision')}. Used by casenotes as an "
        "ensemble beside its rules: it only adds detections.\n", encoding="utf-8")
    if output.exists():
        output.rmdir()  # checked empty before training
    os.replace(tmp, output)


class LearnedPhiRecognizer(EntityRecognizer):
    """The fine-tuned tagger as a Presidio recognizer (detector ``learned:<type>``)."""

    SCORE = 0.6  # what the engine's score threshold sees; the model's own cut is ``min_probability``

    def __init__(self, folder: Path | None = None, device: str = "cpu", model=None, tokenizer=None,
                 min_probability: float = 0.8):
        self.folder, self.device, self.min_probability = folder, device, min_probability
        self._model, self._tokenizer = model, tokenizer
        super().__init__(supported_entities=list(ENTITY_TAGS), name="LearnedPhiRecognizer", supported_language="en")

    @classmethod
    def from_objects(cls, model, tokenizer, device: str) -> "LearnedPhiRecognizer":
        model.eval()
        return cls(None, device, model, tokenizer)

    def load(self) -> None:
        if self._model is not None or self.folder is None:
            return
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        hf.offline()
        config = hf.read_config(Path(self.folder), "PHI tagger")
        if config.get("casenotes_kind") != "deid":
            raise ConfigurationError(f"{Path(self.folder).name}: not a PHI tagger made by 'casenotes train-deid'")
        self._tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self._model = AutoModelForTokenClassification.from_pretrained(self.folder, local_files_only=True).to(self.device)
        self._model.eval()

    def analyze(self, text, entities, nlp_artifacts=None):
        return [phi_result(entity, start, end, self.SCORE, f"learned:{entity}") for start, end, entity in self.spans(text)]

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, entity) of each run of tokens the model tags, widened to whole words."""
        import torch

        self.load()
        window = getattr(self._model.config, "casenotes_window", 256)
        enc = self._tokenizer(text, truncation=True, max_length=window, stride=window // 4, return_overflowing_tokens=True,
                              return_offsets_mapping=True, return_tensors="pt", padding=True)
        offsets = enc.pop("offset_mapping").tolist()
        enc.pop("overflow_to_sample_mapping", None)
        with torch.inference_mode():
            probs = self._model(**{k: v.to(self.device) for k, v in enc.items()}).logits.softmax(-1)
        # a token is PHI when the model is sure it is not "O"; then of the type it finds likeliest
        phi_prob = (1 - probs[..., 0]).tolist()
        kinds = probs[..., 1:].argmax(-1).add(1).tolist()
        tagged: dict[tuple[int, int], str] = {}
        for window_offsets, window_probs, window_kinds in zip(offsets, phi_prob, kinds):
            for (a, b), p, label in zip(window_offsets, window_probs, window_kinds):
                if a < b and p >= self.min_probability:
                    tagged[(a, b)] = LABELS[label]
        spans: list[list] = []
        for (a, b), entity in sorted(tagged.items()):
            a, b = _word_start(text, a), _word_end(text, b)
            if spans and spans[-1][2] == entity and a <= spans[-1][1] + 1:
                spans[-1][1] = max(spans[-1][1], b)
            else:
                spans.append([a, b, entity])
        return [(a, b, e) for a, b, e in spans]


def _word_start(text: str, at: int) -> int:
    while at > 0 and text[at - 1].isalnum():
        at -= 1
    return at


def _word_end(text: str, at: int) -> int:
    while at < len(text) and text[at].isalnum():
        at += 1
    return at
