"""The ICD-10-CM search index: a term dictionary and MiniLM embeddings of every code name.

The dictionary finds the code set's own terms in a note; the embeddings find codes for the ways
notes phrase things that the code set does not ("HTN", "sugar diabetes", "crushing chest pain").
Embedding the 59,000 names takes a minute or more on a CPU, so it is done ahead: ``casenotes
prepare`` (run by ``make setup``) and the installer build it, and the bundle ships it read-only.
An index is looked for first in the shipped folders (``CASENOTES_INDEX_DIR``, ``casenotes_index``
beside the bundled program), then in the user cache folder (``CASENOTES_CACHE`` overrides it); only
when neither has it is it built, with progress and an estimate of the time left, into the cache.
Files are keyed by the code set, the model and this file's format version.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from casenotes import embeddings
from casenotes.coding import icd10
from casenotes.durations import rough_duration
from casenotes.paths import cache_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
SHIPPED_FOLDER = "casenotes_index"
BUILD_STAGE = "building the ICD-10-CM index (once)"
# Word pieces per embedding batch. Batches of names with the same length waste nothing on padding,
# and large batches keep a busy CPU's threads on big matrix products instead of waiting on each
# other between small ones. On 2 cores, batches of 64 names sorted within runs of 2,048 took 1.2
# times as long on an idle machine, and 1.7 times as long with another program busy on one core.
BATCH_TOKENS = 8192
_CHUNK = 2048  # names per progress report
MAX_TERM_TOKENS = 10
_STOP = frozenset({"the", "a", "an", "of", "nos"})
_TOKEN = re.compile(r"[a-z0-9]+(?:'s)?")


def shipped_dirs() -> list[Path]:
    """Read-only folders that may hold an index built ahead: one named by ``CASENOTES_INDEX_DIR``
    (IT can put one on a share) and, in the installer's bundle, the one shipped beside the program."""
    dirs = []
    if os.environ.get("CASENOTES_INDEX_DIR"):
        dirs.append(Path(os.environ["CASENOTES_INDEX_DIR"]))
    if getattr(sys, "frozen", False):
        dirs.append(Path(sys.executable).resolve().parent / SHIPPED_FOLDER)
        if getattr(sys, "_MEIPASS", None):  # PyInstaller puts data files under _internal/
            dirs.append(Path(sys._MEIPASS) / SHIPPED_FOLDER)
    return dirs


def normalize(word: str) -> str:
    """Lower case, possessive and plural s removed ("Crohn's" -> "crohn", "infections" -> "infection")."""
    w = word.lower()
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("s") and not w.endswith(("ss", "is", "us", "ous")):
        w = w[:-1]
    return w


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(normalized token, start, end) for each word of a text, stop words left out."""
    out = []
    for m in _TOKEN.finditer(text.lower()):
        w = normalize(m.group())
        if w not in _STOP:
            out.append((w, m.start(), m.end()))
    return out


# Words that name no condition on their own, whatever code description they are left from.
GENERIC_WORDS = frozenset(
    "activity finding presence history condition disorder disease problem status complication encounter "
    "examination observation other place person contact exposure abnormal abnormality change type use".split()
)


def term_variants(name: str) -> set[tuple[str, ...]]:
    """The ways a code name can appear in a note: as written, without its parenthesised words or
    with them, and without a trailing qualifier ("Pneumonia, unspecified organism" -> "pneumonia")."""
    forms = {name, re.sub(r"\s*\([^)]*\)", "", name), name.replace("(", "").replace(")", "")}
    for form in list(forms):
        forms.add(re.sub(r",\s*(?:unspecified|not elsewhere classified|NOS)\b.*$", "", form, flags=re.IGNORECASE))
        forms.add(re.sub(r"\s+(?:without complications?|NOS)$", "", form, flags=re.IGNORECASE))
        forms.add(re.sub(r"^unspecified\s+", "", form, flags=re.IGNORECASE))
    out = set()
    for form in forms:
        toks = tuple(t for t, _, _ in tokens(form))
        if not toks or len(toks) > MAX_TERM_TOKENS or all(t in GENERIC_WORDS for t in toks):
            continue
        out.add(toks)
    return out


def common_terms() -> list[tuple[str, str]]:
    """(term, code) pairs from common_terms.tsv: how notes name the most frequent conditions."""
    path = Path(__file__).with_name("common_terms.tsv")
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            term, code = line.split("\t")[:2]
            pairs.append((term.strip(), code.strip()))
    return pairs


@dataclass
class CodeIndex:
    entries: tuple[icd10.IndexEntry, ...]
    vectors: np.ndarray  # float32, unit rows, aligned with entries
    terms: dict[tuple[str, ...], list[int]]  # term tokens -> entry indices

    def search(self, queries: np.ndarray, top: int = 5) -> list[list[tuple[int, float]]]:
        """For each unit query vector, the best (entry index, cosine) pairs."""
        if len(queries) == 0:
            return []
        import torch

        # torch's product and top-k, float32 as before: half the time of numpy's product and
        # argpartition over each row of 59,000 on 2 cores (the same neighbours and cosines).
        vectors = torch.from_numpy(np.ascontiguousarray(self.vectors, dtype=np.float32))
        top = min(top, len(self.vectors))
        out = []
        with embeddings.cpu_threads():
            for start in range(0, len(queries), 256):  # 256 x 59,000 similarities at a time: 60 MB, not gigabytes
                part = torch.from_numpy(np.ascontiguousarray(queries[start : start + 256], dtype=np.float32))
                values, indices = torch.topk(part @ vectors.T, top, dim=1)
                out += [list(zip(i, v)) for i, v in zip(indices.tolist(), values.tolist())]
        return out


def _fingerprint(entries) -> str:
    h = hashlib.sha256(f"{FORMAT_VERSION}|{icd10.CODE_SET}|{embeddings.model_name()}|{len(entries)}".encode())
    for e in entries[:: max(1, len(entries) // 500)]:
        h.update(f"{e.code}|{e.text}".encode())
    return h.hexdigest()[:16]


def file_name(entries=None) -> str:
    return f"icd10cm-index-{_fingerprint(entries if entries is not None else icd10.index_entries())}.npy"


def _read(path: Path, rows: int) -> np.ndarray | None:
    try:
        vectors = np.load(path)
    except (OSError, ValueError, EOFError):
        return None  # a damaged file is rebuilt, not trusted
    return vectors.astype(np.float32) if vectors.ndim == 2 and vectors.shape[0] == rows else None


def _find(entries) -> tuple[Path, np.ndarray] | None:
    name = file_name(entries)
    for folder in [*shipped_dirs(), cache_dir()]:
        vectors = _read(folder / name, len(entries))
        if vectors is not None:
            return folder / name, vectors
    return None


def built_in(folder: Path, entries=None) -> Path | None:
    """The index file in one folder, when it holds a sound one for this code set and model."""
    entries = entries if entries is not None else icd10.index_entries()
    path = Path(folder) / file_name(entries)
    return path if _read(path, len(entries)) is not None else None


def find_built(entries=None) -> Path | None:
    """The index file a run would load, shipped first, then cached; None when it must be built."""
    found = _find(entries if entries is not None else icd10.index_entries())
    return found[0] if found else None


class BuildEstimate:
    """Turns a build's (done, total) reports into its stage text, "…: 35%, about 1 min 10 s left".

    The pace so far, from the last report of nothing done (made once the model is loaded), is
    applied to the work left; the work is counted in word pieces, so the long names at the end do
    not surprise it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start: float | None = None

    def __call__(self, done: int, total: int) -> str:
        now = self._clock()
        if self._start is None or done == 0:
            self._start = now
        share = min(1.0, done / total) if total else 1.0
        text = f"{BUILD_STAGE}: {int(100 * share)}%"
        if share >= 1:
            return text
        if share == 0 or now <= self._start:
            return f"{text}, estimating the time left"
        return f"{text}, about {rough_duration((now - self._start) * (1 - share) / share)} left"


def _tokenizer():
    from casenotes import hf

    hf.offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(embeddings.model_path()), local_files_only=True)


def build_vectors(texts: list[str], device: str = "cpu",
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Unit MiniLM vectors of the texts, as ``embeddings.embed`` gives them, in large batches of
    names of one length; ``progress(done, total)`` counts word pieces from (0, total)."""
    if progress:
        progress(0, len(texts))  # the stage shows at once, while the names are counted and the model loads
    # The longest code name is 81 word pieces, under the model's limit of 256: nothing is cut, so
    # the vectors are those a query's embedding is compared with.
    lengths = [len(ids) for ids in _tokenizer()(texts, add_special_tokens=True)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], len(texts[i])))
    total = sum(lengths)
    # float32 whatever the queries use: the index is built once, shipped and cached under one name,
    # and is the reference that a faster query encoder is measured against.
    embeddings.embed(texts[:1], device, precision="fp32")  # load the model first: its start-up is no part of the estimate
    if progress:
        progress(0, total)
    out = np.empty((len(texts), 384), dtype=np.float32)
    done = 0
    for start in range(0, len(order), _CHUNK):
        chunk = order[start : start + _CHUNK]
        batch = max(32, min(1024, BATCH_TOKENS // lengths[chunk[-1]]))
        out[chunk] = embeddings.embed([texts[i] for i in chunk], device, batch_size=batch, precision="fp32")
        done += sum(lengths[i] for i in chunk)
        if progress:
            progress(done, total)
    return out


def build(folder: Path, device: str = "cpu", progress: Callable[[int, int], None] | None = None,
          entries=None) -> tuple[Path, np.ndarray]:
    """Build the index file into a folder (the cache, or a folder the installer ships); its path
    and its vectors as a later load reads them."""
    entries = entries if entries is not None else icd10.index_entries()
    path = Path(folder) / file_name(entries)
    log.info("building the ICD-10-CM index (%d names, once)", len(entries))
    stored = build_vectors([e.text for e in entries], device, progress).astype(np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two processes building at once do not mix files
    with open(tmp, "wb") as handle:  # np.save on a path would add ".npy" to the temp name
        np.save(handle, stored)
    os.replace(tmp, path)  # a killed build leaves no half-written index behind
    # float16, as stored: the first run codes exactly as every later run that loads the file.
    return path, stored.astype(np.float32)


def copy_into(source: Path, folder: Path) -> Path:
    """Copy a built index into a folder to ship (the installer reuses the one this machine built)."""
    target = Path(folder) / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def load_or_build(device: str = "cpu", progress: Callable[[int, int], None] | None = None) -> CodeIndex:
    entries = icd10.index_entries()
    found = _find(entries)
    # The shipped folders are read-only: an index found in none is built into the user cache.
    _, vectors = found if found else build(cache_dir(), device, progress, entries)
    terms: dict[tuple[str, ...], list[int]] = {}
    for i, entry in enumerate(entries):
        for variant in term_variants(entry.text):
            terms.setdefault(variant, []).append(i)
    entries = list(entries)
    for term, code in common_terms():
        if not icd10.is_billable(code):
            raise ValueError(f"common_terms.tsv: {code} is not a billable ICD-10-CM code")
        # The common usage comes first: "hypertension" means I10 before any rarer code that shares the words.
        terms.setdefault(tuple(t for t, _, _ in tokens(term)), []).insert(0, len(entries))
        entries.append(icd10.IndexEntry(code, term, "common"))
    extra = len(entries) - len(vectors)
    if extra:  # common terms are found by the dictionary only; their vectors are never searched
        vectors = np.vstack([vectors, np.zeros((extra, vectors.shape[1]), dtype=np.float32)])
    return CodeIndex(tuple(entries), vectors, terms)
