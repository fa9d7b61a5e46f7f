PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## create .venv, install tidegate, run the built-in demo on embedded DuckDB
	$(BIN)/tidegate demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# dbt-core in its own virtualenv, for the dbt parity tests (tests/dbt); 1.12 does not install here
$(DBT_STAMP):
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet 'dbt-core>=1.11,<1.12' 'dbt-duckdb>=1.10,<1.12'
	touch $(DBT_STAMP)

# Apache Airflow 3 in its own virtualenv (it pins many packages), with tidegate installed in it
# for the DAGs `tidegate dags generate` writes; tidegate reaches it through a subprocess
$(AIRFLOW_STAMP): pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet 'apache-airflow>=3.1,<4' -e .
	touch $(AIRFLOW_STAMP)

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck $(DBT_STAMP) $(AIRFLOW_STAMP)  ## install what the tests need, lint, type-check and run the tests
	$(BIN)/pytest -n 2 --dist loadgroup -q
	$(BIN)/python tests/engines/spark_connect.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DBT_VENV) $(AIRFLOW_VENV) .mypy_cache .pytest_cache .ruff_cache
