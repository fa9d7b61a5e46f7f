"""Drift of an environment's warehouse from its recorded version, on DuckDB and PostgreSQL:
what someone changed by hand shows, and a clean environment shows nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LAYERED, build_prod
from tests.engines.conftest import (
    environment_line,
    postgres_database,  # noqa: F401  (a fixture)
)
from tidegate.context import Context, Drift, DriftKind
from tidegate.errors import StateError


@pytest.fixture(params=["duckdb", "postgres"])
def prod(request: pytest.FixtureRequest, make_project: Callable[..., Path], open_context) -> Context:
    """A context whose prod and dev are built from the layered project on the engine."""
    connection = environment_line(request.param, request)
    config = f"name: test\ndialect: duckdb\nenvironments:\n  prod: {connection}\n  dev: {connection}\n"
    ctx = build_prod(make_project(LAYERED, config=config), open_context)
    ctx.plan_and_apply("dev")
    return ctx


def by_hand(ctx: Context, *statements: str) -> None:
    for statement in statements:
        ctx.engine("prod").execute(statement)


def snapshot_of(ctx: Context, model: str, environment: str = "prod") -> str:
    physical = ctx.current(environment).models[model].physical
    assert physical is not None
    return physical


def test_a_clean_environment_has_no_drift(prod: Context) -> None:
    assert prod.drift("prod") == []
    assert prod.drift("dev") == []


def test_a_view_dropped_by_hand_is_missing(prod: Context) -> None:
    by_hand(prod, "DROP VIEW analytics.customer_totals")
    assert prod.drift("prod") == [
        Drift("prod", "analytics.customer_totals", "the view is missing", DriftKind.VIEW)
    ]
    assert prod.drift("dev") == []


def test_a_view_redefined_by_hand_reads_other_relations(prod: Context) -> None:
    by_hand(
        prod,
        "DROP VIEW analytics.order_count",
        "CREATE VIEW analytics.order_count AS SELECT count(*) AS n FROM analytics.big_customers",
    )
    [found] = prod.drift("prod")
    assert (found.object, found.kind) == ("analytics.order_count", DriftKind.VIEW)
    assert found.problem == (
        "the view was redefined by hand: it reads analytics.big_customers, "
        f"not {snapshot_of(prod, 'order_count').replace(chr(34), '')}"
    )


def test_a_view_pointed_at_its_snapshot_again_by_hand_is_not_drift(prod: Context) -> None:
    """Only what the view reads counts, not how its text is written or normalized."""
    snapshot = snapshot_of(prod, "order_count")
    by_hand(
        prod,
        "DROP VIEW analytics.order_count",
        f"CREATE VIEW analytics.order_count AS\n  select n   FROM {snapshot} -- the same, written otherwise",
    )
    assert prod.drift("prod") == []


def test_a_table_in_place_of_a_view_is_drift(prod: Context) -> None:
    by_hand(prod, "DROP VIEW analytics.order_count", "CREATE TABLE analytics.order_count AS SELECT 1 AS n")
    assert prod.drift("prod") == [
        Drift("prod", "analytics.order_count", "a table stands where the view should be", DriftKind.VIEW)
    ]


def test_a_snapshot_dropped_by_hand_is_missing_in_every_environment_that_reads_it(prod: Context) -> None:
    snapshot = snapshot_of(prod, "big_customers")
    by_hand(prod, f"DROP TABLE {snapshot} CASCADE")  # PostgreSQL drops the views reading it too
    shown = snapshot.replace('"', "")
    for environment, schema in (("prod", "analytics"), ("dev", "analytics__dev")):
        found = prod.drift(environment)
        assert (
            Drift(environment, shown, "the snapshot of big_customers is missing", DriftKind.SNAPSHOT) in found
        )
        assert {(d.object, d.kind) for d in found} <= {
            (shown, DriftKind.SNAPSHOT),
            (f"{schema}.big_customers", DriftKind.VIEW),
        }


def test_a_dropped_schema_is_one_drift(prod: Context) -> None:
    by_hand(prod, "DROP SCHEMA analytics__dev CASCADE")
    assert prod.drift("dev") == [Drift("dev", "analytics__dev", "the schema was dropped", DriftKind.SCHEMA)]
    assert prod.drift("prod") == []


def test_drift_as_plain_data() -> None:
    drift = Drift("prod", "analytics.orders", "the view is missing", DriftKind.VIEW)
    assert drift.to_dict() == {
        "environment": "prod",
        "object": "analytics.orders",
        "problem": "the view is missing",
        "kind": "view",
    }


def test_an_environment_that_does_not_exist_has_no_drift_to_check(prod: Context) -> None:
    with pytest.raises(StateError, match="does not exist"):
        prod.drift("staging")
