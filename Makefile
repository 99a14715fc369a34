# Everyday commands. CI (.ci/run) runs `setup`, the `lint` commands, then `test`.
PYTHON ?= python
LINT_PATHS := core shared services titan tests bench
TYPED_PATHS := core shared services titan

.PHONY: setup test test-unit lint bench demo

setup:  ## install system packages, the Python package with dev tools, Kafka jars, PGlite
	bash deploy/setup.sh

test:  ## the whole suite (integration tests start their own Kafka, PostgreSQL, PGlite)
	$(PYTHON) -m pytest -q

test-unit:  ## unit tests only: no servers
	$(PYTHON) -m pytest -q -m "not integration"

lint:  ## the same checks as CI
	ruff check $(LINT_PATHS)
	ruff format --check $(LINT_PATHS)
	mypy --strict $(TYPED_PATHS)

bench:  ## every benchmark; each prints one JSON object on its last line
	$(PYTHON) bench/market_data_decode.py
	$(PYTHON) bench/market_data_bars.py
	$(PYTHON) bench/ingest.py
	$(PYTHON) bench/latency.py
	$(PYTHON) bench/pairs_screen.py
	$(PYTHON) bench/pairs_decisions.py
	$(PYTHON) bench/scale.py
	$(PYTHON) bench/replica_grid.py
	$(PYTHON) bench/regime.py
	$(PYTHON) bench/regime_detection_table.py
	$(PYTHON) bench/backtest_sweep.py
	$(PYTHON) bench/portfolio.py
	$(PYTHON) bench/http_load.py
	$(PYTHON) bench/console_views.py
	$(PYTHON) bench/demo.py

demo:  ## the whole pipeline on one machine
	$(PYTHON) -m titan demo
