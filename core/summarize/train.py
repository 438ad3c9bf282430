"""Fine-tune a local summarization model on a department's own note -> summary pairs, offline.

Both the note and its reference summary are de-identified first: the model learns to write what the
department's summaries say, never whom they name. A held-out split, by patient when an ID column is
given, is summarized by the model after every epoch (greedy decoding, as ``casenotes run`` does) and
scored with ROUGE-1/2/L against the held-out references; training stops when the held-out ROUGE-L
stops improving and keeps the best epoch. The lead-2 baseline (the note's first two sentences) and
the base model before any training are scored on the same held-out notes, so the model card shows
what fine-tuning bought. The result is a normal Hugging Face folder (model, tokenizer, generation
config, model card) that ``casenotes run --summarizer`` loads.

A seq2seq model (BART, T5, Pegasus...) or a causal instruction model with a chat template (trained
on the same chat prompt the summarizer uses) is fine-tuned whole, or with ``lora`` through LoRA
adapters (the optional ``peft`` package), merged into the weights before saving.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from casenotes import hf
from casenotes.clinical_text import note_sentences
from casenotes.errors import Cancelled, ConfigurationError, InputError, OutputError
from casenotes.metrics import mean_rouge
from casenotes.summarize.generative import _T5_FAMILY, INSTRUCTION

log = logging.getLogger(__name__)

MIN_PAIRS = 4  # fewer leave a held-out split of one note, whose ROUGE says nothing
FULL_LEARNING_RATE = 5e-5
LORA_LEARNING_RATE = 2e-4  # adapters start from zero and are small: they need larger steps
LORA_HINT = "pip install casenotes[lora]"


@dataclass
class SummarizerTrainOptions:
    base: Path | None = None  # a local seq2seq or causal instruction model folder (required)
    epochs: int = 5
    batch_size: int = 8
    learning_rate: float | None = None  # None: FULL_LEARNING_RATE, or LORA_LEARNING_RATE with lora
    max_input_tokens: int = 512  # of each note; the model's own window caps it
    max_summary_tokens: int = 128  # of each reference summary, and of each generated one when scoring
    validation_fraction: float = 0.2
    patience: int = 2  # epochs without a better held-out ROUGE-L before stopping
    lora: bool = False
    lora_rank: int = 16
    seed: int = 13
    device: str = "cpu"
    sheet: str | None = None
    id_column: str | None = None


@dataclass
class SummaryPairs:
    notes: list[str]
    summaries: list[str]
    groups: list[str]  # patient (or row) of each pair, for the split
    files: int
    rows_skipped: int = 0  # without a note or a summary


@dataclass
class SummarizerEpoch:
    epoch: int
    train_loss: float
    rouge: dict  # rouge1, rouge2, rougeL on the held-out pairs
    seconds: float


@dataclass
class SummarizerProgress:
    # "de-identifying", "scoring the base model", "scored the baselines", "training", "evaluating",
    # "evaluated", "saving"
    stage: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None = None
    report: SummarizerEpoch | None = None
    lead_rouge: dict | None = None  # lead-2 on the held-out pairs, once scored
    base_rouge: dict | None = None  # the base model before training, once scored


@dataclass
class _Window:
    """Token budgets, from the options within what the model's positions allow."""
    input_tokens: int
    summary_tokens: int
    notes_cut: int = 0
    summaries_cut: int = 0


@dataclass
class _Encoded:
    inputs: list[list[int]]  # what the model reads: the note (seq2seq) or the chat prompt and answer (causal)
    labels: list[list[int]]  # per token, -100 where no loss is taken
    prompts: list[list[int]] = field(default_factory=list)  # what generation starts from, when scoring


def load_pairs(paths: list[Path], text_column: str, summary_column: str, id_column: str | None = None,
               sheet: str | None = None) -> SummaryPairs:
    from casenotes.io.readers import read_table

    notes, summaries, groups = [], [], []
    skipped = 0
    for path in paths:
        frame = read_table(Path(path), sheet, (text_column, summary_column)).frame
        for column in (text_column, summary_column, id_column):
            if column and column not in frame.columns:
                raise InputError(f"{Path(path).name}: no column named '{column}'")
        for i in range(len(frame)):
            note, summary = str(frame[text_column].iloc[i]).strip(), str(frame[summary_column].iloc[i]).strip()
            if not note or not summary:
                skipped += 1
                continue
            notes.append(note)
            summaries.append(summary)
            group = str(frame[id_column].iloc[i]).strip() if id_column else ""
            groups.append(f"{Path(path).name}:{group or i}")
    if not notes:
        raise InputError(f"no rows with both a note in '{text_column}' and a summary in '{summary_column}'")
    return SummaryPairs(notes, summaries, groups, len(paths), skipped)


def lead(text: str, sentences: int = 2) -> str:
    return " ".join(s.text for s in note_sentences(text)[:sentences])


def rouge(references: list[str], summaries: list[str]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in mean_rouge(references, summaries).items()}


def rouge_versus_lead(scores: dict, lead_scores: dict | None) -> str:
    """'held-out ROUGE-L 0.31 (lead-2 0.22, x1.4)': the score a clerk can judge the model by."""
    text = f"held-out ROUGE-L {scores.get('rougeL', 0.0):.3f}"
    baseline = (lead_scores or {}).get("rougeL")
    if baseline is None:
        return text
    ratio = f", x{scores.get('rougeL', 0.0) / baseline:.2f}" if baseline > 0 else ""
    return f"{text} (lead-2 {baseline:.3f}{ratio})"


def describe(p: SummarizerProgress) -> str | None:
    """One line for a terminal or a log, or None for progress not worth a line of its own."""
    if p.stage == "training" and p.step in (1, p.steps):
        return f"epoch {p.epoch}/{p.epochs}: batch {p.step}/{p.steps}, loss {p.loss:.4f}"
    if p.stage == "scored the baselines":
        return (f"on the {p.steps} held-out notes: lead-2 ROUGE-L {p.lead_rouge['rougeL']:.3f}, "
                f"the base model before training {p.base_rouge['rougeL']:.3f}")
    if p.stage == "evaluated" and p.report:
        r = p.report
        return (f"epoch {r.epoch}: train loss {r.train_loss:.4f}; {rouge_versus_lead(r.rouge, p.lead_rouge)}, "
                f"ROUGE-1 {r.rouge['rouge1']:.3f}, ROUGE-2 {r.rouge['rouge2']:.3f} ({r.seconds} s)")
    if p.stage in ("de-identifying", "scoring the base model", "saving") and p.step == 0:
        return f"{p.stage}…"
    return None


class SummarizerTrainer:
    """One training job; ``cancel()`` from another thread, or ``cancel_event`` set by another
    process, stops it between batches, and nothing is saved."""

    def __init__(self, options: SummarizerTrainOptions,
                 progress: Callable[[SummarizerProgress], None] | None = None, cancel_event=None):
        self.options = options
        self.progress = progress or (lambda p: None)
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self.history: list[SummarizerEpoch] = []

    def cancel(self) -> None:
        self._cancel.set()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("training cancelled; nothing was saved")

    def run(self, data: SummaryPairs, output: Path,
            deidentify: Callable[[list[str], list[str]], tuple[list[str], list[str]]] | None = None) -> dict:
        from casenotes.embeddings import cpu_threads

        # On a CPU, the thread count the encoder uses: one core left to the rest of the machine, whose
        # other work would otherwise stall every OpenMP barrier of a training step.
        with cpu_threads(self.options.device):
            return self._run(data, output, deidentify)

    def _run(self, data: SummaryPairs, output: Path, deidentify) -> dict:
        from casenotes.coding.train import split_by_group

        o = self.options
        hf.offline()
        output = Path(output)
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise ConfigurationError(f"output folder '{output.name}' is not empty")
        if not o.base:
            raise ConfigurationError("train-summarizer needs a local base model folder (--base)")
        if o.epochs < 1 or o.batch_size < 1 or o.patience < 1:
            raise ConfigurationError("--epochs, --batch-size and --patience must be at least 1")
        base = Path(o.base)
        config = hf.read_config(base, "Base")
        kind = _kind(config, base)
        if o.lora:
            _require_peft()
        if len(data.notes) < MIN_PAIRS:
            raise InputError(f"{len(data.notes)} note/summary pair(s); at least {MIN_PAIRS} are needed for a "
                             "held-out split")
        train_idx, test_idx = split_by_group(data.groups, o.validation_fraction, o.seed)
        if not test_idx or not train_idx:
            raise InputError("the pairs cannot be split into training and held-out notes: they need at least two "
                             "patients (--id-column), and a --validation-fraction below 1")

        import numpy as np
        import torch
        from transformers import get_linear_schedule_with_warmup

        random.seed(o.seed)
        np.random.seed(o.seed)
        torch.manual_seed(o.seed)
        # The model first: a folder that does not load is refused before minutes of de-identification.
        tokenizer, model = _load(base, kind, o)
        window = _window(config, tokenizer, kind, o)
        _set_generation(model, tokenizer, kind, window.summary_tokens)  # scored as it will be saved and run
        self.progress(SummarizerProgress("de-identifying", 0, o.epochs, 0, len(data.notes)))
        notes, summaries = (deidentify or _deidentify_pairs)(data.notes, data.summaries)
        self._check()
        lead_scores = rouge([summaries[i] for i in test_idx], [lead(notes[i]) for i in test_idx])
        encoded = _encode(tokenizer, kind, config, notes, summaries, window)
        if window.summaries_cut:
            log.warning("%d of %d reference summaries are longer than %d tokens and were cut: "
                        "raise --max-summary-tokens to learn them whole", window.summaries_cut, len(summaries),
                        window.summary_tokens)
        device = o.device
        if o.lora:
            model = _with_adapters(model, kind, o.lora_rank)
        model.to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        learning_rate = o.learning_rate or (LORA_LEARNING_RATE if o.lora else FULL_LEARNING_RATE)
        optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
        batches = max(1, -(-len(train_idx) // o.batch_size))
        schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * batches * o.epochs), batches * o.epochs)
        amp_dtype = hf.torch_dtype(device) if device.startswith("cuda") else None
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        references = [summaries[i] for i in test_idx]

        def score(stage: str, epoch: int) -> dict:
            generated = self._generate(model, tokenizer, kind, [encoded.prompts[i] for i in test_idx],
                                       window.summary_tokens, amp_dtype, stage, epoch)
            return rouge(references, generated)

        started = time.perf_counter()
        self.progress(SummarizerProgress("scoring the base model", 0, o.epochs, 0, len(test_idx)))
        base_scores = score("scoring the base model", 0)
        self.progress(SummarizerProgress("scored the baselines", 0, o.epochs, len(test_idx), len(test_idx),
                                         lead_rouge=lead_scores, base_rouge=base_scores))
        best_rouge, best_state, stale = float("-inf"), None, 0
        for epoch in range(1, o.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = list(train_idx)
            random.shuffle(order)
            losses = []
            for b in range(batches):
                self._check()
                ids = order[b * o.batch_size : (b + 1) * o.batch_size]
                features = _batch(tokenizer, [encoded.inputs[i] for i in ids], [encoded.labels[i] for i in ids],
                                  device)
                with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = model(**features).loss
                optimizer.zero_grad()
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                losses.append(float(loss.detach()))
                self.progress(SummarizerProgress("training", epoch, o.epochs, b + 1, batches,
                                                 float(np.mean(losses[-20:]))))
            scores = score("evaluating", epoch)
            report = SummarizerEpoch(epoch, round(float(np.mean(losses)), 5), scores,
                                     round(time.perf_counter() - t0, 1))
            self.history.append(report)
            self.progress(SummarizerProgress("evaluated", epoch, o.epochs, batches, batches, report.train_loss,
                                             report, lead_scores, base_scores))
            if scores["rougeL"] > best_rouge:
                best_rouge, stale = scores["rougeL"], 0
                best_state = {n: p.detach().to("cpu").clone() for n, p in model.named_parameters() if p.requires_grad}
            else:
                stale += 1
                if stale >= o.patience:
                    break
        self._check()
        self.progress(SummarizerProgress("saving", len(self.history), o.epochs, 0, 0))
        model.load_state_dict(best_state, strict=False)
        if o.lora:
            model = model.merge_and_unload()
        best = max(self.history, key=lambda r: r.rouge["rougeL"])
        card = {"kind": kind, "base": base.name, "architecture": (config.get("architectures") or ["?"])[0],
                "method": f"LoRA (rank {o.lora_rank}, merged into the weights)" if o.lora else "full fine-tune",
                "pairs": len(notes), "training_pairs": len(train_idx), "held_out_pairs": len(test_idx),
                "split": "by patient" if o.id_column else "by row", "files": data.files,
                "rows_skipped": data.rows_skipped, "input_tokens": window.input_tokens,
                "summary_tokens": window.summary_tokens, "notes_cut": window.notes_cut,
                "summaries_cut": window.summaries_cut, "parameters": sum(p.numel() for p in model.parameters()),
                "learning_rate": learning_rate, "best_epoch": best.epoch, "held_out_rouge": best.rouge,
                "lead_2_rouge": lead_scores, "base_model_rouge": base_scores,
                "training_seconds": round(time.perf_counter() - started, 1), "device": hf.device_label(device),
                "settings": _jsonable(asdict(o)), "history": [asdict(r) for r in self.history]}
        _save(model, tokenizer, card, output)
        return card

    def _generate(self, model, tokenizer, kind: str, prompts: list[list[int]], max_new_tokens: int, amp_dtype,
                  stage: str, epoch: int) -> list[str]:
        """Greedy summaries, as the app writes them, in batches of similar length."""
        import torch

        model.eval()
        tokenizer.padding_side = "right" if kind == "seq2seq" else "left"  # a causal answer follows the prompt
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out = [""] * len(prompts)
        size = self.options.batch_size
        for b in range(0, len(order), size):
            self._check()
            ids = order[b : b + size]
            features = tokenizer.pad({"input_ids": [prompts[i] for i in ids]}, return_tensors="pt")
            features = {k: v.to(self.options.device) for k, v in features.items()}
            with torch.inference_mode(), torch.autocast(device_type="cuda", dtype=amp_dtype,
                                                        enabled=amp_dtype is not None):
                generated = model.generate(**features, max_new_tokens=max_new_tokens, min_new_tokens=0,
                                           num_beams=1, do_sample=False)
            if kind == "causal":
                generated = generated[:, features["input_ids"].shape[1]:]
            for i, text in zip(ids, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                out[i] = text.strip()
            self.progress(SummarizerProgress(stage, epoch, self.options.epochs, min(b + size, len(order)),
                                             len(order)))
        tokenizer.padding_side = "right"
        return out


def _kind(config: dict, folder: Path) -> str:
    """'seq2seq' or 'causal', as ``GenerativeSummarizer`` reads the same folder."""
    if config.get("is_encoder_decoder"):
        return "seq2seq"
    architectures = config.get("architectures") or []
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise ConfigurationError(f"Base model folder '{folder.name}' holds a {architectures[0]}, which is neither "
                                 "a seq2seq nor a causal language model")
    return "causal"


def _require_peft() -> None:
    try:
        import peft  # noqa: F401
    except ImportError:
        raise ConfigurationError(f"--lora needs the peft package: {LORA_HINT}") from None


def _load(base: Path, kind: str, o: SummarizerTrainOptions):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"Base model folder '{base.name}': the tokenizer does not load "
                                 f"({type(exc).__name__})") from None
    if kind == "causal" and not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError(f"Base model folder '{base.name}' is a causal model without a chat template: use "
                                 "an instruction (chat) model or a seq2seq model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    # Frozen weights under LoRA can stay in the GPU's half precision; weights that learn stay float32
    # (mixed precision runs the arithmetic in half).
    dtype = hf.torch_dtype(o.device) if o.lora else torch.float32
    loader = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    try:
        model = loader.from_pretrained(base, local_files_only=True, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ConfigurationError(f"Base model folder '{base.name}': the weights do not load "
                                 f"({type(exc).__name__})") from None
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def _with_adapters(model, kind: str, rank: int):
    from peft import LoraConfig, TaskType, get_peft_model

    task = TaskType.SEQ_2_SEQ_LM if kind == "seq2seq" else TaskType.CAUSAL_LM
    try:
        return get_peft_model(model, LoraConfig(task_type=task, r=rank, lora_alpha=2 * rank, lora_dropout=0.05,
                                                target_modules="all-linear"))
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"LoRA adapters do not fit this base model ({type(exc).__name__})") from None


def _position_limit(config: dict, tokenizer) -> int | None:
    limits = [config.get(k) for k in ("max_encoder_position_embeddings", "max_position_embeddings", "n_positions")]
    limits = [v for v in limits if isinstance(v, int) and v > 0][:1]
    model_max = getattr(tokenizer, "model_max_length", 0) or 0
    if 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits) if limits else None


def _window(config: dict, tokenizer, kind: str, o: SummarizerTrainOptions) -> _Window:
    limit = _position_limit(config, tokenizer)
    summary = max(8, o.max_summary_tokens)
    if kind == "seq2seq":
        decoder_limit = config.get("max_decoder_position_embeddings") or limit
        if decoder_limit:
            summary = min(summary, decoder_limit - 2)  # the decoder's start token and the end token
        return _Window(min(o.max_input_tokens, limit) if limit else o.max_input_tokens, summary)
    if not limit:
        return _Window(o.max_input_tokens, summary)
    overhead = len(_chat_prompt(tokenizer, "")) + 2
    room = limit - overhead - summary
    if room < 16:
        raise ConfigurationError(f"the base model's window ({limit} tokens) leaves no room for a note beside the "
                                 f"prompt and a {summary}-token summary: lower --max-summary-tokens")
    return _Window(min(o.max_input_tokens, room), summary)


def _chat_prompt(tokenizer, note: str) -> list[int]:
    """The summarizer's own prompt (generative.py), so the model learns the question it will be asked."""
    text = tokenizer.apply_chat_template([{"role": "user", "content": INSTRUCTION + note}], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _encode(tokenizer, kind: str, config: dict, notes: list[str], summaries: list[str], window: _Window) -> _Encoded:
    if kind == "seq2seq":
        prefix = "summarize: " if config.get("model_type") in _T5_FAMILY else ""
        whole = tokenizer([prefix + n for n in notes])["input_ids"]
        inputs = tokenizer([prefix + n for n in notes], truncation=True, max_length=window.input_tokens)["input_ids"]
        full_labels = tokenizer(text_target=summaries)["input_ids"]
        labels = tokenizer(text_target=summaries, truncation=True, max_length=window.summary_tokens)["input_ids"]
        window.notes_cut = sum(len(w) > len(i) for w, i in zip(whole, inputs))
        window.summaries_cut = sum(len(w) > len(lab) for w, lab in zip(full_labels, labels))
        return _Encoded(inputs, labels, inputs)
    eos = tokenizer.eos_token_id
    encoded = _Encoded([], [])
    for note, summary in zip(notes, summaries):
        note_ids = tokenizer(note, add_special_tokens=False)["input_ids"]
        if len(note_ids) > window.input_tokens:
            window.notes_cut += 1
            note = tokenizer.decode(note_ids[: window.input_tokens], skip_special_tokens=True)
        prompt = _chat_prompt(tokenizer, note)
        answer = tokenizer(summary, add_special_tokens=False)["input_ids"]
        if len(answer) >= window.summary_tokens:
            window.summaries_cut += 1
            answer = answer[: window.summary_tokens - 1]
        answer = answer + [eos]  # the model learns to stop
        encoded.prompts.append(prompt)
        encoded.inputs.append(prompt + answer)
        encoded.labels.append([-100] * len(prompt) + answer)
    return encoded


def _batch(tokenizer, inputs: list[list[int]], labels: list[list[int]], device: str) -> dict:
    import torch

    features = tokenizer.pad({"input_ids": inputs}, return_tensors="pt")
    longest = max(len(lab) for lab in labels)
    padded = torch.full((len(labels), longest), -100, dtype=torch.long)
    for row, lab in enumerate(labels):
        padded[row, : len(lab)] = torch.tensor(lab, dtype=torch.long)
    return {"input_ids": features["input_ids"].to(device), "attention_mask": features["attention_mask"].to(device),
            "labels": padded.to(device)}


_SAMPLING_AND_BEAM_SETTINGS = ("temperature", "top_p", "top_k", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff",
                               "early_stopping", "length_penalty", "num_beam_groups", "diversity_penalty",
                               "num_return_sequences")


def _set_generation(model, tokenizer, kind: str, summary_tokens: int) -> None:
    """The decoding the model is scored with and saved with: greedy, up to the trained summary length,
    with no minimum (a base tuned on news, such as BART-CNN, asks for 56 tokens at least)."""
    from transformers import GenerationConfig

    generation = model.generation_config
    generation.max_new_tokens = summary_tokens
    generation.max_length = None
    generation.min_length = 0
    generation.num_beams = 1
    generation.do_sample = False
    # A chat model's sampling settings and a news summarizer's beam settings would make the saved
    # config invalid under greedy decoding (transformers refuses to save it): back to the defaults.
    defaults = GenerationConfig()
    for name in _SAMPLING_AND_BEAM_SETTINGS:
        if hasattr(defaults, name):
            setattr(generation, name, getattr(defaults, name))
    generation.pad_token_id = tokenizer.pad_token_id
    if generation.eos_token_id is None:
        generation.eos_token_id = tokenizer.eos_token_id
    if kind == "seq2seq" and generation.decoder_start_token_id is None:
        generation.decoder_start_token_id = model.config.decoder_start_token_id
    try:
        try:
            generation.validate(strict=True)
        except TypeError:  # transformers before 4.46 only warns, and refuses at saving
            generation.validate()
    except ValueError as exc:
        # Found before training, not when saving its result.
        first = str(exc).strip().splitlines()[1:2] or [type(exc).__name__]
        raise ConfigurationError(f"the base model's generation_config.json cannot be made greedy: {first[0]}") from None


def _deidentify_pairs(notes: list[str], summaries: list[str]) -> tuple[list[str], list[str]]:
    """Tags, from the run's PHI engine, as the coder's training de-identifies its notes; and each pair
    is read as one record: an identifier found in the note is sought in its summary and the other way
    round, whatever the words around it. A summary is short and often names someone where the engine
    has no context to see a name ("Dr. Quenneville: pneumonia...")."""
    from casenotes.keys import KeyRing
    from casenotes.phi.engine import PhiEngine
    from casenotes.phi.findings import PhiFinding, merge_overlaps
    from casenotes.phi.known import SEARCHED_KINDS, KnownIdentifiers
    from casenotes.phi.replace import Replacer

    texts = notes + summaries
    found = PhiEngine().analyze(texts)
    pairs = [(i, len(notes) + i) for i in range(len(notes))]
    for pair in pairs:
        known = KnownIdentifiers(initials=False)
        for j in pair:
            for f in found[j]:
                value = texts[j][f.start : f.end]
                if f.entity_type in SEARCHED_KINDS:
                    known.add(f.entity_type, value)
                elif f.entity_type in ("FACILITY", "LOCATION") and len(value) >= 4:
                    known.add_phrase(f.entity_type, value)
        if known:
            for j in pair:
                extra = [PhiFinding(start, end, entity, 1.0, f"known:{entity}")
                         for start, end, entity in known.find(texts[j])]
                found[j] = merge_overlaps(found[j] + extra)
    replacer = Replacer("tags", KeyRing.load_or_create())
    cleaned = [replacer.replace(t, f).text for t, f in zip(texts, found)]
    return cleaned[: len(notes)], cleaned[len(notes):]


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _save(model, tokenizer, card: dict, output: Path) -> None:
    """Written to a temporary folder beside the target, then renamed: never a half-written model, even
    when the save itself is interrupted."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own (two trainings into one folder never share it), made with the user's usual
    # permissions, which a temporary folder's owner-only ones are not.
    tmp = output.with_name(f".{output.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.mkdir()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_metrics.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(model_card(card), encoding="utf-8")
        if output.exists():
            output.rmdir()  # checked empty before training
        os.replace(tmp, output)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"the model folder '{output.name}' could not be written ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def model_card(card: dict) -> str:
    best, lead2, before = card["held_out_rouge"], card["lead_2_rouge"], card["base_model_rouge"]

    def row(name: str, r: dict) -> str:
        return f"| {name} | {r['rouge1']} | {r['rouge2']} | {r['rougeL']} |"

    lines = [
        "# casenotes summarizer", "",
        f"A {card['kind']} summarizer fine-tuned offline by `casenotes train-summarizer` from {card['base']} "
        f"({card['architecture']}; {card['method']}) on de-identified note/summary pairs: both the notes and the",
        "reference summaries were de-identified before the model saw them.",
        "Load it with `casenotes run --summarizer THIS_FOLDER`. Its summaries are checked against their notes and "
        "need a reader's judgement.", "",
        "## Data", "",
        f"- Pairs used: {card['pairs']} ({card['training_pairs']} training, {card['held_out_pairs']} held out, "
        f"split {card['split']}) from {card['files']} file(s)",
        f"- Rows skipped without a note or a summary: {card['rows_skipped']}",
        f"- Notes longer than the {card['input_tokens']}-token input window (cut in training and scoring): "
        f"{card['notes_cut']}",
        f"- Reference summaries longer than {card['summary_tokens']} tokens (cut): {card['summaries_cut']}", "",
        "## Held-out ROUGE (F-measure, stemmed; same held-out notes)", "",
        "| summary | ROUGE-1 | ROUGE-2 | ROUGE-L |", "| --- | --- | --- | --- |",
        row(f"this model (epoch {card['best_epoch']})", best),
        row("lead-2 (the note's first two sentences)", lead2),
        row(f"{card['base']} before fine-tuning", before), "",
        rouge_versus_lead(best, lead2)[0].upper() + rouge_versus_lead(best, lead2)[1:] + ".",
        "Held-out notes are cut to the input window and summarized greedily, as `casenotes run` does "
        "(which summarizes a longer note in pieces instead).", "",
        "## Epochs", "",
        "| epoch | train loss | ROUGE-1 | ROUGE-2 | ROUGE-L | seconds |", "| --- | --- | --- | --- | --- | --- |",
        *[f"| {h['epoch']} | {h['train_loss']} | {h['rouge']['rouge1']} | {h['rouge']['rouge2']} | "
          f"{h['rouge']['rougeL']} | {h['seconds']} |" for h in card["history"]], "",
        f"Best epoch: {card['best_epoch']} of {len(card['history'])}; training time {card['training_seconds']} s "
        f"on {card['device']}; {card['parameters']:,} parameters; learning rate {card['learning_rate']}.", "",
        "## Settings", "",
        *[f"- {k}: {v}" for k, v in card["settings"].items() if k != "base"], "",
    ]
    return "\n".join(lines)
