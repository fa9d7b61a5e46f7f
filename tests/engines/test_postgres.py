"""The PostgreSQL adapter against the real server (127.0.0.1:5432): statements, transactions,
catalog, data in and out, timeouts, advisory locks, credentials, and whole stories through
`Context`: build, change, promote under concurrent readers, roll back, janitor, a killed build.

Each test gets a fresh database (`postgres_database`, tests/engines/conftest.py). Without a
server the tests that need it are skipped, unless TIDEGATE_REQUIRE_PG=1 makes that a failure.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import COUNT_REFUNDS, DATED_LAYERED, plain_numbers, rows, write_files
from tests.engines.conftest import PG_ADMIN_DSN, postgres_admin, require_postgres
from tidegate.context import Context
from tidegate.engines.postgres import PostgresAdapter, to_pyformat
from tidegate.errors import ConfigError, EngineError, InvalidSQL
from tidegate.project.config import ConnectionConfig
from tidegate.state.schema import TABLES
from tidegate.state.store import SCHEMA, StateStore
from tidegate.state.views import INTERNAL_PREFIX


def open_engine(dsn: str, tmp_path: Path, **settings: Any) -> PostgresAdapter:
    config = ConnectionConfig(engine="postgres", dsn=dsn, **{"lock_timeout": "5s", **settings})
    adapter = PostgresAdapter.connect(config, tmp_path)
    assert isinstance(adapter, PostgresAdapter)
    return adapter


@pytest.fixture
def engine(postgres_database: str, tmp_path: Path) -> Iterator[PostgresAdapter]:
    adapter = open_engine(postgres_database, tmp_path, threads=4)
    yield adapter
    adapter.close()


def other_session(dsn: str) -> Any:
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


# statements ------------------------------------------------------------------------------


def test_placeholders_become_pyformat_outside_literals() -> None:
    assert to_pyformat("SELECT ? AS a, '?' AS b, \"?\" AS c, '%' AS d -- ?\n, ?") == (
        "SELECT %s AS a, '?' AS b, \"?\" AS c, '%%' AS d -- ?\n, %s"
    )
    assert (
        to_pyformat("SELECT $$ ? $$, $tag$ '? $tag$, ? /* ? */")
        == "SELECT $$ ? $$, $tag$ '? $tag$, %s /* ? */"
    )


def test_execute_and_fetch_with_parameters(engine: PostgresAdapter) -> None:
    engine.execute("CREATE TABLE t (id INTEGER, name VARCHAR)")
    engine.execute("INSERT INTO t VALUES (?, ?), (?, ?)", [1, "a", 2, "b?"])
    result = engine.fetch("SELECT id, name AS label FROM t WHERE id >= ? ORDER BY id", [1])
    assert result.columns == ["id", "label"]
    assert result.rows == [(1, "a"), (2, "b?")]
    # without parameters nothing is translated: a literal ? and % are themselves
    assert engine.fetch("SELECT '?' AS q, '100%' AS p").rows == [("?", "100%")]
    assert engine.fetch("SELECT '100%' AS p, ? AS x", [7]).rows == [("100%", 7)]
    assert engine.fetch("CREATE TABLE u (x int)") == engine.fetch("DROP TABLE u")  # no result: empty


def test_sql_the_server_refuses_as_written_is_invalid_sql_exit_2(engine: PostgresAdapter) -> None:
    engine.execute("CREATE TABLE t (x INTEGER)")
    for sql in ("SELECT * FROM missing_table", "SELECT nope FROM t", "SELEC 1", "SELECT no_such_fn(1)"):
        with pytest.raises(InvalidSQL) as error:
            engine.fetch(sql)
        assert error.value.exit_code == 2
    with pytest.raises(InvalidSQL, match="missing_table"):
        engine.fetch("SELECT * FROM missing_table")


def test_failures_while_running_are_engine_errors_exit_1(engine: PostgresAdapter) -> None:
    for sql in ("SELECT CAST('not a number' AS INTEGER)", "SELECT 1 / 0"):
        with pytest.raises(EngineError) as error:
            engine.fetch(sql)
        assert not isinstance(error.value, InvalidSQL)
        assert error.value.exit_code == 1
    assert engine.fetch("SELECT 1").rows == [(1,)]  # the session is fine afterwards


def test_transaction_commits_and_nests(engine: PostgresAdapter) -> None:
    with engine.transaction():
        engine.execute("CREATE TABLE t AS SELECT 1 AS x")
        with engine.transaction():  # a savepoint
            engine.execute("CREATE VIEW v AS SELECT * FROM t")
        with pytest.raises(InvalidSQL), engine.transaction():
            engine.execute("INSERT INTO t VALUES (2)")
            engine.execute("SELECT * FROM nope")
    assert engine.fetch("SELECT x FROM v").rows == [(1,)]


def test_transaction_rolls_back_data_and_ddl_on_error(engine: PostgresAdapter) -> None:
    engine.execute("CREATE TABLE t (x INTEGER)")
    engine.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(EngineError), engine.transaction():
        engine.execute("INSERT INTO t VALUES (2)")
        engine.execute("CREATE VIEW v AS SELECT * FROM t")
        engine.execute("CREATE SCHEMA s")
        engine.execute("DROP TABLE t")
        engine.execute("SELECT * FROM no_such_table")
    assert engine.fetch("SELECT x FROM t").rows == [(1,)]
    assert engine.relations("") == [("public", "t", "table")]
    with engine.transaction():
        engine.execute("INSERT INTO t VALUES (3)")
    assert engine.fetch("SELECT count(*) FROM t").rows == [(2,)]
    with pytest.raises(KeyError), engine.transaction():
        engine.execute("CREATE TABLE gone AS SELECT 1 AS x")
        raise KeyError("boom")
    assert engine.relations("") == [("public", "t", "table")]


def test_workers_use_other_pooled_connections(engine: PostgresAdapter) -> None:
    worker = engine.worker()
    try:
        assert worker.backend_pid != engine.backend_pid
        # a worker goes back to the pool clean: no temporary table or setting survives
        worker.execute("CREATE TEMPORARY TABLE scratch (x int)")
    finally:
        worker.close()
    again = engine.worker()
    try:
        assert again.fetch(
            "SELECT count(*) FROM pg_class WHERE relname = 'scratch' AND relnamespace = pg_my_temp_schema()"
        ).rows == [(0,)]
    finally:
        again.close()


# catalog ---------------------------------------------------------------------------------


def test_relations_by_literal_schema_prefix(engine: PostgresAdapter) -> None:
    for schema in ("tidegate__analytics", "tidegate__staging", "tidegateXanalytics", "analytics", "other"):
        engine.create_schema(schema)
    engine.create_schema("analytics")  # idempotent
    engine.execute("CREATE TABLE tidegate__analytics.a__1 AS SELECT 1 AS x")
    engine.execute("CREATE VIEW tidegate__staging.b__1 AS SELECT 1 AS x")
    engine.execute("CREATE MATERIALIZED VIEW tidegate__staging.m__1 AS SELECT 1 AS x")
    engine.execute('CREATE TABLE "tidegateXanalytics".c AS SELECT 1 AS x')
    engine.execute("CREATE VIEW analytics.a AS SELECT * FROM tidegate__analytics.a__1")
    engine.execute("CREATE TABLE other.c AS SELECT 1 AS x")
    assert engine.relations("tidegate__") == [
        ("tidegate__analytics", "a__1", "table"),
        ("tidegate__staging", "b__1", "view"),
        ("tidegate__staging", "m__1", "view"),
    ]
    assert engine.relations("analytics") == [("analytics", "a", "view")]
    assert engine.relations("tidegate_%") == []  # `_` and `%` are not LIKE patterns
    assert engine.relations("nothing_here") == []
    engine.drop_view('"tidegate__staging"."m__1"')  # a materialized view too
    engine.drop_schema("tidegate__staging")
    assert engine.relations("tidegate__staging") == []


def test_has_schema_and_the_relations_a_view_reads(engine: PostgresAdapter) -> None:
    engine.execute("CREATE SCHEMA s")
    engine.execute("CREATE TABLE s.t (a INTEGER)")
    engine.execute("CREATE TABLE public.u (b INTEGER)")
    engine.execute("CREATE VIEW s.v AS WITH x AS (SELECT a FROM s.t) SELECT a, b FROM x, u")
    engine.execute("CREATE VIEW s.constant AS SELECT 1 AS a")
    assert engine.has_schema("s") and not engine.has_schema("missing")
    assert engine.view_reads("s", "v") == {'"s"."t"', '"public"."u"'}
    assert engine.view_reads("s", "constant") == set()
    assert engine.view_reads("s", "t") is None  # a table is not a view
    assert engine.view_reads("s", "missing") is None


def test_columns(engine: PostgresAdapter) -> None:
    engine.execute("CREATE SCHEMA s")
    engine.execute('CREATE TABLE s."T" (id INTEGER, name VARCHAR, amount DECIMAL(10, 2), at TIMESTAMP)')
    engine.execute('ALTER TABLE s."T" DROP COLUMN name')
    assert engine.columns('"s"."T"') == [
        ("id", "integer"),
        ("amount", "numeric(10,2)"),
        ("at", "timestamp without time zone"),
    ]
    with pytest.raises(EngineError, match="does not exist"):
        engine.columns('"s"."missing"')


def test_views_replace_even_when_their_columns_change(engine: PostgresAdapter) -> None:
    engine.execute("CREATE TABLE t AS SELECT 1 AS a, 2 AS b")
    engine.create_view('"public"."v"', "SELECT a, b FROM t")
    engine.execute("CREATE VIEW dependent AS SELECT a FROM v")
    engine.create_view('"public"."v"', "SELECT a, b, 3 AS c FROM t")  # compatible: dependents kept
    assert engine.fetch("SELECT * FROM dependent").rows == [(1,)]
    engine.execute("DROP VIEW dependent")
    with engine.transaction():
        engine.create_view('"public"."v"', "SELECT b AS renamed FROM t")  # fewer, renamed columns
    assert engine.fetch("SELECT * FROM v").rows == [(2,)]
    with pytest.raises(InvalidSQL), engine.transaction():
        engine.create_view('"public"."v"', "SELECT 'text' AS other")
        engine.execute("SELECT * FROM nope")
    assert engine.fetch("SELECT * FROM v").rows == [(2,)]  # rolled back with the transaction
    engine.drop_view('"public"."v"')
    engine.drop_view('"public"."v"')  # IF EXISTS
    assert engine.relations("public") == [("public", "t", "table")]


def test_replace_table_as_create_and_drop(engine: PostgresAdapter) -> None:
    engine.create_table_as('"public"."t"', "SELECT 1 AS x")
    engine.replace_table_as('"public"."t"', "SELECT 'a' AS y, 2 AS z")
    assert engine.fetch("SELECT * FROM t").rows == [("a", 2)]
    with pytest.raises(InvalidSQL), engine.transaction():
        engine.replace_table_as('"public"."t"', "SELECT 3 AS w")
        engine.execute("SELECT * FROM nope")
    assert engine.fetch("SELECT * FROM t").rows == [("a", 2)]
    engine.drop_table('"public"."t"')
    engine.drop_table('"public"."t"')
    assert engine.relations("public") == []


def test_insert_into_and_merge_into(engine: PostgresAdapter) -> None:
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
    engine.merge_into("t", "SELECT 9 AS id, 'z' AS k, 'nine' AS v", ["id"])  # twice in one session
    with pytest.raises(EngineError) as raised, engine.transaction():
        engine.merge_into("t", "SELECT 10 AS id, 'z' AS k, 'ten' AS v", ["id"])
        engine.execute("SELECT * FROM nope")
    assert "nope" in str(raised.value)  # the real error, not "current transaction is aborted"
    assert engine.fetch("SELECT count(*) FROM t").rows == [(5,)]
    assert engine.fetch("SELECT count(*) FROM pg_class WHERE relname = '__tidegate_staged'").rows == [(0,)]
    with pytest.raises(ValueError):
        engine.merge_into("t", "SELECT 1", [])


def test_names_longer_than_postgres_allows_are_refused(engine: PostgresAdapter) -> None:
    with pytest.raises(InvalidSQL, match="63 bytes"):
        engine.relation("analytics", "m" * 64)
    assert engine.relation("analytics", "m" * 63).endswith('"' + "m" * 63 + '"')


# data in and out -------------------------------------------------------------------------


def test_load_csv_infers_types_and_honours_column_types(engine: PostgresAdapter, tmp_path: Path) -> None:
    path = tmp_path / "it's.csv"
    path.write_text(
        "id,code,amount,flag,day,at,name,big\n"
        "1,7,1.5,true,2024-01-05,2024-01-05 10:00:00,a,1\n"
        '2,10,,false,2024-02-29,2024-01-06T11:30:00,"b, with comma",99999999999999999999\n'
        "3,,2,,,,,\n"
    )
    engine.load_csv('"public"."inferred"', path, {})
    assert engine.columns('"public"."inferred"') == [
        ("id", "bigint"),
        ("code", "bigint"),
        ("amount", "double precision"),
        ("flag", "boolean"),
        ("day", "date"),
        ("at", "timestamp without time zone"),
        ("name", "text"),
        ("big", "numeric"),
    ]
    rows = engine.fetch('SELECT code, amount, flag, name FROM "public"."inferred" ORDER BY id').rows
    assert rows == [(7, 1.5, True, "a"), (10, None, False, "b, with comma"), (None, 2.0, None, None)]
    engine.load_csv(
        '"public"."typed"', path, {"code": "TEXT", "amount": "DECIMAL(10,2)", "id": "DOUBLE PRECISION"}
    )
    types = dict(engine.columns('"public"."typed"'))
    assert types["code"] == "text"
    assert types["amount"] == "numeric(10,2)"
    assert types["id"] == "double precision"
    assert engine.fetch('SELECT code FROM "public"."typed" ORDER BY id').rows == [("7",), ("10",), (None,)]


def test_dataframe_and_write_dataframe(engine: PostgresAdapter) -> None:
    import datetime as dt

    import numpy as np
    import pandas as pd

    engine.execute("CREATE TABLE src AS SELECT 1 AS id, 2.5::numeric AS amount, 'a'::text AS name")
    frame = engine.dataframe('"public"."src"')
    assert isinstance(frame, pd.DataFrame)
    assert frame.to_dict("records") == [{"id": 1, "amount": 2.5, "name": "a"}]
    source = pd.DataFrame(
        {
            "i": pd.Series([1, 2, 3], dtype="int64"),
            "small": pd.Series([1, 2, 3], dtype="int16"),
            "n": pd.Series([1, None, 3], dtype="Int64"),
            "f": [1.5, np.nan, 3.0],
            "b": [True, False, True],
            "s": ["x", None, "z"],
            "ts": pd.to_datetime(["2024-01-01 10:00", None, "2024-01-03 00:00"]),
            "d": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)],
            "dec": [Decimal("1.10"), Decimal("2"), None],
        }
    )
    engine.write_dataframe('"public"."out"', source)
    assert dict(engine.columns('"public"."out"')) == {
        "i": "bigint",
        "small": "smallint",
        "n": "bigint",
        "f": "double precision",
        "b": "boolean",
        "s": "text",
        "ts": "timestamp without time zone",
        "d": "date",
        "dec": "numeric",
    }
    assert engine.fetch('SELECT * FROM "public"."out" ORDER BY i').rows == [
        (1, 1, 1, 1.5, True, "x", dt.datetime(2024, 1, 1, 10), dt.date(2024, 1, 1), Decimal("1.10")),
        (2, 2, None, None, False, None, None, None, Decimal("2")),
        (3, 3, 3, 3.0, True, "z", dt.datetime(2024, 1, 3), dt.date(2024, 1, 3), None),
    ]

    class Foreign:  # polars, Arrow: anything with to_pandas()
        def to_pandas(self) -> pd.DataFrame:
            return pd.DataFrame({"x": [1]})

    engine.write_dataframe('"public"."foreign"', Foreign())
    engine.write_dataframe('"public"."empty"', pd.DataFrame({"x": pd.Series([], dtype="float64")}))
    assert engine.fetch('SELECT * FROM "public"."foreign"').rows == [(1,)]
    assert engine.columns('"public"."empty"') == [("x", "double precision")]
    with pytest.raises(EngineError, match="pandas"):
        engine.write_dataframe('"public"."bad"', 42)


# timeouts, locks, credentials ------------------------------------------------------------


def test_statement_timeout(postgres_database: str, tmp_path: Path) -> None:
    adapter = open_engine(postgres_database, tmp_path, statement_timeout="1s")
    try:
        started = time.monotonic()
        with pytest.raises(EngineError) as raised:
            adapter.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4
        assert "timed out after 1s" in raised.value.message
        assert not isinstance(raised.value, InvalidSQL)
        assert adapter.fetch("SELECT 1").rows == [(1,)]
        worker = adapter.worker()  # workers have the same timeout
        try:
            with pytest.raises(EngineError, match="timed out"):
                worker.execute("SELECT pg_sleep(5)")
        finally:
            worker.close()
    finally:
        adapter.close()


def test_advisory_locks_block_other_sessions_and_die_with_theirs(
    postgres_database: str, tmp_path: Path
) -> None:
    first, second = open_engine(postgres_database, tmp_path), open_engine(postgres_database, tmp_path)
    try:
        assert first.try_advisory_lock("tidegate:prod")
        assert not second.try_advisory_lock("tidegate:prod")
        assert second.try_advisory_lock("tidegate:dev")  # another key
        first.advisory_unlock("tidegate:prod")
        assert second.try_advisory_lock("tidegate:prod")
        assert not first.try_advisory_lock("tidegate:prod")
        second.close()  # closing the session releases its locks
        assert first.try_advisory_lock("tidegate:prod")
        # the server releases the locks of a session that dies
        third = open_engine(postgres_database, tmp_path)
        try:
            assert not third.try_advisory_lock("tidegate:prod")
            postgres_admin("SELECT pg_terminate_backend(%s)", (first.backend_pid,))
            deadline = time.monotonic() + 5
            while not third.try_advisory_lock("tidegate:prod"):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            with pytest.raises(EngineError, match=r"connection to 127\.0\.0\.1:5432/tg_\w+ lost"):
                first.fetch("SELECT 1")
        finally:
            third.close()
    finally:
        first.close()
        second.close()


def test_state_store_lock_serializes_two_warehouse_sessions(postgres_database: str, tmp_path: Path) -> None:
    from tidegate.errors import LockError

    first, second = open_engine(postgres_database, tmp_path), open_engine(postgres_database, tmp_path)
    try:
        stores = [StateStore(first), StateStore(second)]
        with stores[0].lock("prod", timeout=1):
            with pytest.raises(LockError), stores[1].lock("prod", timeout=0.3):
                pass
            with stores[1].lock("dev", timeout=0.3):
                pass
        with stores[1].lock("prod", timeout=1):
            pass
        assert first.fetch(f"SELECT count(*) FROM {SCHEMA}.locks").rows == [(0,)]
    finally:
        first.close()
        second.close()


def test_state_store_ensure_from_many_sessions_at_once(postgres_database: str, tmp_path: Path) -> None:
    engines = [open_engine(postgres_database, tmp_path) for _ in range(4)]
    errors: list[BaseException] = []

    def ensure(engine: PostgresAdapter) -> None:
        try:
            StateStore(engine).ensure()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    try:
        threads = [threading.Thread(target=ensure, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        tables = sorted(name for schema, name, _ in engines[0].relations(SCHEMA) if schema == SCHEMA)
        assert tables == sorted(TABLES)
    finally:
        for engine in engines:
            engine.close()


def test_dsn_from_environment_variables_and_no_password_in_messages(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_database.rsplit("/", 1)[1]
    monkeypatch.setenv("TG_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("TG_PG_PASSWORD", "s3cret-Pa55")
    monkeypatch.setenv("TG_PG_DSN", postgres_database)
    # whole DSN from one variable
    adapter = open_engine("${TG_PG_DSN}", tmp_path)
    try:
        assert adapter.fetch("SELECT current_database(), current_setting('application_name')").rows == [
            (database, "tidegate")
        ]
        assert adapter.identity == f"127.0.0.1:5432/{database}"
    finally:
        adapter.close()
    # parts of it, with the password (trust auth ignores it) from a variable
    dsn = f"host=${{TG_PG_HOST}} port=5432 dbname={database} user=postgres password=${{TG_PG_PASSWORD}}"
    adapter = open_engine(dsn, tmp_path)
    try:
        with pytest.raises(InvalidSQL) as raised:
            adapter.fetch("SELECT * FROM nope")
        assert "s3cret" not in str(raised.value)
        postgres_admin("SELECT pg_terminate_backend(%s)", (adapter.backend_pid,))
        with pytest.raises(EngineError) as lost:
            adapter.fetch("SELECT 1")
        assert f"127.0.0.1:5432/{database}" in lost.value.message and "s3cret" not in str(lost.value)
    finally:
        adapter.close()
    config = ConnectionConfig(
        engine="postgres", dsn=f"postgresql://postgres:${{TG_PG_PASSWORD}}@127.0.0.1/{database}"
    )
    assert config.key(tmp_path) == f"postgres:127.0.0.1:5432/{database}"
    # an unreachable server: the message names host:port/db, never the DSN or the password
    with pytest.raises(EngineError) as refused:
        open_engine("postgresql://postgres:${TG_PG_PASSWORD}@127.0.0.1:1/nowhere", tmp_path)
    assert "127.0.0.1:1/nowhere" in refused.value.message
    assert "s3cret" not in str(refused.value) and "postgresql://" not in str(refused.value)
    # an unset variable is named; a password written in tidegate.yml is refused
    with pytest.raises(ConfigError, match="TG_PG_UNSET"):
        open_engine("postgresql://postgres:${TG_PG_UNSET}@127.0.0.1/db", tmp_path)
    with pytest.raises(ValueError, match="password"):
        open_engine(f"postgresql://postgres:hunter2@127.0.0.1/{database}", tmp_path)
    monkeypatch.setenv("TG_PG_BROKEN", "host=127.0.0.1 password=s3cret-Pa55 'broken")
    with pytest.raises(ConfigError) as invalid:
        open_engine("${TG_PG_BROKEN}", tmp_path)
    assert "s3cret" not in str(invalid.value)


@pytest.fixture
def role_with_a_hard_password() -> Iterator[tuple[str, str]]:
    """A login role (unique name, dropped after) whose password has every character a URL or a
    key=value string gives a meaning to."""
    require_postgres()
    name = f"tg_user_{uuid.uuid4().hex[:8]}@x"
    password = "p@ss/w:rd'\\ x%41?#&;=end"
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
        )
    yield name, password
    postgres_admin(f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.parametrize(
    "template",
    [
        "postgresql://${TG_PG_USER}:${TG_PG_PASSWORD}@127.0.0.1:5432/${TG_PG_DB}",
        "host=127.0.0.1 user=${TG_PG_USER} password=${TG_PG_PASSWORD} dbname=${TG_PG_DB} port=5432",
    ],
)
def test_a_password_with_any_characters_connects_and_is_never_shown(
    postgres_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    role_with_a_hard_password: tuple[str, str],
    template: str,
) -> None:
    user, password = role_with_a_hard_password
    monkeypatch.setenv("TG_PG_USER", user)
    monkeypatch.setenv("TG_PG_PASSWORD", password)
    monkeypatch.setenv("TG_PG_DB", postgres_database.rsplit("/", 1)[1])

    adapter = open_engine(template, tmp_path)
    try:
        assert adapter.fetch("SELECT current_user").rows == [(user,)]
    finally:
        adapter.close()

    monkeypatch.setenv("TG_PG_DB", "tg_no_such_database")
    with pytest.raises(EngineError) as refused:
        open_engine(template, tmp_path)
    message = str(refused.value)
    assert "127.0.0.1:5432/tg_no_such_database" in message and "does not exist" in message
    for part in ("p@ss", "w:rd", "x%41", "end", password, "%40ss"):
        assert part not in message, part


# Context stories -------------------------------------------------------------------------

CONFIG = """\
name: shop
dialect: duckdb
environments:
  prod: {engine: postgres, dsn: "${TG_TEST_DSN}", threads: 3, lock_timeout: 10s}
  dev: {engine: postgres, dsn: "${TG_TEST_DSN}", threads: 3, lock_timeout: 10s}
promotion: [dev, prod]
"""

SHOP = {
    **DATED_LAYERED,
    "models/shop.yml": """
        version: 2
        sources:
          - name: ctl
            schema: ctl
            tables: [{name: knobs}]
        models:
          - name: big_customers
            columns:
              - name: customer_id
                data_tests:
                  - relationships: {to: ref('customer_totals'), field: customer_id}
    """,
    "models/doubled.py": """
        def model(big_customers):
            frame = big_customers.copy()
            frame["doubled"] = frame["total"] * 2
            return frame[["customer_id", "doubled"]]
    """,
    # sleeps as long as ctl.knobs says: the same SQL (and fingerprint) is slow or fast
    "models/slow.sql": """
        select n, (select count(*) from (select pg_sleep(seconds) from {{ source('ctl', 'knobs') }}) s) as slept
        from {{ ref('order_count') }}
    """,
}


@pytest.fixture
def project(
    postgres_database: str, make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """`project(files)`: a project on the test's database, which has a table ctl.knobs."""
    monkeypatch.setenv("TG_TEST_DSN", postgres_database)
    monkeypatch.setenv("TIDEGATE_USER", "tester")
    with other_session(postgres_database) as session:
        session.execute(
            "CREATE SCHEMA ctl; CREATE TABLE ctl.knobs (seconds float); INSERT INTO ctl.knobs VALUES (0)"
        )
    return lambda files: make_project(files, config=CONFIG)


def test_story_build_change_promote_rollback_janitor(
    project: Callable[..., Path], open_context: Callable[[Path], Context], postgres_database: str
) -> None:
    root = project(SHOP)
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("prod")
    assert result is not None and result.version == 1
    assert sorted(result.built) == sorted(
        ["raw_orders", "stg_orders", "customer_totals", "big_customers", "order_count", "doubled", "slow"]
    )
    assert all(test.failures == 0 for test in result.tests) and len(result.tests) == 4
    assert plain_numbers(rows(ctx, "select * from doubled order by customer_id")) == [(1, 60.0)]
    assert ctx.query("prod", "select ordered_on from stg_orders where order_id = 1").rows[0][
        0
    ].isoformat() == ("2024-01-05")
    with other_session(postgres_database) as session:  # prod is plain views in the analytics schema
        assert session.execute("select count(*) from analytics.customer_totals").fetchone() == (2,)

    # a breaking change in dev rebuilds the model and its children, reuses the rest
    write_files(root, COUNT_REFUNDS)
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("dev")
    assert result is not None
    assert sorted(result.built) == ["big_customers", "customer_totals", "doubled"]
    assert plain_numbers(rows(ctx, "select customer_id, total from customer_totals order by 1", "dev")) == [
        (1, 30.0),
        (2, 5.0),
        (3, 7.0),
    ]
    assert plain_numbers(rows(ctx, "select customer_id, total from customer_totals order by 1")) == [
        (1, 30.0),
        (3, 7.0),
    ]
    with other_session(postgres_database) as session:
        assert session.execute("select count(*) from analytics__dev.customer_totals").fetchone() == (3,)

    assert ctx.promote("dev", "prod") == 2
    assert plain_numbers(rows(ctx, "select count(*) from customer_totals")) == [(3,)]
    assert ctx.rollback("prod") == 3
    assert plain_numbers(rows(ctx, "select count(*) from customer_totals")) == [(2,)]
    assert [v.action for v in ctx.history("prod")] == ["apply", "promote", "rollback"]

    # nothing to drop while everything is within retention; with none, dev's old snapshots
    # stay (dev uses them) but the versions only prod's history needed go
    assert ctx.janitor(retention="7d").dropped_snapshots == []
    relations_before = {name for _, name, _ in ctx.engine("prod").relations(INTERNAL_PREFIX)}
    report = ctx.janitor(retention="0s")
    relations_after = {name for _, name, _ in ctx.engine("prod").relations(INTERNAL_PREFIX)}
    assert relations_after < relations_before or report.dropped_snapshots == []
    for environment in ("prod", "dev"):
        for name in ctx.current(environment).models:
            ctx.show(environment, name, limit=1)


def test_promotion_is_atomic_for_concurrent_readers(
    project: Callable[..., Path], open_context: Callable[[Path], Context], postgres_database: str
) -> None:
    """30 models; a reader in another session joins the first and the last model (in the swap's
    order and the other way round) while prod is promoted and rolled back: it always sees one
    generation, never a mix."""
    count = 30

    def files(generation: int) -> dict[str, str]:
        return {
            f"models/m{i:02d}.sql": f"select {generation} as gen, {i} as i, n from {{{{ ref('order_count') }}}}"
            for i in range(count)
        } | {"models/order_count.sql": "select 4 as n"}

    root = project(files(1))
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    write_files(root, files(2))
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("dev")
    assert result is not None and len(result.built) == count

    seen: list[tuple[int, int]] = []
    problems: list[str] = []
    stop = threading.Event()

    def read() -> None:
        queries = [
            "select a.gen, b.gen from analytics.m00 a cross join analytics.m29 b",
            "select b.gen, a.gen from analytics.m29 b cross join analytics.m00 a",
            "select (select gen from analytics.m15), (select gen from analytics.m03)",
        ]
        with other_session(postgres_database) as session:
            while not stop.is_set():
                try:
                    row = session.execute(random.choice(queries)).fetchone()
                except Exception as error:  # pragma: no cover - the assertion reports it
                    problems.append(f"{type(error).__name__}: {error}")
                    continue
                assert row is not None
                seen.append((int(row[0]), int(row[1])))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        time.sleep(0.1)
        for _ in range(4):
            ctx.promote("dev", "prod")
            time.sleep(0.05)
            ctx.rollback("prod")
            time.sleep(0.05)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert problems == []
    assert {pair for pair in seen} <= {(1, 1), (2, 2)}
    assert (1, 1) in seen and (2, 2) in seen and len(seen) > 20
    assert [v.version for v in ctx.history("prod")] == list(range(1, 10))


def test_a_build_whose_backend_is_terminated_changes_nothing_and_a_rerun_completes(
    project: Callable[..., Path], open_context: Callable[[Path], Context], postgres_database: str
) -> None:
    root = project(SHOP)
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    before = {name: r.physical for name, r in ctx.current("prod").models.items()}
    rows_before = ctx.query("prod", "select * from slow").rows

    # a breaking change upstream of `slow`, which now sleeps while it builds
    write_files(root, {"models/order_count.sql": "select count(*) + 100 as n from {{ ref('stg_orders') }}"})
    with other_session(postgres_database) as session:
        session.execute("UPDATE ctl.knobs SET seconds = 3")
    ctx = open_context(root)
    plan = ctx.plan("prod")
    failure: list[BaseException] = []

    def apply() -> None:
        try:
            ctx.apply(plan)
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=apply)
    thread.start()
    database = postgres_database.rsplit("/", 1)[1]
    killed: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + 10
    while not killed and time.monotonic() < deadline:
        killed = postgres_admin(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND application_name = 'tidegate' AND query ILIKE '%%pg_sleep%%' AND state = 'active'",
            (database,),
        )
        time.sleep(0.05)
    thread.join(timeout=20)
    assert killed, f"the build never started: {failure}"
    assert len(failure) == 1 and isinstance(failure[0], EngineError)
    assert "lost" in failure[0].message and "slow" in str(failure[0])
    assert {name: r.physical for name, r in ctx.current("prod").models.items()} == before
    assert ctx.query("prod", "select * from slow").rows == rows_before
    assert [v.version for v in ctx.history("prod")] == [1]

    with other_session(postgres_database) as session:
        session.execute("UPDATE ctl.knobs SET seconds = 0")
    plan, result = ctx.plan_and_apply("prod")  # the same context: its pool replaced the dead one
    assert result is not None and result.version == 2
    assert result.built == ["slow"]
    assert "order_count" in result.reused
    assert plain_numbers(rows(ctx, "select n from slow")) == [(104,)]


def test_python_model_errors_and_invalid_sql_keep_their_kinds(
    project: Callable[..., Path], open_context: Callable[[Path], Context]
) -> None:
    root = project({**SHOP, "models/broken.sql": "select no_such_column from {{ ref('order_count') }}"})
    ctx = open_context(root)
    with pytest.raises(InvalidSQL) as raised:
        ctx.plan_and_apply("prod")
    assert raised.value.model == "broken" and "no_such_column" in raised.value.message
    assert ctx.state("prod").current("prod") is None


def test_state_tables_use_portable_sql(postgres_database: str, tmp_path: Path) -> None:
    """The store's statements run unchanged on PostgreSQL."""
    from tests.state.test_store import record

    engine = open_engine(postgres_database, tmp_path)
    try:
        store = StateStore(engine)
        store.ensure()
        store.ensure()
        first = record("orders", "a" * 16)
        store.record_snapshot(first)
        store.record_snapshot(first)  # ON CONFLICT DO NOTHING
        assert list(store.snapshots()) == [("orders", "a" * 16)]
        with engine.transaction():
            assert store.write_version("prod", {"orders": first}, action="apply") == 1
        assert store.write_version("prod", {}, action="drop") == 2
        assert store.current("prod") is None
        assert [v.version for v in store.history("prod")] == [1, 2]
        assert store.environments() == []
        store.record_run("r1", "apply", "prod", store.history("prod")[0].created_at, "ok", {"x": 1})
        assert store.built_since(store.history("prod")[0].created_at.replace(year=2000)) == {
            ("orders", "a" * 16, "a" * 8)
        }
        store.delete_snapshots([first])
        assert store.snapshots() == {}
    finally:
        engine.close()
