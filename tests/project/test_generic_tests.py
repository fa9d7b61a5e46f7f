"""Generic data tests: the SQL each one runs, checked against real rows on DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.context import Context
from tidegate.errors import ConfigError
from tidegate.project.generic_tests import build_generic_test
from tidegate.project.model import Location, Severity
from tidegate.project.properties import TestSpec as Spec

DATA = {
    "models/customers.sql": """
        select * from (values (1, 'gold', true), (2, 'silver', true), (3, null, false), (4, 'bronze', false))
        as v(id, tier, active)
    """,
    "models/orders.sql": """
        select * from (values (10, 1, 5), (11, 2, 5), (12, 9, 7), (13, null, 8), (13, 3, 9))
        as v(id, customer_id, amount)
    """,
}


def results_of(
    make_project: Callable[..., Path], open_context: Callable[..., Context], yml: str
) -> dict[str, int]:
    root = make_project({**DATA, "models/schema.yml": yml})
    ctx = open_context(root)
    plan = ctx.plan("prod").model_copy(update={"tests": []})  # built without its tests, then tested
    ctx.apply(plan)
    return {result.name: result.failures for result in ctx.test("prod")}


def test_not_null_and_unique(make_project, open_context) -> None:
    yml = """
        models:
          - name: orders
            columns:
              - name: id
                data_tests: [unique, not_null]
              - name: customer_id
                data_tests: [not_null, unique]
              - name: amount
                data_tests:
                  - unique:
                      where: "amount > 5"
    """
    assert results_of(make_project, open_context, yml) == {
        "unique_orders_id": 1,  # one duplicated value (13), with its count
        "not_null_orders_id": 0,
        "not_null_orders_customer_id": 1,
        "unique_orders_customer_id": 0,  # NULLs are not duplicates
        "unique_orders_amount": 0,  # the duplicated 5s are filtered out
    }


def test_accepted_values_lets_nulls_pass(make_project, open_context) -> None:
    yml = """
        models:
          - name: customers
            columns:
              - name: tier
                data_tests:
                  - accepted_values:
                      values: [gold, silver]
                  - accepted_values:
                      name: tiers_or_null
                      values: [gold, silver, null]
                  - accepted_values:
                      name: tiers_when_active
                      values: [gold, silver]
                      config: {where: active}
              - name: active
                data_tests:
                  - accepted_values:
                      values: [true, false]
                      quote: false
    """
    assert results_of(make_project, open_context, yml) == {
        "accepted_values_customers_tier": 1,  # bronze; the NULL tier passes
        "tiers_or_null": 1,  # a NULL among the values must not make NOT IN pass everything
        "tiers_when_active": 0,
        "accepted_values_customers_active": 0,
    }


def test_relationships_with_where(make_project, open_context) -> None:
    yml = """
        models:
          - name: orders
            columns:
              - name: customer_id
                data_tests:
                  - relationships:
                      to: ref('customers')
                      field: id
                  - relationships:
                      name: small_orders_have_customers
                      to: ref('customers')
                      field: id
                      config: {where: "amount < 7"}
    """
    results = results_of(make_project, open_context, yml)
    assert results == {"relationships_orders_customer_id_customers_id": 1, "small_orders_have_customers": 0}


def test_a_relationships_test_runs_when_either_model_changes(make_project, open_context) -> None:
    yml = """
        models:
          - name: orders
            columns:
              - name: customer_id
                data_tests:
                  - relationships: {to: ref('customers'), field: id, severity: warn}
    """
    root = make_project({**DATA, "models/schema.yml": yml})
    test = open_context(root).project.tests[0]
    assert test.models == ("orders", "customers") and test.severity is Severity.WARN


def spec(test: str, column: str | None = "id", **arguments: object) -> Spec:
    return Spec(
        test=test, model="orders", column=column, arguments=dict(arguments), location=Location("m.yml", 3)
    )


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (spec("not_null", column=None), "needs a column"),
        (spec("accepted_values"), "needs values"),
        (spec("accepted_values", values=[]), "needs values"),
        (spec("relationships", to="ref('customers')"), "needs to:"),
        (spec("relationships", to="source('raw', 'nope')", field="id"), "unknown source raw.nope"),
    ],
)
def test_misdeclared_tests_are_config_errors_with_their_line(declared: Spec, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        build_generic_test(declared, {})
    assert error.value.path == "m.yml" and error.value.line == 3


def test_quoting_of_accepted_values() -> None:
    sql = build_generic_test(spec("accepted_values", values=["it's", 2, None, True]), {}).sql
    assert "NOT IN ('it''s', 2, TRUE)" in sql
    only_null = build_generic_test(spec("accepted_values", values=[None]), {}).sql
    assert only_null.endswith("WHERE id IS NOT NULL GROUP BY id")
    source = build_generic_test(
        spec("relationships", to="source('raw', 'c')", field="id"), {"raw.c": "raw.c"}
    )
    assert source.models == ("orders",) and "LEFT JOIN raw.c AS parent" in source.sql
