# Set-up and the two entry points of the README: `make demo` and `make test`.
# torch is pinned to its CPU build (constraints.txt); a bare `torch` from PyPI would pull a CUDA build.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test benchmark benchmark-banking77

# uv installs everything in parallel (21 s in a fresh clone with its cache warm, against 224 s with pip), pinned by
# constraints.txt to the versions the suite passed with, torch to its CPU build 2.13.0+cpu. uv does not
# read pip's settings, so the CPU wheel's folder is taken from them (find-links); elsewhere point uv at
# PyTorch's CPU index with UV_EXTRA_INDEX_URL. uv writes no .pyc at install (compiling every package took
# about a minute); `make test` lets Python write them as modules are first imported, even where
# PYTHONDONTWRITEBYTECODE is set: otherwise every test subprocess parses Airflow and torch from source
# (13.3 min for .ci/run).
FIND_LINKS := $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt uv
	$(BIN)/uv pip install --quiet --native-tls --python $(BIN)/python -c constraints.txt \
		$(addprefix --find-links ,$(FIND_LINKS)) -e ".[dev,airflow,postgres,web]"
	touch $@

install: $(BIN)/.installed

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/tagger demo

test: install
	PYTHONDONTWRITEBYTECODE= HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

benchmark-banking77: install
	HF_HUB_OFFLINE=1 $(BIN)/tagger run configs/banking77.yaml
	HF_HUB_OFFLINE=1 $(BIN)/tagger run configs/banking77_no_operator.yaml

benchmark: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run.py $(BENCH_ARGS)
