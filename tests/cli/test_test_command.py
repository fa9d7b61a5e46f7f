"""`tidegate test`: exit 0 when everything passes, 1 when a data or unit test fails."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import invoke
from tests.conftest import LAYERED, write_files

UNIT_TEST = """
    unit_tests:
      - name: totals_only_count_paid_orders
        model: customer_totals
        given:
          - input: ref('stg_orders')
            rows:
              - {order_id: 1, customer_id: 1, amount: 5, status: paid}
              - {order_id: 2, customer_id: 1, amount: 9, status: refunded}
        expect:
          rows:
            - {customer_id: 1, total: EXPECTED}
"""


def test_passing_tests_exit_0(built: Path) -> None:
    ran = invoke(built, "test")
    assert ran.code == 0, ran.all
    assert "PASS unique_customer_totals_customer_id" in ran.stdout
    assert "2 passed, 0 warned, 0 failed" in ran.stdout


def test_failing_data_test_exits_1_with_the_failing_rows(built: Path) -> None:
    write_files(
        built, {"tests/paid_only.sql": "select * from {{ ref('stg_orders') }} where status <> 'paid'"}
    )
    ran = invoke(built, "test", "prod")
    assert ran.code == 1, ran.all
    assert "FAIL paid_only" in ran.stdout
    assert "refunded" in ran.stdout
    assert "1 failed" in ran.stdout

    document = invoke(built, "test", "prod", "--json").json()
    assert document["passed"] is False
    failed = [t for t in document["tests"] if not t["passed"]]
    assert [(t["name"], t["failures"], t["path"]) for t in failed] == [
        ("paid_only", 1, "tests/paid_only.sql")
    ]


def test_a_test_that_stores_its_failures_says_where(built: Path) -> None:
    """dbt's store_failures: the output names the relation holding every failing row."""
    write_files(
        built,
        {
            "tests/paid_only.sql": "{{ config(store_failures=true) }}\n"
            "select * from {{ ref('stg_orders') }} where status <> 'paid'"
        },
    )
    ran = invoke(built, "test", "prod")
    assert ran.code == 1, ran.all
    relation = '"analytics_dbt_test__audit"."paid_only"'
    assert f"failing rows stored in {relation}" in ran.stdout
    assert "refunded" in ran.stdout

    document = invoke(built, "test", "prod", "--json").json()
    stored = {t["name"]: t["failures_relation"] for t in document["tests"]}
    assert stored == {
        "paid_only": relation,
        "unique_customer_totals_customer_id": None,
        "not_null_customer_totals_customer_id": None,
    }


def test_warn_severity_does_not_fail(built: Path) -> None:
    write_files(
        built,
        {
            "tests/paid_only.sql": "{{ config(severity='warn') }}\nselect * from {{ ref('stg_orders') }} where status <> 'paid'"
        },
    )
    ran = invoke(built, "test")
    assert ran.code == 0, ran.all
    assert "WARN paid_only" in ran.stdout
    assert "1 warned" in ran.stdout


def test_select_limits_to_a_models_tests(built: Path) -> None:
    write_files(
        built, {"tests/paid_only.sql": "select * from {{ ref('stg_orders') }} where status <> 'paid'"}
    )
    ran = invoke(built, "test", "--select", "customer_totals", "--json")
    assert ran.code == 0, ran.all
    assert {t["name"] for t in ran.json()["tests"]} == {
        "unique_customer_totals_customer_id",
        "not_null_customer_totals_customer_id",
    }
    assert invoke(built, "test", "-s", "stg_orders").code == 1
    ran = invoke(built, "test", "--select", "nope")
    assert ran.code == 2
    assert "nope" in ran.stderr


def test_unit_tests_run_without_an_environment(make_project: Callable[..., Path]) -> None:
    schema = textwrap.dedent(LAYERED["models/schema.yml"]) + textwrap.dedent(UNIT_TEST)
    root = make_project({**LAYERED, "models/schema.yml": schema.replace("EXPECTED", "5")})
    ran = invoke(root, "test", "--json")
    assert ran.code == 0, ran.all
    assert [(t["name"], t["kind"], t["passed"]) for t in ran.json()["tests"]] == [
        ("totals_only_count_paid_orders", "unit", True)
    ]
    write_files(root, {"models/schema.yml": schema.replace("EXPECTED", "14")})
    ran = invoke(root, "test")
    assert ran.code == 1
    assert "FAIL totals_only_count_paid_orders (unit" in ran.stdout
