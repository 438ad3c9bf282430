"""The sentence encoder's precisions, the index search and what the extractive summarizer embeds."""

import numpy as np
import pytest

from casenotes import embeddings
from casenotes.errors import ConfigurationError
from casenotes.coding.index import CodeIndex
from casenotes.summarize.extractive import NOTHING_ABNORMAL, ExtractiveSummarizer

SENTENCES = [
    "Lungs with coarse crackles at both bases, new left pleural effusion.",
    "Pt agitated overnight, pulled at NGT, restraints applied.",
    "HTN, on metoprolol 25 mg bid.",
    "Afebrile.",
    "Plan: diurese with lasix 40 mg IV, recheck lytes in am.",
]


def test_precision_is_chosen_once_and_float32_on_a_gpu(monkeypatch):
    monkeypatch.delenv(embeddings.PRECISION_ENV, raising=False)
    assert embeddings.resolve_precision("cuda") == "fp32"
    assert embeddings.resolve_precision("cuda", "int8") == "fp32"
    assert embeddings.resolve_precision("cpu") == ("bf16" if embeddings.native_bf16() else "fp32")
    monkeypatch.setenv(embeddings.PRECISION_ENV, "fp32")
    assert embeddings.resolve_precision("cpu") == "fp32"
    assert embeddings.resolve_precision("cpu", "bf16") == "bf16"  # an explicit request wins
    monkeypatch.setenv(embeddings.PRECISION_ENV, "fp8")
    with pytest.raises(ConfigurationError, match="fp8"):
        embeddings.resolve_precision("cpu")


@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_faster_encoder_agrees_with_float32(precision):
    reference = embeddings.embed(SENTENCES, precision="fp32")
    fast = embeddings.embed(SENTENCES, precision=precision)
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-3)
    assert (reference * fast).sum(axis=1).min() > 0.999


def test_int8_is_available_but_never_the_default():
    """Measured on nursing-note sentences, dynamic int8 drifts (cosine 0.85 at worst): a choice, not a default."""
    reference = embeddings.embed(SENTENCES, precision="fp32")
    quantized = embeddings.embed(SENTENCES, precision="int8")
    assert (reference * quantized).sum(axis=1).min() > 0.7
    assert "int8" not in {embeddings.resolve_precision("cpu", "auto"), embeddings.resolve_precision("cuda", "auto")}


def test_index_search_finds_the_exact_nearest_names():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = CodeIndex((), vectors, {})
    queries = vectors[[5, 2999, 17]] + rng.normal(0, 0.01, (3, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    found = index.search(queries, top=4)
    for q, hits in zip(queries, found):
        sims = vectors @ q
        expected = np.argsort(-sims)[:4]
        assert [i for i, _ in hits] == expected.tolist()
        assert np.allclose([c for _, c in hits], sims[expected], atol=1e-5)
    assert index.search(np.zeros((0, 384), dtype=np.float32)) == []


def test_the_summarizer_embeds_only_notes_its_ranking_decides(monkeypatch):
    """A one-sentence note and a note of normal findings only are summarized without the encoder;
    the others' sentences go to it in one call, and the summaries are what embedding all would give."""
    ranked = "Large left pleural effusion. Heart size is normal. New right lower lobe opacity. No pneumothorax."
    notes = ["Afebrile overnight.", "Lungs are clear. Heart size is normal. No pleural effusion.", ranked, ""]
    calls = []
    real = embeddings.embed

    def recording(texts, *args, **kwargs):
        calls.append(list(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(embeddings, "embed", recording)
    summarizer = ExtractiveSummarizer()
    summaries = summarizer.summarize(notes)
    assert summaries[:2] == ["Afebrile overnight.", NOTHING_ABNORMAL] and summaries[3] == ""
    assert len(calls) == 1 and set(calls[0]) == {"Large left pleural effusion.", "Heart size is normal.",
                                                 "New right lower lobe opacity.", "No pneumothorax."}
    from casenotes.clinical_text import note_sentences

    sentences = note_sentences(ranked)
    assert summaries[2] == summarizer._pick(sentences, real([s.text for s in sentences]))
    assert summaries[2] in {"Large left pleural effusion.", "New right lower lobe opacity."}  # a finding, not a normal
