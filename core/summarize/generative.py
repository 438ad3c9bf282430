"""Summaries from a local Hugging Face model: seq2seq (BART, T5, LED, Pegasus) or a causal chat model.

The kind is read from the folder's config: ``is_encoder_decoder`` models are seq2seq; causal
language models need a chat template (an instruction model) so the prompt is the one the model
was trained with. Notes are sorted by token length and generated in batches; a note longer than
the model's input window is split at sentence boundaries into chunks that are summarized
separately and then summarized together (map, then reduce), so nothing is silently cut off.
Decoding is greedy (or beam search) and therefore deterministic. This class runs the model on
PyTorch; ctranslate.py subclasses it to run the same prompts and batches on CTranslate2, so the
model call (``_load_model``, ``_generate_token_ids``) is all an engine provides.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from casenotes import hf
from casenotes.errors import ConfigurationError
from casenotes.clinical_text import note_sentences

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Summarize this de-identified clinical note in two or three sentences for the medical record: the main "
    "problem, the key findings and the plan. Use only facts stated in the note. Keep placeholders such as "
    "[NAME] or [DATE] as they are.\n\nNote:\n"
)
_T5_FAMILY = ("t5", "mt5", "umt5", "longt5")
# Input windows above this cost more memory than a workstation GPU has for a batch; longer notes are chunked.
MAX_INPUT_CAP = 4096
# Summary length when neither the run nor the model folder's generation config sets one.
DEFAULT_NEW_TOKENS = 128
CPU_BATCH_SIZE = 8  # more notes at once gain little on a CPU and hold more memory
MAX_BATCH_SIZE = 256
# Batches are padded to a multiple of this many tokens: a few shapes, so a GPU's kernels are planned
# a few times, not once per batch.
PAD_MULTIPLE = 32


class GenerativeSummarizer:
    kind = "generative"
    engine = "torch"

    def __init__(self, folder: Path, device: str = "cpu", max_new_tokens: int = 0, batch_size: int = 0,
                 num_beams: int = 1, max_input_tokens: int | None = None, min_new_tokens: int = 0):
        self.folder = Path(folder)
        self.device = device
        self._requested_new_tokens = max(0, max_new_tokens)  # 0: the folder's own setting, else the default
        self.max_new_tokens = self._requested_new_tokens or DEFAULT_NEW_TOKENS
        self._requested_batch_size = max(0, batch_size)  # 0: worked out from the device's free memory
        self.batch_size = self._requested_batch_size or CPU_BATCH_SIZE
        self.num_beams = max(1, num_beams)
        self.min_new_tokens = min_new_tokens
        self._requested_input_tokens = max_input_tokens
        self.max_input_tokens = 0
        self.is_seq2seq = False
        self._model = None
        self._tokenizer = None
        self._config: dict = {}

    @property
    def model_name(self) -> str:
        arch = (self._config.get("architectures") or [self._config.get("model_type", "?")])[0]
        return f"{self.folder.name} ({arch}, local)"

    def settings(self) -> dict[str, str]:
        return {"max new tokens": str(self.max_new_tokens), "batch size": str(self.batch_size),
                "beams": str(self.num_beams), "input window (tokens)": str(self.max_input_tokens),
                "decoding": "greedy" if self.num_beams == 1 else "beam search", "device": hf.device_label(self.device),
                **self.engine_settings()}

    def engine_settings(self) -> dict[str, str]:
        """What ran the model and at what precision: Run info says it, for a faster engine can word a
        summary a little differently."""
        return {"engine": "PyTorch", "precision": str(hf.torch_dtype(self.device)).removeprefix("torch.")}

    def load(self) -> None:
        if self._model is not None:
            return
        hf.offline()
        self._config = hf.read_config(self.folder, "Summarizer")
        if not self._requested_new_tokens:
            self.max_new_tokens = _folder_new_tokens(self.folder) or DEFAULT_NEW_TOKENS
        from transformers import AutoTokenizer

        self.is_seq2seq = bool(self._config.get("is_encoder_decoder"))
        architectures = self._config.get("architectures") or []
        if not self.is_seq2seq and architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
            raise ConfigurationError(
                f"Summarizer model folder '{self.folder.name}' holds a {architectures[0]}, "
                "which is neither a seq2seq nor a causal language model"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"Summarizer model folder '{self.folder.name}': the tokenizer does not load "
                                     f"({type(exc).__name__})") from None
        if not self.is_seq2seq and not getattr(tokenizer, "chat_template", None):
            raise ConfigurationError(f"Summarizer model folder '{self.folder.name}' is a causal model without a chat "
                                     "template: use an instruction (chat) model or a seq2seq summarizer")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not self.is_seq2seq:
            tokenizer.padding_side = "left"  # generation continues from the right end of every row
        self._tokenizer = tokenizer
        self._model = self._load_model()
        self.max_input_tokens = self._input_window()
        if not self._requested_batch_size:
            self.batch_size = self._automatic_batch_size()
        log.info("summarizer loaded on %s (%s, %s)", self.device, "seq2seq" if self.is_seq2seq else "causal",
                 self.engine)

    def _load_model(self):
        """The engine's model; the tokenizer and config are loaded by then. Another engine overrides this
        and ``_generate_token_ids``: everything else (prompts, windows, chunking, batching) is shared."""
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        loader = AutoModelForSeq2SeqLM if self.is_seq2seq else AutoModelForCausalLM
        try:
            model = loader.from_pretrained(self.folder, local_files_only=True, dtype=hf.torch_dtype(self.device))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigurationError(f"Summarizer model folder '{self.folder.name}': the weights do not load "
                                     f"({type(exc).__name__})") from None
        model.to(self.device).eval()
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = self._tokenizer.pad_token_id
        return model

    def _input_window(self) -> int:
        """Tokens of note text per generation call: the model's limit less the prompt and the answer."""
        if self._requested_input_tokens:
            return self._requested_input_tokens
        c = self._config
        limits = [c.get(k) for k in ("max_encoder_position_embeddings", "max_position_embeddings", "n_positions")]
        limits = [v for v in limits if isinstance(v, int) and v > 0][:1]
        model_max = getattr(self._tokenizer, "model_max_length", 0)
        if 0 < model_max < 1_000_000:
            limits.append(model_max)
        window = min(limits) if limits else 512
        window -= self._prompt_overhead + (0 if self.is_seq2seq else self.max_new_tokens)
        return max(16, min(window, MAX_INPUT_CAP))

    def _automatic_batch_size(self) -> int:
        """On a GPU, as many notes as half its free memory holds: each needs its key/value cache for the
        whole window and answer, plus working room. The out-of-memory back-off stays the safety net."""
        if not str(self.device).startswith("cuda"):
            return CPU_BATCH_SIZE
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(self.device))
        c = self._config
        layers = int(c.get("decoder_layers") or c.get("num_hidden_layers") or c.get("n_layer") or 12)
        width = int(c.get("d_model") or c.get("hidden_size") or c.get("n_embd") or 1024)
        heads = int(c.get("num_attention_heads") or c.get("decoder_attention_heads") or 16)
        kv_heads = int(c.get("num_key_value_heads") or heads)
        kv_width = width * kv_heads // max(1, heads)
        bytes_per_value = 2 if hf.torch_dtype(self.device) in (torch.float16, torch.bfloat16) else 4
        tokens = self.max_input_tokens + self._prompt_overhead + self.max_new_tokens
        per_note = 2 * layers * kv_width * tokens * bytes_per_value * self.num_beams * 3  # x3: activations
        return int(max(1, min(MAX_BATCH_SIZE, (free // 2) // max(1, per_note))))

    @functools.cached_property
    def _prompt_overhead(self) -> int:
        """Tokens the chat template and instruction add around a note (causal models), or special tokens."""
        if self.is_seq2seq:
            return 2
        return len(self._tokenizer(self._prompts([""])[0], add_special_tokens=False)["input_ids"]) + 2

    # --- public API --------------------------------------------------------------------------

    def summarize(self, texts: list[str]) -> list[str]:
        self.load()
        out = ["" for _ in texts]
        todo = {i: t for i, t in enumerate(texts) if t and t.strip()}
        limit = self.max_input_tokens + self._prompt_overhead
        for _round in range(4):  # each reduce round shortens the text; four rounds cover any real note
            # Each prompt is tokenized once; only a note longer than the window is cut and its pieces
            # tokenized again.
            whole = dict(zip(todo, self._encode(list(todo.values()))))
            chunks: list[tuple[int, list[int]]] = []
            for i, text in todo.items():
                if len(whole[i]) <= limit:
                    chunks.append((i, whole[i]))
                else:
                    chunks += [(i, ids) for ids in self._encode(self.chunk(text))]
            partial = self._generate_ids([ids for _, ids in chunks])
            joined: dict[int, list[str]] = {}
            for (i, _), summary in zip(chunks, partial):
                joined.setdefault(i, []).append(summary.strip())
            todo = {}
            for i, parts in joined.items():
                if len(parts) == 1:
                    out[i] = parts[0]
                else:
                    todo[i] = " ".join(parts)  # summarize the chunk summaries together
            if not todo:
                break
        for i, t in todo.items():  # still too long after four rounds: keep the last round's summaries
            out[i] = t
        return out

    def chunk(self, text: str) -> list[str]:
        """Pieces of at most ``max_input_tokens`` tokens, cut between sentences where possible."""
        if len(self._token_ids(text)) <= self.max_input_tokens:
            return [text]
        pieces: list[str] = []
        current, current_len = [], 0
        for sentence in note_sentences(text) or []:
            n = len(self._token_ids(sentence.text)) + 1
            if n > self.max_input_tokens:
                pieces += self._flush(current)
                current, current_len = [], 0
                pieces += self._split_by_tokens(sentence.text)
                continue
            if current_len + n > self.max_input_tokens:
                pieces += self._flush(current)
                current, current_len = [], 0
            current.append(sentence.text)
            current_len += n
        pieces += self._flush(current)
        return pieces or self._split_by_tokens(text)

    def generate(self, texts: list[str]) -> list[str]:
        """One output per input (each must fit the window), generated in batches of similar token length.
        Each prompt is tokenized once; batches are padded to a multiple of PAD_MULTIPLE tokens."""
        self.load()
        return self._generate_ids(self._encode(texts))

    def _encode(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self._tokenizer(self._prompts(texts), add_special_tokens=self.is_seq2seq)["input_ids"]

    def _generate_ids(self, encoded: list[list[int]]) -> list[str]:
        if not encoded:
            return []
        encoded = [self._fit(ids) for ids in encoded]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = [""] * len(encoded)
        size = self.batch_size
        start = 0
        while start < len(order):
            batch = order[start : start + size]
            try:
                results = self._generate_batch([encoded[i] for i in batch])
            except RuntimeError as exc:
                if "out of memory" not in str(exc).lower() or size == 1:
                    raise
                self._free_gpu_memory()
                size = max(1, size // 2)  # a batch of long notes did not fit: retry smaller
                log.warning("GPU memory full; summarizer batch size lowered to %d", size)
                continue
            for i, summary in zip(batch, results):
                out[i] = summary
            start += len(batch)
        return out

    # --- internals ---------------------------------------------------------------------------

    def _fit(self, ids: list[int]) -> list[int]:
        """Chunking keeps every note inside the window; this is only a guard against a tokenizer that
        counts a piece differently once it sits inside the prompt. It keeps both ends: a seq2seq
        input's end-of-text token, a chat prompt's instruction and the turn that asks for the answer."""
        limit = self.max_input_tokens + self._prompt_overhead
        if len(ids) <= limit:
            return ids
        head = limit - 1 if self.is_seq2seq else limit // 2
        return ids[:head] + ids[len(ids) - (limit - head) :]

    def _generate_batch(self, input_ids: list[list[int]]) -> list[str]:
        generated = self._generate_token_ids(input_ids)
        return [t.strip() for t in self._tokenizer.batch_decode(generated, skip_special_tokens=True)]

    def _generate_token_ids(self, input_ids: list[list[int]]) -> list[list[int]]:
        """The answer's token ids for each prompt (special and padding tokens may be among them)."""
        import torch

        encoded = self._tokenizer.pad({"input_ids": input_ids}, return_tensors="pt", pad_to_multiple_of=PAD_MULTIPLE)
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        with torch.inference_mode():
            generated = self._model.generate(
                **encoded, max_new_tokens=self.max_new_tokens, min_new_tokens=self.min_new_tokens,
                num_beams=self.num_beams, do_sample=False,
            )
        if not self.is_seq2seq:
            generated = generated[:, encoded["input_ids"].shape[1] :]
        return generated.tolist()

    def _prompts(self, texts: list[str]) -> list[str]:
        if self.is_seq2seq:
            prefix = "summarize: " if self._config.get("model_type") in _T5_FAMILY else ""
            return [prefix + t for t in texts]
        return [self._tokenizer.apply_chat_template([{"role": "user", "content": INSTRUCTION + t}], tokenize=False,
                                                    add_generation_prompt=True) for t in texts]

    def _token_ids(self, text: str) -> list[int]:
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    def _flush(self, sentences: list[str]) -> list[str]:
        return [" ".join(sentences)] if sentences else []

    def _split_by_tokens(self, text: str) -> list[str]:
        ids = self._token_ids(text)
        step = self.max_input_tokens
        return [self._tokenizer.decode(ids[i : i + step], skip_special_tokens=True) for i in range(0, len(ids), step)]

    def _free_gpu_memory(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _folder_new_tokens(folder: Path) -> int | None:
    """The summary length the model folder was saved with (train-summarizer sets it from its pairs)."""
    import json

    try:
        value = json.loads((Path(folder) / "generation_config.json").read_text(encoding="utf-8")).get("max_new_tokens")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None
