"""Local Hugging Face model folders: checking them, loading them offline, choosing dtype and device.

casenotes never contacts the model hub: every load is ``local_files_only`` from a folder the user
chose, and a folder that is not a usable model is refused with an error that names what is missing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from casenotes.errors import ConfigurationError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")


def offline() -> None:
    """The one switch that keeps the model libraries off the network: no hub look-up, no telemetry,
    no progress bars (they would clutter the terminal and the window's log). The libraries read these
    when first imported, so the entry points call this first thing, and every model loader before it
    imports one; child processes inherit them. Cheap: it imports nothing."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # transformers' own bars follow this one too


def read_config(folder: Path, purpose: str) -> dict:
    """The folder's config.json, after checking the folder has weights and a tokenizer."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigurationError(f"{purpose} model folder not found: {folder.name or folder}")
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append("a tokenizer (tokenizer.json or tokenizer_config.json)")
    if missing:
        raise ConfigurationError(f"{purpose} model folder '{folder.name}' is not a usable model: missing {', '.join(missing)}")
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{purpose} model folder '{folder.name}': config.json is unreadable ({type(exc).__name__})") from None


def torch_dtype(device: str):
    """bf16 on GPUs that support it, else fp16 on CUDA, fp32 on CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def device_label(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"
