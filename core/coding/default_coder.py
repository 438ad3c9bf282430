"""The embedded default coder: dictionary and embedding search over the ICD-10-CM code set.

1. Mentions: the code set's own terms found in the note (longest match first), and the note's
   clauses that name a problem, searched in the MiniLM index for the nearest code names.
2. Context: each mention gets its traits (negated, hypothetical, family, history); only mentions
   without traits support an active diagnosis.
3. Codes: each candidate's confidence comes from how it was found (an exact term of the code set
   is strong evidence; an embedding neighbour is as strong as it is close), raised a little when
   several mentions support it. An unspecified code gives way to a more specific code of the same
   category found on the same words. Every code carries its evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from casenotes import embeddings
from casenotes.coding import icd10
from casenotes.clinical_text import HISTORY, mention_traits
from casenotes.coding.context import excluded_spans
from casenotes.coding.index import MAX_TERM_TOKENS, CodeIndex, load_or_build, tokens

# Abbreviations notes use for problems, spelled out so the dictionary and the embeddings see the words.
ABBREVIATIONS = {
    "htn": "hypertension", "dm": "diabetes mellitus", "dm2": "type 2 diabetes mellitus", "t2dm": "type 2 diabetes mellitus",
    "iddm": "type 1 diabetes mellitus", "niddm": "type 2 diabetes mellitus", "copd": "chronic obstructive pulmonary disease",
    "chf": "congestive heart failure", "cad": "coronary artery disease", "mi": "myocardial infarction",
    "nstemi": "non-ST elevation myocardial infarction", "stemi": "ST elevation myocardial infarction",
    "afib": "atrial fibrillation", "a-fib": "atrial fibrillation", "af": "atrial fibrillation", "dvt": "deep vein thrombosis",
    "pe": "pulmonary embolism", "uti": "urinary tract infection", "cva": "cerebral infarction", "tia": "transient ischemic attack",
    "ards": "acute respiratory distress syndrome", "aki": "acute kidney failure", "arf": "acute kidney failure",
    "ckd": "chronic kidney disease", "esrd": "end stage renal disease", "dka": "diabetic ketoacidosis",
    "gerd": "gastro-esophageal reflux disease", "osa": "obstructive sleep apnea", "pna": "pneumonia",
    "hiv": "human immunodeficiency virus disease", "aids": "human immunodeficiency virus disease", "tb": "tuberculosis",
    "ra": "rheumatoid arthritis", "sle": "systemic lupus erythematosus", "ibd": "inflammatory bowel disease",
    "bph": "benign prostatic hyperplasia", "hcc": "hepatocellular carcinoma", "sob": "shortness of breath",
    "loc": "loss of consciousness", "n/v": "nausea with vomiting", "etoh abuse": "alcohol abuse",
    "ex-smoker": "personal history of nicotine dependence", "former smoker": "personal history of nicotine dependence",
}
_ABBREVIATION = re.compile(r"(?<![\w/-])(" + "|".join(sorted(map(re.escape, ABBREVIATIONS), key=len, reverse=True))
                           + r")(?![\w/-])", re.IGNORECASE)
SPECIFICITY_MARGIN = 0.01
_CLAUSE = re.compile(r"[^,;:.\n()]+")
_SOURCE_STRENGTH = {"description": 0.9, "inclusion": 0.88, "common": 0.88, "category": 0.8}
EXCLUDED_TRAITS = frozenset({"NEGATION", "HYPOTHETICAL", "FAMILY"})
# A department's coding convention: which mentions support a code. "active" (the default): only
# what the patient has now or had (history is coded, at a lower confidence); "mentioned": every
# finding the note names, negated or suspected ones too (some departments and research sets code
# "no oedema" as R60.9); a family member's condition is never the patient's.
CONVENTIONS = {"active": EXCLUDED_TRAITS, "mentioned": frozenset({"FAMILY"})}


@dataclass
class Mention:
    start: int
    end: int
    text: str
    traits: list[str]
    kind: str = "term"  # "term": the code set's own words; "clause": a clause matched by meaning


@dataclass
class CodeSuggestion:
    code: str
    description: str
    score: float
    evidence: list[Mention] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)
    excludes1_with: list[str] = field(default_factory=list)
    excluded_traits: frozenset = EXCLUDED_TRAITS  # the convention's: a mention with any of these is not coded
    # What proposed the code: "index" (the code set's words and meanings, the embedded default),
    # "classifier" and "neighbours" (a department's trained coder).
    sources: list[str] = field(default_factory=lambda: ["index"])

    @property
    def active(self) -> bool:
        return not (set(self.traits) & self.excluded_traits)

    def to_json(self) -> dict:
        return {"code": self.code, "description": self.description, "score": round(self.score, 3),
                "evidence": [{"start": m.start, "end": m.end, "text": m.text} for m in self.evidence],
                "traits": list(self.traits), "sources": list(self.sources),
                **({"excludes1_with": self.excludes1_with} if self.excludes1_with else {})}


@dataclass
class NoteClauses:
    """A note's clauses that name a problem, with one MiniLM vector (a row) each."""

    clauses: list[Mention]
    vectors: np.ndarray


class DefaultCoder:
    kind = "default"

    def __init__(self, device: str = "cpu", embedding_floor: float = 0.62, top_per_clause: int = 3,
                 progress: Callable[[int, int], None] | None = None, convention: str = "active"):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown coding convention {convention!r} (one of {', '.join(CONVENTIONS)})")
        self.convention = convention
        self.device = device
        self.embedding_floor = embedding_floor
        self.top_per_clause = top_per_clause
        self.progress = progress
        self.index: CodeIndex | None = None

    @property
    def model_name(self) -> str:
        return f"embedded dictionary + embedding search over {icd10.CODE_SET}, {embeddings.model_name()}"

    def settings(self) -> dict[str, str]:
        return {"embedding floor": str(self.embedding_floor), "codes per clause": str(self.top_per_clause),
                "convention": self.convention, "encoder precision": embeddings.resolve_precision(self.device)}

    def load(self) -> None:
        if self.index is None:
            self.index = load_or_build(self.device, self.progress)

    def code(self, texts: list[str]) -> list[list[CodeSuggestion]]:
        return self.code_with_clauses(texts)[0]

    def code_with_clauses(self, texts: list[str]) -> tuple[list[list[CodeSuggestion]], list[NoteClauses]]:
        """The codes of each note, and its clauses with their MiniLM vectors (a trained coder's
        department phrases are matched on the same vectors, so nothing is embedded twice)."""
        self.load()
        clauses_per_note = [self.clauses(t) for t in texts]
        flat = [c for clauses in clauses_per_note for c in clauses]
        vectors = embeddings.embed([_expand(c.text) for c in flat], self.device) if flat else np.zeros((0, 384), np.float32)
        neighbours = self.index.search(vectors, self.top_per_clause) if flat else []
        out, cursor = [], 0
        read: list[NoteClauses] = []
        for text, clauses in zip(texts, clauses_per_note):
            read.append(NoteClauses(clauses, vectors[cursor : cursor + len(clauses)]))
            found = self._dictionary_hits(text)
            for clause, hits in zip(clauses, neighbours[cursor : cursor + len(clauses)]):
                found += self._one_code_for(clause, hits, found)
            cursor += len(clauses)
            skip = excluded_spans(text)
            found = [f for f in found if not any(a <= f[2].start < b for a, b in skip)]
            out.append(_aggregate(found, CONVENTIONS[self.convention]))
        return out, read

    def _one_code_for(self, clause: Mention, hits: list[tuple[int, float]],
                      terms: list[tuple[str, float, Mention]]) -> list[tuple[str, float, Mention]]:
        """One code per mention: a clause matched by meaning proposes its best code only, and none
        when the code set's own words inside it were found (they name the code; the clause's near
        neighbours, "in remission" or "with other complications", are not what the note says)."""
        inside = [code for code, _, m in terms if clause.start <= m.start and m.end <= clause.end]
        ranked = [(self.index.entries[entry].code, min(0.85, (cosine - 0.45) / 0.45 * 0.85))
                  for entry, cosine in hits if cosine >= self.embedding_floor]
        if not inside and ranked:
            # Codes about as close as the best: the least specific one, unless the clause's words
            # name the specificity ("breast cancer" is not "... of central portion of breast").
            best = max(cosine for _, cosine in hits)
            tied = [self.index.entries[e].code for e, cosine in hits if cosine >= best - SPECIFICITY_MARGIN]
            said = {t for t, _, _ in tokens(_expand(clause.text))}
            plain = min(tied, key=lambda c: (_unsupported_words(c, said), icd10.default_tier(c)))
            if plain != ranked[0][0]:
                ranked = [(plain, ranked[0][1])]
        if inside:
            # Still evidence for the code the words gave: the clause shows its context in the Codes sheet.
            return [(code, confidence, clause) for code, confidence in ranked if code in inside][:1]
        return [(code, confidence, clause) for code, confidence in ranked[:1]]

    # --- mentions ------------------------------------------------------------------------------

    def _dictionary_hits(self, text: str) -> list[tuple[str, float, Mention]]:
        # Words inside an abbreviation ("smoker" in "ex-smoker") or a site's malignancy ("cancer" in
        # "breast cancer") name something else than on their own: the whole phrase decides.
        covered = [(m.start(), m.end()) for pattern in (_ABBREVIATION, _MALIGNANT_OF_SITE, _SITE_MALIGNANT)
                   for m in pattern.finditer(text)
                   if pattern is _ABBREVIATION or _is_site(m.group("site"))]
        toks = tokens(text)
        hits = []
        for m in _ABBREVIATION.finditer(text):
            entries = self.index.terms.get(tuple(t for t, _, _ in tokens(ABBREVIATIONS[m.group().lower()])))
            if entries:
                entry = self.index.entries[entries[0]]
                mention = Mention(m.start(), m.end(), m.group(), mention_traits(text, m.start(), m.end()))
                hits.append((entry.code, _SOURCE_STRENGTH[entry.source] - 0.05, mention))
        i = 0
        while i < len(toks):
            for n in range(min(MAX_TERM_TOKENS, len(toks) - i), 0, -1):
                key = tuple(t for t, _, _ in toks[i : i + n])
                entries = self.index.terms.get(key)
                if not entries:
                    continue
                if n == 1 and (len(key[0]) < 4 or key[0].isdigit() or any(a <= toks[i][1] < b for a, b in covered)):
                    break
                start, end = toks[i][1], toks[i + n - 1][2]
                mention = Mention(start, end, text[start:end], mention_traits(text, start, end))
                # Several codes share a term ("Crohn's disease"): the category's plain default wins.
                best = min(entries, key=lambda e: (-_SOURCE_STRENGTH[self.index.entries[e].source],
                                                   icd10.default_tier(self.index.entries[e].code),
                                                   len(self.index.entries[e].text)))
                entry = self.index.entries[best]
                hits.append((entry.code, _SOURCE_STRENGTH[entry.source], mention))
                i += n - 1
                break
            i += 1
        return hits

    def clauses(self, text: str) -> list[Mention]:
        """The note's clauses that name a problem, with their context traits."""
        from casenotes.phi import lexicon

        out = []
        for m in _CLAUSE.finditer(text or ""):
            words = re.findall(r"[A-Za-z][A-Za-z\-]+", m.group())
            if not 1 <= len(words) <= 14:
                continue
            words += re.findall(r"[A-Za-z][A-Za-z\-]+", _expand(m.group()))  # "adenocarcinoma of the colon"
            if not any(w.lower() in lexicon.icd10_words() and lexicon.zipf(w.lower()) < 4.5 or w.lower() in ABBREVIATIONS
                       for w in words):
                continue
            start = m.start() + len(m.group()) - len(m.group().lstrip())
            end = m.end() - (len(m.group()) - len(m.group().rstrip()))
            # The clause's own words count as context too ("Hx of Cushing syndrome"), so its traits
            # are those of its last word.
            out.append(Mention(start, end, text[start:end], mention_traits(text, end, end), kind="clause"))
        return out


def _unsupported_words(code: str, said: set[str]) -> int:
    """How many words of the code's description that name a specificity the clause does not say."""
    return len({t for t, _, _ in tokens(icd10.description(code))} - said - _UNSPECIFIC)


_UNSPECIFIC = frozenset({"unspecified", "site", "part", "type", "other", "specified", "nos", "female", "male"})


def _expand(text: str) -> str:
    text = _ABBREVIATION.sub(lambda m: ABBREVIATIONS[m.group().lower()], text)
    text = _MALIGNANT_OF_SITE.sub(_malignant_neoplasm_of, text)
    return _SITE_MALIGNANT.sub(_malignant_neoplasm_of, text)


# The ICD-10-CM index sends a malignant morphology to "Neoplasm, malignant, by site": a note's
# "prostatic adenocarcinoma" or "carcinoma of the colon" is the code set's "malignant neoplasm of
# prostate" or "of colon". Written the code set's way, the clause finds the site's code instead of
# a carcinoid, an in-situ or a primary-site-unknown code that shares the morphology word.
_MALIGNANT_WORDS = r"(?:adeno)?carcinomas?|cancers?|malignanc(?:y|ies)|malignant (?:tumou?rs?|neoplasms?|neoplasia)"
# Words between a site and its morphology that name the kind of tumour, not where it is.
_MORPHOLOGY_MODIFIERS = (r"cell|cells|differentiated|undifferentiated|poorly|moderately|well|invasive|infiltrating|"
                         r"ductal|lobular|papillary|follicular|mucinous|serous|clear|urothelial|transitional|primary|"
                         r"advanced|metastatic|recurrent|locally|stage|grade|high|low|non|small|large")
_MALIGNANT_OF_SITE = re.compile(
    rf"\b(?:{_MALIGNANT_WORDS})\s+(?:of|in)\s+(?:the\s+)?(?:(?:left|right|both)\s+)?(?P<site>[A-Za-z]{{3,}})\b",
    re.IGNORECASE)
_SITE_MALIGNANT = re.compile(
    rf"\b(?P<site>[A-Za-z]{{3,}})\s+(?:(?:{_MORPHOLOGY_MODIFIERS})[\s-]+){{0,3}}(?!malignant neoplasm)(?:{_MALIGNANT_WORDS})\b"
    r"(?!\s+in\s+situ)",
    re.IGNORECASE)
_NOT_A_SITE = re.compile(rf"(?:{_MORPHOLOGY_MODIFIERS}|{_MALIGNANT_WORDS}|with|and|for|from|the|situ|"
                         r"squamous|basal|germ|signet|giant|spindle|history|known|suspected|possible|no|of)", re.IGNORECASE)


def _malignant_neoplasm_of(m: re.Match) -> str:
    site = m.group("site")
    return f"malignant neoplasm of {site}" if _is_site(site) else m.group()


def _is_site(word: str) -> bool:
    """A word the code set uses (a site: "prostate", "renal", "gastric"), not a modifier, pronoun or verb."""
    from casenotes.phi import lexicon

    return not _NOT_A_SITE.fullmatch(word) and word.lower() in lexicon.icd10_vocabulary()


def _aggregate(found: list[tuple[str, float, Mention]], excluded: frozenset = EXCLUDED_TRAITS) -> list[CodeSuggestion]:
    by_code: dict[str, CodeSuggestion] = {}
    for code, confidence, mention in found:
        s = by_code.get(code)
        if s is None:
            s = by_code[code] = CodeSuggestion(code, icd10.description(code), 0.0, excluded_traits=excluded)
        if not any(m.start == mention.start and m.end == mention.end for m in s.evidence):
            s.evidence.append(mention)
        active = not (set(mention.traits) & excluded)
        # Only mentions that can be active raise the score; the others show why the code is not active.
        if active:
            s.score = max(s.score, confidence)
    suggestions = []
    for s in by_code.values():
        active_mentions = [m for m in s.evidence if not (set(m.traits) & excluded)]
        if active_mentions:
            s.traits = sorted(set.intersection(*(set(m.traits) for m in active_mentions)))  # HISTORY only if always
            s.score = min(1.0, s.score + 0.04 * min(3, len(active_mentions) - 1))
            if HISTORY in s.traits:
                s.score *= 0.85  # chronic conditions in the history are often still coded
        else:
            s.traits = sorted(set.intersection(*(set(m.traits) for m in s.evidence)) or
                              {t for m in s.evidence for t in m.traits if t in excluded})
            s.score = max(c for code, c, _ in found if code == s.code) * 0.3
        s.evidence.sort(key=lambda m: (m.kind != "term", m.start))  # the code set's own words first
        suggestions.append(s)
    suggestions = _prefer_specific(suggestions)
    settle_excludes1(suggestions)
    return sorted(suggestions, key=lambda s: (not s.active, -s.score, s.code))


def settle_excludes1(suggestions: list[CodeSuggestion]) -> None:
    """Two active codes that an Excludes1 note forbids together cannot both be right: the better
    supported one (on a tie, the more specific) keeps its score, the other is halved, which puts it
    under the usual threshold, and both record the conflict so a coder can see it in the Codes sheet."""
    active = [s for s in suggestions if s.active]
    for a in active:
        a.excludes1_with = sorted(b.code for b in active if b is not a and icd10.excludes1_conflict(a.code, b.code))
    kept: set[str] = set()
    demoted: set[str] = set()
    for a in sorted(active, key=lambda s: (-s.score, "unspecified" in s.description.lower(), s.code)):
        if a.code in demoted:
            continue
        kept.add(a.code)
        for b in active:
            if b.code in a.excludes1_with and b.code not in kept and b.code not in demoted:
                b.score *= 0.5
                demoted.add(b.code)


def _prefer_specific(suggestions: list[CodeSuggestion]) -> list[CodeSuggestion]:
    """Drop an unspecified code when a more specific code of its category rests on the same words."""
    keep = []
    for s in suggestions:
        vague = "unspecified" in s.description.lower()
        shadowed = vague and any(
            o is not s and o.code[:3] == s.code[:3] and "unspecified" not in o.description.lower() and o.score >= s.score - 0.1
            and any(a.start < b.end and b.start < a.end for a in s.evidence for b in o.evidence if b.kind == "term")
            for o in suggestions
        )
        if not shadowed:
            keep.append(s)
    return keep
