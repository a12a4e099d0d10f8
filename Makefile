# The two commands a newcomer needs:  make pipeline   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Real Common Crawl samples and reference text live beside the checkout, never in it.
export DATAPIPE_SHARED ?= $(abspath ../shared)
CONFIG ?= configs/default.yaml

.PHONY: install models pipeline test lint format bench data-samples clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/.installed

REF := $(DATAPIPE_SHARED)/reference
MODELS := work/models
ONE := --executor local --no-progress

# The score stage's models, trained from ../shared by their training stages (skipped while
# their inputs are unchanged): the quality classifier separates reference text from the random
# web documents of the Common Crawl samples; the n-gram models learn Wikipedia, with cut-offs
# from the same web documents.
models: install
	$(BIN)/datapipe ingest --input $(DATAPIPE_SHARED)/samples --output $(MODELS)/web $(ONE)
	$(BIN)/datapipe train-quality --input $(MODELS)/web --output $(MODELS)/train-quality $(ONE) \
		--positive $(REF)/wikitext2-valid.txt $(REF)/wikitext2-test.txt \
		$(REF)/cmrc2018_zh_wikipedia.jsonl $(REF)/redpajama-arxiv-sample.jsonl
	$(BIN)/datapipe train-perplexity --input $(MODELS)/web --output $(MODELS)/train-perplexity $(ONE) \
		--references '{"en": ["$(REF)/wikitext2-valid.txt", "$(REF)/wikitext2-test.txt"], "zh": ["$(REF)/cmrc2018_zh_wikipedia.jsonl"]}'

pipeline: install models  ## run the default pipeline on data_samples/ (output in work/)
	$(BIN)/datapipe run $(CONFIG)

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

data-samples: install  ## regenerate the committed fixtures in data_samples/generated
	$(BIN)/python data_samples/generate.py

clean:
	rm -rf work
