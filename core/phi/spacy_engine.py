"""Presidio's spaCy engine, running NER only on the notes whose entities will be used.

The spaCy recognizer is trusted only on normally cased prose (``is_mixed_case``); on ALL-CAPS or
lowercase nursing shorthand its guesses are discarded, so running NER there would only cost time,
and NER is most of the engine's time. Those notes still get spaCy's tokens, which the clinical
recognizers and Presidio's context enhancer use.
"""

from __future__ import annotations

from presidio_analyzer.nlp_engine import SpacyNlpEngine

from core.phi.words import is_mixed_case


class NerWhereItCountsEngine(SpacyNlpEngine):
    def process_batch(self, texts, language, batch_size=1, n_process=1, as_tuples=False):
        if as_tuples:
            raise NotImplementedError("casenotes passes plain texts")
        nlp = self.nlp[language]
        texts = [str(t) for t in texts]
        prose = [is_mixed_case(t) for t in texts]
        with_ner = nlp.pipe([t for t, p in zip(texts, prose) if p], batch_size=batch_size)
        without_ner = nlp.pipe([t for t, p in zip(texts, prose) if not p], batch_size=batch_size, disable=["ner"])
        for text, is_prose in zip(texts, prose):
            doc = next(with_ner) if is_prose else next(without_ner)
            yield text, self._doc_to_nlp_artifact(doc, language)
