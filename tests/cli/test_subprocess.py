"""The installed `tidegate` script in real subprocesses: exit codes, one JSON document on stdout,
human output on stderr, no colour and no traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import run_tidegate
from tests.conftest import LAYERED

pytestmark = pytest.mark.slow


def test_plan_apply_query_and_errors_in_a_subprocess(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED)
    ran = run_tidegate("plan", "prod", "--auto-apply", "--json", cwd=root)
    assert ran.code == 0, ran.all
    document = json.loads(ran.stdout)  # exactly one document, nothing else on stdout
    assert document["apply"]["version"] == 1
    assert "Plan for prod" in ran.stderr
    assert "build (5)" in ran.stderr  # progress
    assert "\x1b[" not in ran.all

    ran = run_tidegate("query", "prod", "select count(*) as n from stg_orders", "--json", cwd=root)
    assert ran.code == 0, ran.all
    assert json.loads(ran.stdout) == {"columns": ["n"], "rows": [[4]]}

    ran = run_tidegate("rollback", "prod", "--json", cwd=root)
    assert ran.code == 2
    assert json.loads(ran.stdout)["error"] == "StateError"
    assert ran.stderr.startswith("error: environment 'prod' has no version 0")
    assert "Traceback" not in ran.all


def test_failing_tests_exit_1_and_human_output_is_plain(make_project: Callable[..., Path]) -> None:
    root = make_project({**LAYERED, "tests/fails.sql": "select * from {{ ref('stg_orders') }}"})
    ran = run_tidegate("plan", "prod", "--auto-apply", cwd=root)
    assert ran.code == 1
    assert "FAIL fails" in ran.stderr
    assert "Plan for prod" in ran.stdout
    assert "\x1b[" not in ran.all
    assert "Traceback" not in ran.all
    ran = run_tidegate("--version", cwd=root)
    assert ran.code == 0
    assert ran.stdout.startswith("tidegate, version ")
