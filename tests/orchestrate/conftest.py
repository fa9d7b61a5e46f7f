"""Airflow for the orchestration tests: the interpreter of `.venv-airflow` (`make
.venv-airflow/.installed`); tests that need it skip without it, unless TIDEGATE_REQUIRE_AIRFLOW=1.
`airflow_server` is a real Airflow 3 (tests/orchestrate/airflow_server.py), started once per
session; the tests that use it share one xdist group, so that only one worker starts it."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines.conftest import postgres_admin, require_postgres
from tests.orchestrate.airflow_server import AirflowServer, airflow_server

AIRFLOW_PYTHON = Path(__file__).resolve().parents[2] / ".venv-airflow" / "bin" / "python"


def _require_airflow() -> None:
    if not AIRFLOW_PYTHON.exists():
        if os.environ.get("TIDEGATE_REQUIRE_AIRFLOW") == "1":
            pytest.fail(f"Airflow is required (TIDEGATE_REQUIRE_AIRFLOW=1) but {AIRFLOW_PYTHON} is missing")
        pytest.skip("Airflow is not installed (make .venv-airflow/.installed)")


@pytest.fixture
def airflow_python() -> str:
    _require_airflow()
    return str(AIRFLOW_PYTHON)


@pytest.fixture(scope="session")
def airflow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A running Airflow 3 whose metadata is in a new PostgreSQL database (dropped at the end)."""
    _require_airflow()
    require_postgres()
    driver = subprocess.run([str(AIRFLOW_PYTHON), "-c", "import psycopg"], capture_output=True)
    if driver.returncode != 0:
        if os.environ.get("TIDEGATE_REQUIRE_AIRFLOW") == "1":
            pytest.fail(
                "Airflow's virtualenv has no psycopg for its PostgreSQL metadata (make .venv-airflow/.installed)"
            )
        pytest.skip("Airflow's virtualenv has no psycopg (make .venv-airflow/.installed)")
    database = f"tidegate_airflow_{uuid.uuid4().hex[:8]}"
    postgres_admin(f'CREATE DATABASE "{database}"')
    try:
        with airflow_server(
            AIRFLOW_PYTHON.parent / "airflow", tmp_path_factory.mktemp("airflow"), database
        ) as server:
            yield server
    finally:
        postgres_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
