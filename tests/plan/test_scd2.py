"""dbt snapshots (models of kind scd2): built from the query once, then `run` closes changed rows
and inserts their new versions, as dbt's snapshot materialization does."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Row, rows, write_files
from tidegate.context import Context
from tidegate.errors import ProjectError
from tidegate.project.model import Kind

PROFILES = """\
crm:
  target: prod
  outputs:
    prod: {type: duckdb, path: warehouse.duckdb, schema: main, threads: 2}
"""

FILES = {
    "dbt_project.yml": """\
name: crm
profile: crm
snapshots:
  crm:
    +schema: history
""",
    "profiles.yml": PROFILES,
    "models/sources.yml": """
        version: 2
        sources:
          - name: crm
            tables:
              - name: customers
    """,
    "snapshots/customers.sql": """
        {% snapshot customers_ts %}
        {{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}
        select id, tier, updated_at from {{ source('crm', 'customers') }}
        {% endsnapshot %}
    """,
    "snapshots/snapshots.yml": """
        snapshots:
          - name: customers_check
            relation: source('crm', 'customers')
            config:
              unique_key: id
              strategy: check
              check_cols: [tier]
              target_schema: audit
    """,
    "models/current.sql": "select id, tier from {{ ref('customers_ts') }} where dbt_valid_to is null",
}

FIRST = [(1, "gold", "2024-01-01"), (2, "silver", "2024-01-01"), (3, "bronze", "2024-01-01")]


@pytest.fixture
def project(make_dbt: Callable[..., Path]) -> Callable[..., Path]:
    """`project(**{path: text})`: the project above, those files changed."""
    return lambda **changes: make_dbt({**FILES, **changes})


def load(ctx: Context, rows: list[tuple[object, ...]], extra: str = "") -> None:
    engine = ctx.engine("prod")
    engine.execute("create schema if not exists crm")
    engine.execute(
        f"create or replace table crm.customers (id integer, tier varchar, updated_at timestamp{extra})"
    )
    for row in rows:
        values = ", ".join("null" if v is None else repr(v) for v in row)
        engine.execute(f"insert into crm.customers values ({values})")


def sorted_rows(ctx: Context, sql: str) -> list[Row]:
    """The rows of tables named in full (a snapshot's, another environment's), in an order of
    their own: a snapshot table has none."""
    return sorted(rows(ctx, sql, as_written=True), key=repr)


def test_snapshots_are_loaded_with_dbt_names(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(project())
    models = ctx.project.models
    assert models["customers_ts"].kind is Kind.SCD2
    assert models["customers_ts"].schema == "main_history"  # +schema through generate_schema_name
    assert models["customers_check"].schema == "audit"  # target_schema as it is
    assert models["customers_check"].scd2 is not None and models["customers_check"].scd2.check_cols == (
        "tier",
    )
    assert models["current"].refs == ("customers_ts",)


def test_timestamp_strategy_closes_changed_rows_and_inserts_new_versions(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(project())
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    columns = [c for c, _ in ctx.engine("prod").columns("main_history.customers_ts")]
    assert columns == [
        "id",
        "tier",
        "updated_at",
        "dbt_scd_id",
        "dbt_updated_at",
        "dbt_valid_from",
        "dbt_valid_to",
    ]
    # 1 changed (newer updated_at), 2 unchanged, 3 deleted (stays current), 4 new
    load(ctx, [(1, "silver", "2024-02-01"), (2, "silver", "2024-01-01"), (4, "gold", "2024-02-02")])
    assert set(ctx.run("prod")) == {"customers_check", "customers_ts"}
    history = sorted_rows(
        ctx,
        "select id, tier, cast(dbt_valid_from as date), cast(dbt_valid_to as date), "
        "dbt_scd_id = md5(cast(id as varchar) || '|' || cast(updated_at as varchar)) "
        "from main_history.customers_ts",
    )
    day = datetime.date
    assert history == sorted(
        [
            (1, "gold", day(2024, 1, 1), day(2024, 2, 1), True),
            (1, "silver", day(2024, 2, 1), None, True),
            (2, "silver", day(2024, 1, 1), None, True),
            (3, "bronze", day(2024, 1, 1), None, True),
            (4, "gold", day(2024, 2, 2), None, True),
        ],
        key=repr,
    )
    # a model reading the snapshot through a view sees the current versions
    assert sorted_rows(ctx, "select * from main.current") == [
        (1, "silver"),
        (2, "silver"),
        (3, "bronze"),
        (4, "gold"),
    ]


def test_check_strategy_versions_rows_whose_checked_columns_change(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(project())
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    # 1: tier changed; 2: only updated_at changed (not checked); 3: tier becomes null
    load(ctx, [(1, "silver", "2024-01-01"), (2, "silver", "2024-05-05"), (3, None, "2024-01-01")])
    ctx.run("prod", ["customers_check"])
    history = sorted_rows(ctx, "select id, tier, dbt_valid_to is null from audit.customers_check")
    assert history == sorted(
        [(1, "gold", False), (1, "silver", True), (2, "silver", True), (3, "bronze", False), (3, None, True)],
        key=repr,
    )
    stamps = sorted_rows(
        ctx,
        "select count(distinct dbt_valid_from) from audit.customers_check where dbt_valid_to is null and id <> 2",
    )
    assert stamps == [(1,)]  # the new versions are stamped with the run's time
    closed = sorted_rows(
        ctx,
        "select count(*) from audit.customers_check c join audit.customers_check n "
        "on c.id = n.id and c.dbt_valid_to = n.dbt_valid_from",
    )
    assert closed == [(2,)]  # a closed version ends when its successor starts


def test_check_all_adds_new_source_columns_and_counts_them_as_a_change(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    snapshots_yml = FILES["snapshots/snapshots.yml"].replace("check_cols: [tier]", "check_cols: all")
    ctx = open_context(project(**{"snapshots/snapshots.yml": snapshots_yml}))
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    load(ctx, [(1, "gold", "2024-01-01", "EU")], extra=", region varchar")
    ctx.run("prod", ["customers_check"])
    history = sorted_rows(ctx, "select id, region, dbt_valid_to is null from audit.customers_check")
    assert history == sorted([(1, None, False), (1, "EU", True), (2, None, True), (3, None, True)], key=repr)


SEEDED = {
    "seeds/tiers.csv": "id,tier\n1,gold\n2,silver\n",
    "snapshots/tiers.yml": """
        snapshots:
          - name: tier_history
            relation: ref('tiers')
            config: {unique_key: id, strategy: check, check_cols: [tier], target_schema: audit}
    """,
}


def test_a_snapshot_whose_input_changed_merges_into_a_copy_of_its_history(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    """As `dbt build` after a seed changed: the snapshot keeps its table's history and merges
    the new rows; the previous table stays as it was, for rollback."""
    root = project(**SEEDED)
    ctx = open_context(root)
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    first = ctx.current("prod").models["tier_history"].physical
    ctx.close()
    write_files(root, {"seeds/tiers.csv": "id,tier\n1,platinum\n2,silver\n3,bronze\n"})
    ctx = open_context(root)
    plan = ctx.plan("prod")
    [build] = [b for b in plan.builds if b.model == "tier_history"]
    assert build.history_from == first
    [note] = [n for n in plan.notes if "tier_history" in n]
    assert "history included" in note

    ctx.apply(plan)

    history = sorted_rows(ctx, "select id, tier, dbt_valid_to is null from audit.tier_history")
    assert history == sorted(
        [(1, "gold", False), (1, "platinum", True), (2, "silver", True), (3, "bronze", True)], key=repr
    )
    assert sorted_rows(ctx, f"select id, tier from {first}") == [(1, "gold"), (2, "silver")]


def test_a_full_refresh_of_a_snapshot_starts_its_history_over_and_the_plan_says_so(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    root = project()
    ctx = open_context(root)
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    load(ctx, [(1, "silver", "2024-02-01")])
    ctx.run("prod", ["customers_ts"])
    assert sorted_rows(ctx, "select count(*) from main_history.customers_ts") == [(4,)]

    plan = ctx.plan("prod", full_refresh={"customers_ts"})
    [note] = [n for n in plan.notes if "customers_ts" in n]
    assert "starts over" in note
    assert not [n for n in plan.notes if "customers_check" in n]
    ctx.apply(plan)

    assert sorted_rows(ctx, "select id, tier from main_history.customers_ts") == [(1, "silver")]


def test_dev_run_does_not_change_prods_snapshot_table(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(project())
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    ctx.plan_and_apply("dev")
    load(ctx, [(1, "silver", "2024-02-01")])
    ctx.run("dev", ["customers_ts"])
    assert sorted_rows(ctx, "select count(*) from main_history.customers_ts") == [(3,)]
    assert sorted_rows(ctx, "select count(*) from main_history__dev.customers_ts") == [(4,)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("unique_key='id', strategy='timestamp'", "the timestamp strategy needs updated_at"),
        ("strategy='check', check_cols='all'", "needs a unique_key"),
        ("unique_key='id', strategy='latest'", "strategy must be timestamp or check"),
        ("unique_key='id', strategy='check'", "check_cols"),
        ("unique_key='id', strategy='check', check_cols='all', hard_deletes='new_record'", "hard_deletes"),
    ],
)
def test_invalid_snapshot_configs_are_refused_with_the_file_and_line(
    project: Callable[..., Path], open_context: Callable[..., Context], config: str, message: str
) -> None:
    text = f"-- broken\n\n{{% snapshot broken %}}\n{{{{ config({config}) }}}}\nselect 1 as id\n{{% endsnapshot %}}\n"
    ctx = open_context(project(**{"snapshots/broken.sql": text}))
    with pytest.raises(ProjectError, match=message) as raised:
        _ = ctx.project
    assert raised.value.path == "snapshots/broken.sql" and raised.value.line == 3


def test_ref_to_a_snapshot_of_a_model(
    project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    yml = """
        snapshots:
          - name: stg_snapshot
            relation: ref('stg')
            config: {unique_key: id, strategy: timestamp, updated_at: updated_at}
    """
    ctx = open_context(
        project(
            **{
                "snapshots/snapshots.yml": yml,
                "models/stg.sql": "select * from {{ source('crm', 'customers') }}",
            }
        )
    )
    load(ctx, FIRST)
    ctx.plan_and_apply("prod")
    assert ctx.project.models["stg_snapshot"].refs == ("stg",)
    assert sorted_rows(ctx, "select count(*) from main_history.stg_snapshot where dbt_valid_to is null") == [
        (3,)
    ]
