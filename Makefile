# The two commands a newcomer needs:  make pipeline   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/default.yaml

.PHONY: install pipeline evaluate test lint format bench fixtures clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

# The default pipeline on the real samples in data_samples/, its models trained in the run
# (output, report.html and the verified export in work/).
pipeline: install
	$(BIN)/datapipe run $(CONFIG)

evaluate: install  ## the quality stages on the labelled pages, measured on the test split
	$(BIN)/datapipe run configs/evaluate.yaml
	$(BIN)/datapipe evaluate work-evaluate --labels data_samples/labels/labels.jsonl --split test

test: install  ## the whole test suite; CI runs exactly this
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## benchmarks; results go to docs/benchmarks.md
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_ingest.py --update-docs
	$(BIN)/python bench/bench_extractors.py --update-docs
	$(BIN)/python bench/bench_filter.py --update-docs
	$(BIN)/python bench/bench_score.py --update-docs
	$(BIN)/python bench/bench_minhash.py --update-docs
	$(BIN)/python bench/bench_minhash_dedup.py --update-docs
	$(BIN)/python bench/bench_e2e.py --update-docs
	$(BIN)/python bench/minhash_recall.py --update-docs
	$(BIN)/python bench/topics_eval.py --update-docs
	$(BIN)/python bench/bench_tokenizer.py --update-docs
	$(BIN)/python bench/bench_export.py --update-docs
	$(BIN)/python bench/bench_throughput.py --update-docs

fixtures: install  ## regenerate the committed test fixtures in tests/fixtures/generated
	$(BIN)/python tests/fixtures/generate.py

clean:
	rm -rf work
