# One-command entry points. Each sets up .venv on first use (only python3 is needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CUSTOMERS ?= 20000
AS_OF_DATE ?=

.PHONY: install run test ui lint format bench bench-generate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Generate sample data if data/raw/orders is empty, build every asset, print a summary.
## AS_OF_DATE=YYYY-MM-DD computes as of that day (default: the latest order date in the data).
run: $(STAMP)
	$(BIN)/customer-profiles run --customers $(CUSTOMERS) $(if $(AS_OF_DATE),--as-of-date $(AS_OF_DATE))

## The whole test suite, on two workers: most of its time is pipeline runs that keep one core
## busy (tests/conftest.py says how the tests are shared out).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

## The Dagster UI on http://127.0.0.1:3000 (webserver + daemon for the schedule, sensor and
## run queue), on the same instance (DAGSTER_HOME) `make run` records to.
ui: $(STAMP)
	$(BIN)/customer-profiles ui

## The same dbt project on DuckDB and on a local Spark (the [spark] extra, Java 17), on the
## small sample: every public table compared row by row (spark/compare.py, docs/spark.md).
.PHONY: test-spark
SPARK_STAMP := $(VENV)/.spark-installed-stamp
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	@touch $(SPARK_STAMP)
test-spark: $(SPARK_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests_spark
	/usr/bin/time -v $(BIN)/python spark/compare.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

## The performance benchmark: floor, full build and one-day incremental refresh, each timed
## with its peak memory, at SCALE=s|m|l (10k / 100k / 1M customers); writes bench/results/.
## BENCH_RAW=path reuses an existing raw folder of that scale (linked, never written).
SCALE ?= s
BENCH_RAW ?=
bench: $(STAMP)
	$(BIN)/python bench/bench.py --scale $(SCALE) $(if $(BENCH_RAW),--raw $(BENCH_RAW))

## Time and peak memory of the sample-data generator: make bench-generate CUSTOMERS=1000000
bench-generate: $(STAMP)
	rm -rf bench/data/generate-$(CUSTOMERS)
	/usr/bin/time -v $(BIN)/customer-profiles generate --customers $(CUSTOMERS) --seed 42 \
		--out bench/data/generate-$(CUSTOMERS)/raw 2>&1 | tee bench/generate-$(CUSTOMERS).log

clean:
	rm -rf target logs warehouse .dagster data bench/data
