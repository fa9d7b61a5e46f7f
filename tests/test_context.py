"""The Context facade: promotion, rollback, reading environments, dropping them, the janitor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import COUNT_REFUNDS, TIMES_TEN, build_prod, write_files
from tidegate.context import Context, JanitorReport
from tidegate.errors import CheckFailed, PlanError, StateError, TidegateError
from tidegate.state.store import SCHEMA
from tidegate.state.views import INTERNAL_PREFIX

OpenContext = Callable[..., Context]


def internal(ctx: Context) -> set[tuple[str, str, str]]:
    return set(ctx.engine("prod").relations(INTERNAL_PREFIX))


def view_targets(ctx: Context, schema: str) -> dict[str, str]:
    rows = (
        ctx.engine("prod")
        .fetch("SELECT view_name, sql FROM duckdb_views() WHERE schema_name = ? AND NOT internal", [schema])
        .rows
    )
    return {str(name): str(sql) for name, sql in rows}


@pytest.fixture
def prod(layered: Path, open_context: OpenContext) -> Context:
    return build_prod(layered, open_context)


def change(ctx: Context, files: dict[str, str], open_context: OpenContext) -> Context:
    """Write files into the project and open a new context that sees them."""
    ctx.close()
    write_files(ctx.root, files)
    return open_context(ctx.root)


# promotion --------------------------------------------------------------------------------


def test_promote_is_zero_copy_and_switches_every_view(prod: Context, open_context: OpenContext) -> None:
    ctx = change(prod, {**COUNT_REFUNDS, **TIMES_TEN}, open_context)
    ctx.plan_and_apply("dev")
    before = internal(ctx)
    prod_views_before = view_targets(ctx, "analytics")
    dev = ctx.current("dev")
    assert ctx.promote("dev", "prod") == 2
    assert internal(ctx) == before  # nothing built or copied
    after = view_targets(ctx, "analytics")
    changed = {name for name in after if after[name] != prod_views_before[name]}
    assert changed == {"customer_totals", "big_customers", "order_count"}
    for name, record in dev.models.items():
        assert f"{name}__{record.version}" in after[name]
    current = ctx.current("prod")
    assert current.action == "promote" and current.message == "from dev v1"
    assert {n: r.physical for n, r in current.models.items()} == {
        n: r.physical for n, r in dev.models.items()
    }
    assert ctx.query("prod", "select n from order_count").rows == [(40,)]
    assert ctx.query("prod", "select total from customer_totals where customer_id = 2").rows == [(5,)]


def test_promote_to_itself_or_from_nothing_is_refused(prod: Context) -> None:
    with pytest.raises(PlanError, match="to itself"):
        prod.promote("prod", "prod")
    with pytest.raises(StateError, match="'dev' does not exist"):
        prod.promote("dev", "prod")
    assert [v.version for v in prod.history("prod")] == [1]


def test_promote_into_a_new_environment(prod: Context) -> None:
    assert prod.promote("prod", "staging") == 1
    assert prod.query("staging", "select * from big_customers").rows == [(1, 30)]
    assert view_targets(prod, "analytics__staging").keys() == view_targets(prod, "analytics").keys()


# rollback ---------------------------------------------------------------------------------


def test_rollback_to_the_previous_version_and_to_a_given_one(
    prod: Context, open_context: OpenContext
) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("prod")
    ctx = change(
        ctx,
        {"models/order_count.sql": "select count(*) * 100 as n from {{ ref('stg_orders') }}"},
        open_context,
    )
    ctx.plan_and_apply("prod")
    assert ctx.query("prod", "select n from order_count").rows == [(400,)]
    assert ctx.rollback("prod") == 4
    assert ctx.query("prod", "select n from order_count").rows == [(40,)]
    assert ctx.rollback("prod", to=1) == 5
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    assert ctx.current("prod").models == ctx.history("prod")[0].models
    assert ctx.rollback("prod", to=3) == 6
    assert ctx.query("prod", "select n from order_count").rows == [(400,)]
    history = ctx.history("prod")
    assert [v.action for v in history] == ["apply", "apply", "apply", "rollback", "rollback", "rollback"]
    assert [v.message for v in history[3:]] == ["to v2", "to v1", "to v3"]


def test_rollback_refuses_impossible_targets(prod: Context) -> None:
    with pytest.raises(StateError, match="no version 0"):
        prod.rollback("prod")
    with pytest.raises(StateError, match="no version 7"):
        prod.rollback("prod", to=7)
    with pytest.raises(StateError, match="already at version 1"):
        prod.rollback("prod", to=1)
    with pytest.raises(StateError, match="does not exist"):
        prod.rollback("dev")
    assert [v.version for v in prod.history("prod")] == [1]


def test_rollback_to_a_version_whose_snapshots_the_janitor_dropped(
    prod: Context, open_context: OpenContext
) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("prod")
    report = ctx.janitor(retention="0s")
    assert [name.split("@")[0] for name in report.dropped_snapshots] == ["order_count"]
    with pytest.raises(StateError, match="order_count were dropped by the janitor"):
        ctx.rollback("prod")
    assert ctx.current("prod").version == 2
    assert ctx.query("prod", "select n from order_count").rows == [(40,)]


# reading ----------------------------------------------------------------------------------


def test_query_resolves_model_names_in_the_environment(prod: Context, open_context: OpenContext) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("dev")
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    assert ctx.query("dev", "select n from order_count").rows == [(40,)]
    assert ctx.query("dev", "select Order_Count.n from ORDER_COUNT").rows == [(40,)]
    joined = ctx.query(
        "dev", "select c.customer_id, o.n from customer_totals c cross join order_count o order by 1"
    )
    assert joined.columns == ["customer_id", "n"] and joined.rows == [(1, 40), (3, 40)]
    # a CTE that shadows a model name is the CTE, not the model
    shadowed = ctx.query("dev", "with order_count as (select 7 as n) select n from order_count")
    assert shadowed.rows == [(7,)]
    # qualified names are left alone
    assert ctx.query("dev", "select n from analytics.order_count").rows == [(4,)]
    with pytest.raises(TidegateError, match="syntax error"):
        ctx.query("dev", "select from from where")
    with pytest.raises(StateError, match="does not exist"):
        ctx.query("staging", "select 1")


def test_query_refuses_a_bare_name_of_views_in_two_schemas(prod: Context, open_context: OpenContext) -> None:
    copy = {"models/count_copy.sql": "{{ config(schema='marts', alias='order_count') }} select 5 as n"}
    ctx = change(prod, copy, open_context)
    ctx.plan_and_apply("dev")
    with pytest.raises(
        TidegateError, match=r"order_count is ambiguous: analytics.order_count or marts.order_count"
    ):
        ctx.query("dev", "select n from order_count")
    assert ctx.query("dev", "select n from count_copy").rows == [(5,)]  # the model's own name


def test_show(prod: Context) -> None:
    result = prod.show("prod", "customer_totals", limit=1)
    assert result.columns == ["customer_id", "total", "orders"] and len(result.rows) == 1
    assert len(prod.show("prod", "stg_orders").rows) == 4
    with pytest.raises(StateError, match="no model 'nope'"):
        prod.show("prod", "nope")


def test_environments_and_history(prod: Context, open_context: OpenContext) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("dev")
    ctx.promote("dev", "prod")
    assert [(v.environment, v.version) for v in ctx.environments()] == [("dev", 1), ("prod", 2)]
    history = ctx.history("prod")
    assert [(v.version, v.action) for v in history] == [(1, "apply"), (2, "promote")]
    assert history[0].author and history[1].created_at >= history[0].created_at
    with pytest.raises(StateError, match="no history"):
        ctx.history("staging")


def test_drop_environment(prod: Context, open_context: OpenContext) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("dev")
    tables = internal(ctx)
    ctx.drop_environment("dev")
    assert not any(s.startswith("analytics__dev") for s, _, _ in ctx.engine("prod").relations("analytics"))
    assert [v.environment for v in ctx.environments()] == ["prod"]
    assert [v.action for v in ctx.history("dev")] == ["apply", "drop"]
    assert internal(ctx) == tables  # snapshots are the janitor's business
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    with pytest.raises(StateError):
        ctx.drop_environment("dev")
    # it can be planned again
    _, result = ctx.plan_and_apply("dev")
    assert result is not None and result.version == 3
    assert ctx.query("dev", "select n from order_count").rows == [(40,)]


def test_dropping_prod_removes_its_views_only(prod: Context) -> None:
    engine = prod.engine("prod")
    engine.execute("CREATE TABLE analytics.users_own_table AS SELECT 1 AS x")
    prod.drop_environment("prod")
    assert engine.relations("analytics") == [("analytics", "users_own_table", "table")]
    assert prod.environments() == []


# janitor ----------------------------------------------------------------------------------


def test_janitor_keeps_what_recent_versions_need_and_drops_the_rest(
    prod: Context, open_context: OpenContext
) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("prod")
    old = {r for r in internal(ctx) if r[1].startswith("order_count__")} - {
        (s, n, k)
        for s, n, k in internal(ctx)
        if ctx.current("prod").models["order_count"].physical.endswith(f'"{n}"')
    }
    assert len(old) == 1
    report = ctx.janitor()  # default retention 7d: version 1 is recent, so it can be rolled back to
    assert (
        report.dropped_snapshots == [] and report.dropped_orphans == [] and report.expired_environments == []
    )
    assert old <= internal(ctx)
    assert ctx.rollback("prod") == 3
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    assert ctx.rollback("prod") == 4
    # with no retention, only the current versions' snapshots stay
    report = ctx.janitor(retention="0s")
    assert len(report.dropped_snapshots) == 1 and report.dropped_snapshots[0].startswith("order_count@")
    assert not old & internal(ctx)
    assert set(ctx.state("prod").snapshots()) == {
        (n, r.fingerprint) for n, r in ctx.current("prod").models.items()
    }
    for name in ctx.current("prod").models:
        ctx.show("prod", name, limit=1)
    # a second pass finds nothing to do
    assert ctx.janitor(retention="0s") == type(report)([], [], [])


def test_janitor_keeps_snapshots_other_environments_use(prod: Context, open_context: OpenContext) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("dev")
    report = ctx.janitor(retention="0s")
    assert report.dropped_snapshots == []
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    assert ctx.query("dev", "select n from order_count").rows == [(40,)]


def test_janitor_drops_orphans_left_in_internal_schemas(prod: Context) -> None:
    engine = prod.engine("prod")
    engine.execute('CREATE TABLE "tidegate__analytics"."half_built__abc" AS SELECT 1 AS x')
    engine.execute('CREATE VIEW "tidegate__analytics"."stray__abc" AS SELECT 1 AS x')
    engine.execute("CREATE TABLE analytics.not_ours AS SELECT 1 AS x")
    tables = internal(prod)
    report = prod.janitor()
    assert sorted(report.dropped_orphans) == [
        '"tidegate__analytics"."half_built__abc"',
        '"tidegate__analytics"."stray__abc"',
    ]
    assert internal(prod) == tables - {
        ("tidegate__analytics", "half_built__abc", "table"),
        ("tidegate__analytics", "stray__abc", "view"),
    }
    assert ("analytics", "not_ours", "table") in engine.relations("analytics")
    for name in prod.current("prod").models:
        prod.show("prod", name, limit=1)


def test_janitor_expires_old_pull_request_environments(prod: Context, open_context: OpenContext) -> None:
    ctx = change(prod, TIMES_TEN, open_context)
    ctx.plan_and_apply("pr_1")
    ctx.plan_and_apply("pr_2")
    ctx.plan_and_apply("dev")
    engine = ctx.engine("prod")
    engine.execute(
        f"UPDATE {SCHEMA}.environment_versions SET created_at = created_at - INTERVAL 4 DAY "
        "WHERE environment IN ('pr_1', 'dev')"
    )
    report = ctx.janitor()
    assert report.expired_environments == ["pr_1"]
    assert sorted(v.environment for v in ctx.environments()) == ["dev", "pr_2", "prod"]
    assert not any(s == "analytics__pr_1" for s, _, _ in engine.relations("analytics__pr"))
    assert ctx.query("pr_2", "select n from order_count").rows == [(40,)]
    # its snapshots are still used by dev and pr_2, so nothing was dropped
    assert report.dropped_snapshots == []
    ctx.drop_environment("pr_2")
    ctx.drop_environment("dev")
    report = ctx.janitor(retention="0s")
    assert [name.split("@")[0] for name in report.dropped_snapshots] == ["order_count"]


def test_janitor_keeps_tables_a_kept_view_snapshot_reads(make_project, open_context: OpenContext) -> None:
    """A non-breaking change keeps a child's snapshot; when the child is a view, the physical table
    of the old parent snapshot it reads must survive even after no version lists that snapshot."""
    root = make_project(
        {
            "seeds/raw.csv": "id,amount\n1,10\n2,20\n",
            "models/base.sql": "select id, amount from {{ ref('raw') }}",
            "models/child.sql": "{{ config(materialized='view') }}\nselect id from {{ ref('base') }}",
        }
    )
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    ctx = change(
        ctx,
        {"models/base.sql": "select id, amount, amount * 2 as doubled from {{ ref('raw') }}"},
        open_context,
    )
    plan, result = ctx.plan_and_apply("prod")
    assert result is not None
    assert [b.model for b in plan.builds if b.reused_from is None] == ["base"]
    # rebuild once more so version 1's base snapshot is referenced by no version that is kept
    report = ctx.janitor(retention="0s")
    assert ctx.query("prod", "select count(*) from child").rows == [(2,)]
    assert not any(name.startswith("base") for name in report.dropped_snapshots)
    assert len([n for _, n, _ in internal(ctx) if n.startswith("base__")]) == 2


# incremental runs -------------------------------------------------------------------------

INCREMENTAL = {
    "seeds/raw_events.csv": "id,kind\n1,a\n2,b\n",
    "models/events.sql": """
        {{ config(materialized='incremental', incremental_strategy='append') }}
        select id, kind from {{ ref('raw_events') }}
        {% if is_incremental() %} where id >= (select max(id) from {{ this }}) {% endif %}
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: events
            columns:
              - name: id
                data_tests: [unique]
    """,
}


def test_run_rolls_back_when_the_tests_fail_on_the_new_data(make_project, open_context: OpenContext) -> None:
    """The data tests of `run` must see the rows the run just added (in its own transaction)."""
    ctx = open_context(make_project(INCREMENTAL))
    ctx.plan_and_apply("prod")
    assert ctx.query("prod", "select count(*) from events").rows == [(2,)]
    # `>=` re-appends the last row: a duplicate id, which the unique test must catch
    with pytest.raises(CheckFailed, match="unique"):
        ctx.run("prod")
    assert ctx.query("prod", "select count(*) from events").rows == [(2,)]


def test_janitor_keeps_recent_snapshots_no_version_lists_yet(
    prod: Context, open_context: OpenContext
) -> None:
    """Snapshots of an apply that is running, or was killed, are not dropped while recent."""
    ctx = change(prod, TIMES_TEN, open_context)
    plan = ctx.plan("dev")
    engine = ctx.engine("prod")
    build = next(b for b in plan.builds if b.model == "order_count")
    engine.create_schema("tidegate__analytics")
    engine.create_table_as(build.physical, build.sql)
    ctx.state("prod").record_snapshot(replace(plan.mapping["order_count"], query=build.sql))
    assert ctx.janitor() == JanitorReport([], [], [])
    _, result = ctx.plan_and_apply("dev")
    assert result is not None and result.built == []
    assert ctx.query("dev", "select n from order_count").rows == [(40,)]


def test_janitor_keeps_a_full_refresh_and_new_environments_reuse_it(
    prod: Context, open_context: OpenContext
) -> None:
    """A full refresh is a new version of the same fingerprint: recorded, kept, and reused."""
    old = prod.current("prod").models["customer_totals"]
    _, result = prod.plan_and_apply("prod", full_refresh=["customer_totals"])
    assert result is not None and result.built == ["customer_totals"]
    refreshed = prod.current("prod").models["customer_totals"]
    assert refreshed.fingerprint == old.fingerprint and refreshed.physical != old.physical
    versions = {(r.model, r.version) for r in prod.state("prod").all_snapshots()}
    assert {("customer_totals", old.version), ("customer_totals", refreshed.version)} <= versions

    report = prod.janitor(retention="0s")
    assert report.dropped_snapshots == [f"customer_totals@{old.version}"]
    assert report.dropped_orphans == []
    assert prod.query("prod", "select total from customer_totals order by 1").rows == [(7,), (30,)]
    # an environment planned from the same code, with nothing to start from, finds the refreshed one
    plan = prod.plan("staging", base="nowhere")
    assert plan.builds == []
    assert plan.mapping["customer_totals"].physical == refreshed.physical
    prod.apply(plan)
    assert prod.query("staging", "select count(*) from customer_totals").rows == [(2,)]


def test_janitor_keeps_what_a_version_superseded_within_the_retention_needs(
    prod: Context, open_context: OpenContext
) -> None:
    """Retention counts from when a version stopped being current, so an old version replaced a
    minute ago can still be rolled back to."""
    ctx = change(prod, TIMES_TEN, open_context)
    engine = ctx.engine("prod")
    engine.execute(
        f"UPDATE {SCHEMA}.environment_versions SET created_at = created_at - INTERVAL 30 DAY "
        "WHERE environment = 'prod' AND version = 1"
    )
    engine.execute(f"UPDATE {SCHEMA}.snapshots SET created_at = created_at - INTERVAL 30 DAY")
    ctx.plan_and_apply("prod")
    assert ctx.janitor().dropped_snapshots == []
    assert ctx.rollback("prod") == 3
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]


def test_python_model_reading_an_ephemeral_model_is_a_plan_error(
    make_project, open_context: OpenContext
) -> None:
    root = make_project(
        {
            "models/base.sql": "{{ config(materialized='ephemeral') }}\nselect 1 as id",
            "models/scores.py": "def model(base):\n    return base\n",
        }
    )
    with pytest.raises(PlanError, match="Python models cannot read ephemeral models") as failure:
        open_context(root).plan("prod")
    assert failure.value.path == "models/scores.py"
    assert "base" in failure.value.message


def test_janitor_never_expires_an_environment_the_project_names(
    make_project, open_context: OpenContext
) -> None:
    """With `pr{number}`, `prod` starts like a pull-request environment: only whole names match."""
    from tests.conftest import CONFIG, LAYERED

    root = make_project(LAYERED, config=CONFIG + "pull_requests: {environment: 'pr{number}', ttl: 1s}\n")
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    ctx.plan_and_apply("pr12")
    ctx.plan_and_apply("preview")
    ctx.engine("prod").execute(
        f"UPDATE {SCHEMA}.environment_versions SET created_at = created_at - INTERVAL 1 DAY"
    )
    assert ctx.janitor().expired_environments == ["pr12"]
    assert sorted(v.environment for v in ctx.environments()) == ["preview", "prod"]


def test_promotion_and_rollback_record_the_commit_of_the_snapshots_they_point_at(
    layered: Path, open_context: OpenContext
) -> None:
    """`history prod` must say which commit prod runs, whether it got there by apply or promote."""
    ctx = open_context(layered)
    ctx.plan_and_apply("prod", git_commit="a" * 40)
    write_files(layered, TIMES_TEN)
    ctx = open_context(layered)
    ctx.plan_and_apply("dev", git_commit="b" * 40)
    ctx.promote("dev", "prod")
    ctx.rollback("prod")
    assert [v.git_commit for v in ctx.history("prod")] == ["a" * 40, "b" * 40, "a" * 40]


def test_a_plan_loads_the_project_before_opening_the_warehouse(
    layered: Path, open_context: OpenContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process has one thread while the project loads (its queries may be parsed in
    processes forked from it); a database connection starts threads of its own."""
    import tidegate.plan.session
    import tidegate.project.loader

    events: list[str] = []
    load_project, connect = tidegate.project.loader.load_project, tidegate.plan.session.connect

    def loading(*args: Any, **kwargs: Any) -> Any:
        events.append("load")
        return load_project(*args, **kwargs)

    def connecting(*args: Any, **kwargs: Any) -> Any:
        events.append("connect")
        return connect(*args, **kwargs)

    monkeypatch.setattr(tidegate.project.loader, "load_project", loading)
    monkeypatch.setattr(tidegate.plan.session, "connect", connecting)
    open_context(layered).plan("prod")
    assert events == ["load", "connect"]


def test_when_project_and_warehouse_both_fail_the_warehouse_s_error_is_reported(
    make_project: Callable[..., Path], open_context: OpenContext
) -> None:
    config = "name: test\nenvironments:\n  prod: {engine: duckdb, path: missing/dir/w.duckdb}\n"
    root = make_project({"models/a.sql": "select from from"}, config)
    with pytest.raises(TidegateError, match="cannot open"):
        open_context(root).plan("prod")
    (root / "missing/dir").mkdir(parents=True)
    with pytest.raises(TidegateError, match="SQL syntax error"):
        open_context(root).plan("prod")
