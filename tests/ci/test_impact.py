"""Dashboards against a pull request's environment: failures name the dashboard, query and column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LAYERED, build_prod, edit
from tidegate.ci.impact import missing_column, reached_exposures, run_dashboards
from tidegate.ci.lineage import compare
from tidegate.context import Context

DASHBOARDS = """
dashboards:
  - name: totals
    description: Paid totals.
    queries:
      - name: by_customer
        sql: select customer_id, orders from {{ ref('customer_totals') }} order by 1
      - name: big
        sql: select count(*) as n from {{ ref('big_customers') }}
  - name: volume
    queries:
      - name: orders
        sql: select n from {{ ref('order_count') }}
  - name: everything
    queries:
      - name: all_rows
        sql: select * from {{ ref('customer_totals') }}
"""


@pytest.fixture
def prod(make_project: Callable[..., Path], open_context: Callable[..., Context]) -> Path:
    root = make_project({**LAYERED, "dashboards/revenue.yml": DASHBOARDS})
    build_prod(root, open_context)
    return root


def pull_request(root: Path, open_context: Callable[..., Context], old: str, new: str) -> Context:
    """Edit customer_totals and apply the pull request's environment pr_7 on top of prod."""
    edit(root, "models/customer_totals.sql", old, new)
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("pr_7")
    assert result is not None
    return ctx


def test_a_renamed_column_fails_the_dashboard_query_that_reads_it(
    prod: Path, open_context: Callable[..., Context]
) -> None:
    ctx = pull_request(prod, open_context, "count(*) as orders", "count(*) as order_count")
    lineage = compare(ctx, "prod", "pr_7")
    impact = run_dashboards(ctx, "pr_7", ["customer_totals"], lineage=lineage)
    assert not impact.passed
    (failure,) = impact.failures
    assert (failure.dashboard, failure.query, failure.missing_column) == ("totals", "by_customer", "orders")
    assert failure.location == "dashboards/revenue.yml:5"  # the query's line
    assert "column orders" in str(failure) and "dashboard totals" in str(failure)
    runs = {(run.dashboard, run.query): run for run in impact.runs}
    # big_customers is downstream of the change: its query runs, though it reads no renamed column
    assert set(runs) == {("totals", "by_customer"), ("totals", "big"), ("everything", "all_rows")}
    assert runs["totals", "big"].passed and runs["totals", "big"].rows == 1
    assert not runs["totals", "big"].impacted
    # `select *` passes, but lineage says its columns changed
    assert runs["everything", "all_rows"].passed and runs["everything", "all_rows"].impacted
    # volume reads order_count, which the change does not reach: not run, not impacted
    assert impact.dashboards == ("everything", "totals")


def test_passing_queries_are_timed_and_compared_with_the_base(
    prod: Path, open_context: Callable[..., Context]
) -> None:
    ctx = pull_request(prod, open_context, "count(*) as orders", "count(*) as orders, max(amount) as biggest")
    lineage = compare(ctx, "prod", "pr_7")
    impact = run_dashboards(ctx, "pr_7", ["customer_totals"], lineage=lineage, base="prod")
    assert impact.passed
    for run in impact.runs:
        assert run.seconds >= 0 and run.base_passed is True and run.base_seconds is not None
    by_customer = next(run for run in impact.runs if run.query == "by_customer")
    assert by_customer.rows == 2 and not by_customer.impacted  # reads no changed column
    # `select *` sees the added column: impacted, though it passes
    assert impact.dashboards == ("everything",)


def test_without_lineage_every_dashboard_a_query_runs_for_is_impacted(
    prod: Path, open_context: Callable[..., Context]
) -> None:
    ctx = pull_request(prod, open_context, "count(*) as orders", "count(*) + 0 as orders")
    impact = run_dashboards(ctx, "pr_7", ["customer_totals"])
    assert impact.passed
    assert impact.dashboards == ("everything", "totals")


def test_every_exposure_downstream_of_a_change_is_reached_with_the_columns_lineage_finds(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    exposures = """
        exposures:
          - name: big_app
            type: application
            owner: {email: apps@example.com}
            depends_on: ["ref('big_customers')"]
          - name: counts
            type: notebook
            owner: {name: Bob}
            depends_on: ["ref('order_count')"]
    """
    ctx = open_context(make_project({**LAYERED, "models/exposures.yml": exposures}))
    ctx.plan_and_apply("prod")
    ctx = pull_request(ctx.root, open_context, "count(*) as orders", "count(*) + 1 as orders")

    (plain,) = reached_exposures(ctx, ["customer_totals"])
    (resolved,) = reached_exposures(ctx, ["customer_totals"], compare(ctx, "prod", "pr_7"))

    assert plain == resolved  # big_customers reads no changed column: reached, no column named
    assert (plain.exposure, plain.owner, plain.models, plain.changes) == (
        "big_app",
        "apps@example.com",
        ("big_customers",),
        (),
    )
    ctx = pull_request(ctx.root, open_context, "sum(amount) as total", "sum(amount) * 2 as total")
    (changed,) = reached_exposures(ctx, ["customer_totals"], compare(ctx, "prod", "pr_7"))
    assert [str(change) for change in changed.changes] == ["customer_totals.total"]


def test_a_query_over_an_ephemeral_model_runs_in_the_environment(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    files = {
        **LAYERED,
        "models/paid.sql": "{{ config(materialized='ephemeral') }} select * from {{ ref('stg_orders') }} "
        "where status = 'paid'",
        "dashboards/d.yml": "dashboards:\n  - name: paid\n    queries:\n      - name: n\n"
        "        sql: select count(*) as n from {{ ref('paid') }}\n",
    }
    root = make_project(files)
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    impact = run_dashboards(ctx, "prod", ["stg_orders"])
    (run,) = impact.runs
    assert run.passed and run.models == ("paid",)
    assert ctx.engine("prod").fetch(ctx.compile("prod", ctx.project.dashboards[0].queries[0].sql)).rows == [
        (3,)
    ]


@pytest.mark.parametrize(
    ("error", "column"),
    [
        ('Binder Error: Referenced column "total" not found in FROM clause!', "total"),
        ('Binder Error: Table "t" does not have a column named "total"', "total"),
        ('column "total" does not exist\nLINE 1: select total from ...', "total"),
        ("column t.total does not exist", "total"),
        (
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name "
            "`total` cannot be resolved. Did you mean one of the following? [`revenue`]",
            "total",
        ),
        ('relation "analytics.gone" does not exist', None),
        ("Catalog Error: Table with name gone does not exist!", None),
    ],
)
def test_missing_column_in_engine_errors(error: str, column: str | None) -> None:
    assert missing_column(error) == column
