"""Model summaries with CTranslate2: the same summarizer as generative.py, a faster engine on a CPU.

CTranslate2 (the optional ``fast`` extra) runs BART, T5, Pegasus and Llama/Qwen-style chat models
with int8 weights on a CPU. Everything but the model call is the PyTorch summarizer's own: the
prompts, the input window, token-length sorting, batches and the map-reduce of long notes; the
tokenizer stays the folder's Hugging Face one (CTranslate2 takes token strings).

The local model folder is converted once, offline, into casenotes' cache folder, keyed by the
folder's config and the names, sizes and modification times of its files, so an updated model is
converted again and an unchanged one never is. A conversion is written to a temporary folder and
renamed into place, so a killed conversion leaves no half model; a cached model that lost files,
or does not load, is converted again. A model the converter cannot read runs on PyTorch instead,
with a log line, and Run info names the engine that ran.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

from casenotes import hf, paths
from casenotes.errors import ConfigurationError
from casenotes.summarize.generative import GenerativeSummarizer

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "ctranslate2")
MANIFEST = "casenotes-conversion.json"
# Part of the cache key: raise it when the conversion below changes, so older conversions are redone.
CONVERSION_REVISION = 1
# Transformers 5 no longer keeps these fairseq settings on the config, and the converter still reads
# them: (normalize_before, normalize_embedding) as each architecture is built. BART is post-norm with
# an embedding norm, Pegasus pre-norm without one; checked against PyTorch's greedy output.
_NORM_SETTINGS = {"bart": (False, True), "pegasus": (True, False)}


def installed() -> bool:
    """Whether the extra is there, without importing it (it loads its own OpenMP and CUDA libraries)."""
    return importlib.util.find_spec("ctranslate2") is not None


def use_ctranslate2(engine: str, device: str) -> bool:
    """``auto``: CTranslate2 on a CPU when installed (int8 there is several times PyTorch's float32);
    on a GPU PyTorch, whose batches are already large. ``ctranslate2`` asks for it anywhere."""
    if engine not in ENGINES:
        raise ConfigurationError(f"summary engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "torch":
        return False
    if engine == "ctranslate2":
        if not installed():
            raise ConfigurationError("the ctranslate2 summary engine is not installed: pip install 'casenotes[fast]'")
        return True
    return installed() and not str(device).startswith("cuda")


def default_compute_type(device: str) -> str:
    """int8 weights on a CPU; on a GPU the precision PyTorch would use there (bf16, else fp16)."""
    if not str(device).startswith("cuda"):
        return "int8"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


class CTranslateSummarizer(GenerativeSummarizer):
    engine = "ctranslate2"

    def __init__(self, folder: Path, device: str = "cpu", *, compute_type: str | None = None, threads: int = 0,
                 **kwargs):
        super().__init__(folder, device, **kwargs)
        self.compute_type = compute_type or default_compute_type(device)
        self.threads = threads  # 0: the cores this process may use, as PyTorch takes
        self.fallback_reason = ""
        self._options: dict = {}

    def engine_settings(self) -> dict[str, str]:
        if self.engine != "ctranslate2":
            return {**super().engine_settings(), "engine": f"PyTorch (CTranslate2 not used: {self.fallback_reason})"}
        import ctranslate2

        return {"engine": f"CTranslate2 {ctranslate2.__version__}", "quantization": self.compute_type}

    # --- loading -------------------------------------------------------------------------------

    def _load_model(self):
        try:
            import ctranslate2
        except ImportError as exc:  # installed but broken (a missing system library): PyTorch still works
            return self._fall_back(f"ctranslate2 does not import, {type(exc).__name__}")
        device, index = ("cuda", int(self.device.partition(":")[2] or 0)) if self.device.startswith("cuda") else ("cpu", 0)
        if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
            return self._fall_back("this ctranslate2 has no CUDA support")
        if self.compute_type not in ctranslate2.get_supported_compute_types(device, index):
            return self._fall_back(f"{self.compute_type} is not supported on this {device}")
        try:
            folder = converted(self.folder, self.compute_type)
        except Exception as exc:  # noqa: BLE001 - a converter that cannot read a model must cost speed, not the run
            return self._fall_back(f"the model does not convert, {type(exc).__name__}")
        try:
            model = self._open(ctranslate2, folder, device, index)
        except Exception:  # noqa: BLE001 - what a damaged file raises is CTranslate2's to choose (IndexError...)
            # The files are all there but their bytes are not a model (a disk error, an edit): convert again, once.
            log.warning("the converted summarizer in the cache does not load; converting it again")
            shutil.rmtree(folder, ignore_errors=True)
            try:
                model = self._open(ctranslate2, converted(self.folder, self.compute_type), device, index)
            except Exception as exc:  # noqa: BLE001 - as above
                return self._fall_back(f"the converted model does not load, {type(exc).__name__}")
        self._options = self._generation_options()
        return model

    def _open(self, ctranslate2, folder: Path, device: str, index: int):
        engine = ctranslate2.Translator if self.is_seq2seq else ctranslate2.Generator
        return engine(str(folder), device=device, device_index=index, compute_type=self.compute_type,
                      intra_threads=self.threads or usable_cores())

    def _fall_back(self, reason: str):
        # The reason names the model's type or the machine, never a note.
        log.warning("summarizer: CTranslate2 not used (%s); running on PyTorch", reason)
        self.engine, self.fallback_reason = "torch", reason
        return super()._load_model()

    def _generation_options(self) -> dict:
        """The folder's own generation settings that PyTorch's ``generate`` applies by itself: the same
        words from either engine."""
        folder = self.folder
        try:
            gen = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            gen = self._config  # older folders keep them in config.json, as transformers reads them
        options: dict = {}
        eos = gen.get("eos_token_id")
        if eos is not None:
            options["end_token"] = [int(e) for e in (eos if isinstance(eos, list) else [eos])]
        if gen.get("no_repeat_ngram_size"):
            options["no_repeat_ngram_size"] = int(gen["no_repeat_ngram_size"])
        if gen.get("repetition_penalty"):
            options["repetition_penalty"] = float(gen["repetition_penalty"])
        if self.num_beams > 1 and gen.get("length_penalty") is not None:
            options["length_penalty"] = float(gen["length_penalty"])
        min_new = self.min_new_tokens
        if self.is_seq2seq:
            if gen.get("min_length"):  # counts the decoder's start token
                min_new = max(min_new, int(gen["min_length"]) - 1)
            if gen.get("forced_bos_token_id") is not None:
                options["target_prefix"] = self._tokenizer.convert_ids_to_tokens([int(gen["forced_bos_token_id"])])
            options["forced_eos"] = gen.get("forced_eos_token_id") is not None
        options["min_new"] = min_new
        return options

    # --- generation ----------------------------------------------------------------------------

    def _generate_token_ids(self, input_ids: list[list[int]]) -> list[list[int]]:
        if self.engine != "ctranslate2":
            return super()._generate_token_ids(input_ids)
        tok = self._tokenizer
        tokens = [tok.convert_ids_to_tokens(ids) for ids in input_ids]
        options = dict(self._options)
        min_new = min(options.pop("min_new"), self.max_new_tokens)
        prefix = options.pop("target_prefix", None)
        forced_eos = options.pop("forced_eos", False)
        common = dict(beam_size=self.num_beams, return_end_token=False, **options)
        if self.is_seq2seq:
            # PyTorch forces the end token as the last of max_new_tokens when the model asks for it, so
            # the text it keeps is one token shorter (unless a minimum length asks for every one).
            longest = self.max_new_tokens - (forced_eos and min_new < self.max_new_tokens)
            results = self._model.translate_batch(
                tokens, target_prefix=[prefix] * len(tokens) if prefix else None, max_input_length=0,
                max_decoding_length=max(1, longest), min_decoding_length=min_new, **common)
            return [tok.convert_tokens_to_ids(r.hypotheses[0]) for r in results]
        # The prompt goes through the decoder at once (not token by token) and is not returned.
        results = self._model.generate_batch(tokens, max_length=self.max_new_tokens, min_length=min_new,
                                             include_prompt_in_result=False, **common)
        return [r.sequences_ids[0] for r in results]


def usable_cores() -> int:
    """The cores this process may use (a container or a remote desktop may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# --- the conversion cache ----------------------------------------------------------------------


def conversion_key(folder: Path, quantization: str) -> str:
    """Changes when the model folder does (its config, or any file's name, size or modification time),
    when the quantization or ctranslate2 does, and when this module's conversion does."""
    import ctranslate2

    digest = hashlib.sha256(f"{CONVERSION_REVISION}|{ctranslate2.__version__}|{quantization}".encode())
    for path in sorted(Path(folder).iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"|{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    digest.update((Path(folder) / "config.json").read_bytes())
    return digest.hexdigest()[:24]


def converted(folder: Path, quantization: str) -> Path:
    """The folder converted for CTranslate2 with this quantization: from the cache, or converted now."""
    folder = Path(folder).resolve()
    root = paths.converted_models_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = conversion_key(folder, quantization)
    target = root / key
    if is_complete(target):
        return target
    if target.exists():
        log.warning("a converted summarizer in the cache is incomplete; converting it again")
        shutil.rmtree(target, ignore_errors=True)
    _remove_abandoned(root)
    partial = root / f".partial-{key}-{os.getpid()}-{secrets.token_hex(4)}"
    log.info("converting the summarizer for CTranslate2 (%s); once, then it is cached", quantization)
    started = time.perf_counter()
    try:
        convert(folder, partial, quantization)
        files = {p.name: p.stat().st_size for p in partial.iterdir() if p.is_file()}
        manifest = {"source": str(folder), "quantization": quantization, "key": key, "files": files}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        try:
            os.rename(partial, target)
        except OSError:
            if not is_complete(target):  # not another process that finished the same conversion first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("summarizer converted in %.0f s", time.perf_counter() - started)
    _remove_stale(root, folder, quantization, keep=target)
    return target


def convert(folder: Path, out: Path, quantization: str) -> None:
    """The one call to CTranslate2's converter: local files only, never the hub."""
    hf.offline()
    from ctranslate2.converters import TransformersConverter

    class OfflineConverter(TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            model = model_class.from_pretrained(model_name_or_path, local_files_only=True, **kwargs)
            config = model.config
            if config.model_type in _NORM_SETTINGS and not hasattr(config, "normalize_before"):
                config.normalize_before, config.normalize_embedding = _NORM_SETTINGS[config.model_type]
            self._model_vocab = int(getattr(config, "vocab_size", 0) or 0)
            return model

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            tokenizer = tokenizer_class.from_pretrained(model_name_or_path, local_files_only=True, **kwargs)
            vocab = tokenizer.get_vocab()
            if len(vocab) < self._model_vocab:
                # An embedding matrix padded past the tokenizer (common, for speed): CTranslate2 wants one
                # name per row. These names are never in an input, and a model that writes one (only an
                # untrained one would) gets the unknown token, as PyTorch's decoder drops an unknown id.
                vocab = {**vocab, **{f"<casenotes_unused_{i}>": i for i in range(len(vocab), self._model_vocab)}}
                tokenizer.get_vocab = lambda: vocab
            return tokenizer

    OfflineConverter(str(folder)).convert(str(out), quantization=quantization, force=True)


def is_complete(target: Path) -> bool:
    """Every file the conversion wrote is there at the size it was written."""
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        return "model.bin" in files and all((target / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _remove_abandoned(root: Path) -> None:
    """Temporary folders of conversions whose process is gone (killed, or the machine went off)."""
    import psutil

    for partial in root.glob(".partial-*"):
        try:
            pid = int(partial.name.split("-")[2])
        except (IndexError, ValueError):
            pid = -1
        if pid != os.getpid() and not psutil.pid_exists(pid):
            shutil.rmtree(partial, ignore_errors=True)


def _remove_stale(root: Path, folder: Path, quantization: str, keep: Path) -> None:
    """Older conversions of a model folder that has changed since, and conversions of folders that are
    gone: each is the size of the model (400 MB for BART-large in int8)."""
    for entry in root.iterdir():
        if entry == keep or entry.name.startswith(".") or not entry.is_dir():
            continue
        try:
            manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
            source = Path(manifest["source"])
            stale = (source == folder and manifest.get("quantization") == quantization) or not source.exists()
        except (OSError, ValueError, KeyError, TypeError):
            stale = False  # not ours to judge: a folder being written by another process has no manifest yet
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
