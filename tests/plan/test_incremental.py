"""Incremental models: built in full once, then `run` processes new rows in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Row, rows, write_files
from tidegate.context import Context
from tidegate.errors import CheckFailed

SOURCES = """
    version: 2
    sources:
      - name: raw
        schema: landing
        tables:
          - name: events
    models:
      - name: events
        columns:
          - name: id
            data_tests: [not_null]
"""

MERGE = """
    {{ config(materialized='incremental', unique_key='id') }}
    select id, status, updated_at from {{ source('raw', 'events') }}
    {% if is_incremental() %}
    where updated_at > (select max(updated_at) from {{ this }})
    {% endif %}
"""

APPEND = """
    {{ config(materialized='incremental', incremental_strategy='append') }}
    select id, status, updated_at from {{ source('raw', 'events') }}
    {% if is_incremental() %}
    where updated_at > (select max(updated_at) from {{ this }})
    {% endif %}
"""


def project(make_project: Callable[..., Path], model: str) -> Path:
    return make_project(
        {
            "models/sources.yml": SOURCES,
            "models/events.sql": model,
            "models/event_count.sql": "select count(*) as n from {{ ref('events') }}",
        }
    )


def open_with_raw(root: Path, open_context: Callable[..., Context]) -> Context:
    ctx = open_context(root)
    engine = ctx.engine("prod")
    engine.execute("create schema if not exists landing")
    engine.execute(
        "create table if not exists landing.events as "
        "select * from (values (1, 'new', 1), (2, 'new', 2)) as v(id, status, updated_at)"
    )
    return ctx


def event_rows(ctx: Context, environment: str = "prod") -> list[Row]:
    return rows(ctx, "select id, status, updated_at from events order by id, updated_at", environment)


def test_first_build_is_full_then_run_merges_new_rows(make_project, open_context) -> None:
    root = project(make_project, MERGE)
    ctx = open_with_raw(root, open_context)
    plan, _ = ctx.plan_and_apply("prod")
    assert "max(updated_at)" not in next(b.sql for b in plan.builds if b.model == "events").lower()
    assert event_rows(ctx) == [(1, "new", 1), (2, "new", 2)]
    ctx.engine("prod").execute("insert into landing.events values (2, 'shipped', 3), (3, 'new', 4)")
    assert ctx.run("prod") == ["events"]
    assert event_rows(ctx) == [(1, "new", 1), (2, "shipped", 3), (3, "new", 4)]
    # the table built from the incremental model is refreshed in place, as a dbt build rebuilds it
    assert ctx.query("prod", "select n from event_count").rows == [(3,)]
    assert ctx.run("prod") == ["events"]
    assert event_rows(ctx) == [(1, "new", 1), (2, "shipped", 3), (3, "new", 4)]


def test_append_strategy_appends(make_project, open_context) -> None:
    root = project(make_project, APPEND)
    ctx = open_with_raw(root, open_context)
    ctx.plan_and_apply("prod")
    ctx.engine("prod").execute("insert into landing.events values (2, 'shipped', 3)")
    ctx.run("prod", select=["events"])
    assert event_rows(ctx) == [(1, "new", 1), (2, "new", 2), (2, "shipped", 3)]


def test_full_refresh_builds_a_new_snapshot_and_other_environments_keep_the_old(
    make_project, open_context
) -> None:
    root = project(make_project, APPEND)
    ctx = open_with_raw(root, open_context)
    ctx.plan_and_apply("prod")
    ctx.plan_and_apply("dev")
    ctx.engine("prod").execute("insert into landing.events values (2, 'shipped', 3)")
    ctx.run("prod")
    ctx.engine("prod").execute("delete from landing.events where updated_at = 1")
    old = ctx.current("prod").models["events"].physical

    plan, result = ctx.plan_and_apply("prod", full_refresh=["events"])
    assert result is not None and "events" in result.built
    assert plan.full_refresh == ["events"]
    new = ctx.current("prod").models["events"].physical
    assert new != old
    assert event_rows(ctx) == [(2, "new", 2), (2, "shipped", 3)]
    assert ctx.current("dev").models["events"].physical == old
    assert event_rows(ctx, "dev") == [(1, "new", 1), (2, "new", 2), (2, "shipped", 3)]
    # the refreshed snapshot is the one prod keeps processing
    ctx.engine("prod").execute("insert into landing.events values (4, 'new', 5)")
    ctx.run("prod")
    assert event_rows(ctx)[-1] == (4, "new", 5)
    assert not ctx.plan("prod").has_changes


def test_a_run_whose_tests_fail_is_rolled_back(make_project, open_context) -> None:
    root = project(make_project, MERGE)
    ctx = open_with_raw(root, open_context)
    ctx.plan_and_apply("prod")
    ctx.engine("prod").execute("insert into landing.events values (null, 'broken', 9)")
    with pytest.raises(CheckFailed, match="not_null_events_id"):
        ctx.run("prod")
    assert event_rows(ctx) == [(1, "new", 1), (2, "new", 2)]


def test_run_refuses_a_model_that_changed_since_planned(make_project, open_context) -> None:
    root = project(make_project, MERGE)
    ctx = open_with_raw(root, open_context)
    ctx.plan_and_apply("prod")
    ctx.close()
    write_files(root, {"models/events.sql": MERGE.replace("select id,", "select id, 1 as one,")})
    from tidegate.errors import PlanError

    with pytest.raises(PlanError, match="plan 'prod' first"):
        open_context(root).run("prod")


def shared_prod_and_dev(make_project, open_context) -> Context:
    ctx = open_with_raw(project(make_project, MERGE), open_context)
    ctx.plan_and_apply("prod")
    ctx.plan_and_apply("dev")
    assert ctx.current("dev").models["events"].physical == ctx.current("prod").models["events"].physical
    ctx.engine("prod").execute("insert into landing.events values (2, 'shipped', 3), (3, 'new', 4)")
    return ctx


def test_run_in_dev_copies_the_shared_table_and_leaves_prod_alone(make_project, open_context) -> None:
    ctx = shared_prod_and_dev(make_project, open_context)
    prod_before = ctx.current("prod")
    assert ctx.run("dev") == ["events"]
    assert event_rows(ctx, "dev") == [(1, "new", 1), (2, "shipped", 3), (3, "new", 4)]
    assert event_rows(ctx) == [(1, "new", 1), (2, "new", 2)]
    assert ctx.current("prod") == prod_before
    dev = ctx.current("dev")
    copy, shared = dev.models["events"], prod_before.models["events"]
    assert dev.version == 2 and dev.action == "run"
    assert copy.fingerprint == shared.fingerprint and copy.version != shared.version
    assert copy.physical != shared.physical
    # the table downstream, shared with prod too, is copied and refreshed; prod's keeps its rows
    counted, prod_counted = dev.models["event_count"], prod_before.models["event_count"]
    assert counted.fingerprint == prod_counted.fingerprint and counted.physical != prod_counted.physical
    assert ctx.query("dev", "select n from event_count").rows == [(3,)]
    assert ctx.query("prod", "select n from event_count").rows == [(2,)]
    assert ("events", copy.version) in {(r.model, r.version) for r in ctx.state("dev").all_snapshots()}
    # dev's table is its own now: the next run writes in place, with no new copy or version
    ctx.engine("prod").execute("insert into landing.events values (4, 'new', 5)")
    ctx.run("dev")
    assert ctx.current("dev").version == 2 and event_rows(ctx, "dev")[-1] == (4, "new", 5)
    assert not ctx.plan("dev").has_changes
    # the janitor keeps both tables: each is some environment's current one
    ctx.janitor(retention="0s")
    assert len(event_rows(ctx, "dev")) == 4 and len(event_rows(ctx)) == 2


def test_run_in_prod_writes_in_place_and_environments_sharing_it_see_it(make_project, open_context) -> None:
    ctx = shared_prod_and_dev(make_project, open_context)
    dev_before = ctx.current("dev")
    assert ctx.run("prod") == ["events"]
    assert event_rows(ctx) == [(1, "new", 1), (2, "shipped", 3), (3, "new", 4)]
    assert event_rows(ctx, "dev") == event_rows(ctx)
    assert ctx.current("dev") == dev_before and ctx.current("prod").version == 1


def test_a_failing_run_in_dev_copies_and_changes_nothing(make_project, open_context) -> None:
    ctx = shared_prod_and_dev(make_project, open_context)
    ctx.engine("prod").execute("insert into landing.events values (null, 'broken', 9)")
    before = {name: ctx.current(name) for name in ("prod", "dev")}
    snapshots = ctx.state("prod").all_snapshots()
    tables = ctx.engine("prod").relations("tidegate__")
    with pytest.raises(CheckFailed, match="not_null_events_id"):
        ctx.run("dev")
    assert {name: ctx.current(name) for name in ("prod", "dev")} == before
    assert ctx.state("prod").all_snapshots() == snapshots
    assert ctx.engine("prod").relations("tidegate__") == tables
    assert event_rows(ctx, "dev") == event_rows(ctx) == [(1, "new", 1), (2, "new", 2)]
