"""Model summaries on CTranslate2 (the ``fast`` extra) beside PyTorch: same words, a cached conversion,
a fallback that keeps the run going, and the engine named in Run info. Tiny models built at test time."""

import logging
import os

import pytest

pytest.importorskip("ctranslate2")

from benchmarks.random_models import build  # noqa: E402
from casenotes.errors import ConfigurationError  # noqa: E402
from casenotes.summarize import ctranslate  # noqa: E402
from casenotes.summarize.ctranslate import CTranslateSummarizer, use_ctranslate2  # noqa: E402
from casenotes.summarize.generative import GenerativeSummarizer  # noqa: E402

NOTES = ["Pt resting comfortably.", "COPD exacerbation, start prednisone 40 mg daily.",
         "Lungs clear bilaterally, no edema. Heart size normal.", "Assessment: pneumonia. Plan: antibiotics.",
         "Seen by Dr. [NAME] on [DATE] for cough and fever.", "BP 120/80, HR 88, afebrile."]


def vivid(folder, architecture):
    """A random model whose greedy answer changes from token to token. The stock initialisation
    repeats one token whatever the note, so any two engines would agree and the comparison would
    prove nothing; weights of this spread make the answer depend on the note and on each step."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    build(folder, architecture)
    loader = AutoModelForSeq2SeqLM if architecture == "tiny-bart" else AutoModelForCausalLM
    model = loader.from_pretrained(folder, local_files_only=True)
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0, 0.3)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bart(tmp_path_factory):
    return vivid(tmp_path_factory.mktemp("models") / "vivid-bart", "tiny-bart")


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    return vivid(tmp_path_factory.mktemp("models") / "vivid-chat", "tiny-causal")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CASENOTES_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ctranslate2"


@pytest.fixture
def conversions(monkeypatch):
    """Counts the converter's runs (the only call that converts)."""
    calls = []
    real = ctranslate.convert
    monkeypatch.setattr(ctranslate, "convert", lambda *a: calls.append(a) or real(*a))
    return calls


def answer_ids(summarizer, notes):
    summarizer.load()
    special = set(summarizer._tokenizer.all_special_ids)
    ids = summarizer._generate_token_ids(summarizer._encode(notes))
    return [[t for t in row if t not in special] for row in ids]


@pytest.mark.parametrize("model", ["bart", "chat"])
def test_float32_writes_the_same_tokens_as_pytorch(model, request, cache):
    folder = request.getfixturevalue(model)
    torch_engine = GenerativeSummarizer(folder, max_new_tokens=12)
    fast = CTranslateSummarizer(folder, compute_type="float32", max_new_tokens=12)
    expected = answer_ids(torch_engine, NOTES)
    assert len({tuple(r) for r in expected}) > 3  # the answers differ between notes: a real comparison
    assert answer_ids(fast, NOTES) == expected
    # The shared part too: sorting, batches and a long note's map-reduce give the same summaries.
    long_note = " ".join(f"Finding number {i} is stable." for i in range(40))
    for s in (torch_engine, fast):
        s.batch_size, s.max_input_tokens = 2, 30
    assert fast.summarize([long_note] + NOTES[:3]) == torch_engine.summarize([long_note] + NOTES[:3])


def test_int8_mostly_chooses_what_pytorch_chooses(bart, cache):
    """Quantization moves scores a little; a random model's scores are close together, so some
    choices flip and the answers then drift apart. The fair measure is each step given the same
    start: how often int8's next token is PyTorch's, following PyTorch's own answer (62 of 66 here;
    a trained model's choices are far more decided)."""
    expected = answer_ids(GenerativeSummarizer(bart, max_new_tokens=12), NOTES)
    fast = CTranslateSummarizer(bart, max_new_tokens=12)
    fast.load()
    assert fast.engine == "ctranslate2" and fast.compute_type == "int8"
    tok = fast._tokenizer
    sources = [tok.convert_ids_to_tokens(ids) for ids in fast._encode(NOTES)]
    same = total = 0
    for step in range(max(map(len, expected))):
        rows = [i for i, answer in enumerate(expected) if len(answer) > step]
        results = fast._model.translate_batch(
            [sources[i] for i in rows], target_prefix=[tok.convert_ids_to_tokens(expected[i][:step]) for i in rows],
            beam_size=1, max_decoding_length=step + 1, max_input_length=0)
        for i, result in zip(rows, results):
            chosen = tok.convert_tokens_to_ids(result.hypotheses[0])
            same += len(chosen) > step and chosen[step] == expected[i][step]
            total += 1
    assert total >= 50 and same / total >= 0.85, (same, total)


def test_conversion_is_cached_and_a_damaged_cache_is_rebuilt(bart, cache, conversions):
    first = CTranslateSummarizer(bart, max_new_tokens=6)
    expected = first.summarize(NOTES[:2])
    [entry] = [p for p in cache.iterdir()]
    assert len(conversions) == 1 and (entry / "model.bin").is_file()
    assert CTranslateSummarizer(bart, max_new_tokens=6).summarize(NOTES[:2]) == expected
    assert len(conversions) == 1  # loaded from the cache

    (entry / "model.bin").unlink()  # a file lost: converted again
    assert CTranslateSummarizer(bart, max_new_tokens=6).summarize(NOTES[:2]) == expected
    assert len(conversions) == 2

    size = (entry / "model.bin").stat().st_size
    (entry / "model.bin").write_bytes(b"\0" * size)  # all files there, at their sizes, but not a model
    assert CTranslateSummarizer(bart, max_new_tokens=6).summarize(NOTES[:2]) == expected
    assert len(conversions) == 3

    # A changed model folder (here only a file's time) is converted again, and its older conversion removed.
    stat = (bart / "config.json").stat()
    os.utime(bart / "config.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    CTranslateSummarizer(bart, max_new_tokens=6).load()
    assert len(conversions) == 4 and [p.name for p in cache.iterdir()] not in ([entry.name], [])
    assert len(list(cache.iterdir())) == 1


def test_a_failed_conversion_leaves_no_cache_and_runs_on_pytorch(bart, cache, monkeypatch, caplog):
    def killed(folder, out, quantization):
        out.mkdir(parents=True)
        (out / "model.bin").write_bytes(b"half")
        raise ValueError("No conversion is registered for the model configuration")

    monkeypatch.setattr(ctranslate, "convert", killed)
    abandoned = cache / ".partial-0123-999999999-abcd"  # a conversion whose process is gone
    abandoned.mkdir(parents=True)
    fast = CTranslateSummarizer(bart, max_new_tokens=6)
    with caplog.at_level(logging.WARNING):
        summaries = fast.summarize(NOTES[:3])
    assert summaries == GenerativeSummarizer(bart, max_new_tokens=6).summarize(NOTES[:3])
    assert fast.engine == "torch" and fast.settings()["engine"] == "PyTorch (CTranslate2 not used: the model does not convert, ValueError)"
    assert list(cache.iterdir()) == []  # neither the half conversion nor the abandoned one
    assert "running on PyTorch" in caplog.text
    assert not any(word in caplog.text for word in ("prednisone", "resting", "COPD"))


def test_settings_name_the_engine_and_the_quantization(bart, cache):
    fast = CTranslateSummarizer(bart, max_new_tokens=6)
    fast.load()
    assert fast.settings()["engine"].startswith("CTranslate2 ") and fast.settings()["quantization"] == "int8"
    plain = GenerativeSummarizer(bart, max_new_tokens=6)
    plain.load()
    assert plain.settings()["engine"] == "PyTorch" and plain.settings()["precision"] == "float32"


def test_the_engine_is_chosen_by_setting_and_device(monkeypatch):
    assert use_ctranslate2("auto", "cpu") and use_ctranslate2("ctranslate2", "cpu")
    assert not use_ctranslate2("auto", "cuda") and not use_ctranslate2("torch", "cpu")
    with pytest.raises(ConfigurationError, match="one of"):
        use_ctranslate2("onnx", "cpu")
    monkeypatch.setattr(ctranslate, "installed", lambda: False)
    assert not use_ctranslate2("auto", "cpu")  # without the extra: PyTorch, silently
    with pytest.raises(ConfigurationError, match=r"casenotes\[fast\]"):
        use_ctranslate2("ctranslate2", "cpu")


@pytest.mark.parametrize("flag, engine_class", [([], CTranslateSummarizer), (["--summary-engine", "torch"], GenerativeSummarizer)])
def test_the_command_line_option_reaches_the_summarizer(tmp_path, monkeypatch, flag, engine_class):
    from casenotes import cli
    from casenotes.keys import KeyRing
    from casenotes.pipeline import step_settings

    seen = []
    monkeypatch.setattr(cli, "_run_with_progress", lambda inputs, options: seen.append(options) or [])
    cli.main(["run", str(tmp_path / "notes.csv"), "--summarizer", str(tmp_path / "model"), "--device", "cpu", *flag])
    [summarize] = [s for s in step_settings(seen[0], KeyRing(b"engine-test")) if type(s).__name__ == "SummarizeSettings"]
    assert type(summarize.build().summarizer) is engine_class
