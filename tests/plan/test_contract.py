"""Enforced model contracts: the query's columns must match the declared names and types, as
dbt checks them, and a table gets the declared columns, in order, with their constraints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_files
from tidegate.context import Context
from tidegate.errors import ConfigError, EngineError, InvalidSQL, StateError


def contracted(name: str, columns: str, config: str = "") -> str:
    return f"""
        version: 2
        models:
          - name: {name}
            config: {{contract: {{enforced: true}}{config}}}
            columns: {columns}
    """


# Each case as dbt-core 1.11 with dbt-duckdb 1.10 decides it (both were run side by side): the
# types compare as DuckDB describes them, so `int` is `integer` and `text` is `varchar`, but
# INTEGER is not BIGINT and DECIMAL(2,1) is neither DOUBLE nor the declared DECIMAL(10,2).
@pytest.mark.parametrize(
    ("query", "columns", "builds"),
    [
        (
            "select 'x' as name, 1 as id",
            "[{name: id, data_type: int}, {name: name, data_type: varchar}]",
            True,
        ),
        ("select 'x' as name", "[{name: name, data_type: text}]", True),
        ("select 1 as id", "[{name: id, data_type: bigint}]", False),
        ("select 1.5 as amount", "[{name: amount, data_type: 'decimal(10,2)'}]", False),
        ("select 1.5 as amount", "[{name: amount, data_type: double}]", False),
        ("select cast(1.5 as decimal(10,2)) as amount", "[{name: amount, data_type: numeric}]", False),
        ("select 1 as id, 2 as extra", "[{name: id, data_type: integer}]", False),
        ("select 1 as ID", "[{name: id, data_type: integer}]", False),
    ],
)
def test_the_query_must_return_the_declared_columns_with_their_types(
    make_project: Callable[..., Path],
    open_context: Callable[..., Context],
    query: str,
    columns: str,
    builds: bool,
) -> None:
    root = make_project({"models/m.sql": query, "models/m.yml": contracted("m", columns)})
    ctx = open_context(root)
    if builds:
        ctx.plan_and_apply("prod")
        return
    with pytest.raises(InvalidSQL, match="enforced contract failed") as failure:
        ctx.plan_and_apply("prod")
    assert failure.value.exit_code == 2
    assert failure.value.path == "models/m.sql" and failure.value.model == "m"
    with pytest.raises(StateError):
        ctx.current("prod")


def test_mismatches_are_listed_by_column(make_project, open_context) -> None:
    columns = "[{name: id, data_type: bigint}, {name: gone, data_type: integer}]"
    root = make_project(
        {"models/m.sql": "select 1 as id, 2 as extra", "models/m.yml": contracted("m", columns)}
    )
    with pytest.raises(InvalidSQL) as failure:
        open_context(root).plan_and_apply("prod")
    lines = failure.value.message.splitlines()[1:]
    assert lines == [
        "  id: data type mismatch: INTEGER in the query, BIGINT in the contract",
        "  extra: INTEGER in the query, missing in the contract",
        "  gone: INTEGER in the contract, missing in the query",
    ]


def test_a_table_gets_the_declared_columns_in_order_and_a_view_keeps_its_own(
    make_project, open_context
) -> None:
    columns = "[{name: id, data_type: integer}, {name: name, data_type: varchar}]"
    root = make_project(
        {
            "models/t.sql": "select 'a' as name, 1 as id union all select 'b', 2",
            "models/t.yml": contracted("t", columns),
            "models/v.sql": "select 'a' as name, 1 as id",
            "models/v.yml": contracted("v", columns, ", materialized: view"),
        }
    )
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("prod")
    assert result is not None
    engine = ctx.engine("prod")
    assert engine.columns("analytics.t") == [("id", "INTEGER"), ("name", "VARCHAR")]
    assert sorted(ctx.query("prod", "select id, name from t").rows) == [(1, "a"), (2, "b")]
    assert [name for name, _ in engine.columns("analytics.v")] == ["name", "id"]


def test_constraints_are_created_and_a_violation_fails_the_build(make_project, open_context) -> None:
    yml = """
        models:
          - name: t
            config: {contract: {enforced: true}}
            columns:
              - name: id
                data_type: integer
                constraints: [{type: not_null}, {type: check, expression: "id > 0"}]
              - {name: code, data_type: varchar}
            constraints:
              - {type: unique, columns: [code]}
    """
    root = make_project({"models/t.sql": "select 1 as id, 'a' as code", "models/t.yml": yml})
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    table = ctx.current("prod").models["t"].physical
    with pytest.raises(EngineError, match=r"(?i)not null"):  # the table itself holds the constraint
        ctx.engine("prod").execute(f"insert into {table} values (null, 'b')")
    ctx.close()

    for query, violated in [
        ("select cast(null as integer) as id, 'b' as code", "(?i)not null"),
        ("select -1 as id, 'b' as code", "(?i)check"),
        ("select 1 as id, 'b' as code union all select 2, 'b'", "(?i)duplicate|unique"),
    ]:
        write_files(root, {"models/t.sql": query})
        ctx = open_context(root)
        with pytest.raises(EngineError, match=violated):
            ctx.plan_and_apply("prod")
        assert ctx.query("prod", "select id, code from t").rows == [(1, "a")]
        ctx.close()


def test_an_incremental_run_writes_the_declared_columns_in_order(make_project, open_context) -> None:
    root = make_project(
        {
            "models/events.sql": """
                {{ config(materialized='incremental', unique_key='id') }}
                select 'x' as kind, id from {{ source('raw', 'events') }}
                {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
            """,
            "models/events.yml": contracted(
                "events", "[{name: id, data_type: integer}, {name: kind, data_type: varchar}]"
            ),
            "models/sources.yml": "sources: [{name: raw, schema: raw, tables: [{name: events}]}]",
        }
    )
    ctx = open_context(root)
    ctx.engine("prod").execute("create schema raw; create table raw.events as select 1 as id")
    ctx.plan_and_apply("prod")
    ctx.engine("prod").execute("insert into raw.events values (2)")
    ctx.run("prod")
    assert sorted(ctx.query("prod", "select id, kind from events").rows) == [(1, "x"), (2, "x")]


@pytest.mark.parametrize(
    ("yml", "message", "line"),
    [
        (contracted("m", "[{name: id}]"), r"with a data_type \(no data_type for id\)", 3),
        (
            contracted("m", "[{name: id, data_type: integer}]", ", materialized: ephemeral"),
            "not ephemeral",
            3,
        ),
        (
            contracted("m", "[{name: id, data_type: integer, constraints: [{type: key}]}]"),
            "constraint's type",
            5,
        ),
    ],
)
def test_contracts_that_cannot_hold_are_refused_with_the_file_and_line(
    make_project, open_context, yml: str, message: str, line: int
) -> None:
    root = make_project({"models/m.sql": "select 1 as id", "models/m.yml": yml})
    with pytest.raises(ConfigError, match=message) as failure:
        open_context(root).plan("prod")
    assert (failure.value.path, failure.value.line) == ("models/m.yml", line)


@pytest.mark.parametrize(
    "data_type",
    ["'integer, x text); create table injected (y int); create table z (id integer'", "int; drop table m"],
)
def test_a_data_type_that_is_not_one_type_is_refused_before_any_ddl(
    make_project: Callable[..., Path], open_context: Callable[..., Context], data_type: str
) -> None:
    root = make_project(
        {
            "models/m.sql": "select 1 as id",
            "models/m.yml": contracted("m", f"[{{name: id, data_type: {data_type}}}]"),
        }
    )
    with pytest.raises(ConfigError, match=r"data_type of column 'id': .* is not one SQL type") as refused:
        open_context(root).plan_and_apply("prod")
    assert refused.value.path == "models/m.yml" and refused.value.exit_code == 2
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb")) as warehouse:
        tables = {
            name
            for (name,) in warehouse.execute("select table_name from information_schema.tables").fetchall()
        }
    assert not tables & {"injected", "z"}
