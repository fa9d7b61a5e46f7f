"""`run` refreshes the tables downstream of what it processed, as a dbt build would rebuild them:
in place, in the run's transaction, copied first outside prod when another environment reads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import rows
from tidegate.context import Context
from tidegate.errors import CheckFailed

FILES = {
    "models/sources.yml": """
        version: 2
        sources:
          - name: raw
            schema: landing
            tables:
              - name: events
        models:
          - name: totals
            columns:
              - name: amount
                data_tests: [not_null]
    """,
    "models/events.sql": """
        {{ config(materialized='incremental', unique_key='id') }}
        select id, customer, amount from {{ source('raw', 'events') }}
        {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
    """,
    "models/recent.sql": "{{ config(materialized='view') }} select * from {{ ref('events') }}",
    "models/totals.sql": """
        {{ config(materialized='table') }}
        select customer, sum(amount) as amount from {{ ref('recent') }} group by customer
    """,
    "models/report.sql": "{{ config(materialized='view') }} select count(*) as customers from {{ ref('totals') }}",
    "models/ranked.py": "def model(totals):\n    return totals.order('amount desc').limit(1)\n",
}


def built(make_project: Callable[..., Path], open_context: Callable[..., Context], *envs: str) -> Context:
    ctx = open_context(make_project(FILES))
    engine = ctx.engine("prod")
    engine.execute("create schema landing")
    engine.execute("create table landing.events (id int, customer int, amount int)")
    engine.execute("insert into landing.events values (1, 1, 10), (2, 2, 5)")
    for env in envs:
        ctx.plan_and_apply(env)
    engine.execute("insert into landing.events values (3, 3, 50), (4, 1, 1)")
    return ctx


def test_run_prod_refreshes_the_tables_downstream_in_place(make_project, open_context) -> None:
    ctx = built(make_project, open_context, "prod")
    before = ctx.current("prod")
    assert ctx.run("prod") == ["events"]
    assert rows(ctx, "select * from totals order by 1") == [(1, 11), (2, 5), (3, 50)]
    assert rows(ctx, "select * from report") == [(3,)]  # the view over the table stays
    assert rows(ctx, "select * from ranked") == [(3, 50)]  # the Python model reran
    # the same tables and the same environment version: only data changed
    assert ctx.current("prod") == before
    assert not ctx.plan("prod").has_changes


def test_run_dev_refreshes_dev_copies_and_leaves_prod_as_it_was(make_project, open_context) -> None:
    ctx = built(make_project, open_context, "prod", "dev")
    prod = ctx.current("prod")
    assert ctx.run("dev") == ["events"]
    assert rows(ctx, "select * from totals order by 1", "dev") == [(1, 11), (2, 5), (3, 50)]
    assert rows(ctx, "select * from ranked", "dev") == [(3, 50)]
    assert rows(ctx, "select * from totals order by 1") == [(1, 10), (2, 5)]
    assert rows(ctx, "select * from ranked") == [(1, 10)]
    # views reading a table the run copied get a new version reading the copy
    assert rows(ctx, "select * from report", "dev") == [(3,)]
    assert rows(ctx, "select * from report") == [(2,)]
    assert ctx.current("prod") == prod
    dev = ctx.current("dev")
    for name in ("events", "recent", "totals", "report", "ranked"):  # new versions, same fingerprints
        assert dev.models[name].fingerprint == prod.models[name].fingerprint
        assert dev.models[name].physical != prod.models[name].physical
    # dev's tables are its own now: the next run refreshes them in place
    ctx.engine("prod").execute("insert into landing.events values (5, 2, 5)")
    ctx.run("dev")
    assert ctx.current("dev") == dev
    assert rows(ctx, "select * from totals order by 1", "dev") == [(1, 11), (2, 10), (3, 50)]


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_a_failing_test_of_a_refreshed_table_rolls_the_whole_run_back(
    make_project, open_context, env: str
) -> None:
    ctx = built(make_project, open_context, "prod", "dev")
    ctx.engine("prod").execute("insert into landing.events values (6, 6, null)")
    versions = {name: ctx.current(name) for name in ("prod", "dev")}
    snapshots = ctx.state("prod").all_snapshots()
    relations = ctx.engine("prod").relations("tidegate__")
    with pytest.raises(CheckFailed, match="not_null_totals_amount"):
        ctx.run(env)
    assert {name: ctx.current(name) for name in ("prod", "dev")} == versions
    assert ctx.state("prod").all_snapshots() == snapshots
    assert ctx.engine("prod").relations("tidegate__") == relations
    for name in ("prod", "dev"):
        assert rows(ctx, "select id from events order by 1", name) == [(1,), (2,)]
        assert rows(ctx, "select * from totals order by 1", name) == [(1, 10), (2, 5)]
