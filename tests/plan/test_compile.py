"""Compiling placeholder SQL for an engine: refs, aliases, ephemerals, `this` and sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.errors import InvalidSQL, PlanError
from tidegate.plan.compile import compile_sql
from tidegate.project.model import THIS_PLACEHOLDER, ref_placeholder

ORDERS, CUSTOMERS = ref_placeholder("orders"), ref_placeholder("customers")
RELATIONS = {
    "orders": '"tidegate__analytics"."orders__abc"',
    "customers": '"tidegate__analytics"."customers__def"',
}


def compiled(sql: str, **options: object) -> str:
    return compile_sql(sql, RELATIONS, read="duckdb", write="duckdb", **options)  # type: ignore[arg-type]


def test_refs_become_physical_relations() -> None:
    assert compiled(f"select id from {ORDERS}") == 'SELECT id FROM "tidegate__analytics"."orders__abc"'


def test_aliases_are_kept() -> None:
    sql = compiled(f"select o.id, c.name from {ORDERS} as o join {CUSTOMERS} c on o.customer_id = c.id")
    assert sql == (
        'SELECT o.id, c.name FROM "tidegate__analytics"."orders__abc" AS o '
        'JOIN "tidegate__analytics"."customers__def" AS c ON o.customer_id = c.id'
    )


def test_other_tables_and_qualified_names_are_left_alone() -> None:
    assert (
        compiled("select * from raw.orders join plain using (id)")
        == "SELECT * FROM raw.orders JOIN plain USING (id)"
    )


def test_ephemerals_are_inlined_as_subqueries_named_after_the_model() -> None:
    eph = ref_placeholder("eph")
    sql = compiled(f"select x from {eph}", ephemerals={"eph": "SELECT 1 AS x"})
    assert sql == "SELECT x FROM (SELECT 1 AS x) AS eph"
    aliased = compiled(f"select e.x from {eph} as e", ephemerals={"eph": "SELECT 1 AS x"})
    assert aliased == "SELECT e.x FROM (SELECT 1 AS x) AS e"


def test_this_is_the_model_own_relation() -> None:
    sql = compiled(
        f"select * from {ORDERS} where id > (select max(id) from {THIS_PLACEHOLDER})", this='"s"."t"'
    )
    assert sql == 'SELECT * FROM "tidegate__analytics"."orders__abc" WHERE id > (SELECT MAX(id) FROM "s"."t")'


def test_sources_are_replaced_by_stand_in_queries() -> None:
    sql = compiled("select id from raw.orders as r", sources={"raw.orders": "SELECT 1 AS id"})
    assert sql == "SELECT id FROM (SELECT 1 AS id) AS r"
    unaliased = compiled("select id from raw.orders", sources={"raw.orders": "SELECT 1 AS id"})
    assert unaliased == "SELECT id FROM (SELECT 1 AS id) AS orders"
    three_parts = compiled("select id from lake.raw.orders", sources={"lake.raw.orders": "SELECT 1 AS id"})
    assert three_parts == "SELECT id FROM (SELECT 1 AS id) AS orders"


def test_a_ref_without_a_relation_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match=r"no relation for ref\('missing'\)") as raised:
        compiled(f"select * from {ref_placeholder('missing')}")
    assert raised.value.exit_code == 2


def test_sql_sqlglot_cannot_read_is_invalid_sql() -> None:
    with pytest.raises(InvalidSQL, match="cannot compile the SQL") as raised:
        compiled(f"select a, from where {ORDERS}")
    assert raised.value.exit_code == 2
    with pytest.raises(InvalidSQL):  # an ephemeral model's query too
        compiled(f"select * from {ref_placeholder('eph')}", ephemerals={"eph": "select from ("})


def test_nested_ephemerals_are_inlined_in_a_real_build(make_project, open_context) -> None:
    root: Path = make_project(
        {
            "models/base.sql": "select * from (values (1, 'a'), (2, 'b'), (3, 'c')) as v(id, name)",
            "models/eph_one.sql": "{{ config(materialized='ephemeral') }} select id, name from {{ ref('base') }} where id > 1",
            "models/eph_two.sql": "{{ config(materialized='ephemeral') }} select e.id * 10 as id, name from {{ ref('eph_one') }} as e",
            "models/final.sql": "select f.id, f.name from {{ ref('eph_two') }} as f join {{ ref('base') }} as b on b.name = f.name",
        }
    )
    ctx = open_context(root)
    plan, _ = ctx.plan_and_apply("prod")
    final = next(build for build in plan.builds if build.model == "final")
    assert "__tgref__" not in final.sql
    assert final.sql.count("(SELECT") == 2 and ") AS e" in final.sql and ") AS f" in final.sql
    assert ctx.query("prod", "select * from final order by id").rows == [(20, "b"), (30, "c")]
    assert plan.mapping["eph_one"].physical is None and "eph_one" not in plan.views_changed


def test_sources_compile_to_the_declared_relation(make_project, open_context) -> None:
    root: Path = make_project(
        {
            "models/sources.yml": """
                version: 2
                sources:
                  - name: raw
                    schema: landing
                    tables:
                      - name: orders
                        identifier: orders_v2
            """,
            "models/stg.sql": "select id from {{ source('raw', 'orders') }}",
        }
    )
    ctx = open_context(root)
    engine = ctx.engine("prod")
    engine.execute("create schema landing")
    engine.execute("create table landing.orders_v2 as select 7 as id")
    plan, _ = ctx.plan_and_apply("prod")
    assert "landing.orders_v2" in plan.builds[0].sql
    assert ctx.query("prod", "select id from stg").rows == [(7,)]


def test_normalized_sql_in_the_engine_dialect_swaps_names_without_parsing() -> None:
    """The loader's SQL is sqlglot's own: the result equals what the parser's way would write."""
    sql = f"SELECT o.id, c.name FROM {ORDERS} AS o JOIN {ref_placeholder('customers')} AS c ON o.customer_id = c.id"
    relations = {
        "orders": '"tidegate__analytics"."orders__abc"',
        "customers": '"tidegate__analytics"."customers__def"',
    }
    quick = compile_sql(sql, relations, read="duckdb", write="duckdb", normalized=True)
    assert quick == compile_sql(sql, relations, read="duckdb", write="duckdb")
    with pytest.raises(PlanError, match="no relation"):  # a ref without a relation still says so
        compile_sql(sql, {"orders": "x"}, read="duckdb", write="duckdb", normalized=True)
    eph = compile_sql(
        f"SELECT x FROM {ref_placeholder('eph')}",
        {},
        read="duckdb",
        write="duckdb",
        ephemerals={"eph": "SELECT 1 AS x"},
        normalized=True,
    )
    assert eph == "SELECT x FROM (SELECT 1 AS x) AS eph"
