# The two commands: `make demo` and `make test` (README.md). Everything runs from .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TESTINTEL_HOME ?= $(CURDIR)/.testintel
export DAGSTER_HOME ?= $(TESTINTEL_HOME)/dagster

.PHONY: install demo test dev lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

demo: install  ## generate 30 days of Acme Shop, backfill every asset in one run, print the report
	$(BIN)/testintel demo --days 30

test: install  ## the whole suite (unit, integration through Dagster, end to end)
	$(BIN)/pytest -q

dev: install  ## the Dagster UI on 127.0.0.1:3000 over the same TESTINTEL_HOME as `make demo`
	$(BIN)/python -c "from testintel_assets.instance import dagster_home; dagster_home()"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install  ## every benchmark script; each prints its ratio against its named baseline
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(TESTINTEL_HOME)
