"""Presidio recognizers tuned for clinical notes.

* ``ShapeRecognizer`` runs the regular-expression rules of :mod:`core.phi.patterns`.
* ``ContextNameRecognizer`` finds people, facilities and places from the words around them
  ("Dr. X", "daughter X", "X, RN", "transferred to X", "lives in X") and from name lists, so it
  works on ALL-CAPS and lower-case telegraphic notes where a statistical NER model is blind.
* ``MixedCaseSpacyRecognizer`` keeps spaCy's PERSON / GPE / FAC entities only where they are
  believable: in normally cased text and never on clinical vocabulary or eponyms.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from core.phi import lexicon
from core.phi.engine import DETECTOR_KEY
from core.phi.patterns import RULES



def _result(entity: str, start: int, end: int, score: float, detector: str) -> RecognizerResult:
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        recognition_metadata={DETECTOR_KEY: detector},
    )


class ShapeRecognizer(EntityRecognizer):
    """Dates, ages over 89, phone numbers, IDs, addresses: PHI recognisable by its shape."""

    ENTITIES = sorted({rule.entity for rule in RULES})

    def __init__(self):
        super().__init__(supported_entities=self.ENTITIES, name="ShapeRecognizer", supported_language="en")

    def load(self) -> None:  # rules are compiled at import
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        results = []
        for rule in RULES:
            if entities and rule.entity not in entities:
                continue
            for match in rule.pattern.finditer(text):
                start, end = _phi_span(match)
                if start == end:
                    continue
                if rule.veto_before and rule.veto_before.search(text[max(0, start - 24) : start]):
                    continue
                if rule.veto_after and rule.veto_after.match(text[end : end + 16]):
                    continue
                if rule.validator and not rule.validator(text, start, end):
                    continue
                results.append(_result(rule.entity, start, end, rule.score, f"rule:{rule.name}"))
        return results


def _phi_span(match: regex.Match) -> tuple[int, int]:
    if "phi" in match.re.groupindex:
        for start, end in match.spans("phi"):
            if start >= 0:
                return start, end
        return match.start(), match.start()
    return match.span()


# --- context rules for names and places -------------------------------------------------------

_TOKEN = regex.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'\-]*[A-Za-z0-9])?|[^\sA-Za-z\d]")

# "Dr X" is a name whatever X looks like; "MD X", "HO X", "NP X" only when X looks like a name,
# and "MS" is mental status unless written "Ms" or "Ms.".
TITLES = frozenset("dr drs dr's doctor docter doc mr mrs miss mister prof professor".split())
WEAK_TITLES = frozenset("md ho np ms".split())
CREDENTIALS = frozenset(
    "rn rrt crt np pa pa-c md lpn cna msw licsw slp rd pharmd crna aprn cnm phd dds facs cns rph bsn msn".split()
)
RELATIONS = frozenset(
    """wife husband spouse daughter dtr dau son mother mom father dad sister sis brother bro niece neice nephew aunt
    uncle cousin grandson granddaughter grandmother grandfather grandma grandpa girlfriend boyfriend fiance fiancee
    partner friend neighbor neighbour guardian proxy hcp spokesperson stepdaughter stepson stepmother stepfather
    daughter-in-law son-in-law sister-in-law brother-in-law named""".split()
)
# Words that end a name: verbs and function words that follow names in notes.
STOP = frozenset(
    """a an the and or but of in on at to into onto from for with without by per via as is was were be been are am
    has had have his her him he she they them their its it this that these those who whom which what when where why
    how all any some no not nor yes so than then there here also only very just still again re regarding about
    aware notified called paged updated informed spoke spoken talked met visited visiting present here in at bedside
    made ordered placed stated states said says reports reported wants would will may can could should must did does
    done seen see saw came come went go gone left right bilat took take given give gave
    who's pt pt's patient patients family md's rn's note notes per till""".split()
)
FACILITY_SUFFIXES = frozenset(
    """hospital hosp hospitals medical clinic rehab rehabilitation memorial house regional va campus manor hospice
    infirmary institute healthcare center centre square home""".split()
)
SAINT_PREFIXES = frozenset("st st. saint holy sacred mount mt".split())
MOVE_VERBS = frozenset(
    """admitted admit adm transferred transfered transfer tx txd tx'd brought came sent taken d/c'd dc'd discharged
    discharge accepted returned arrived went seen screened evaluated lives living resides return returning w/u
    called phoned flew flown""".split()
)
PLACE_CUES = frozenset("in from to near at into on per by".split())
RESIDENCE_VERBS = frozenset("lives living live lived resides reside resided moved vacationing visiting stays staying".split())
NAME_LIKE_FACILITY_WORDS = frozenset("memorial general regional sacred holy".split())


@dataclass
class _Tok:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_word(self) -> bool:
        return self.text[0].isalpha()


class ContextNameRecognizer(EntityRecognizer):
    """People, facilities and places found from context cues and name lists."""

    def __init__(self):
        super().__init__(
            supported_entities=["NAME", "FACILITY", "LOCATION"], name="ContextNameRecognizer", supported_language="en"
        )

    def load(self) -> None:
        # Warm the caches so the first batch is not slow.
        lexicon.clinical_terms(), lexicon.first_names(), lexicon.last_names(), lexicon.cities()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        toks = _tokenize(text)
        mixed_case = is_mixed_case(text)
        found: list[RecognizerResult] = []
        found += self._names(toks, mixed_case)
        found += self._names_before_cues(toks)
        found += self._places(toks, mixed_case)
        return found

    # names ------------------------------------------------------------------------------------
    def _names(self, toks: list[_Tok], mixed_case: bool) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        n = len(toks)
        i = 0
        while i < n:
            tok = toks[i]
            lower = tok.lower
            is_title = lower in TITLES or (
                lower in WEAK_TITLES and (lower != "ms" or tok.text == "Ms") and not _is_credential_after_name(toks, i)
            )
            if tok.is_word and is_title:
                j = _skip_punct(toks, i + 1, "." if lower in WEAK_TITLES else ".:")
                span = self._name_run(toks, j, strong=lower in TITLES)
                if span:
                    out.append(_span_result("NAME", toks, span, 0.85, "context:title"))
                    out += self._coordinated_names(toks, span[1], "context:title")
                    i = span[1]
                    continue
            if tok.is_word and lower in RELATIONS:
                j = _skip_punct(toks, i + 1, ",:-(")
                if j < n and toks[j].lower in ("is", "named"):
                    j = _skip_punct(toks, j + 1, ",:")
                span = self._name_run(toks, j, strong=False, relation=True)
                if span:
                    out.append(_span_result("NAME", toks, span, 0.8, "context:relation"))
                    out += self._coordinated_names(toks, span[1], "context:relation")
                    i = span[1]
                    continue
            if tok.is_word and lower in CREDENTIALS and i > 0:
                span = self._name_before(toks, i)
                if span:
                    out.append(_span_result("NAME", toks, span, 0.85, "context:credential"))
            if tok.is_word and len(tok.text) == 1 and i + 2 < n and toks[i + 1].text == "." and _initial_surname(toks, i):
                out.append(_span_result("NAME", toks, (i, i + 3), 0.7, "context:initial"))
                i += 3
                continue
            if tok.is_word and self._starts_name_pair(toks, i, mixed_case):
                span = self._name_run(toks, i, strong=False)
                if span and span[1] - span[0] >= 2:
                    out.append(_span_result("NAME", toks, span, 0.7, "lexicon:name_pair"))
                    i = span[1]
                    continue
            i += 1
        return out

    def _names_before_cues(self, toks) -> list[RecognizerResult]:
        """Names recognised by what follows them: 'BEA TURA AWARE', 'KEEP ROMERO FAMILY AWARE',
        'URSLA MORETTI (DAUGHTER)', 'BEA TURA AND DRS JOSEPH'."""
        out = []
        n = len(toks)
        for k, cue in enumerate(toks):
            lower = cue.lower
            if lower == "(" and k + 1 < n and toks[k + 1].lower in RELATIONS:
                kind = "relation"
            elif lower in ("aware", "notified", "paged", "informed", "family"):
                kind = lower
            elif lower in ("and", "&") and k + 1 < n and toks[k + 1].lower in ("dr", "drs", "dr's"):
                kind = "coordination"
            else:
                continue
            start = k
            while start > 0 and k - start < 2 and toks[start - 1].is_word and len(toks[start - 1].text) > 1 and _continues_name(toks[start - 1]):
                start -= 1
            run = toks[start:k]
            if not run:
                continue
            if kind == "family" and len(run) == 2:
                run, start = run[1:], start + 1
            if kind != "relation":
                if not all(_plausible_name(t) for t in run):
                    continue
                if len(run) == 1 and run[0].lower not in lexicon.last_names():
                    continue
            out.append(_span_result("NAME", toks, (start, k), 0.7, "context:cue_after"))
        return out

    def _name_run(self, toks, j, strong: bool, relation: bool = False) -> tuple[int, int] | None:
        """The longest run of up to three name tokens (initials allowed) starting at j."""
        n = len(toks)
        if j >= n or not toks[j].is_word:
            return None
        first = toks[j]
        if not self._can_start(first, strong, relation, toks, j):
            return None
        end = j + 1
        count = 1
        while end < n and count < 3:
            nxt = end
            if toks[nxt].text == "." and toks[nxt - 1].text.isalpha() and len(toks[nxt - 1].text) == 1:
                nxt += 1  # "A." initial
            if nxt < n and toks[nxt].is_word and _continues_name(toks[nxt]):
                end = nxt + 1
                count += 1
            else:
                break
        if count == 1 and len(first.text) == 1:
            return None  # a lone initial is not worth a tag
        return j, end

    def _can_start(self, tok: _Tok, strong: bool, relation: bool, toks, j) -> bool:
        lower = tok.lower
        if len(tok.text) == 1:
            # an initial: "Dr. L. Ruuska", "K. ABRAMS PA"
            return j + 2 < len(toks) and toks[j + 1].text == "." and toks[j + 2].is_word and _continues_name(toks[j + 2])
        if lower in STOP:
            return False
        if strong:
            return True
        if lexicon.is_clinical_term(lower) and lower not in lexicon.first_names():
            return False
        if lower in lexicon.first_names() or _is_surname(tok, lenient=not relation):
            return True
        if relation and lower in lexicon.NICKNAMES:
            return True
        # "husband Rich Martino": a common word followed by a clear surname
        return relation and j + 1 < len(toks) and toks[j + 1].is_word and _is_surname(toks[j + 1])

    def _coordinated_names(self, toks, k, detector) -> list[RecognizerResult]:
        """'Drs Joseph and Robbinson', 'Dr. Griffin and Swackhamer aware'."""
        n = len(toks)
        if k + 1 < n and toks[k].lower in ("and", "&", "/"):
            nxt = toks[k + 1]
            if nxt.is_word and len(nxt.text) > 1 and (_is_surname(nxt) or nxt.lower in lexicon.first_names()):
                if nxt.lower not in STOP and not lexicon.is_clinical(nxt.lower):
                    return [_span_result("NAME", toks, (k + 1, k + 2), 0.7, detector)]
        return []

    def _name_before(self, toks, i) -> tuple[int, int] | None:
        """Name tokens before a credential: 'Ilene Macdonald RN', 'ROBERT V. DEGIORGIO, RRT'."""
        end = i
        k = i - 1
        if k >= 0 and toks[k].text == ",":
            end = k
            k -= 1
        start = end
        words = 0
        while k >= 0 and words < 3:
            tok = toks[k]
            if tok.text == "." and k > 0 and len(toks[k - 1].text) == 1 and toks[k - 1].text.isalpha():
                k -= 1
                start = k
                k -= 1
                continue
            if tok.is_word and tok.lower not in STOP and not lexicon.is_clinical_term(tok.lower):
                if _continues_name(tok):
                    start = k
                    words += 1
                    k -= 1
                    continue
            break
        if words == 0:
            return None
        nearest = toks[end - 1]
        if not (nearest.lower in lexicon.first_names() or _is_surname(nearest) or len(nearest.text) == 1
                or any(t.lower in lexicon.first_names() for t in toks[start:end])):
            return None
        if i + 1 < len(toks) and toks[i + 1].is_word and lexicon.is_clinical_term(toks[i + 1].lower):
            return None  # "PA line", "np cough": not a credential
        if not any(_is_surname(t, lenient=True) or t.lower in lexicon.first_names() for t in toks[start:end] if len(t.text) > 1):
            return None
        return start, end

    def _starts_name_pair(self, toks, i, mixed_case: bool) -> bool:
        tok = toks[i]
        lower = tok.lower
        if len(lower) < 3 or lower not in lexicon.first_names() or lower in lexicon.AMBIGUOUS_FIRST_NAMES:
            return False
        if lower in STOP or lexicon.is_clinical(lower):
            return False
        if mixed_case and not tok.text[0].isupper():
            return False
        j = i + 1
        if j < len(toks) and toks[j].text == "." and i + 2 < len(toks):
            return False  # sentence end
        if j >= len(toks) or not toks[j].is_word or len(toks[j].text) < 2:
            return False
        nxt = toks[j]
        if mixed_case and not nxt.text[0].isupper():
            return False
        in_lists = nxt.lower in lexicon.first_names() or nxt.lower in lexicon.last_names()
        return _is_surname(nxt) or (in_lists and lexicon.zipf(nxt.lower) < 5.0 and not lexicon.is_clinical(nxt.lower))

    # places -----------------------------------------------------------------------------------
    def _places(self, toks: list[_Tok], mixed_case: bool) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        n = len(toks)
        for i, tok in enumerate(toks):
            if not tok.is_word:
                continue
            lower = tok.lower
            # "St. Agnes", "Sacred Heart", "Holy Cross", "Mount Sinai"
            if lower in SAINT_PREFIXES or (lower == "st" and i + 1 < n and toks[i + 1].text == "."):
                j = _skip_punct(toks, i + 1, ".")
                is_initial = len(toks[j].text) == 1 and toks[j].text.isupper() and j + 1 < n and toks[j + 1].text == "." if j < n else False
                if j < n and toks[j].is_word and (toks[j].lower not in STOP or is_initial) and (
                    toks[j].lower in lexicon.first_names() or toks[j].lower in lexicon.last_names()
                    or lower in ("sacred", "holy", "saint")
                    or (len(toks[j].text) == 1 and toks[j].text.isupper() and j + 1 < n and toks[j + 1].text == ".")
                ):
                    if lower in ("st", "st.") and lexicon.is_clinical(toks[j].lower) and toks[j].lower not in lexicon.first_names():
                        continue
                    end = self._facility_tail(toks, j + 1)
                    out.append(_span_result("FACILITY", toks, (i, end), 0.8, "context:saint"))
                    continue
            # "Laurel Regional", "Union Hosp", "Keeley House", "Baltimore Rehab"
            if lower in FACILITY_SUFFIXES and i > 0 and lower not in ("home", "center", "centre", "square", "house"):
                start = self._facility_head(toks, i)
                if start is not None:
                    out.append(_span_result("FACILITY", toks, (start, i + 1), 0.8, "context:facility"))
            elif lower in ("house", "square", "center", "centre", "home") and i > 0:
                start = self._facility_head(toks, i, strict=True)
                if start is not None:
                    out.append(_span_result("FACILITY", toks, (start, i + 1), 0.7, "context:facility"))
            # "U Maryland", "University of Maryland"
            if lower in ("u", "univ", "university") and i + 1 < n:
                j = _skip_punct(toks, i + 1, ".")
                if j < n and toks[j].lower == "of":
                    j += 1
                if j < n and toks[j].is_word and toks[j].lower in lexicon.us_states():
                    out.append(_span_result("FACILITY", toks, (i, j + 1), 0.8, "context:university"))
            # "transferred to GH", "came into GH", "on QUARTERMAIN 6"
            if (lower in PLACE_CUES or lower in ("transfer", "transferred", "transfered", "tx")) and i + 1 < n:
                out += self._after_place_cue(toks, i, mixed_case)
            # "Annapolis, MD", "hampton,ma"
            if i + 2 < n and toks[i + 1].text == "," and _is_state(toks[i + 2]) and tok.lower not in STOP:
                state_ends = i + 3 >= n or not toks[i + 3].is_word or toks[i + 3].text.isdigit()
                if state_ends and not lexicon.is_clinical(lower) and (
                    lower in lexicon.cities() or (not lexicon.is_common_word(lower) and toks[i + 2].text.isupper())
                ):
                    out.append(_span_result("LOCATION", toks, (i, i + 1), 0.8, "context:city_state"))
        return out

    def _after_place_cue(self, toks, i, mixed_case) -> list[RecognizerResult]:
        n = len(toks)
        j = i + 1
        if j < n and toks[j].lower == "the":
            j += 1
        if j >= n or not toks[j].is_word:
            return []
        cand = toks[j]
        lower = cand.lower
        if lower in STOP or lexicon.is_clinical(lower):
            return []
        moved = any(t.lower in MOVE_VERBS for t in toks[max(0, i - 4) : i])
        # a city from the gazetteer, possibly two or three words ("San Diego")
        for width in (3, 2, 1):
            if j + width <= n and all(t.is_word for t in toks[j : j + width]):
                name = " ".join(t.lower for t in toks[j : j + width])
                if name in lexicon.cities() and (width > 1 or lexicon.zipf(lower) < 4.6 or (mixed_case and cand.text[0].isupper())) and (
                    toks[i].lower not in ("to", "on", "per", "by", "at") or moved
                ):
                    return [_span_result("LOCATION", toks, (j, j + width), 0.75, "gazetteer:city")]
        # a ward or building with a number: "quartermain 2", "to Farr 5"
        if (j + 1 < n and toks[j + 1].text.isdigit() and len(toks[j + 1].text) <= 2 and not lexicon.is_common_word(lower)
                and not _UNIT_NAME.search(lower) and not (j + 2 < n and (toks[j + 2].lower in _AFTER_NUMBER_NOT_WARD))
                and not (j + 3 < n and toks[j + 2].text == "." and toks[j + 3].text[0].isdigit())
                and toks[i].lower in ("to", "from", "on", "per", "at", "into", "transfer", "transferred", "transfered", "tx")):
            return [_span_result("FACILITY", toks, (j, j + 1), 0.7, "context:ward")]
        if regex.fullmatch(r"[A-Za-z]{4,}\d", cand.text) and not lexicon.is_common_word(cand.text[:-1]):
            return [_span_result("FACILITY", toks, (j, j + 1), 0.7, "context:ward")]
        # an unknown hospital abbreviation after a transfer verb: "transferred to GH"
        if moved and cand.text.isupper() and 2 <= len(cand.text) <= 5 and not _UNIT_NAME.search(lower) and toks[i].lower != "on":
            if not lexicon.is_common_word(lower) and not regex.match(r"q\d", lower):
                return [_span_result("FACILITY", toks, (j, j + 1), 0.7, "context:transfer")]
        # "lives in Lansdowne", "lives alone in white marsh"
        after_address = i > 0 and toks[i - 1].lower in ("st", "street", "ave", "avenue", "rd", "road", "blvd", "dr", "ln", "lane") or (
            i > 1 and toks[i - 1].text == "." and toks[i - 2].lower in ("st", "ave", "rd", "blvd", "dr", "ln"))
        if toks[i].lower in ("in", "at", "near") and (after_address or any(t.lower in RESIDENCE_VERBS for t in toks[max(0, i - 3) : i])):
            end = j
            while end < n and end < j + 2 and toks[end].is_word and toks[end].lower not in STOP and not lexicon.is_clinical(toks[end].lower):
                end += 1
            if end > j and any(not lexicon.is_common_word(t.lower) for t in toks[j:end]):
                return [_span_result("LOCATION", toks, (j, end), 0.7, "context:residence")]
        return []

    def _facility_head(self, toks, i, strict: bool = False) -> int | None:
        """Start of the name words before a facility word, or None."""
        k = i - 1
        start = None
        words = 0
        while k >= 0 and words < 3 and toks[k].is_word:
            lower = toks[k].lower
            if lower in STOP or lower in MOVE_VERBS or (lower in FACILITY_SUFFIXES and lower not in NAME_LIKE_FACILITY_WORDS):
                break
            if lexicon.is_clinical(lower) and lower not in lexicon.us_states() and lower not in lexicon.cities():
                break
            if strict and lexicon.is_common_word(lower) and lower not in lexicon.cities():
                break
            start = k
            words += 1
            k -= 1
        if start is None:
            return None
        if all(lexicon.is_common_word(t.lower) and t.lower not in lexicon.cities() and t.lower not in lexicon.us_states()
               and t.lower not in NAME_LIKE_FACILITY_WORDS and not _is_surname(t) for t in toks[start:i]):
            return None
        return start

    def _facility_tail(self, toks, j) -> int:
        n = len(toks)
        end = j
        while end < n and end < j + 3 and toks[end].is_word and (
            toks[end].lower in FACILITY_SUFFIXES or toks[end].lower in ("heart", "cross", "mary", "memorial")
        ):
            end += 1
        return end


_AFTER_NUMBER_NOT_WARD = frozenset(
    "- / bag bags mg mcg cc ml units u l amp amps tab tabs puffs times x hours hrs hr min mins days % ".split()
)

# Hospital unit names are clinical, not identifying: MICU, CSICU, VICU, 7 North ICU...
_UNIT_NAME = regex.compile(r"(?:icu|cu|icua|unit)$")


def _tokenize(text: str) -> list[_Tok]:
    """Words, numbers and punctuation. A hyphenated word stays whole ("Forman-Lyons") unless a part
    of it is clinical or ordinary English ("VA-INTUBATED", "LA-10/3")."""
    toks = []
    for m in _TOKEN.finditer(text):
        word = m.group()
        if "-" in word and any(
            p and (lexicon.is_clinical(p) or lexicon.is_common_word(p) or p[0].isdigit()) for p in word.split("-")
        ):
            offset = m.start()
            for part in word.split("-"):
                if part:
                    toks.append(_Tok(part, offset, offset + len(part)))
                offset += len(part) + 1
        else:
            toks.append(_Tok(word, m.start(), m.end()))
    return toks


def _span_result(entity, toks, span, score, detector) -> RecognizerResult:
    start, end = span
    return _result(entity, toks[start].start, toks[end - 1].end, score, detector)


def _skip_punct(toks, j, chars: str) -> int:
    while j < len(toks) and toks[j].text in chars:
        j += 1
    return j


def _plausible_name(tok: _Tok) -> bool:
    lower = tok.lower
    return (lower in lexicon.first_names() or lower in lexicon.last_names() or lower in lexicon.NICKNAMES
            or lexicon.zipf(lower) < 4.0) and not lexicon.is_clinical(lower)


def _initial_surname(toks, i) -> bool:
    """'D. Phyl', 'K. ABRAMS', 'c. bertha': an initial, a dot and a rare word, after a cue word."""
    before = toks[i - 1].lower if i > 0 else ""
    if before not in ("to", "by", "per", "with", "and", "(", ",", "dr", "drs", "md", "np"):
        return False
    surname = toks[i + 2]
    if is_mixed_case(" ".join(t.text for t in toks[max(0, i - 20) : i + 20])) and not surname.text[0].isupper():
        return False
    return surname.is_word and len(surname.text) > 2 and _is_surname(surname, lenient=True)


def _is_state(tok: _Tok) -> bool:
    return tok.is_word and (tok.text.upper() in _STATE_CODES or tok.lower in lexicon.us_states())


_STATE_CODES = frozenset(
    # codes that are also words or clinical abbreviations (IN, OR, CA, CO, DC...) are left out
    "AL AK AZ AR CT FL GA IL IA KS KY MD MA MI MN MO MT NE NV NH NJ NM NY NC ND RI SC SD TN TX UT VT VA WA WV WI WY".split()
)


_NOT_NAME_SUFFIX = regex.compile(r"(?:ed|ing|ist|ists|ly|tion|ment|ness)$")


def _is_surname(tok: _Tok, lenient: bool = False) -> bool:
    """A surname from the name lists, or a word too rare in English to be anything else.

    ``lenient`` is for strong contexts ("Dr. X", "X, RN"), where a fairly common word such as
    "Abrams" or "Spears" is still a name."""
    lower = tok.lower
    if len(lower) < 2 or lower in STOP or lexicon.is_clinical_term(lower):
        return False
    if lower in lexicon.last_names():
        return True
    if lexicon.is_eponym(lower) or lower in RELATIONS or _NOT_NAME_SUFFIX.search(lower):
        return False
    return lexicon.zipf(lower) < (4.3 if lenient else 3.3)


def _continues_name(tok: _Tok) -> bool:
    lower = tok.lower
    if lower in STOP or lexicon.is_clinical_term(lower):
        return False
    return len(lower) == 1 or _is_surname(tok, lenient=True) or lower in lexicon.first_names()


def _is_credential_after_name(toks, i) -> bool:
    """'Smith MD' is a credential, 'MD Smith' is a title; MD needs a name after it to be a title."""
    return i + 1 >= len(toks) or not toks[i + 1].is_word or toks[i + 1].text == ":"


def is_mixed_case(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 20:
        return False
    upper = sum(c.isupper() for c in letters) / len(letters)
    return 0.03 < upper < 0.5


class MixedCaseSpacyRecognizer(SpacyRecognizer):
    """spaCy NER, trusted only on normally cased text and never on clinical words."""

    ENTITY_MAP = {"PERSON": "NAME", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "FACILITY"}

    def __init__(self):
        super().__init__(supported_entities=list(self.ENTITY_MAP.values()), supported_language="en")
        self.name = "SpacyRecognizer"

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        if nlp_artifacts is None or not is_mixed_case(text):
            return []
        results = []
        for ent in nlp_artifacts.entities:
            entity = self.ENTITY_MAP.get(ent.label_)
            if entity is None:
                continue
            words = [t.text for t in ent if t.text[:1].isalpha()]
            if not words or any(lexicon.is_clinical(w) for w in words):
                continue
            if not all(w[0].isupper() for w in words) or all(w.isupper() for w in words):
                continue
            if entity == "NAME" and not (
                any(w.lower() in lexicon.first_names() or w.lower() in lexicon.last_names() for w in words)
                # A full name from outside the name lists: two or more words, all alphabetic and rare in
                # English. A single rare word is too often a misspelling or a brand name to trust.
                or (len(words) >= 2 and all(w.isalpha() and len(w) > 2 and not lexicon.is_common_word(w) for w in words))
            ):
                continue
            place = " ".join(words).lower()
            if entity == "LOCATION" and place not in lexicon.cities() and place not in lexicon.countries():
                continue
            if entity == "LOCATION" and len(words) == 1 and words[0].lower() in lexicon.us_states():
                continue  # a state on its own is not a Safe Harbor identifier
            results.append(_result(entity, ent.start_char, ent.end_char, 0.6, "spacy:" + ent.label_))
        return results
