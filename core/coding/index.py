"""The ICD-10-CM search index: a term dictionary and MiniLM embeddings of every code name.

The dictionary finds the code set's own terms in a note; the embeddings find codes for the ways
notes phrase things that the code set does not ("HTN", "sugar diabetes", "crushing chest pain").
Embedding the 59,000 names takes a minute or two on a CPU, so it is done once, with progress
reported, and cached in the user cache folder (``CASENOTES_CACHE`` overrides it), keyed by the
code set, the model and this file's format version.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core import embeddings
from core.coding import icd10

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
MAX_TERM_TOKENS = 10
_STOP = frozenset({"the", "a", "an", "of", "nos"})
_TOKEN = re.compile(r"[a-z0-9]+(?:'s)?")


def cache_dir() -> Path:
    override = os.environ.get("CASENOTES_CACHE")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("casenotes", appauthor=False))


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
        out = []
        for start in range(0, len(queries), 256):  # 256 x 59,000 similarities at a time: 60 MB, not gigabytes
            sims = queries[start : start + 256] @ self.vectors.T
            best = np.argpartition(-sims, min(top, sims.shape[1] - 1), axis=1)[:, :top]
            for row, idx in zip(sims, best):
                order = idx[np.argsort(-row[idx])]
                out.append([(int(i), float(row[i])) for i in order])
        return out


def _fingerprint(entries) -> str:
    h = hashlib.sha256(f"{FORMAT_VERSION}|{icd10.CODE_SET}|{embeddings.model_name()}|{len(entries)}".encode())
    for e in entries[:: max(1, len(entries) // 500)]:
        h.update(f"{e.code}|{e.text}".encode())
    return h.hexdigest()[:16]


def load_or_build(device: str = "cpu", progress: Callable[[int, int], None] | None = None,
                  batch: int = 2048) -> CodeIndex:
    entries = icd10.index_entries()
    path = cache_dir() / f"icd10cm-index-{_fingerprint(entries)}.npy"
    vectors = None
    if path.exists():
        try:
            vectors = np.load(path).astype(np.float32)
            if vectors.shape[0] != len(entries):
                vectors = None
        except (OSError, ValueError):
            vectors = None  # a damaged cache is rebuilt, not trusted
    if vectors is None:
        log.info("building the ICD-10-CM index (%d names, once)", len(entries))
        parts = []
        for start in range(0, len(entries), batch):
            parts.append(embeddings.embed([e.text for e in entries[start : start + batch]], device))
            if progress:
                progress(min(start + batch, len(entries)), len(entries))
        vectors = np.concatenate(parts).astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as handle:  # np.save on a path would add ".npy" to the temp name
            np.save(handle, vectors.astype(np.float16))
        os.replace(tmp, path)
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
