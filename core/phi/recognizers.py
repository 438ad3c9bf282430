"""Presidio recognizers tuned for clinical notes.

* ``ShapeRecognizer`` runs the regular-expression rules of :mod:`casenotes.phi.patterns`.
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

from casenotes.phi import lexicon
from casenotes.phi.context_rules import is_eponym_use
from casenotes.phi.findings import DETECTOR_KEY
from casenotes.phi.known import KnownIdentifiers
from casenotes.phi.patterns import RULES
from casenotes.phi.words import (CREDENTIALS, FACILITY_SUFFIXES, MOVE_VERBS, NAME_LIKE_FACILITY_WORDS, PLACE_CUES,
                            RELATIONS, RESIDENCE_VERBS, ROLE_TITLES, VISITORS_BY_ROLE, SAINT_PREFIXES, STOP, TITLES, WEAK_TITLES, Tok,
                            continues_name, initial_surname, is_credential_after_name, is_mixed_case, is_state,
                            is_state_code, is_surname, phi_result, plausible_name, skip_punct, span_result,
                            tokenize)



class ShapeRecognizer(EntityRecognizer):
    """Dates, ages over 89, phone numbers, IDs, addresses: PHI recognisable by its shape."""

    ENTITIES = sorted({rule.entity for rule in RULES})

    def __init__(self):
        super().__init__(supported_entities=self.ENTITIES, name="ShapeRecognizer", supported_language="en")

    def load(self) -> None:  # rules are compiled at import
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        results = []
        present: dict[regex.Pattern, bool] = {}
        for rule in RULES:
            if entities and rule.entity not in entities:
                continue
            if rule.needs is not None:
                if rule.needs not in present:
                    present[rule.needs] = rule.needs.search(text) is not None
                if not present[rule.needs]:
                    continue
            for match in rule.pattern.finditer(text, overlapped=rule.overlapped):
                start, end = _phi_span(match)
                if start == end:
                    continue
                if rule.veto_before and rule.veto_before.search(text[max(0, start - 24) : start]):
                    continue
                if rule.veto_after and rule.veto_after.match(text[end : end + 16]):
                    continue
                if rule.validator and not rule.validator(text, start, end):
                    continue
                results.append(phi_result(rule.entity, start, end, rule.score, f"rule:{rule.name}"))
        return results


def _phi_span(match: regex.Match) -> tuple[int, int]:
    if "phi" in match.re.groupindex:
        for start, end in match.spans("phi"):
            if start >= 0:
                return start, end
        return match.start(), match.start()
    return match.span()


# --- context rules for names and places -------------------------------------------------------

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
        toks = tokenize(text)
        mixed_case = is_mixed_case(text)
        self._mixed = mixed_case
        self._text = text
        found: list[RecognizerResult] = []
        found += self._names(toks, mixed_case)
        found += self._names_before_cues(toks)
        if not mixed_case:
            found += self._given_names_acting(text, toks)
        found += self._initials(text, toks, mixed_case)
        found += self._subject_of_age(text, toks)
        found += self._names_heading_a_line(text)
        found += self._names_before_identifiers(text, toks)
        found += self._names_after_verbs(toks)
        found += self._last_comma_first(toks)
        found += self._places(toks, mixed_case)
        found += self._employers(text, toks, mixed_case)
        return found

    # names ------------------------------------------------------------------------------------
    def _names(self, toks: list[Tok], mixed_case: bool) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        n = len(toks)
        i = 0
        while i < n:
            tok = toks[i]
            lower = tok.lower
            is_title = lower in TITLES or (
                lower in WEAK_TITLES and (lower != "ms" or tok.text == "Ms") and not is_credential_after_name(toks, i)
            )
            if tok.is_word and is_title:
                j = skip_punct(toks, i + 1, "." if lower in WEAK_TITLES else ".:")
                span = self._name_run(toks, j, strong=lower in TITLES)
                if span:
                    out.append(span_result("NAME", toks, span, 0.85, "context:title"))
                    out += self._coordinated_names(toks, span[1], "context:title")
                    i = span[1]
                    continue
            if tok.is_word and lower in RELATIONS:
                j = skip_punct(toks, i + 1, ",:-(")
                if j < n and toks[j].lower in ("is", "named"):
                    j = skip_punct(toks, j + 1, ",:")
                span = self._name_run(toks, j, strong=False, relation=True)
                if span:
                    out.append(span_result("NAME", toks, span, 0.8, "context:relation"))
                    out += self._coordinated_names(toks, span[1], "context:relation")
                    i = span[1]
                    continue
            if tok.is_word and lower in ROLE_TITLES:
                # "RN ABIGAIL TO FOLLOW UP", "per attending thorsen", "RESIDENT (PRZYBYLSKI) NOTIFIED"
                j = skip_punct(toks, i + 1, "(")
                span = self._name_run(toks, j, strong=False) if j < n and toks[j].lower not in SERVICES else None
                # in normally cased text a short word in capitals is an acronym: "MD (PCP)", "(PGY-3)"
                acronym = mixed_case and span and any(t.text.isupper() and len(t.text) <= 4 for t in toks[span[0] : span[1]])
                if span and not acronym and self._surname_like_run(toks, span):
                    out.append(span_result("NAME", toks, span, 0.7, "context:role"))
                    i = span[1]
                    continue
            if tok.is_word and lower == "by" and i > 0 and toks[i - 1].lower in SEEN_VERBS:
                # "seen by kowalczyk", "evaluated by Okafor": a person, unless a service ("seen by ortho")
                j = i + 1
                span = self._name_run(toks, j, strong=False) if j < n and toks[j].lower not in SERVICES else None
                if span and self._surname_like_run(toks, span):
                    out.append(span_result("NAME", toks, span, 0.7, "context:seen_by"))
                    i = span[1]
                    continue
            if tok.is_word and lower in CREDENTIALS and i > 0:
                span = self._name_before(toks, i)
                if span:
                    out.append(span_result("NAME", toks, span, 0.85, "context:credential"))
            if tok.is_word and len(tok.text) == 1 and i + 2 < n and toks[i + 1].text == "." and initial_surname(toks, i):
                out.append(span_result("NAME", toks, (i, i + 3), 0.7, "context:initial"))
                i += 3
                continue
            if tok.is_word and self._starts_name_pair(toks, i, mixed_case):
                span = self._name_run(toks, i, strong=False)
                surname = _after_middle_initial(toks, i + 1, mixed_case)
                if span and span[1] < surname + 1:
                    span = (i, surname + 1)  # the pair itself: its second word is a surname by its place
                if span and span[1] - span[0] >= 2:
                    out.append(span_result("NAME", toks, span, 0.7, "lexicon:name_pair"))
                    i = span[1]
                    continue
            i += 1
        return out

    def _given_names_acting(self, text: str, toks) -> list[RecognizerResult]:
        """In a note written all in lower case or capitals, an established given name that a
        person's clause follows: "walter will buy one today", "bernadette to confirm start of care",
        "LUCINDA STATES PT MORE CONFUSED". (Normally cased text has its capitals for this.)"""
        out = []
        for k, tok in enumerate(toks):
            lower = tok.lower
            if (not tok.is_word or len(lower) < 3 or lower in lexicon.AMBIGUOUS_FIRST_NAMES or lower in STOP
                    or lower in RELATIONS or lower in TITLES or lexicon.is_clinical(lower)):
                continue
            if not lexicon.is_established_first_name(lower) or not PERSON_CLAUSE.match(text, tok.end):
                continue
            with_slash = k > 1 and toks[k - 1].text == "/" and toks[k - 2].lower == "w"  # "w/ daniel to interpret"
            if k > 0 and (toks[k - 1].lower in _FUNCTION_BEFORE_WORD or toks[k - 1].text in ("-", "/")) and not with_slash:
                continue  # "the walter reed", "a morgan": a word in a phrase, not a clause's subject
            out.append(span_result("NAME", toks, (k, k + 1), 0.6, "context:given_name_acting"))
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
            elif lower in _PAST_VISIT_VERBS:
                kind = "visit"
            elif lower in _PHONE_LABELS and k + 1 < n and (toks[k + 1].text[0].isdigit() or toks[k + 1].text in ("#", ":", "(")):
                kind = "phone"  # "jefferson cell 508-555-0172", "nuala ph 617 555 0174"
            elif lower == "at" and k + 1 < n and toks[k + 1].lower in ("bedside", "bs"):
                kind = "bedside"  # "FENWICK AT BEDSIDE"
            else:
                continue
            start = k
            while start > 0 and k - start < 2 and toks[start - 1].is_word and len(toks[start - 1].text) > 1 and continues_name(toks[start - 1]):
                start -= 1
            run = toks[start:k]
            if not run:
                continue
            if start > 1 and toks[start - 1].lower == "in" and toks[start - 2].lower in RELATIONS:
                continue  # "son in law called"
            if kind == "family" and len(run) == 2:
                run, start = run[1:], start + 1
            if kind == "family" and len(run) == 1 and lexicon.zipf(run[0].lower) >= 4.0:
                continue  # "strong family support", "close family"
            if kind != "relation":
                if not all(plausible_name(t) for t in run):
                    continue
                # a past-tense visit or call makes a listed given name a person even when it is also
                # a word ("bob visited", "frank called": "will" or "may" cannot start such a clause)
                given_name_visiting = kind == "visit" and _first_name(run[0]) and len(run[0].text) > 2
                if kind in ("phone", "bedside"):
                    # a phone's or the bedside's person must be a name, never an ordinary word ("home cell",
                    # "family at bedside")
                    if not all(((_first_name(t) and t.lower not in lexicon.AMBIGUOUS_FIRST_NAMES) or _listed_surname(t, rare=False))
                               and t.lower not in VISITORS_BY_ROLE and t.lower not in ROLE_TITLES
                               and not (self._mixed and t.text.isupper()) for t in run):  # "EGD at bedside", "sitter at bs"
                        continue
                elif len(run) == 1 and run[0].lower not in lexicon.last_names() and not given_name_visiting:
                    continue
                # "Pastor visited", "House Supervisor called": people by their job, not their name
                if kind == "visit" and (any(t.lower in VISITORS_BY_ROLE for t in run) or (
                        not given_name_visiting and any(lexicon.is_common_word(t.lower) for t in run))):
                    continue
            out.append(span_result("NAME", toks, (start, k), 0.7, "context:cue_after"))
        return out

    def _names_before_identifiers(self, text: str, toks: list[Tok]) -> list[RecognizerResult]:
        """A name written just before the patient's identifiers or age, as EHR headers and ward lists
        do: "Melissa Wells (DOB 03/04/1950, MRN ...)", "): Joseph Ward MRN ...", "Pt Joseph Ward, 81 y/o"."""
        out = []
        n = len(toks)
        for k in range(1, n):
            cue = toks[k].lower
            after = k + 1
            if cue in ("(", ","):
                cue = toks[k + 1].lower if k + 1 < n else ""
                after = k + 2
            if cue in _IDENTIFIER_CUES or (cue == "d" and _DOB_DOTTED.match(text, toks[after - 1].start)):
                pass
            elif cue.isdigit() and after < n and _AGE_UNIT.match(text, toks[after].start) and toks[k].text == ",":
                pass
            else:
                continue
            end = k
            start = end
            while start > 0 and end - start < 3 and toks[start - 1].is_word and toks[start - 1].text.isalpha() \
                    and toks[start - 1].text[0].isupper() and toks[start - 1].lower not in STOP \
                    and toks[start - 1].lower not in TITLES:
                start -= 1
            # From a first name on ("Pt Joseph Ward"): its surname may be a word ("Ward", "Wells",
            # "Hill"), which this place makes a name; without a first name, only rare words count.
            first = next((j for j in range(start, end - 1) if _first_name(toks[j]) and (
                toks[j].lower not in lexicon.AMBIGUOUS_FIRST_NAMES or toks[j + 1].lower in lexicon.last_names())), None)
            if first is not None and end - first >= 2:
                start = first
            elif not (end > start and all(_rare_name_word(t) for t in toks[start:end])):
                continue
            out.append(span_result("NAME", toks, (start, end), 0.75, "context:before_identifier"))
        return out

    def _subject_of_age(self, text: str, toks: list[Tok]) -> list[RecognizerResult]:
        """The words that open a sentence saying someone's age are the patient's name, in any case:
        "IGNATIUS VANTERPOOL IS A 93 YO MAN", "wendeline quackenbush is an 81 year old woman"."""
        out = []
        n = len(toks)
        for k in range(1, n - 3):
            if toks[k].lower not in ("is", "was") or toks[k + 1].lower not in ("a", "an") \
                    or not toks[k + 2].text.isdigit() or not _AGE_UNIT.match(text, toks[k + 3].start):
                continue
            start = k
            while start > 0 and k - start < 3 and toks[start - 1].is_word and toks[start - 1].text.isalpha() \
                    and toks[start - 1].lower not in STOP and not lexicon.is_clinical(toks[start - 1].lower):
                start -= 1
            words = toks[start:k]
            if not words or not _SENTENCE_START.search(text[max(0, words[0].start - 12) : words[0].start]):
                continue
            if any(not plausible_name(t) and len(t.text) > 1 for t in words) or not any(
                    _first_name(t) or _rare_name_word(t) for t in words):
                continue
            out.append(span_result("NAME", toks, (start, k), 0.7, "context:age_subject"))
        return out

    def _names_heading_a_line(self, text: str) -> list[RecognizerResult]:
        """A name that opens a line and is followed by the age and sex, as a note's header writes the
        patient: "MCNAMARA, EILEEN 92 YO F", "pt truong thi lan 58f", "o'shea, bernadette 91 y/o f".
        Every word must look like a name (listed, or too rare in English to be a word), so "Elderly
        woman 78 yo" and "HISTORY 67 M" stay."""
        out = []
        for m in _HEADER_NAME.finditer(text):
            after = text[m.end() : m.end() + 16]
            if not _AGE_AND_SEX.match(after):
                continue
            every = [Tok(w.group(), w.start(), w.end()) for w in _NAME_WORD.finditer(text, m.start("name"), m.end("name"))]
            words = [t for t in every if t.lower not in _NAME_PARTICLES]
            if not words or (len(words) < 2 and not _AGE_WORD.match(after)):
                continue  # one word needs "yo" or "year old": "Smoker 40 years", "Mark 10 m walk test"
            # beside a given name, a surname may be a word or an eponym: "cornelius wells", "TYLER FORD"
            given = any(_first_name(t) and t.lower not in lexicon.AMBIGUOUS_FIRST_NAMES for t in words)
            if any(t.lower in STOP or t.lower in RELATIONS or t.lower in TITLES or t.lower in CREDENTIALS
                                or (lexicon.is_clinical(t.lower) and not (given and t.lower in lexicon.census_surnames()))
                                for t in words if len(t.text) > 1):
                continue
            if all(_first_name(t) or is_surname(t, lenient=True) or (given and t.lower in lexicon.census_surnames())
                   for t in words if len(t.text) > 1) and any(len(t.text) > 1 for t in words):
                out.append(phi_result("NAME", every[0].start, every[-1].end, 0.75, "context:header_name"))
        return out

    def _initials(self, text: str, toks: list[Tok], mixed_case: bool) -> list[RecognizerResult]:
        """Initials: "Pt J.K.", "PER KL", "d/w jl", "E. WELSH AWARE", "J SMITH ORDERED", "K. ABRAMS PA"."""
        out = []
        n = len(toks)
        for i, tok in enumerate(toks):
            # dotted: "J.K.", "R. T."
            if _is_letter(tok) and i + 3 < n and toks[i + 1].text == "." and _is_letter(toks[i + 2]) and toks[i + 3].text == "." \
                    and not (i > 0 and toks[i - 1].text == "." and i > 1 and _is_letter(toks[i - 2])):
                end = i + 4 if not (i + 5 < n and _is_letter(toks[i + 4]) and toks[i + 5].text == ".") else i + 6
                letters = "".join(t.text for t in toks[i:end] if t.text != ".").lower()
                if tok.text.isupper() and not lexicon.is_clinical(letters) and letters not in _DOTTED_NOT_INITIALS:
                    out.append(span_result("NAME", toks, (i, end), 0.7, "context:initials"))
                continue
            before = _cue_before(text, toks, i)
            # undotted, after a cue: "PER KL", "d/w jl" (two letters in a lower-case note)
            if before and tok.is_word and 2 <= len(tok.text) <= (3 if tok.text.isupper() else 2) and tok.text.isalpha() and (
                    tok.text.isupper() or not mixed_case) and _unknown_letters(tok.lower):
                if not (i + 1 < n and toks[i + 1].is_word and is_surname(toks[i + 1], lenient=True)):
                    out.append(span_result("NAME", toks, (i, i + 1), 0.6, "context:initials"))
                    continue
            # an initial and a surname, with a cue before or after: "E. WELSH AWARE", "J SMITH ORDERED"
            if _is_letter(tok) and (tok.text.isupper() or not mixed_case) and tok.text not in ("A", "I"):
                j = i + 2 if i + 1 < n and toks[i + 1].text == "." else i + 1
                if j < n and toks[j].is_word and len(toks[j].text) > 1 and is_surname(toks[j], lenient=True):
                    last = _hyphen_end(toks, j) - 1  # "C ADEBAYO-PRICE": the surname's parts
                    after = toks[last + 1].lower if last + 1 < n else ""
                    # with a dot and a surname rare in English, no cue is needed: "T. OKAFOR IN TO SEE PT"
                    dotted = (j == i + 2 and text[toks[j].start - 1 : toks[j].start + 1] == toks[j].text[0].rjust(2)
                              and (i == 0 or text[tok.start - 1] in " \t\n(") and _rare_name_word(toks[j])
                              and (toks[j].text[0].isupper() or not mixed_case))
                    at_bedside = after == "at" and last + 2 < n and toks[last + 2].lower in ("bedside", "bs")
                    if before or dotted or after in CUE_VERBS_AFTER or after in CREDENTIALS or at_bedside or (
                            after == "(" and last + 2 < n and toks[last + 2].lower in CREDENTIALS):
                        out.append(span_result("NAME", toks, (i, last + 1), 0.7, "context:initial_surname"))
        return out

    def _names_after_verbs(self, toks: list[Tok]) -> list[RecognizerResult]:
        """A first name after a verb of talking ("spoke with joy", "paged Helen"), or before where a
        colleague comes from ("helen from pt", "joy from case management"); a name in "(RT)" form."""
        out = []
        n = len(toks)
        for i, tok in enumerate(toks):
            if not tok.is_word or len(tok.text) < 3:
                continue
            after_verb = i > 0 and (toks[i - 1].lower in TALK_VERBS or (
                i > 1 and toks[i - 1].lower in ("with", "to") and toks[i - 2].lower in TALK_VERBS_WITH) or (
                i > 2 and toks[i - 1].text == "/" and toks[i - 2].lower == "w" and toks[i - 3].lower in TALK_VERBS_WITH)
                or (i > 2 and toks[i - 1].lower == "w" and toks[i - 2].text == "/" and toks[i - 3].lower == "d"))
            # a listed first name, or after a verb of talking any capitalised rare word ("spoke to Folasade"),
            # or, in a note all in one case, a listed surname that is not an ordinary word ("d/w kowalski", "PER ORTIZ")
            # ("per" cites documents, "updated kardex", "called pyxis" name things: there only listed names count)
            if not (_first_name(tok) or (after_verb and (_rare_capitalised(tok) if self._mixed else _listed_surname(
                    tok, rare=toks[i - 1].lower not in _VERBS_WITH_THINGS)))):
                continue
            from_service = i + 2 < n and toks[i + 1].lower == "from" and toks[i + 2].lower in SERVICES
            if toks[i - 1].lower == "per" and i + 1 < n and toks[i + 1].lower in _REFERENCE_NOUNS:
                continue  # "per beers criteria", "per wells score": a named reference, not a person
            if after_verb or from_service:
                end = i + 1
                if end < n and toks[end].is_word and is_surname(toks[end]) and not from_service:
                    end += 1
                out.append(span_result("NAME", toks, (i, end), 0.65, "context:talk"))
        for i in range(1, n - 2):
            # "W/ PALLIATIVE (KESSLER-HOLT)", "seen by ortho (Okonkwo)": a service and its person in brackets
            name_end = _hyphen_end(toks, i + 1)
            if toks[i].text == "(" and toks[i - 1].lower in SERVICES | _CONSULTING_SERVICES and name_end < n \
                    and toks[name_end].text == ")" and toks[i + 1].is_word and len(toks[i + 1].text) >= 4 and (
                        _listed_surname(toks[i + 1]) or (_first_name(toks[i + 1]) and toks[i + 1].lower
                                                         not in lexicon.AMBIGUOUS_FIRST_NAMES)):
                out.append(span_result("NAME", toks, (i + 1, name_end), 0.7, "context:service_person"))
            # "HUNTER (RT) WEANED", "Moss (PT)", "pellegrino (neuro resident) aware": a name with its role in brackets
            close = next((k for k in range(i + 2, min(n, i + 5)) if toks[k].text == ")"), None)
            if toks[i].text == "(" and close and toks[close - 1].lower in _ROLES_IN_BRACKETS \
                    and not any(t.lower in STOP for t in toks[i + 1 : close]) \
                    and toks[i - 1].is_word and is_surname(toks[i - 1], lenient=True):  # "Walker (per therapist)" is none
                out.append(span_result("NAME", toks, (i - 1, i), 0.7, "context:credential"))
        return out

    def _last_comma_first(self, toks: list[Tok]) -> list[RecognizerResult]:
        """'ESPOSITO, VINCENZO', 'Hunter, Margaret': a surname, a comma and a listed first name."""
        out = []
        for i in range(len(toks) - 2):
            last, comma, first = toks[i], toks[i + 1], toks[i + 2]
            if comma.text != "," or not last.is_word or not first.is_word or len(last.text) < 2:
                continue
            if (last.text.isupper() == first.text.isupper()) and last.text[0].isupper() and first.text[0].isupper() \
                    and _first_name(first) and is_surname(last) and not lexicon.is_common_word(first.lower):
                out.append(span_result("NAME", toks, (i, i + 3), 0.7, "context:last_first"))
        return out

    def _name_run(self, toks, j, strong: bool, relation: bool = False) -> tuple[int, int] | None:
        """The longest run of up to three name tokens (initials allowed) starting at j."""
        n = len(toks)
        if j >= n or not toks[j].is_word:
            return None
        first = toks[j]
        if _is_label(toks, j) or not self._can_start(first, strong, relation, toks, j):
            return None
        end = j + 1
        count = 1
        while end < n and count < 3:
            nxt = end
            if toks[nxt].after_hyphen and toks[nxt].text.isalpha():
                end += 1  # the second part of a hyphenated given name: "Eun-ji", "Min-jun"
                continue
            if toks[nxt].text == "." and toks[nxt - 1].text.isalpha() and len(toks[nxt - 1].text) == 1:
                nxt += 1  # "A." initial
            if (nxt < n and toks[nxt].is_word and continues_name(toks[nxt], self._mixed) and not _is_label(toks, nxt)
                    and not _derived_word(toks[nxt])):
                end = nxt + 1
                count += 1
            else:
                break
        if count == 1 and len(first.text) == 1:
            return None  # a lone initial is not worth a tag
        return j, end

    def _can_start(self, tok: Tok, strong: bool, relation: bool, toks, j) -> bool:
        lower = tok.lower
        if len(tok.text) == 1:
            # an initial: "Dr. L. Ruuska", "K. ABRAMS PA"
            return j + 2 < len(toks) and toks[j + 1].text == "." and toks[j + 2].is_word and continues_name(toks[j + 2])
        if lower in STOP:
            return False
        if strong:
            return True
        if lexicon.is_clinical_term(lower) and lower not in lexicon.first_names():
            return False
        if lower in lexicon.first_names() or is_surname(tok, lenient=not relation):
            return True
        if relation and lower in lexicon.NICKNAMES:
            return True
        # after a relation, a word English never uses is a name whatever its ending ("son xiaoming")
        if relation and tok.text.isalpha() and len(lower) >= 4 and lexicon.zipf(lower) < 2.0 \
                and not lexicon.is_clinical_variant(lower) and not lexicon.is_common_word_misspelt(lower):
            return True
        # "husband Rich Martino": a common word followed by a clear surname ("HCP, limited English" is none)
        return (relation and j + 1 < len(toks) and toks[j + 1].is_word and is_surname(toks[j + 1])
                and not _derived_word(tok))

    def _surname_like_run(self, toks, span) -> bool:
        """A run after a weak cue (a role, "seen by") is a name only if one of its words is a listed
        first name or a word too rare in English to be anything else: never only ordinary words."""
        words = [t for t in toks[span[0] : span[1]] if len(t.text) > 1]
        return bool(words) and all(not lexicon.is_clinical(t.lower) for t in words) and any(
            (_first_name(t) and t.lower not in lexicon.AMBIGUOUS_FIRST_NAMES) or _rare_name_word(t) for t in words)

    def _coordinated_names(self, toks, k, detector) -> list[RecognizerResult]:
        """'Drs Joseph and Robbinson', 'Dr. Griffin and Swackhamer aware'."""
        n = len(toks)
        if k + 1 < n and toks[k].lower in ("and", "&", "/"):
            nxt = toks[k + 1]
            if nxt.is_word and len(nxt.text) > 1 and (is_surname(nxt) or nxt.lower in lexicon.first_names()):
                if nxt.lower not in STOP and not lexicon.is_clinical(nxt.lower):
                    return [span_result("NAME", toks, (k + 1, k + 2), 0.7, detector)]
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
            # "Ellis Foley CRT": a surname that is also a clinical word, in title case right after a
            # given name in title case
            surname_like_term = (start == end and k > 0 and tok.text.istitle() and toks[k - 1].text.istitle()
                                 and _first_name(toks[k - 1]))
            if tok.is_word and tok.lower not in STOP and (not lexicon.is_clinical_term(tok.lower) or surname_like_term):
                if continues_name(tok) or surname_like_term:
                    start = k
                    words += 1
                    k -= 1
                    continue
            if toks[k + 1].after_hyphen and start == k + 1 and tok.is_word and tok.text[0].isupper():
                # "Min-jun Cho": a hyphenated given name that the tokenizer split
                start = k
                k -= 1
                continue
            break
        if words == 0:
            return None
        nearest = toks[end - 1]
        if not (nearest.lower in lexicon.first_names() or is_surname(nearest) or len(nearest.text) == 1
                or any(t.lower in lexicon.first_names() for t in toks[start:end])):
            return None
        if toks[i].lower in ("pa", "np", "do", "rd") and i + 1 < len(toks) and toks[i + 1].is_word \
                and lexicon.is_clinical_term(toks[i + 1].lower):
            return None  # "PA line", "np cough": not a credential ("MD PGY-3" is one)
        if not any(is_surname(t, lenient=True) or t.lower in lexicon.first_names() for t in toks[start:end] if len(t.text) > 1):
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
        j = _after_middle_initial(toks, j, mixed_case)
        if j >= len(toks) or not toks[j].is_word or len(toks[j].text) < 2:
            return False
        nxt = toks[j]
        if mixed_case and not nxt.text[0].isupper():
            return False
        in_lists = nxt.lower in lexicon.first_names() or nxt.lower in lexicon.last_names()
        if is_surname(nxt) or (in_lists and lexicon.zipf(nxt.lower) < 5.0 and not lexicon.is_clinical(nxt.lower)):
            return True
        # Both capitalised in mixed-case text, the second a rare word: a surname, whatever its ending
        # ("Agnes Lindqvist": the "-ist" of "therapist" does not make a role of it after a given name).
        return (mixed_case and tok.text[0].isupper() and nxt.text[0].isupper() and nxt.text[1:].islower()
                and len(nxt.lower) >= 3 and lexicon.zipf(nxt.lower) < 3.3 and not lexicon.is_clinical(nxt.lower)
                and not lexicon.is_inflected_word(nxt.lower) and nxt.lower not in STOP)

    # places -----------------------------------------------------------------------------------
    def _places(self, toks: list[Tok], mixed_case: bool) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        n = len(toks)
        for i, tok in enumerate(toks):
            if not tok.is_word:
                continue
            lower = tok.lower
            # "St. Agnes", "Sacred Heart", "Holy Cross", "Mount Sinai"
            if lower in SAINT_PREFIXES or (lower == "st" and i + 1 < n and toks[i + 1].text == "."):
                j = skip_punct(toks, i + 1, ".")
                is_initial = len(toks[j].text) == 1 and toks[j].text.isupper() and j + 1 < n and toks[j + 1].text == "." if j < n else False
                # "St Elizabeth's", "ST ELIZABETHS": the saint's name with its possessive
                # (only where a place is expected: "St Johns wort" is a herb)
                saint = regex.sub(r"'?s$", "", toks[j].lower) if j < n and len(toks[j].text) > 4 and i > 0 and (
                    toks[i - 1].lower in PLACE_CUES or toks[i - 1].lower in MOVE_VERBS) else ""
                if j < n and toks[j].is_word and (toks[j].lower not in STOP or is_initial) and (
                    toks[j].lower in lexicon.first_names() or toks[j].lower in lexicon.last_names()
                    or saint in lexicon.first_names()
                    or lower in ("sacred", "holy", "saint")
                    or (len(toks[j].text) == 1 and toks[j].text.isupper() and j + 1 < n and toks[j + 1].text == ".")
                ):
                    if lower in ("st", "st.") and lexicon.is_clinical(toks[j].lower) and toks[j].lower not in lexicon.first_names():
                        continue
                    end = self._facility_tail(toks, j + 1)
                    out.append(span_result("FACILITY", toks, (i, end), 0.8, "context:saint"))
                    continue
            # "U Maryland", "University of Maryland"
            if lower in ("u", "univ", "university") and i + 1 < n and not (i > 0 and toks[i - 1].text == "/"):
                j = skip_punct(toks, i + 1, ".")
                if j < n and toks[j].lower == "of":
                    j += 1
                if j < n and toks[j].is_word and (toks[j].lower in lexicon.us_states() or (
                        toks[j].text[0].isupper() and not lexicon.is_clinical(toks[j].lower) and toks[j].lower not in STOP)):
                    out.append(span_result("FACILITY", toks, (i, j + 1), 0.8, "context:university"))
            # "transferred to GH", "came into GH", "on QUARTERMAIN 6"
            if (lower in PLACE_CUES or lower in ("transfer", "transferred", "transfered", "tx")) and i + 1 < n:
                out += self._after_place_cue(toks, i, mixed_case)
            # "Annapolis, MD", "hampton,ma"
            if i + 2 < n and toks[i + 1].text == "," and is_state(toks[i + 2]) and tok.lower not in STOP:
                state_ends = i + 3 >= n or not toks[i + 3].is_word or toks[i + 3].text.isdigit()
                if state_ends and not lexicon.is_clinical(lower) and (
                    lower in lexicon.cities() or (not lexicon.is_common_word(lower) and toks[i + 2].text.isupper())
                ):
                    out.append(span_result("LOCATION", toks, (i, i + 1), 0.8, "context:city_state"))
            # "Columbia MD", "Ocean City, MD", "moved to Glen Burnie MD": a listed town of one to three
            # words, capitalised, just before a state's code in capitals
            if len(tok.text) == 2 and tok.text.isupper() and is_state_code(lower) and i > 0:
                end = i - 1 if toks[i - 1].text == "," else i
                for width in (3, 2, 1):
                    start = end - width
                    words = toks[max(start, 0) : end]
                    if start < 0 or not all(t.is_word and t.text[0].isupper() for t in words):
                        continue
                    # one word in capitals may be shorthand before a code: "STABLE POST MI" is no town
                    single_doubtful = width == 1 and (
                        lexicon.is_clinical(words[0].lower) or words[0].lower in STOP
                        or (words[0].text.isupper() and lexicon.is_common_word(words[0].lower)))
                    if " ".join(t.lower for t in words) in lexicon.cities() and not single_doubtful:
                        out.append(span_result("LOCATION", toks, (start, end), 0.8, "context:city_state"))
                        break
        return out

    def _employers(self, text: str, toks: list[Tok], mixed_case: bool) -> list[RecognizerResult]:
        """Where someone works or worked: "works at Raytheon", "RETIRED ENGINEER FROM GENZYME", "drives
        for Boston Cab", "CEO of IBM", "is a custodian at Encore Boston Harbor". The name is up to three
        words after the preposition (and "the"): capitalised in a normally cased note; in a note all
        in one case one of them must be more than an ordinary word, or a town ("works for the city",
        "retired from teaching" name none)."""
        out = []
        n = len(toks)
        for p, prep in enumerate(toks):
            if prep.lower not in ("at", "for", "from", "by", "of") or p == 0:
                continue
            if prep.lower == "by" and toks[p - 1].lower != "employed":
                continue
            window = [t.lower for t in toks[max(0, p - 4) : p]]
            if prep.lower == "of":
                cued = toks[p - 1].lower in ("ceo", "employee", "owner", "president", "founder")
            else:
                # "is a custodian at", "was a unit secretary at" ("is a candidate for TAVR" is no job)
                is_a = prep.lower == "at" and any(toks[k].lower in ("a", "an") and k > 0 and toks[k - 1].lower in ("is", "was")
                                                  for k in range(max(1, p - 3), p - 1))
                cued = any(w in _EMPLOYMENT_CUES for w in window) or (mixed_case and is_a)
            if not cued:
                continue
            j = p + 1 + (p + 1 < n and toks[p + 1].lower == "the")
            end = j
            while end < n and end < j + 3 and toks[end].is_word and toks[end].lower not in STOP and (
                    not lexicon.is_clinical(toks[end].lower) or toks[end].lower in lexicon.cities()
                    or (mixed_case and toks[end].text.isupper())) and (not mixed_case or toks[end].text[0].isupper()):
                end += 1
            words = toks[j:end]
            if not words or (mixed_case and _SENTENCE_START.search(text[max(0, words[0].start - 12) : words[0].start])):
                continue
            if all(lexicon.zipf(t.lower) >= 5.0 for t in words) and not mixed_case:
                continue  # "works at home", "works from home"
            if mixed_case or any(t.lower in lexicon.cities() or (
                    not lexicon.is_common_word(t.lower) and not lexicon.is_clinical_variant(t.lower)
                    and not lexicon.is_common_word_misspelt(t.lower) and len(t.text) >= 3) for t in words):
                out.append(span_result("LOCATION", toks, (j, end), 0.65, "context:employer"))
        return out

    def _after_place_cue(self, toks, i, mixed_case) -> list[RecognizerResult]:
        n = len(toks)
        j = i + 1
        if j < n and toks[j].lower == "the":
            j += 1
        if j >= n or not toks[j].is_word or "\n" in self._text[toks[i].end : toks[j].start]:
            return []  # "LTACH Transfer\nDate: ...": a heading's last word cues nothing on the next line
        cand = toks[j]
        lower = cand.lower
        resides = toks[i].lower in ("in", "at", "near") and any(t.lower in RESIDENCE_VERBS for t in toks[max(0, i - 3) : i])
        # a town whose name the code set also uses ("Salem", "Boston") is still a town where someone lives
        if lower in STOP or (lexicon.is_clinical(lower) and not (resides and lower in lexicon.cities()
                                                                  and lexicon.zipf(lower) < 5.0)):
            return []
        # "w/u" and "d/c'd" come out of the tokenizer in pieces
        moved = any(t.lower in MOVE_VERBS for t in toks[max(0, i - 4) : i]) or any(
            "".join(t.lower for t in toks[k : i]) in MOVE_VERBS for k in range(max(0, i - 4), i - 1))
        # a city from the gazetteer, possibly two or three words ("San Diego")
        for width in (3, 2, 1):
            if j + width <= n and all(t.is_word for t in toks[j : j + width]):
                name = " ".join(t.lower for t in toks[j : j + width])
                # "continue to monitor lytes": a verb with its clinical object, not a town called Monitor
                verb_with_object = (width == 1 and not cand.text.istitle() and toks[i].lower == "to" and j + 1 < n and toks[j + 1].is_word
                                    and lexicon.is_clinical(toks[j + 1].lower))
                if name in lexicon.cities() and not verb_with_object and (width > 1 or lexicon.zipf(lower) < 4.6 or (mixed_case and cand.text[0].isupper())) and (
                    toks[i].lower not in ("to", "on", "per", "by", "at") or moved
                ):
                    return [span_result("LOCATION", toks, (j, j + width), 0.75, "gazetteer:city")]
        # a ward or building with a number: "quartermain 2", "to Farr 5"
        if (j + 1 < n and toks[j + 1].text.isdigit() and len(toks[j + 1].text) <= 2 and not lexicon.is_common_word(lower)
                and not _UNIT_NAME.search(lower) and not (j + 2 < n and (toks[j + 2].lower in _AFTER_NUMBER_NOT_WARD))
                and not (j + 3 < n and toks[j + 2].text == "." and toks[j + 3].text[0].isdigit())
                and toks[i].lower in ("to", "from", "on", "per", "at", "into", "transfer", "transferred", "transfered", "tx")):
            return [span_result("FACILITY", toks, (j, j + 1), 0.7, "context:ward")]
        if regex.fullmatch(r"[A-Za-z]{4,}\d", cand.text) and not lexicon.is_common_word(cand.text[:-1]):
            return [span_result("FACILITY", toks, (j, j + 1), 0.7, "context:ward")]
        # an unknown hospital abbreviation after a transfer verb: "transferred to GH"
        if moved and cand.text.isupper() and 2 <= len(cand.text) <= 5 and not _UNIT_NAME.search(lower) and toks[i].lower != "on":
            if not lexicon.is_common_word(lower) and not regex.match(r"q\d", lower):
                return [span_result("FACILITY", toks, (j, j + 1), 0.7, "context:transfer")]
        # "discharged to Levindale", "transferred from Brightwater": in normally cased prose, one
        # capitalised word after a move verb and its preposition that is neither clinical nor an
        # ordinary word is the place the patient went to or came from
        if (moved and mixed_case and toks[i].lower in ("to", "from", "into") and cand.text[0].isupper()
                and cand.text[1:].islower() and len(cand.text) > 3 and not lexicon.is_common_word(lower)
                and not _UNIT_NAME.search(lower) and not lexicon.is_clinical_term(lower)
                and not _CLINICAL_AFFIX.search(lower)):
            return [span_result("FACILITY", toks, (j, j + 1), 0.7, "context:transfer")]
        # The same in capitals, as addresses and forms write a town ("flew to RYSSBY"): a long word,
        # since short capitals after a transfer are a unit or a service ("to MICU", "from OR")
        if (moved and mixed_case and toks[i].lower in ("to", "from", "into") and cand.text.isupper()
                and len(cand.text) >= 6 and cand.text.isalpha() and not lexicon.is_common_word(lower)
                and not _UNIT_NAME.search(lower) and not lexicon.is_clinical_variant(lower)
                and not _CLINICAL_AFFIX.search(lower)):
            return [span_result("LOCATION", toks, (j, j + 1), 0.6, "context:transfer")]
        # "lives in Lansdowne", "lives alone in white marsh"
        after_address = i > 0 and toks[i - 1].lower in ("st", "street", "ave", "avenue", "rd", "road", "blvd", "dr", "ln", "lane") or (
            i > 1 and toks[i - 1].text == "." and toks[i - 2].lower in ("st", "ave", "rd", "blvd", "dr", "ln"))
        if toks[i].lower in ("in", "at", "near") and (after_address or resides):
            end = j
            while end < n and end < j + 2 and toks[end].is_word and toks[end].lower not in STOP and (
                    not lexicon.is_clinical(toks[end].lower) or toks[end].lower in lexicon.cities()):
                end += 1
            place = " ".join(t.lower for t in toks[j:end])
            # a neighbourhood of ordinary words ends with a word for a kind of place: "savin hill",
            # "fields corner", "little haiti" is a town already, "a house" or "senior housing" is none
            named_area = (end - j == 2 and toks[end - 1].lower in _AREA_WORDS and toks[j].lower not in _AREA_WORDS
                          and toks[j].lower not in _KINDS_OF_AREA)  # "trailer park", "state park" name none
            if end > j and (any(not lexicon.is_common_word(t.lower) for t in toks[j:end]) or named_area
                            or (place in lexicon.cities() and lexicon.zipf(place) < 5.0)):  # "lives at home" names none
                return [span_result("LOCATION", toks, (j, end), 0.7, "context:residence")]
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
               and t.lower not in NAME_LIKE_FACILITY_WORDS and not is_surname(t) for t in toks[start:i]):
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
# Departments, rooms and devices are named with these: "taken to Endoscopy", "moved from Bipap to Hiflow".
_CLINICAL_AFFIX = regex.compile(
    r"(?:scopy|graphy|gram|ology|ologies|therapy|pheresis|operative|sciences|atrics|patient|flow|pap|vent"
    r"|metry|lysis|tomy|plasty)$|^(?:pre|post|peri|intra|inter|neuro|cardio|pulm|echo|endo|fluoro|ortho|uro|gastro)")
_DERIVED_ENDING = regex.compile(r"(?:able|ible|ing|ed|ly|ful|ous|ive|ness|ment|tion|sion)$")


def _derived_word(tok: Tok) -> bool:
    """An unlisted word with an English derivational ending ("wife rosemary agreeable", "son bob visiting")
    does not continue a name; listed surnames with those endings ("Fielding", "Reed") still do."""
    lower = tok.lower
    return (bool(_DERIVED_ENDING.search(lower)) and lower not in lexicon.last_names()
            and lower not in lexicon.first_names())


# What follows a person as the subject of a clause in a note: "will", "to confirm", "states", "asking".
PERSON_CLAUSE = regex.compile(
    r"\s+(?:will|would|to\s+(?:call|confirm|bring|visit|come|pick|update|follow|arrange|discuss|speak|stay|return"
    r"|check|contact|meet|review|see|interpret|translate|drive)|states|stated|says|said|asking|asked|asks|called"
    r"|calling|visited|visiting|coming|plans?\s+to|agrees|agreed|reports|reported|wants?|wanted|requests|requested"
    r"|confirmed|confirms|brought|spoke|verbalized|tearful|crying|upset"
    r"|verbalizes|expressed|declined|refused|updated|notified|aware|at\s+bedside|in\s+to\s+visit)\b",
    regex.IGNORECASE)
# A verb of talking just before a word: "spoke w/ hope", "d/w grant", "UPDATED BRUCE".
TALK_BEFORE = regex.compile(
    r"(?:\b(?:paged|called|notified|updated|informed|asked|told|phoned|texted|emailed|d/w)|\b(?:spoke|spoken|talked"
    r"|discussed|met|conferred)\s+(?:with|w/|to))\s+$", regex.IGNORECASE)
_FUNCTION_BEFORE_WORD = frozenset("the a an of per via".split())
_AREA_WORDS = frozenset(
    """hill hills corner village park beach heights square point falls springs harbor harbour landing crossing
    gardens grove valley ridge plains estates terrace""".split())
_KINDS_OF_AREA = frozenset("trailer mobile rv caravan public state national city county town senior retirement".split())
_REFERENCE_NOUNS = frozenset("criteria criterion guide guidelines protocol score scale rule rules formula table".split())
_VERBS_WITH_THINGS = frozenset("per called updated asked told texted emailed".split())
# "works at", "retired from", "employed by", "CEO of": an employer follows.
_EMPLOYMENT_CUES = frozenset(
    "works work worked working employed employer retired job drives drove owns owned volunteers volunteered".split())
_PAST_VISIT_VERBS = frozenset("visited called phoned telephoned".split())
_PHONE_LABELS = frozenset("cell ph phone mobile tel telephone home work".split())
_UNIT_NAME = regex.compile(r"(?:icu|cu|icua|unit)$")


_DOTTED_NOT_INITIALS = frozenset("us uk eu am pm ie eg nb ps dc ny la md rn do np pa ms bs ba ma jd yo".split())
# Words that follow a clinician's name in nursing notes ("J SMITH ORDERED", "E. WELSH AWARE").
CUE_VERBS_AFTER = frozenset(
    """aware notified ordered paged called updated informed here present evaluated consulted saw seen examined
    placed inserted performed visited wants requested recommends recommended agrees agreed said stated reports
    reviewed discussed following rounded ok'd okd okayed d/c'd dc'd changed started increased decreased""".split())
# "seen by X": a person (or a service, which SERVICES lists).
SEEN_VERBS = frozenset("seen evaluated examined assessed visited".split())
# Verbs after which a first name is a person: "spoke with joy", "paged Helen", "d/w Lee".
TALK_VERBS = frozenset("paged called notified updated informed per asked told phoned texted emailed".split())
TALK_VERBS_WITH = frozenset("spoke spoken talked discussed met conferred consulted reviewed d/w".split())
_CONSULTING_SERVICES = frozenset(
    """palliative ortho orthopedics neuro neurology nsgy neurosurgery cards cardiology gi renal nephrology pulm
    pulmonary id surgery surg trauma onc oncology heme hematology endo endocrine derm psych urology uro ent
    anesthesia ir icu micu sicu ccu team""".split())
_ROLES_IN_BRACKETS = CREDENTIALS | ROLE_TITLES | frozenset("rt pt ot sw cm slp pa".split())
# Where a colleague comes from: "helen from pt", "joy from case management".
SERVICES = frozenset(
    """case cm social sw pt ot st slp speech pharmacy nutrition dietary admitting rehab hospice vna lab radiology
    security chaplain chaplaincy pastoral palliative it billing registration scheduling the hr transport
    interpreter infection wound ostomy respiratory rt psych psychiatry""".split())


def _hyphen_end(toks: list[Tok], j: int) -> int:
    """The index after token j and the parts the tokenizer split from it at hyphens ("KESSLER-HOLT")."""
    end = j + 1
    while end < len(toks) and toks[end].after_hyphen:
        end += 1
    return end


def _is_letter(tok: Tok) -> bool:
    return len(tok.text) == 1 and tok.text.isalpha()


def _unknown_letters(lower: str) -> bool:
    """Two or three letters that are not a clinical abbreviation or a word: likely someone's initials."""
    return not (lexicon.is_clinical(lower) or lower in STOP or lower in CREDENTIALS or lexicon.zipf(lower) >= 3.0
                or lower in _DOTTED_NOT_INITIALS or is_state_code(lower))


def _cue_before(text: str, toks: list[Tok], i: int) -> bool:
    """The words before token i introduce a person: "per", "by", "d/w", "notified"..."""
    if i == 0:
        return False
    prev = toks[i - 1].lower
    if prev in ("per", "by", "notified", "paged", "called", "cc", "informed", "updated", "dr", "drs"):
        return True
    return bool(_SLASH_CUE.search(text[max(0, toks[i].start - 6) : toks[i].start]))


_SLASH_CUE = regex.compile(r"\bd/w\s*$", regex.IGNORECASE)


# A line that opens with up to four words and then an age and sex: "PT FORD, TYLER 24M", "pt cornelius wells, 93yo m".
_HEADER_NAME = regex.compile(
    r"^[ \t]*(?:(?:pt|patient|name|pt\s+name)\b[ \t]*:?[ \t]*)?"
    r"(?P<name>\p{L}[\p{L}'\-]*\.?(?:,?[ \t]+\p{L}[\p{L}'\-]*\.?){0,4})[ \t]*,?[ \t]*"
    r"(?=\(?\d{1,3})",  # what follows is checked by _AGE_AND_SEX
    regex.IGNORECASE | regex.MULTILINE)
# Small words inside names: "DE LA CRUZ", "van der Berg", "bin Laden", "MA." (Maria)
_NAME_PARTICLES = frozenset("de la del della los las da das do dos di du van von der den ten ter bin ibn al el le ma mc".split())
_NAME_WORD = regex.compile(r"\p{L}[\p{L}'\-]*")
_AGE_AND_SEX = regex.compile(r"\(?\d{1,3}[ \t]*(?:(?:yo\b|y/o|y\.o\.?|(?:years?|yrs?)[ \t\-]+old\b)[ \t]*(?:m|f|male|female)?\b"
                             r"|(?:m|f|male|female)\b(?![ \t]*(?:walk|run|test)))", regex.IGNORECASE)
_AGE_WORD = regex.compile(r"\(?\d{1,3}[ \t]*(?:yo\b|y/o|y\.o|(?:years?|yrs?)[ \t\-]+old\b)", regex.IGNORECASE)
# What follows a patient's name in a header line: "(DOB ...", ", MRN ...", "NHS no ...".
_IDENTIFIER_CUES = frozenset("dob mrn nhs chi".split())
_DOB_DOTTED = regex.compile(r"d\.o\.b", regex.IGNORECASE)
_AGE_UNIT = regex.compile(r"(?:yo\b|y/o|y\.o|yr|year|years)", regex.IGNORECASE)
_SENTENCE_START = regex.compile(r"(?:^|[.!?:;\n])[\s\"'(\[*\-•]*$")


def _after_middle_initial(toks: list[Tok], j: int, mixed_case: bool) -> int:
    """Where the surname starts when toks[j] may be a middle initial: "Anna K. Lindqvist", "Anna K Lindqvist"."""
    if not mixed_case or j >= len(toks) or len(toks[j].text) != 1 or not toks[j].text.isupper():
        return j
    k = j + 1 + (j + 1 < len(toks) and toks[j + 1].text == ".")
    return k if k < len(toks) and toks[k].is_word and toks[k].text[:1].isupper() else j


def _rare_name_word(tok: Tok) -> bool:
    """A surname by its rarity alone: three letters or more, rare in English, not clinical nor a
    misspelling or variant of a common or clinical word ("tehn", "maintainace")."""
    lower = tok.lower
    return (len(lower) >= 3 and tok.text.isalpha() and lexicon.zipf(lower) < 3.0 and is_surname(tok)
            and not lexicon.is_clinical(lower) and not lexicon.is_clinical_variant(lower)
            and not lexicon.is_common_word_misspelt(lower))


def _listed_surname(tok: Tok, rare: bool = True) -> bool:
    """A surname of the name lists that is not an ordinary or clinical word ("ortiz", "okafor", not
    "young"), or with ``rare`` one too rare to be a word ("zhukovsky"); each part of a hyphenated one
    ("ibarra-solis")."""
    parts = tok.lower.split("-")
    return len(tok.text) >= 3 and all(
        part.isalpha() and part not in STOP and not lexicon.is_clinical(part)
        and ((lexicon.zipf(part) < 4.0 and lexicon.is_name_word(part))
             or (rare and regex.search("[aeiou]", part) and _rare_name_word(Tok(part, 0, len(part)))))
        for part in parts)


def _rare_capitalised(tok: Tok) -> bool:
    lower = tok.lower
    # "ARDSnet", "PGY": an acronym with letters after it is a term, not a name
    return (tok.text[0].isupper() and not tok.text[:2].isupper() and lower not in STOP and not lexicon.is_common_word(lower)
            and not lexicon.is_clinical_variant(lower) and not lexicon.is_common_word_misspelt(lower))


def _first_name(tok: Tok) -> bool:
    lower = tok.lower
    if lower in STOP or lower in RELATIONS or lower in TITLES or (lexicon.is_clinical(lower) and lower not in lexicon.first_names()):
        return False
    return lower in lexicon.first_names() or lower in lexicon.census_first_names()


def _is_label(toks, j) -> bool:
    """A word followed by a colon labels what follows ("PCP:", "Interpreter:"); it is not a name."""
    return j + 1 < len(toks) and toks[j + 1].text == ":"


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
            if entity == "NAME" and is_eponym_use(text, ent.start_char, ent.end_char):
                continue
            place = " ".join(words).lower()
            if entity == "LOCATION" and (place not in lexicon.cities() or place in lexicon.countries()):
                continue  # a country, like a state, is not a Safe Harbor identifier
            if entity == "LOCATION" and len(words) == 1 and words[0].lower() in lexicon.us_states():
                continue  # a state on its own is not a Safe Harbor identifier
            results.append(phi_result(entity, ent.start_char, ent.end_char, 0.6, "spacy:" + ent.label_))
        return results


class KnownValuesRecognizer(EntityRecognizer):
    """Finds known values: a row's identifiers (a Presidio ad-hoc recognizer, built per request) or the
    department's own lists (registered once, ``source="department"``)."""

    ENTITIES = ["NAME", "ID", "DATE", "PHONE", "ADDRESS", "ZIP", "EMAIL", "LOCATION", "FACILITY", "AGE", "URL",
                "SSN", "IP_ADDRESS"]

    def __init__(self, known: KnownIdentifiers, source: str = "known"):
        super().__init__(supported_entities=self.ENTITIES, name=f"KnownValuesRecognizer:{source}",
                         supported_language="en")
        self.known = known
        self.source = source

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        return [
            RecognizerResult(entity, start, end, 1.0, recognition_metadata={DETECTOR_KEY: f"{self.source}:{entity}"})
            for start, end, entity in self.known.find(text)
        ]
