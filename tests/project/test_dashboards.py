"""Dashboard queries written as BI tools run them: plain names read models, seeds and sources."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import CONFIG
from tidegate.project import Project
from tidegate.project.model import DashboardQuery

Load = Callable[..., Project]

FILES = {
    "seeds/raw_orders.csv": "id,amount\n1,10\n",
    "models/orders.sql": "select id, amount from {{ ref('raw_orders') }}",
    "models/marts/revenue.sql": "{{ config(schema='marts') }} select sum(amount) as revenue from {{ ref('orders') }}",
    "models/notes.sql": "{{ config(materialized='ephemeral') }} select 1 as note",
    "models/sources.yml": """
        version: 2
        sources:
          - name: shop
            schema: raw
            tables:
              - name: payments
              - name: orders
    """,
}


def query(load: Load, sql: str, config: str = CONFIG) -> DashboardQuery:
    files = {
        **FILES,
        "dashboards/board.yml": f"dashboards:\n  - name: board\n    queries:\n      - sql: '{sql}'\n",
    }
    (dashboard,) = load(files, config).dashboards
    return dashboard.queries[0]


@pytest.mark.parametrize(
    ("sql", "refs"),
    [
        ("select amount from raw_orders", ("raw_orders",)),  # a seed
        ("select revenue from revenue", ("revenue",)),  # bare, in its own schema
        ("select revenue from marts.revenue", ("revenue",)),
        ("select revenue from MARTS.Revenue", ("revenue",)),  # DuckDB ignores case
        ('select revenue from "marts"."REVENUE"', ("revenue",)),
        ("select revenue from warehouse.marts.revenue", ("revenue",)),  # the DuckDB file's name
        ("select r.revenue from marts.revenue as r", ("revenue",)),
        ("select marts.revenue.revenue from marts.revenue", ("revenue",)),
        ("select * from analytics.orders join marts.revenue on true", ("orders", "revenue")),
        ("with revenue as (select 1 as revenue) select revenue from revenue", ()),  # a CTE
        ("select revenue from analytics.revenue", ()),  # not its schema
        ("select revenue from otherdb.marts.revenue", ()),  # another database
        ("select note from notes", ()),  # ephemeral: no relation in the warehouse
        ('select * from {{ ref("orders") }} o join marts.revenue r on true', ("orders", "revenue")),
    ],
)
def test_plain_names_read_models_and_seeds_by_their_production_names(
    load: Load, sql: str, refs: tuple[str, ...]
) -> None:
    assert query(load, sql).refs == refs


def test_a_resolved_name_becomes_a_ref_placeholder_aliased_by_the_name_written(load: Load) -> None:
    found = query(load, "select marts.revenue.revenue, x.id from marts.revenue, raw_orders as x")
    assert found.sql == (
        "SELECT revenue.revenue, x.id FROM __tgref__revenue AS revenue, __tgref__raw_orders AS x"
    )


def test_sources_are_recorded_and_left_as_written(load: Load) -> None:
    found = query(load, "select * from raw.payments")
    assert (found.refs, found.sources, found.unresolved) == ((), ("shop.payments",), ())
    assert found.sql == "SELECT * FROM raw.payments"


def test_names_that_match_nothing_are_left_alone_and_kept(load: Load) -> None:
    found = query(load, "select * from information_schema.tables t, warehouse_log, raw_orders")
    assert found.refs == ("raw_orders",)
    assert [(u.name, u.reason) for u in found.unresolved] == [
        ("information_schema.tables", "not a model, seed or source"),
        ("warehouse_log", "not a model, seed or source"),
    ]
    assert "FROM information_schema.tables AS t, warehouse_log," in found.sql


def test_a_bare_name_of_several_relations_is_ambiguous_not_guessed(load: Load) -> None:
    found = query(load, "select * from orders o join raw.orders r on o.id = r.id")
    assert (found.refs, found.sources) == ((), ("shop.orders",))
    (ambiguous,) = found.unresolved
    assert ambiguous.name == "orders"
    assert ambiguous.candidates == ("analytics.orders", "raw.orders")
    assert "ambiguous" in ambiguous.reason and "qualify it" in ambiguous.reason


POSTGRES = CONFIG.replace("dialect: duckdb", "dialect: postgres")


@pytest.mark.parametrize(
    ("sql", "refs"),
    [
        ("select revenue from Marts.Revenue", ("revenue",)),  # unquoted: folded to lowercase
        ('select revenue from "marts"."revenue"', ("revenue",)),
        ('select revenue from "Marts"."Revenue"', ()),  # quoted: as written, and not the model
    ],
)
def test_postgresql_folds_unquoted_names_only(load: Load, sql: str, refs: tuple[str, ...]) -> None:
    assert query(load, sql, POSTGRES).refs == refs


def test_snowflake_folds_to_uppercase(load: Load) -> None:
    config = CONFIG.replace("dialect: duckdb", "dialect: snowflake")
    assert query(load, "select revenue from marts.revenue", config).refs == ("revenue",)
    assert query(load, 'select revenue from "MARTS"."REVENUE"', config).refs == ("revenue",)


def test_a_loaded_dashboard_is_resolved_once(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    first = query(load, "select revenue from marts.revenue")
    from tidegate.project import sql

    def no_parsing(*args: object, **kwargs: object) -> object:
        raise AssertionError("parsed again")

    monkeypatch.setattr(sql, "parse_query", no_parsing)
    assert query(load, "select revenue from marts.revenue") == first
