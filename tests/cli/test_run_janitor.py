"""`tidegate run` for incremental models and `tidegate janitor`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import invoke
from tests.conftest import LAYERED, edit

INCREMENTAL = {
    "models/sources.yml": """
        version: 2
        sources:
          - name: raw
            schema: raw
            tables:
              - name: events
    """,
    "models/events.sql": """
        {{ config(materialized='incremental', unique_key='id') }}
        select id, kind from {{ source('raw', 'events') }}
        {% if is_incremental() %}
        where id > (select max(id) from {{ this }})
        {% endif %}
    """,
}


def _raw(root: Path, sql: str) -> None:
    import duckdb

    connection = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        connection.execute(sql)
    finally:
        connection.close()


def test_run_processes_new_rows_of_an_incremental_model(make_project: Callable[..., Path]) -> None:
    root = make_project(INCREMENTAL)
    _raw(
        root,
        "create schema raw; create table raw.events as select * from (values (1, 'a'), (2, 'b')) t(id, kind)",
    )
    assert invoke(root, "plan", "prod", "--auto-apply").code == 0
    _raw(root, "insert into raw.events values (3, 'c')")
    ran = invoke(root, "run", "prod")
    assert ran.code == 0, ran.all
    assert "Ran 1 incremental model(s) in prod: events" in ran.stdout
    rows = invoke(root, "query", "prod", "select id from events order by id", "--json").json()["rows"]
    assert rows == [[1], [2], [3]]
    assert invoke(root, "run", "prod", "--select", "events", "--json").json() == {
        "environment": "prod",
        "models": ["events"],
    }


def test_run_without_incremental_models_says_so(built: Path) -> None:
    ran = invoke(built, "run", "prod")
    assert ran.code == 0, ran.all
    assert "no incremental models" in ran.stdout
    ran = invoke(built, "run", "prod", "--select", "order_count")
    assert ran.code == 2
    assert "not an incremental model" in ran.stderr


def test_janitor_drops_snapshots_no_environment_uses(built: Path) -> None:
    edit(built, "models/order_count.sql", "count(*) as n", "count(*) as n, 1 as one")
    assert invoke(built, "plan", "prod", "--auto-apply").code == 0
    ran = invoke(built, "janitor", "--json")  # 7 days by default: version 1 may still be rolled back to
    assert ran.code == 0, ran.all
    assert ran.json()["dropped_snapshots"] == []
    ran = invoke(built, "janitor", "--retention", "0s")
    assert ran.code == 0, ran.all
    assert "dropped snapshot order_count@" in ran.stdout
    assert "Dropped 1 unused snapshot(s)" in ran.stdout
    ran = invoke(built, "rollback", "prod")
    assert ran.code == 2
    assert "dropped by the janitor" in ran.stderr


def test_janitor_bad_duration_exits_2(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED)
    ran = invoke(root, "janitor", "--retention", "soon")
    assert ran.code == 2
    assert "invalid duration 'soon'" in ran.stderr
    assert "Traceback" not in ran.all
