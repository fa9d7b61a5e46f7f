"""Airflow for the orchestration tests: the interpreter of `.venv-airflow` (`make
.venv-airflow/.installed`); tests that need it skip without it, unless TIDEGATE_REQUIRE_AIRFLOW=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

AIRFLOW_PYTHON = Path(__file__).resolve().parents[2] / ".venv-airflow" / "bin" / "python"


@pytest.fixture
def airflow_python() -> str:
    if not AIRFLOW_PYTHON.exists():
        if os.environ.get("TIDEGATE_REQUIRE_AIRFLOW") == "1":
            pytest.fail(f"Airflow is required (TIDEGATE_REQUIRE_AIRFLOW=1) but {AIRFLOW_PYTHON} is missing")
        pytest.skip("Airflow is not installed (make .venv-airflow/.installed)")
    return str(AIRFLOW_PYTHON)
