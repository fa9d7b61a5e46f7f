"""Data tests that keep their failing rows (dbt's `store_failures`), on DuckDB: where the rows
go in each environment, how each run replaces them, and how dbt projects configure it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LAYERED, Row, rows, write_files
from tidegate.context import Context
from tidegate.errors import CheckFailed, ConfigError
from tidegate.project import load_project

AUDIT = '"analytics_dbt_test__audit"'


def kept(ctx: Context, relation: str) -> list[Row]:
    return rows(ctx, f"select * from {relation} order by all", as_written=True)


def kinds(ctx: Context, schema: str) -> dict[str, str]:
    return {name: kind for found, name, kind in ctx.engine("prod").relations(schema) if found == schema}


def test_a_blocking_failure_keeps_its_rows_and_leaves_the_environment_as_it_was(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    root = make_project(
        {
            **LAYERED,
            "tests/no_refunds.sql": """
                {{ config(store_failures=true) }}
                select order_id, amount from {{ ref('stg_orders') }} where status = 'refunded'
            """,
        }
    )
    ctx = open_context(root)
    with pytest.raises(CheckFailed, match="no_refunds") as failure:
        ctx.plan_and_apply("prod")
    result = next(r for r in failure.value.results if r.name == "no_refunds")  # type: ignore[attr-defined]
    assert result.failures_relation == f'{AUDIT}."no_refunds"'
    assert result.details == [f'failing rows stored in {AUDIT}."no_refunds"', "{'order_id': 3, 'amount': 5}"]
    assert kept(ctx, result.failures_relation) == [(3, 5)]  # to look at, although nothing was applied
    assert ctx.environments() == []


def test_each_run_replaces_the_rows_as_a_table_or_a_view_and_empties_them_when_it_passes(
    layered: Path, open_context: Callable[..., Context]
) -> None:
    def run_test(condition: str, config: str) -> str:
        sql = f"{{{{ config({config}) }}}}\nselect * from {{{{ ref('stg_orders') }}}} where {condition}"
        write_files(layered, {"tests/big_orders.sql": sql})
        result = next(r for r in open_context(layered).test("dev") if r.name == "big_orders")
        assert result.failures_relation == '"analytics_dbt_test__audit__dev"."big_orders"'
        return result.failures_relation

    open_context(layered).plan_and_apply("dev")
    ctx = open_context(layered)
    relation = run_test("amount > 8", "store_failures=true, severity='warn'")
    assert [row[0] for row in kept(ctx, relation)] == [1, 2]
    assert kinds(ctx, "analytics_dbt_test__audit__dev") == {"big_orders": "table"}

    relation = run_test("amount > 6", "store_failures_as='view', severity='warn'")
    assert [row[0] for row in kept(ctx, relation)] == [1, 2, 4]
    assert kinds(ctx, "analytics_dbt_test__audit__dev") == {"big_orders": "view"}

    relation = run_test("amount > 100", "store_failures=true")  # passes: dbt empties the table too
    assert kept(ctx, relation) == []
    assert kinds(ctx, "analytics_dbt_test__audit__dev") == {"big_orders": "table"}
    assert kinds(ctx, "analytics_dbt_test__audit") == {}  # prod never ran it


def test_dropping_an_environment_drops_the_failing_rows_it_kept(
    layered: Path, open_context: Callable[..., Context]
) -> None:
    write_files(
        layered,
        {
            "tests/paid.sql": "{{ config(store_failures=true, severity='warn') }}\nselect 1 from {{ ref('stg_orders') }}"
        },
    )
    ctx = open_context(layered)
    for environment in ("prod", "dev"):
        ctx.plan_and_apply(environment)
        ctx.test(environment)
    assert kinds(ctx, "analytics_dbt_test__audit") == {"paid": "table"}
    assert kinds(ctx, "analytics_dbt_test__audit__dev") == {"paid": "table"}
    ctx.drop_environment("dev")
    assert kinds(ctx, "analytics_dbt_test__audit__dev") == {}
    assert kinds(ctx, "analytics_dbt_test__audit") == {"paid": "table"}
    ctx.drop_environment("prod")  # prod's schema is dbt's: its relation goes, the schema stays
    assert kinds(ctx, "analytics_dbt_test__audit") == {}
    assert ctx.state("prod").stored_failures() == []


DBT = {
    "dbt_project.yml": """
        name: shop
        profile: shop
        data_tests:
          shop:
            +severity: warn
            marts:
              +store_failures: true
        tests:
          shop:
            staging:
              +store_failures_as: view
    """,
    "profiles.yml": """
        shop:
          target: dev
          outputs:
            dev: {type: duckdb, path: warehouse.duckdb, schema: main}
    """,
    "seeds/raw_orders.csv": "id,status\n1,paid\n2,\n",
    "models/staging/stg_orders.sql": "select id as order_id, status from {{ ref('raw_orders') }}",
    "models/staging/staging.yml": """
        version: 2
        models:
          - name: stg_orders
            columns:
              - name: status
                data_tests: [not_null]
    """,
    "models/marts/orders.sql": "select * from {{ ref('stg_orders') }}",
    "models/marts/marts.yml": """
        version: 2
        models:
          - name: orders
            columns:
              - name: order_id
                data_tests:
                  - unique
                  - not_null: {config: {store_failures_as: ephemeral}}
              - name: status
                data_tests:
                  - not_null: {store_failures: false, severity: error}
                  - accepted_values:
                      values: [paid]
                      config: {schema: quality, alias: unknown_statuses}
    """,
}


def test_dbt_project_configs_say_which_tests_keep_their_rows_and_where(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(DBT, config="")
    (root / "tidegate.yml").unlink()
    tests = {t.name: t for t in load_project(root).tests}
    assert {name: (t.severity.value, t.store_failures) for name, t in tests.items()} == {
        "not_null_stg_orders_status": ("warn", True),  # the staging folder's store_failures_as
        "unique_orders_order_id": ("warn", True),  # the marts folder's store_failures
        "not_null_orders_order_id": ("warn", False),  # ephemeral: kept nowhere
        "not_null_orders_status": ("error", False),  # the legacy keys among its arguments win
        "accepted_values_orders_status__paid": ("warn", True),
    }
    where = {
        n: (t.store_failures_as, t.audit_schema, t.audit_name) for n, t in tests.items() if t.store_failures
    }
    assert where == {
        "not_null_stg_orders_status": ("view", "main_dbt_test__audit", "not_null_stg_orders_status"),
        "unique_orders_order_id": ("table", "main_dbt_test__audit", "unique_orders_order_id"),
        "accepted_values_orders_status__paid": ("table", "main_quality", "unknown_statuses"),
    }


def test_a_bad_store_failures_config_names_dbt_project_yml_and_its_line(
    make_project: Callable[..., Path],
) -> None:
    files = {**DBT, "dbt_project.yml": DBT["dbt_project.yml"].replace("view", "materialized_view")}
    root = make_project(files, config="")
    (root / "tidegate.yml").unlink()
    with pytest.raises(ConfigError, match="store_failures_as must be one of") as raised:
        load_project(root)
    assert (raised.value.path, raised.value.line) == ("dbt_project.yml", 11)


def test_a_test_schema_that_another_environment_could_own_is_refused(
    make_project: Callable[..., Path],
) -> None:
    marts = DBT["models/marts/marts.yml"].replace("schema: quality", "schema: quality__pr_1")
    root = make_project({**DBT, "models/marts/marts.yml": marts}, config="")
    (root / "tidegate.yml").unlink()
    with pytest.raises(ConfigError, match="'main_quality__pr_1': schema 'main_quality__pr_1' contains '__'"):
        load_project(root)
