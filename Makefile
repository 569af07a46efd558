# Two commands: `make demo` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath .)
TOOLS := $(ROOT)/.tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
PYTHON ?= python3.11

export PATH := $(TOOLS)/bin:$(PATH)
export UV_SYSTEM_CERTS := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False

.PHONY: help demo test test-fast install system venvs native lint format stop clean

help:
	@echo "make demo   simulate the demo province, run the pipeline on DuckDB, serve dashboards and portal"
	@echo "make test   the whole test suite (installs what is missing)"
	@echo "make test-fast  the tests that need no server and build no whole warehouse (< 3 min)"
	@echo "make stop   stop the demo's Airflow, Superset and CKAN"

demo: install
	@bash scripts/demo.sh

test: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/pytest -n 2 --dist loadfile

# No server, no whole-warehouse build: what a change is checked with first (< 3 minutes).
test-fast: system .venv/.synced native
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/pytest -n 2 --dist loadfile -m "not server and not slow"

install: system venvs native

system:
	@bash scripts/ensure-system.sh

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 ($(PYTHON)) is required" >&2; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The core venv follows uv.lock; a stamp avoids re-syncing when nothing changed.
.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

# The document connector's edXML grammars compiled by re2c, built ahead into the user's cache
# (ingestion/compiled.py) so that no run pays for it.
native: system .venv/.synced
	@.venv/bin/python -m ingestion.compiled

venvs: .venv/.synced | $(UV)
	@bash services/superset/install.sh
	@bash services/ckan/install.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

stop:
	-.venv/bin/python -m govdata.services.airflow down
	-.venv/bin/python -m govdata.services.ckan down
	-.venv/bin/python -c "from govdata.services import superset; from core.settings import load_settings; superset.stop(load_settings())"

# The portal's and Airflow's databases go with the files and keys under data/ (created,
# cleaned and named together).
clean: stop
	-.venv/bin/python -m govdata.services.ckan clean
	-.venv/bin/python -m govdata.services.airflow clean
	rm -rf data dbt_project/target dbt_project/logs tests/artifacts
