"""Build local Hugging Face model folders with random weights, for tests and speed benchmarks.

A tokenizer is trained on local text (no download), a model is built from a config with random
weights, and both are saved as a normal model folder, so casenotes' real loading, batching and
chunking code runs on them. Random weights cost the same compute as trained ones: a full-size
architecture here measures real throughput.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# Architectures by name: (kind, config keyword arguments).
ARCHITECTURES = {
    "tiny-bart": ("seq2seq", dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                  decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                                  max_position_embeddings=64)),
    "tiny-classifier": ("classifier", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                           num_attention_heads=2, max_position_embeddings=128)),
    "tiny-causal": ("causal", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=1, max_position_embeddings=256)),
    # Full size, as published: BART-large and Qwen2.5-0.5B.
    "bart-large": ("seq2seq", dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                                   decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
                                   max_position_embeddings=1024, vocab_size=50265)),
    "qwen2.5-0.5b": ("causal", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                                    vocab_size=151936, tie_word_embeddings=True)),
}


def default_corpus() -> list[str]:
    """Text to train the tokenizer on: the demo notes shipped in resources/ and clinical phrases."""
    from casenotes.demo import demo_spreadsheet
    from casenotes.io.readers import read_table

    frame = read_table(demo_spreadsheet()).frame
    notes = [str(v) for column in frame.columns for v in frame[column] if isinstance(v, str)]
    phrases = ["Lungs are clear. No pneumothorax or pleural effusion. Heart size is normal.",
               "Assessment: community acquired pneumonia. Plan: antibiotics and follow up in 2 weeks.",
               "[NAME] [DATE] [HOSPITAL] [AGE] [PHONE] [ID] [ADDRESS] [LOCATION]"]
    return notes + phrases


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 800):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(corpus), trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", mask_token="<mask>")


def build(folder: Path, architecture: str = "tiny-bart", corpus: Iterable[str] | None = None, seed: int = 0,
          labels: list[str] | None = None) -> Path:
    """Save a random-weight model of the named architecture and a locally trained tokenizer to folder.

    A classifier gets ``labels`` (ICD-10-CM codes) as its multi-label output classes."""
    import torch
    from transformers import (BartConfig, BartForConditionalGeneration, BertConfig, BertForSequenceClassification,
                              Qwen2Config, Qwen2ForCausalLM)

    kind, kwargs = ARCHITECTURES[architecture]
    tokenizer = train_tokenizer(corpus or default_corpus())
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    kwargs = {"vocab_size": max(len(tokenizer), kwargs.get("vocab_size", 0)), **{k: v for k, v in kwargs.items() if k != "vocab_size"}}
    torch.manual_seed(seed)
    if kind == "seq2seq":
        model = BartForConditionalGeneration(BartConfig(**kwargs, **ids, decoder_start_token_id=tokenizer.eos_token_id,
                                                        forced_eos_token_id=tokenizer.eos_token_id))
    elif kind == "classifier":
        labels = labels or ["I10", "E11.9", "J18.9"]
        tokenizer.model_max_length = kwargs["max_position_embeddings"]
        model = BertForSequenceClassification(BertConfig(
            **kwargs, pad_token_id=tokenizer.pad_token_id, num_labels=len(labels), problem_type="multi_label_classification",
            id2label=dict(enumerate(labels)), label2id={c: i for i, c in enumerate(labels)}))
    else:
        tokenizer.chat_template = CHAT_TEMPLATE
        model = Qwen2ForCausalLM(Qwen2Config(**kwargs, **ids))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
