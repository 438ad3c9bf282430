"""Presidio's spaCy engine, running NER only where its entities will be used.

The spaCy recognizer is trusted only on normally cased prose (``is_mixed_case``) and only on
capitalised words that are not clinical vocabulary; NER is most of the engine's time. So ALL-CAPS
or lower-case shorthand gets the tokenizer alone, and in prose the sentences with no such word
are blanked out (replaced by spaces but for the full stop, so every offset stays where it was) before NER reads the
note: about half of a nursing note's prose, at no cost in what is found (measured by
benchmarks/deid_benchmark.py on every set).

The artifacts handed to the recognizers carry the entities only. The recognizers read nothing
else, and Presidio's lemma-based context enhancer has nothing to work with: the lemmatizer is not
loaded (every lemma would be empty, so no context word could ever match). Building the token,
lemma and keyword lists anyway cost a few per cent of the engine's time.
"""

from __future__ import annotations

import regex
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Span

from casenotes.phi import lexicon
from casenotes.phi.words import is_mixed_case

# A sentence or a line: up to a sentence end that is not an initial ("J. Wood") or a title
# ("Dr. Ruiz"), or up to the end of the line.
_SEGMENT = regex.compile(
    r"[^\n]*?(?:(?<!\b\p{Lu}|\b(?:[Dd]r|[Mm]rs?|[Mm]s|[Ss]t|[Pp]rof))[.;!?](?=\s)|(?=\n)|$)")
_CAPITALISED = regex.compile(r"(?<![\p{L}\p{N}])\p{Lu}[\p{L}'\-]*")


def text_for_ner(text: str) -> str:
    """The text with every sentence that holds no capitalised non-clinical word blanked out."""
    pieces = []
    last = 0
    for match in _SEGMENT.finditer(text):
        if match.start() == match.end():
            continue
        if any(not lexicon.is_clinical(word.group().lower()) for word in _CAPITALISED.finditer(match.group())):
            continue
        # the sentence's last mark stays, so that the next sentence still reads as one
        end = match.end() - 1 if match.group()[-1] in ".;!?" else match.end()
        pieces += [text[last : match.start()], " " * (end - match.start())]
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


class NerWhereItCountsEngine(SpacyNlpEngine):
    def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
        if as_tuples:
            raise NotImplementedError("casenotes passes plain texts")
        nlp = self.nlp[language]
        texts = [str(t) for t in texts]
        prose = [is_mixed_case(t) for t in texts]
        with_ner = nlp.pipe([text_for_ner(t) for t, p in zip(texts, prose) if p], batch_size=batch_size)
        without_ner = nlp.pipe([t for t, p in zip(texts, prose) if not p], batch_size=batch_size, disable=["ner"])
        for text, is_prose in zip(texts, prose):
            doc = next(with_ner) if is_prose else next(without_ner)
            yield text, self._doc_to_nlp_artifact(doc, language)

    def _get_entities(self, doc):
        # An entity never runs into a blanked sentence (or a line break): it ends before the space.
        entities = []
        for ent in doc.ents:
            end = next((t.i for t in ent if t.is_space), ent.end)
            if end > ent.start:
                entities.append(ent if end == ent.end else Span(doc, ent.start, end, label=ent.label_))
        return entities

    def _doc_to_nlp_artifact(self, doc, language: str) -> NlpArtifacts:
        entities = self._get_entities(doc)
        entities, scores = self._get_updated_entities(
            entities, [self.ner_model_configuration.default_score] * len(entities))
        return NlpArtifacts(entities=entities, tokens=[], tokens_indices=[], lemmas=[], nlp_engine=None,
                            language=language, scores=scores)
