# Set-up and the two entry points of the README: `make demo` and `make test`.
# torch is installed first and pinned (2.13.0, CPU wheel); a bare `torch` would pull a CUDA build.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test benchmark benchmark-banking77

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,airflow,postgres,web]"
	touch $@

install: $(BIN)/.installed

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/tagger demo

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

benchmark-banking77: install
	HF_HUB_OFFLINE=1 $(BIN)/tagger run configs/banking77.yaml
	HF_HUB_OFFLINE=1 $(BIN)/tagger run configs/banking77_no_operator.yaml

benchmark: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run.py $(BENCH_ARGS)
