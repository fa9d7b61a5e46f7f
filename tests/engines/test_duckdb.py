"""The DuckDB adapter: statements, transactions, catalog, data in and out, and the file lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidegate.engines.duckdb import DuckDBAdapter
from tidegate.errors import EngineError, InvalidSQL, LockError


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBAdapter]:
    adapter = DuckDBAdapter.open(str(tmp_path / "engine.duckdb"), lock_timeout=1)
    yield adapter
    adapter.close()


def test_execute_and_fetch_with_parameters(engine: DuckDBAdapter) -> None:
    engine.execute("CREATE TABLE t (id INTEGER, name VARCHAR)")
    engine.execute("INSERT INTO t VALUES (?, ?), (?, ?)", [1, "a", 2, "b"])
    result = engine.fetch("SELECT id, name AS label FROM t WHERE id >= ? ORDER BY id", [1])
    assert result.columns == ["id", "label"]
    assert result.rows == [(1, "a"), (2, "b")]


def test_sql_the_engine_refuses_as_written_is_invalid_sql_exit_2(engine: DuckDBAdapter) -> None:
    with pytest.raises(InvalidSQL) as error:
        engine.fetch("SELECT * FROM missing_table")
    assert "missing_table" in str(error.value)
    assert error.value.exit_code == 2


def test_failures_while_running_are_engine_errors_exit_1(engine: DuckDBAdapter) -> None:
    with pytest.raises(EngineError) as error:
        engine.fetch("SELECT CAST('not a number' AS INTEGER)")
    assert not isinstance(error.value, InvalidSQL)
    assert "not a number" in str(error.value)
    assert error.value.exit_code == 1


def test_transaction_commits(engine: DuckDBAdapter) -> None:
    with engine.transaction():
        engine.execute("CREATE TABLE t AS SELECT 1 AS x")
        engine.execute("CREATE VIEW v AS SELECT * FROM t")
    assert engine.fetch("SELECT x FROM v").rows == [(1,)]


def test_transaction_rolls_back_data_and_ddl_on_error(engine: DuckDBAdapter) -> None:
    engine.execute("CREATE TABLE t (x INTEGER)")
    engine.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(EngineError), engine.transaction():
        engine.execute("INSERT INTO t VALUES (2)")
        engine.execute("CREATE VIEW v AS SELECT * FROM t")
        engine.execute("CREATE SCHEMA s")
        engine.execute("SELECT * FROM no_such_table")
    assert engine.fetch("SELECT x FROM t").rows == [(1,)]
    assert ("main", "v", "view") not in engine.relations("")
    assert not any(schema == "s" for schema, _, _ in engine.relations(""))
    # the connection is usable again, outside any transaction
    with engine.transaction():
        engine.execute("INSERT INTO t VALUES (3)")
    assert engine.fetch("SELECT count(*) FROM t").rows == [(2,)]


def test_transaction_rolls_back_on_python_exception(engine: DuckDBAdapter) -> None:
    with pytest.raises(KeyError), engine.transaction():
        engine.execute("CREATE TABLE t AS SELECT 1 AS x")
        raise KeyError("boom")
    assert engine.relations("") == []


def test_relations_by_schema_prefix(engine: DuckDBAdapter) -> None:
    for schema in ("tidegate__analytics", "tidegate__staging", "analytics", "other"):
        engine.create_schema(schema)
    engine.execute("CREATE TABLE tidegate__analytics.a__1 AS SELECT 1 AS x")
    engine.execute("CREATE VIEW tidegate__staging.b__1 AS SELECT 1 AS x")
    engine.execute("CREATE VIEW analytics.a AS SELECT * FROM tidegate__analytics.a__1")
    engine.execute("CREATE TABLE other.c AS SELECT 1 AS x")
    assert sorted(engine.relations("tidegate__")) == [
        ("tidegate__analytics", "a__1", "table"),
        ("tidegate__staging", "b__1", "view"),
    ]
    assert engine.relations("analytics") == [("analytics", "a", "view")]
    assert engine.relations("nothing_here") == []
    # a prefix is not a LIKE pattern
    assert engine.relations("tidegate%") == []
    engine.drop_schema("tidegate__staging")
    assert engine.relations("tidegate__staging") == []


def test_has_schema_whether_empty_or_not(engine: DuckDBAdapter) -> None:
    engine.execute("CREATE SCHEMA empty")
    assert engine.has_schema("empty") and engine.has_schema("main")
    assert not engine.has_schema("missing")


@pytest.mark.parametrize(
    ("query", "reads"),
    [
        ('SELECT * FROM "s"."t"', {'"s"."t"'}),
        ("select a from t", {'"v"."t"'}),  # DuckDB looks in the view's schema first
        ("WITH x AS (SELECT * FROM s.t) SELECT * FROM x JOIN main.u ON true", {'"s"."t"', '"main"."u"'}),
        ("SELECT 1 AS a", set()),
    ],
)
def test_view_reads_the_relations_of_its_definition(
    engine: DuckDBAdapter, query: str, reads: set[str]
) -> None:
    engine.execute(
        "CREATE SCHEMA s; CREATE SCHEMA v; CREATE TABLE s.t (a INTEGER); CREATE TABLE v.t (a INTEGER)"
    )
    engine.execute("CREATE TABLE main.u (b INTEGER)")
    engine.execute(f"CREATE VIEW v.view AS {query}")
    assert engine.view_reads("v", "view") == reads
    assert engine.view_reads("s", "t") is None  # a table is not a view


def test_columns(engine: DuckDBAdapter) -> None:
    engine.execute("CREATE TABLE t (id INTEGER, name VARCHAR, amount DECIMAL(10, 2))")
    assert engine.columns('"main"."t"') == [
        ("id", "INTEGER"),
        ("name", "VARCHAR"),
        ("amount", "DECIMAL(10,2)"),
    ]
    with pytest.raises(EngineError):
        engine.columns('"main"."missing"')


def test_load_csv_infers_types_and_honours_column_types(engine: DuckDBAdapter, tmp_path: Path) -> None:
    path = tmp_path / "it's.csv"
    path.write_text("id,code,amount\n1,7,1.5\n2,10,2.5\n")
    engine.load_csv('"main"."inferred"', path, {})
    assert dict(engine.columns('"main"."inferred"'))["code"] in {"BIGINT", "INTEGER"}
    engine.load_csv('"main"."typed"', path, {"code": "VARCHAR", "amount": "DECIMAL(10,2)"})
    types = dict(engine.columns('"main"."typed"'))
    assert types["code"] == "VARCHAR" and types["amount"] == "DECIMAL(10,2)"
    assert engine.fetch('SELECT code FROM "main"."typed" ORDER BY id').rows == [("7",), ("10",)]


def _frame_views(engine: DuckDBAdapter) -> list[tuple[object, ...]]:
    return engine.fetch("SELECT view_name FROM duckdb_views() WHERE view_name LIKE '__tidegate_frame%'").rows


def test_write_dataframe_from_pandas(engine: DuckDBAdapter) -> None:
    import pandas as pd

    engine.create_schema("s")
    engine.write_dataframe('"s"."from_pandas"', pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}))
    assert engine.fetch('SELECT * FROM "s"."from_pandas" ORDER BY id').rows == [(1, "a"), (2, "b")]
    assert ("s", "from_pandas", "table") in engine.relations("s")
    assert _frame_views(engine) == []


def test_write_dataframe_from_a_duckdb_relation(engine: DuckDBAdapter) -> None:
    engine.execute("CREATE TABLE src AS SELECT range AS x FROM range(5)")
    worker = engine.worker()
    try:
        relation = worker.dataframe('"main"."src"').filter("x >= 3")
        worker.write_dataframe('"main"."from_relation"', relation)
    finally:
        worker.close()
    assert engine.fetch('SELECT x FROM "main"."from_relation" ORDER BY x').rows == [(3,), (4,)]
    assert _frame_views(engine) == []


def test_write_dataframe_from_a_relation_of_another_connection(engine: DuckDBAdapter) -> None:
    """A Python model may return `duckdb.sql(...)`, a relation of DuckDB's default connection."""
    import duckdb

    other = duckdb.connect()
    try:
        engine.write_dataframe('"main"."foreign"', other.sql("SELECT 42 AS answer"))
    finally:
        other.close()
    assert engine.fetch('SELECT answer FROM "main"."foreign"').rows == [(42,)]


def test_insert_into_and_merge_into(engine: DuckDBAdapter) -> None:
    engine.execute("CREATE TABLE t (id INTEGER, k VARCHAR, v VARCHAR)")
    engine.insert_into(
        "t", "SELECT * FROM (VALUES (1, 'a', 'one'), (2, 'a', 'two'), (1, 'b', 'x')) AS v(id, k, v)"
    )
    engine.merge_into(
        "t",
        "SELECT * FROM (VALUES (2, 'a', 'TWO'), (3, 'a', 'three'), (1, 'b', 'X')) AS v(id, k, v)",
        ["id", "k"],
    )
    rows = engine.fetch("SELECT id, k, v FROM t ORDER BY id, k").rows
    assert rows == [(1, "a", "one"), (1, "b", "X"), (2, "a", "TWO"), (3, "a", "three")]
    # merging inside a transaction that fails leaves nothing behind, not even the staging table
    with pytest.raises(EngineError), engine.transaction():
        engine.merge_into("t", "SELECT 9 AS id, 'z' AS k, 'nine' AS v", ["id"])
        engine.execute("SELECT * FROM nope")
    assert engine.fetch("SELECT count(*) FROM t").rows == [(4,)]
    assert engine.fetch(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = '__tidegate_staged'"
    ).rows == [(0,)]


HOLDER = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "read-only")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""

TIDEGATE_HOLDER = """
import sys, time
from tidegate.engines.duckdb import DuckDBAdapter
adapter = DuckDBAdapter.open(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
adapter.close()
"""


def _hold(
    path: Path, seconds: float, mode: str = "write", script: Path | None = None
) -> subprocess.Popen[str]:
    """Another process holding the file: a DuckDB client (`python -c`), or a program named
    `tidegate` (as the installed command is) when `script` is given."""
    if not path.exists():
        DuckDBAdapter.open(str(path)).close()
    program = [str(script)] if script is not None else ["-c", textwrap.dedent(HOLDER)]
    process = subprocess.Popen(
        [sys.executable, *program, str(path), str(seconds), mode], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_open_waits_for_a_file_another_process_holds(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    holder = _hold(path, 1.5)
    messages: list[str] = []
    started = time.monotonic()
    try:
        adapter = DuckDBAdapter.open(str(path), lock_timeout=20, on_wait=messages.append)
    finally:
        holder.wait(timeout=20)
    waited = time.monotonic() - started
    try:
        assert adapter.fetch("SELECT 1").rows == [(1,)]
    finally:
        adapter.close()
    assert waited >= 0.5
    assert len(messages) == 1 and messages[0].startswith(f"waiting for {path}: another program (")
    assert messages[0].endswith(f"PID {holder.pid}) has it open")  # a DuckDB client, not tidegate


@pytest.mark.parametrize(
    ("mode", "tidegate", "says"),
    [
        ("write", False, "has it open"),
        ("read-only", False, "has it open read-only"),  # DuckDB lets no writer in while a reader is there
        ("write", True, "another tidegate process"),
    ],
)
def test_open_gives_up_with_a_lock_error_naming_who_holds_the_file(
    tmp_path: Path, mode: str, tidegate: bool, says: str
) -> None:
    path = tmp_path / "shared.duckdb"
    script = None
    if tidegate:
        script = tmp_path / "bin" / "tidegate"
        script.parent.mkdir()
        script.write_text(textwrap.dedent(TIDEGATE_HOLDER))
    holder = _hold(path, 5, mode, script)
    started = time.monotonic()
    try:
        with pytest.raises(LockError) as raised:
            DuckDBAdapter.open(str(path), lock_timeout=1)
    finally:
        holder.kill()
        holder.wait()
    assert time.monotonic() - started < 4
    error = raised.value
    assert error.exit_code == 1
    assert error.message.startswith(f"{path} stayed locked for 1s: ")
    assert says in error.message and f"PID {holder.pid}" in error.message
    assert ("tidegate" in error.message) == tidegate
    assert ("close the program that holds it" in (error.hint or "")) != tidegate


def test_open_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.duckdb"
    path.write_text("this is not a database file" * 100)
    with pytest.raises(EngineError) as raised:
        DuckDBAdapter.open(str(path), lock_timeout=1)
    assert not isinstance(raised.value, LockError)
    assert str(path) in str(raised.value)
