# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One ICD-10-CM index for set-up, the tests (tests/conftest.py defaults to this folder too), the demo
# and the benchmarks; a CASENOTES_CACHE set outside make is used by all of them instead.
export CASENOTES_CACHE ?= $(CURDIR)/.cache

$(BIN)/casenotes: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, with pip: it takes the local CPU build where there is one.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# fast (ctranslate2, a 43 MB wheel) so that its engine's tests run rather than skip.
	$(BIN)/python -m pip install --quiet -e ".[test,ray,catalogue,fast]"
	# The index takes minutes to build on a small CPU: here, once, rather than in a test or a first coded run.
	$(BIN)/casenotes prepare
	touch $(BIN)/casenotes

setup: $(BIN)/casenotes

demo: setup
	$(BIN)/casenotes demo

test: setup
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python benchmarks/deid_benchmark.py
	$(BIN)/python benchmarks/train_deid_benchmark.py
	$(BIN)/python benchmarks/summarize_benchmark.py --arch tiny-bart --arch tiny-causal
	$(BIN)/python benchmarks/coding_benchmark.py
	$(BIN)/python benchmarks/train_coder_benchmark.py

screenshots: setup
	xvfb-run -a $(BIN)/python -m casenotes_desktop.screenshots

.PHONY: setup demo test bench screenshots
