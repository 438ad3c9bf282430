"""Local models added to this installation: ``casenotes models add|list|remove``.

A summarizer, coder or PHI tagger folder (or a zip of one) is copied into the casenotes data folder, checked
by loading it the way a run will (config present, tokenizer and weights load, the right kind of
model), and recorded with the SHA-256 of its files, so that a later change to them is noticed.
The window's model pickers list what is installed here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from casenotes.errors import ConfigurationError, InputError
from casenotes.paths import models_dir

KINDS = ("summarizer", "coder", "deid")
MANIFEST = "casenotes-model.json"


@dataclass
class InstalledModel:
    name: str
    kind: str
    path: str
    architecture: str
    sha256: str
    files: int
    size_mb: float
    added: str

    def verify(self) -> bool:
        return _checksum(Path(self.path))[0] == self.sha256


def installed(kind: str | None = None) -> list[InstalledModel]:
    out = []
    for manifest in sorted(models_dir().glob(f"*/{MANIFEST}")):
        try:
            model = InstalledModel(**json.loads(manifest.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue  # a damaged entry is skipped, not fatal
        if kind is None or model.kind == kind:
            out.append(model)
    return out


def add(source: Path, kind: str, name: str | None = None, device: str = "cpu") -> InstalledModel:
    """Copy a model folder or zip into this installation after checking that it loads as a ``kind``."""
    if kind not in KINDS:
        raise ConfigurationError(f"model kind must be one of {', '.join(KINDS)}")
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source.name}: not found")
    with tempfile.TemporaryDirectory(dir=_staging_parent()) as tmp:
        folder = _unpack(source, Path(tmp)) if source.is_file() else source
        architecture = check(folder, kind, device)
        name = _safe_name(name or (source.stem if source.is_file() else source.name))
        target = models_dir() / name
        if target.exists():
            raise ConfigurationError(f"a model named '{name}' is already installed; remove it first or choose a name")
        staging = Path(tmp) / "staged"
        shutil.copytree(folder, staging)
        digest, files, size = _checksum(staging)
        model = InstalledModel(name, kind, str(target), architecture, digest, files, round(size / 1e6, 1),
                               dt.datetime.now().isoformat(timespec="seconds"))
        (staging / MANIFEST).write_text(json.dumps(asdict(model), indent=2), encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    return model


def remove(name: str) -> None:
    target = models_dir() / _safe_name(name)
    if not (target / MANIFEST).exists():
        raise ConfigurationError(f"no installed model named '{name}'")
    shutil.rmtree(target)


def check(folder: Path, kind: str, device: str = "cpu") -> str:
    """Load the model as a run would; its architecture, or a ConfigurationError saying what is wrong."""
    if kind == "deid":
        from casenotes.phi.learned import LearnedPhiRecognizer

        tagger = LearnedPhiRecognizer(folder, device)  # loads, or says why not
        return type(tagger._model).__name__
    if kind == "summarizer":
        from casenotes.summarize.generative import GenerativeSummarizer

        model = GenerativeSummarizer(folder, device)
        model.load()
        return model.model_name
    from casenotes.coding.default_coder import DefaultCoder
    from casenotes.coding.trained import TrainedCoder

    # The ICD-10-CM index is not needed to check the department's files: nothing is loaded beyond them.
    coder = TrainedCoder.from_folder(folder, DefaultCoder(device))  # says what is missing
    if coder.classifier is not None:
        coder.classifier.evidence_from = _NoEvidence()
        coder.classifier.load()
    return coder.model_name


class _NoEvidence:  # a check needs the classifier only, not the ICD-10-CM index
    def load(self) -> None:
        pass


def _unpack(archive: Path, into: Path) -> Path:
    if not zipfile.is_zipfile(archive):
        raise InputError(f"{archive.name}: not a folder or a zip file")
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            resolved = (into / "unzipped" / member).resolve()
            if not str(resolved).startswith(str((into / "unzipped").resolve())):
                raise InputError(f"{archive.name}: unsafe path inside the zip")
        z.extractall(into / "unzipped")
    configs = sorted([*(into / "unzipped").rglob("config.json"), *(into / "unzipped").rglob("coder.json")],
                     key=lambda p: len(p.parts))
    if not configs:
        raise ConfigurationError(f"{archive.name}: no config.json or coder.json inside; not a model folder")
    return configs[0].parent


def _checksum(folder: Path) -> tuple[str, int, int]:
    digest, files, size = hashlib.sha256(), 0, 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        files += 1
        size += path.stat().st_size
    return digest.hexdigest(), files, size


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.")
    if not cleaned:
        raise ConfigurationError("the model needs a name of letters, digits, - or _")
    return cleaned


def _staging_parent() -> Path:
    models_dir().mkdir(parents=True, exist_ok=True)
    return models_dir()
