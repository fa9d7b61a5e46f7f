"""The Spark adapter on PySpark's local mode, and a whole project story on it.

One SparkSession serves the whole test process (starting one costs seconds); each test drops the
databases it created, so tests stay independent. With `TIDEGATE_SPARK_REMOTE=sc://host:port` the
same tests run against a Spark Connect server instead of local mode.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import write_files
from tests.engines.conftest import require_spark
from tidegate.engines.spark import SparkAdapter
from tidegate.engines.spark_sql import bind_parameters, literal
from tidegate.errors import ConfigError, EngineError, InvalidSQL
from tidegate.project.config import ConnectionConfig

require_spark()


LOCAL = "local[1]"
REMOTE = os.environ.get("TIDEGATE_SPARK_REMOTE") or None


def _connection(**settings: object) -> ConnectionConfig:
    return ConnectionConfig(engine="spark", master=LOCAL, remote=REMOTE, **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def spark_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spark")


def _databases(engine: SparkAdapter) -> set[str]:
    return {str(row[0]) for row in engine.fetch("SHOW DATABASES").rows}


@pytest.fixture
def engine(spark_root: Path, tmp_path: Path) -> Iterator[SparkAdapter]:
    connection = _connection(state_path=str(tmp_path / "state.duckdb"), lock_timeout="5s")
    adapter = SparkAdapter.connect(connection, spark_root)
    before = _databases(adapter)
    yield adapter
    for database in _databases(adapter) - before:
        adapter.drop_schema(database)
    adapter.close()


# SQL text -------------------------------------------------------------------------------------


def test_parameters_become_quoted_literals_outside_strings_and_comments() -> None:
    sql = "SELECT ?, '?', `a?``b`, \"it\\'s ?\" -- ?\n, ? /* ? */ FROM t WHERE x = ?"
    bound = bind_parameters(sql, ["o'k\\", None, 3])
    assert bound == ("SELECT 'o\\'k\\\\', '?', `a?``b`, \"it\\'s ?\" -- ?\n, NULL /* ? */ FROM t WHERE x = 3")
    with pytest.raises(InvalidSQL):
        bind_parameters("SELECT ?, ?", [1])
    with pytest.raises(InvalidSQL):
        bind_parameters("SELECT ?", [1, 2])


def test_literals() -> None:
    assert literal(True) == "TRUE" and literal(7) == "7" and literal(1.5) == "1.5D"
    assert literal(Decimal("1.25")) == "1.25BD"
    assert literal(float("nan")) == "CAST('NaN' AS DOUBLE)"
    assert literal(dt.date(2024, 1, 2)) == "DATE '2024-01-02'"
    assert literal(dt.datetime(2024, 1, 2, 3, 4, 5)) == "TIMESTAMP_NTZ '2024-01-02 03:04:05'"
    assert literal(b"\x01\xff") == "X'01ff'"


# the adapter ----------------------------------------------------------------------------------


def test_execute_and_fetch_with_parameters(engine: SparkAdapter) -> None:
    engine.create_schema("t_exec")
    engine.execute("CREATE TABLE t_exec.t (id INT, name STRING, day DATE) USING parquet")
    engine.execute(
        "INSERT INTO t_exec.t VALUES (?, ?, ?), (?, ?, ?)",
        [1, "it's", dt.date(2024, 1, 1), 2, "b\\c", dt.date(2024, 1, 2)],
    )
    result = engine.fetch("SELECT id, name AS label, day FROM t_exec.t WHERE id >= ? ORDER BY id", [1])
    assert result.columns == ["id", "label", "day"]
    assert result.rows == [(1, "it's", dt.date(2024, 1, 1)), (2, "b\\c", dt.date(2024, 1, 2))]


def test_errors_invalid_sql_exit_2_and_runtime_failures_exit_1(engine: SparkAdapter) -> None:
    with pytest.raises(InvalidSQL) as invalid:
        engine.fetch("SELECT * FROM missing_table")
    assert "missing_table" in str(invalid.value) and invalid.value.exit_code == 2
    assert "\tat " not in str(invalid.value)  # no JVM stack trace
    with pytest.raises(InvalidSQL):
        engine.execute("SELEC 1")
    for run in (engine.fetch, engine.execute):  # a query run by execute runs too
        with pytest.raises(EngineError) as failed:
            run("SELECT CAST('not a number' AS INT)")
        assert not isinstance(failed.value, InvalidSQL) and failed.value.exit_code == 1


def test_transaction_runs_its_block_without_rollback(engine: SparkAdapter) -> None:
    engine.create_schema("t_tx")
    with pytest.raises(KeyError), engine.transaction():
        engine.execute("CREATE TABLE t_tx.t USING parquet AS SELECT 1 AS x")
        raise KeyError("boom")
    # documented: Spark has no transactions, what ran stays
    assert engine.relations("t_tx") == [("t_tx", "t", "table")]
    assert SparkAdapter.spec.transactional_ddl is False


def test_catalog_relations_columns_and_lowercased_names(engine: SparkAdapter) -> None:
    for schema in ("tidegate__t_cat", "tidegate__t_cat2", "t_cat", "Other_t_cat"):
        engine.create_schema(schema)
    assert engine.relation("Tidegate__T_Cat", "A__1") == "`tidegate__t_cat`.`a__1`"
    assert engine.quote("we`ird") == "`we``ird`"
    engine.create_table_as(
        engine.relation("tidegate__t_cat", "A__1"),
        "SELECT 1 AS id, 'x' AS name, CAST(2.5 AS DECIMAL(10,2)) AS amount",
    )
    engine.create_view(engine.relation("tidegate__t_cat2", "b__1"), "SELECT 1 AS x")
    engine.create_view(engine.relation("t_cat", "a"), "SELECT * FROM `tidegate__t_cat`.`a__1`")
    assert sorted(engine.relations("tidegate__t_cat")) == [
        ("tidegate__t_cat", "a__1", "table"),
        ("tidegate__t_cat2", "b__1", "view"),
    ]
    assert engine.relations("t_cat") == [("t_cat", "a", "view")]
    assert engine.relations("tidegate%") == []  # a prefix, not a pattern
    assert engine.columns("`t_cat`.`a`") == [("id", "int"), ("name", "string"), ("amount", "decimal(10,2)")]
    with pytest.raises(EngineError):
        engine.columns("`t_cat`.`missing`")
    engine.drop_view(engine.relation("t_cat", "a"))
    engine.drop_table(engine.relation("tidegate__t_cat", "a__1"))
    engine.drop_table(engine.relation("tidegate__t_cat", "a__1"))  # IF EXISTS
    assert engine.relations("t_cat") == []
    engine.drop_schema("tidegate__t_cat2")
    assert engine.relations("tidegate__t_cat2") == []


def test_tables_use_the_configured_format_and_can_be_replaced(engine: SparkAdapter) -> None:
    engine.create_schema("t_fmt")
    relation = engine.relation("t_fmt", "t")
    engine.create_table_as(relation, "SELECT 1 AS x")
    detail = engine.fetch("DESCRIBE TABLE EXTENDED `t_fmt`.`t`").rows
    assert any(str(row[0]) == "Provider" and str(row[1]).lower() == "parquet" for row in detail)
    engine.replace_table_as(relation, "SELECT 2 AS x, 'b' AS y")
    assert engine.fetch(f"SELECT * FROM {relation}").rows == [(2, "b")]
    with pytest.raises(InvalidSQL):  # CREATE TABLE of an existing table
        engine.create_table_as(relation, "SELECT 3 AS x")


def test_insert_into_and_merge_into_rewrites_parquet(engine: SparkAdapter) -> None:
    engine.create_schema("t_merge")
    relation = engine.relation("t_merge", "t")
    engine.create_table_as(relation, "SELECT 1 AS id, 'a' AS k, 'one' AS v")
    engine.insert_into(relation, "SELECT * FROM VALUES (2, 'a', 'two'), (1, 'b', 'x') AS v(id, k, v)")
    engine.merge_into(
        relation,
        "SELECT * FROM VALUES (2, 'a', 'TWO'), (3, 'a', 'three'), (1, 'b', 'X') AS v(id, k, v)",
        ["id", "k"],
    )
    rows = engine.fetch(f"SELECT id, k, v FROM {relation} ORDER BY id, k").rows
    assert rows == [(1, "a", "one"), (1, "b", "X"), (2, "a", "TWO"), (3, "a", "three")]
    # the query may read the table it merges into (an incremental model reading `this`)
    engine.merge_into(relation, f"SELECT id, k, upper(v) AS v FROM {relation} WHERE id = 1", ["id", "k"])
    assert engine.fetch(f"SELECT v FROM {relation} WHERE id = 1 ORDER BY k").rows == [("ONE",), ("X",)]
    assert engine.relations("t_merge") == [("t_merge", "t", "table")]  # no staging table left
    with pytest.raises(ValueError):
        engine.merge_into(relation, "SELECT 1", [])


def test_load_csv_infers_types_and_honours_column_types(engine: SparkAdapter, tmp_path: Path) -> None:
    engine.create_schema("t_csv")
    path = tmp_path / "it's.csv"
    path.write_text("id,code,amount,day\n1,7,1.5,2024-01-02\n2,10,2.5,2024-02-03\n")
    engine.load_csv(engine.relation("t_csv", "inferred"), path, {})
    types = dict(engine.columns("`t_csv`.`inferred`"))
    assert types["code"] in {"int", "bigint"} and types["amount"] == "double"
    assert types["day"] == "date" or REMOTE  # for a remote server pandas reads the file: text
    engine.load_csv(engine.relation("t_csv", "typed"), path, {"code": "STRING", "amount": "DECIMAL(10, 2)"})
    types = dict(engine.columns("`t_csv`.`typed`"))
    assert types["code"] == "string" and types["amount"] == "decimal(10,2)"
    assert engine.fetch("SELECT code FROM t_csv.typed ORDER BY id").rows == [("7",), ("10",)]


def test_dataframes_in_and_out(engine: SparkAdapter) -> None:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    engine.create_schema("t_df")
    engine.write_dataframe(
        engine.relation("t_df", "from_pandas"), pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    )
    assert engine.fetch("SELECT * FROM t_df.from_pandas ORDER BY id").rows == [(1, "a"), (2, "b"), (3, "c")]
    frame = engine.dataframe(engine.relation("t_df", "from_pandas"))
    assert isinstance(frame, DataFrame)
    engine.write_dataframe(
        engine.relation("t_df", "from_spark"),
        frame.where(F.col("id") >= 2).withColumn("twice", F.col("id") * 2),
    )
    assert engine.fetch("SELECT id, twice FROM t_df.from_spark ORDER BY id").rows == [(2, 4), (3, 6)]
    engine.write_dataframe(engine.relation("t_df", "from_arrow"), pa.table({"x": [1.5]}))
    assert engine.fetch("SELECT x FROM t_df.from_arrow").rows == [(1.5,)]
    assert {name for _, name, kind in engine.relations("t_df") if kind == "table"} == {
        "from_pandas",
        "from_spark",
        "from_arrow",
    }


def test_workers_share_the_session_and_the_state_engine(engine: SparkAdapter) -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine.create_schema("t_workers")

    def build(i: int) -> None:
        worker = engine.worker()
        try:
            with worker.transaction():
                worker.create_table_as(
                    worker.relation("t_workers", f"t{i}"), f"SELECT id FROM range({i + 1})"
                )
            assert worker.state_engine() is engine.state_engine()
            worker.state_engine().fetch("SELECT ?", [i])
        finally:
            worker.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(build, range(3)))
    assert sorted(name for _, name, _ in engine.relations("t_workers")) == ["t0", "t1", "t2"]
    assert engine.fetch("SELECT count(*) FROM t_workers.t2").rows == [(3,)]
    # closing workers left the state engine open
    assert engine.state_engine().fetch("SELECT 1").rows == [(1,)]


def test_a_failed_view_swap_is_undone_view_by_view(
    engine: SparkAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No transactions: when recording the swap fails, the views return where they were."""
    from tidegate.state import SnapshotRecord, StateStore
    from tidegate.state.views import swap_views

    engine.create_schema("tidegate__t_swap")
    for name, value in (("a__1", 1), ("a__2", 2), ("b__1", 3)):
        engine.create_table_as(engine.relation("tidegate__t_swap", name), f"SELECT {value} AS x")

    def record(model: str, version: str) -> SnapshotRecord:
        physical = engine.relation("tidegate__t_swap", f"{model}__{version}")
        return SnapshotRecord(model, version, version, "table", "t_swap", physical, "hash")

    state = StateStore(engine.state_engine())
    state.ensure()
    before = {"a": record("a", "1")}
    assert swap_views(engine, state, "dev", before, {}, action="apply") == 1

    def fail(*args: object, **kwargs: object) -> int:
        raise EngineError("the state store is gone")

    monkeypatch.setattr(state, "write_version", fail)
    with pytest.raises(EngineError, match="gone"):
        swap_views(
            engine, state, "dev", {"a": record("a", "2"), "b": record("b", "1")}, before, action="apply"
        )
    assert engine.fetch("SELECT x FROM t_swap__dev.a").rows == [(1,)]
    assert engine.relations("t_swap__dev") == [("t_swap__dev", "a", "view")]


def test_state_lives_in_a_duckdb_file_and_close_keeps_the_session(spark_root: Path, tmp_path: Path) -> None:
    connection = _connection(state_path="nested/dir/state.duckdb")
    adapter = SparkAdapter.connect(connection, tmp_path)
    state = adapter.state_engine()
    assert state.dialect == "duckdb" and state.spec.transactional_ddl
    assert (tmp_path / "nested" / "dir" / "state.duckdb").exists()
    session = adapter.session
    adapter.close()
    assert SparkAdapter.connect(connection, tmp_path).session is session
    assert session.sql("SELECT 1").collect()[0][0] == 1


@pytest.mark.skipif(REMOTE is not None, reason="a Spark Connect server brings its own Delta")
def test_delta_without_delta_spark_is_a_config_error(spark_root: Path, tmp_path: Path) -> None:
    try:
        import delta  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - depends on the machine
        pytest.skip("delta-spark is installed")
    connection = ConnectionConfig(
        engine="spark", master=LOCAL, table_format="delta", state_path=str(tmp_path / "s.duckdb")
    )
    with pytest.raises(ConfigError) as error:
        SparkAdapter.connect(connection, spark_root)
    assert "delta" in str(error.value).lower()


def test_typical_duckdb_sql_transpiled_to_spark(engine: SparkAdapter) -> None:
    """What sqlglot turns DuckDB SQL into runs on Spark (the constructs projects use)."""
    from sqlglot import transpile

    engine.create_schema("t_sql")
    engine.create_table_as(
        engine.relation("t_sql", "o"),
        "SELECT * FROM VALUES (1, 1, 10.0, 'paid', TIMESTAMP'2024-01-05 10:00:00'), "
        "(2, 1, 20.0, 'paid', TIMESTAMP'2024-02-07 11:00:00'), (3, 2, 5.0, 'refunded', "
        "TIMESTAMP'2024-02-09 12:00:00') AS v(id, customer_id, amount, status, created_at)",
    )
    engine.create_table_as(
        engine.relation("t_sql", "c"), "SELECT * FROM VALUES (1, 'ann'), (2, 'bob') AS v(customer_id, name)"
    )
    duckdb_sql = """
        with paid as (
            select o.*, o.created_at::date as day from t_sql.o as o where status = 'paid' or amount < 6
        )
        select c.name,
               count(*) as orders,
               count(*) filter (where p.status = 'paid') as paid_orders,
               sum(case when p.amount > 15 then p.amount else 0 end) as big,
               cast(sum(p.amount) as decimal(10, 2)) as total,
               min(date_trunc('month', p.created_at))::date as first_month,
               max(strftime(p.created_at, '%Y-%m')) as last_month,
               max(date_diff('day', p.day, date '2024-03-01')) as age,
               string_agg(cast(p.id as varchar), ',' order by p.id) as ids,
               max(p.day + interval 1 day)::date as next_day,
               max(extract(year from p.day)) as year
        from paid as p join t_sql.c as c using (customer_id)
        group by c.name
        qualify row_number() over (order by c.name) <= 2
        order by c.name
    """
    sql = transpile(duckdb_sql, read="duckdb", write="spark")[0]
    rows = engine.fetch(sql).rows
    assert [row[:5] for row in rows] == [
        ("ann", 2, 2, Decimal("20.0"), Decimal("30.00")),
        ("bob", 1, 0, Decimal("0.0"), Decimal("5.00")),
    ]
    assert rows[0][5:] == (dt.date(2024, 1, 1), "2024-02", 56, "1,2", dt.date(2024, 2, 8), 2024)


# a whole story --------------------------------------------------------------------------------

PROJECT = {
    "seeds/raw_orders.csv": (
        "id,customer_id,amount,status,ordered_at\n"
        "1,1,10,paid,2024-01-05\n2,1,20,paid,2024-01-20\n3,2,5,refunded,2024-02-01\n4,3,7,paid,2024-02-03\n"
    ),
    "models/stg_orders.sql": """
        {{ config(materialized='view') }}
        select id as order_id, customer_id, amount, status, cast(ordered_at as date) as order_date
        from {{ ref('raw_orders') }}
    """,
    "models/customer_totals.sql": """
        with paid as (select * from {{ ref('stg_orders') }} where status = 'paid')
        select customer_id, sum(amount) as total, count(*) as orders,
               case when sum(amount) > 8 then 'big' else 'small' end as size
        from paid group by customer_id
    """,
    "models/monthly.sql": """
        select date_trunc('month', order_date) as month, count(*) as orders,
               count(*) filter (where status = 'paid') as paid
        from {{ ref('stg_orders') }} group by 1
    """,
    "models/customer_tiers.py": """
        from pyspark.sql import functions as F

        def model(customer_totals):
            return customer_totals.select(
                "customer_id", F.when(F.col("total") >= 20, "gold").otherwise("silver").alias("tier")
            )
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: customer_totals
            columns:
              - name: customer_id
                data_tests: [unique, not_null]
          - name: customer_tiers
            columns:
              - name: tier
                data_tests:
                  - accepted_values: {values: [gold, silver]}
              - name: customer_id
                data_tests:
                  - relationships: {to: "ref('customer_totals')", field: customer_id}
    """,
    "tests/positive_totals.sql": "select * from {{ ref('customer_totals') }} where total <= 0",
}

BREAKING = """
    with paid as (select * from {{ ref('stg_orders') }})
    select customer_id, sum(amount) as total, count(*) as orders,
           case when sum(amount) > 8 then 'big' else 'small' end as size
    from paid group by customer_id
"""


def _config(tmp_path: Path) -> str:
    where = f'remote: "{REMOTE}"' if REMOTE else f'master: "{LOCAL}"'
    spark = (
        f"{{engine: spark, {where}, warehouse_dir: warehouse, "
        "state_path: .tidegate/state.duckdb, threads: 2, lock_timeout: 5s}"
    )
    return f"name: shop\ndialect: duckdb\nenvironments:\n  prod: {spark}\n  dev: {spark}\npromotion: [dev, prod]\n"


def test_project_story_on_spark(tmp_path: Path) -> None:
    from tidegate.context import Context
    from tidegate.state.views import INTERNAL_PREFIX

    root = tmp_path / "shop"
    root.mkdir()
    (root / "tidegate.yml").write_text(_config(tmp_path))
    write_files(root, PROJECT)
    ctx = Context(root)
    engine = ctx.engine("prod")
    assert isinstance(engine, SparkAdapter)
    before = _databases(engine)
    try:
        _, result = ctx.plan_and_apply("prod")
        assert result is not None and result.version == 1
        assert sorted(result.built) == [
            "customer_tiers",
            "customer_totals",
            "monthly",
            "raw_orders",
            "stg_orders",
        ]
        assert all(test.failures == 0 for test in result.tests) and len(result.tests) >= 5
        assert (root / ".tidegate" / "state.duckdb").exists()
        assert REMOTE or (root / "warehouse" / "tidegate__analytics.db").is_dir()
        totals = "select customer_id, total from customer_totals order by customer_id"
        assert ctx.query("prod", totals).rows == [(1, 30), (3, 7)]
        assert ctx.query("prod", "select * from customer_tiers order by customer_id").rows == [
            (1, "gold"),
            (3, "silver"),
        ]
        assert ctx.query("prod", "select month, orders, paid from monthly order by month").rows == [
            (dt.datetime(2024, 1, 1), 2, 2),
            (dt.datetime(2024, 2, 1), 2, 1),
        ]
        prod_v1 = ctx.current("prod")

        # a breaking change in dev rebuilds the model and its children only
        write_files(root, {"models/customer_totals.sql": BREAKING})
        ctx.close()
        ctx = Context(root)
        _, result = ctx.plan_and_apply("dev")
        assert result is not None
        assert sorted(result.built) == ["customer_tiers", "customer_totals"]
        assert ctx.query("dev", totals).rows == [(1, 30), (2, 5), (3, 7)]
        assert ctx.query("prod", totals).rows == [(1, 30), (3, 7)]
        assert ("analytics__dev", "customer_totals", "view") in ctx.engine("dev").relations("analytics__dev")

        # promote is zero-copy; rollback returns to version 1
        tables = ctx.engine("prod").relations(INTERNAL_PREFIX)
        assert ctx.promote("dev", "prod") == 2
        assert ctx.engine("prod").relations(INTERNAL_PREFIX) == tables
        assert ctx.query("prod", totals).rows == [(1, 30), (2, 5), (3, 7)]
        assert ctx.rollback("prod") == 3
        assert ctx.query("prod", totals).rows == [(1, 30), (3, 7)]
        assert {n: r.physical for n, r in ctx.current("prod").models.items()} == {
            n: r.physical for n, r in prod_v1.models.items()
        }
        assert [v.action for v in ctx.history("prod")] == ["apply", "promote", "rollback"]

        # dev goes back too; the janitor then drops the snapshots only replaced versions used
        write_files(root, {"models/customer_totals.sql": PROJECT["models/customer_totals.sql"]})
        ctx.close()
        ctx = Context(root)
        _, result = ctx.plan_and_apply("dev")
        assert result is not None and result.built == []
        report = ctx.janitor(retention="0s")
        assert sorted(name.split("@")[0] for name in report.dropped_snapshots) == [
            "customer_tiers",
            "customer_totals",
        ]
        internal = {name for _, name, _ in ctx.engine("prod").relations(INTERNAL_PREFIX)}
        assert {name.split("__")[0] for name in internal} == {
            "raw_orders",
            "stg_orders",
            "customer_totals",
            "monthly",
            "customer_tiers",
        }
        assert ctx.query("prod", totals).rows == ctx.query("dev", totals).rows == [(1, 30), (3, 7)]
    finally:
        engine = ctx.engine("prod")
        for database in sorted(_databases(engine) - before):
            engine.drop_schema(database)
        ctx.close()
