"""dbt's incremental strategies on a second build (`run`) after the source changed: merge and
delete+insert replace the rows of keys that come again, append adds every row; hooks run too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import rows
from tidegate.context import Context

SOURCES = """
    version: 2
    sources:
      - name: shop
        schema: shop
        tables:
          - name: orders
"""

NEW_ROWS = "where updated_at > (select max(updated_at) from {{ this }})"

FILES = {
    "models/sources.yml": SOURCES,
    "models/current.sql": f"""
        {{{{ config(materialized='incremental', unique_key='id', incremental_strategy='merge') }}}}
        select id, customer, amount, updated_at from {{{{ source('shop', 'orders') }}}}
        {{% if is_incremental() %}} {NEW_ROWS} {{% endif %}}
    """,
    "models/by_customer.sql": f"""
        {{{{ config(materialized='incremental', unique_key='customer',
                    incremental_strategy='delete+insert',
                    post_hook="insert into shop.log select '{{{{ 'run' if is_incremental() else 'build' }}}}'") }}}}
        select customer, count(*) as orders, sum(amount) as amount, max(updated_at) as updated_at
        from {{{{ source('shop', 'orders') }}}}
        {{% if is_incremental() %}}
        where customer in (select customer from {{{{ source('shop', 'orders') }}}} {NEW_ROWS})
        {{% endif %}}
        group by customer
    """,
    "models/events.sql": f"""
        {{{{ config(materialized='incremental', incremental_strategy='append') }}}}
        select id, amount, updated_at from {{{{ source('shop', 'orders') }}}}
        {{% if is_incremental() %}} {NEW_ROWS} {{% endif %}}
    """,
}


def test_a_run_after_new_and_changed_source_rows_matches_dbts_second_build(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(make_project(FILES))
    engine = ctx.engine("prod")
    engine.execute("create schema shop")
    engine.execute("create table shop.log (what varchar)")
    engine.execute("create table shop.orders (id int, customer int, amount int, updated_at int)")
    engine.execute("insert into shop.orders values (1, 1, 10, 1), (2, 1, 20, 2), (3, 2, 5, 3)")
    ctx.plan_and_apply("prod")
    assert rows(ctx, "select * from by_customer order by 1") == [(1, 2, 30, 2), (2, 1, 5, 3)]

    # order 2 changes (customer 1), order 4 is new (customer 3); customer 2 is untouched
    engine.execute("update shop.orders set amount = 25, updated_at = 4 where id = 2")
    engine.execute("insert into shop.orders values (4, 3, 7, 5)")
    assert sorted(ctx.run("prod")) == ["by_customer", "current", "events"]

    assert rows(ctx, "select id, amount from current order by 1") == [(1, 10), (2, 25), (3, 5), (4, 7)]
    assert rows(ctx, "select * from by_customer order by 1") == [(1, 2, 35, 4), (2, 1, 5, 3), (3, 1, 7, 5)]
    assert rows(ctx, "select id, amount from events order by 1, 2") == [
        (1, 10),
        (2, 20),
        (2, 25),  # append keeps the old version of the row
        (3, 5),
        (4, 7),
    ]
    # the post-hook ran with the build, and with is_incremental() true around the run
    assert rows(ctx, "select what from shop.log") == [("build",), ("run",)]


def test_strategies_and_hooks_change_the_fingerprint(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(make_project(FILES))
    before = dict(ctx.fingerprints)
    changed = FILES["models/current.sql"].replace("'merge'", "'delete+insert'")
    ctx.close()
    ctx = open_context(make_project({**FILES, "models/current.sql": changed}))
    assert ctx.fingerprints["current"].data != before["current"].data
    assert ctx.fingerprints["events"] == before["events"]
    hook = FILES["models/by_customer.sql"].replace("else 'build'", "else 'full'")
    ctx.close()
    ctx = open_context(make_project({**FILES, "models/by_customer.sql": hook}))
    assert ctx.fingerprints["by_customer"].data != before["by_customer"].data
