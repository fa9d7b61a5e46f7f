"""Spark through PySpark: local mode for tests and one machine, Spark Connect for clusters.

`master: local[2]` starts Spark inside the tidegate process; `remote: sc://host:port` talks to a
Spark Connect server (a cluster, or Databricks). Snapshots are tables in `table_format`
(`parquet`, or `delta` with delta-spark); environments are views, as on every engine.

Engine-specific limits (see also the README):

- **One SparkSession per process**, created by the first `connect` and shared by every adapter
  after it (static settings such as the warehouse directory and the catalog come from that first
  connection). `close()` keeps it alive; `stop_session()` stops it, and runs at interpreter exit.
- **No transactions.** `transaction()` runs its block and rolls nothing back. tidegate's state,
  history and locks therefore live outside Spark, in a DuckDB file (`state_path`) or the
  database of `state_dsn`; see `state_engine()`. Swapping an environment's views is a series of
  `CREATE OR REPLACE VIEW`s followed by the state record: readers may see some views moved
  before others, and a swap that fails half-way is undone view by view on a best-effort basis
  (`tidegate.state.views.swap_views`).
- **Local mode keeps its catalog in an embedded Derby metastore** under `warehouse_dir`, so the
  tables and views of one run are there in the next; like a DuckDB file, one process at a time
  opens it (a second process waits for the state file first).
- **Parquet tables cannot be replaced or merged in place**: `replace_table_as` drops and creates,
  `merge_into` rewrites the table through a staging table (not safe against concurrent writers).
  Delta does both in one statement.
- Identifiers are case-insensitive: relations are lowercased, as Spark's catalog stores them.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import math
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.engines.duckdb import DuckDBAdapter
from tidegate.engines.placeholders import split_on_placeholders
from tidegate.errors import ConfigError, EngineError, InvalidSQL
from tidegate.project.config import ConnectionConfig, parse_duration
from tidegate.project.dsn import expand_connection, mask, scrub
from tidegate.project.engines import POSTGRES, SPARK
from tidegate.project.envvars import conceal, reveal

_SESSION: Any = None
_SESSION_LOCK = threading.Lock()

_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.hive.name = org.apache.hadoop.hive
logger.hive.level = fatal
logger.datanucleus.name = DataNucleus
logger.datanucleus.level = fatal
"""

_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
_DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def spark_session(connection: ConnectionConfig, root: Path) -> Any:
    """The process's SparkSession, created on first use from `connection`."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is not None and _is_alive(_SESSION):
            if connection.table_format == "delta" and not connection.remote:
                _require_delta(_SESSION)
            return _SESSION
        from pyspark.sql import SparkSession

        _quiet_python_loggers()
        builder: Any = SparkSession.builder.appName("tidegate")
        remote = expand_connection(connection.remote) if connection.remote else None
        builder = builder.remote(remote.text) if remote else _local_builder(builder, connection, root)
        try:
            session = builder.getOrCreate()
        except Exception as error:
            # Spark Connect may quote the URL, token included: neither is ever shown.
            where = mask(remote.text) if remote else connection.master
            reason = mask(scrub(_message(error), remote.secrets)) if remote else _message(error)
            raise EngineError(f"cannot start Spark ({where}): {reason}") from None
        if not connection.remote:
            session.sparkContext.setLogLevel("ERROR")
        if _SESSION is None:
            atexit.register(stop_session)
        _SESSION = session
        return session


def stop_session() -> None:
    """Stop the process's SparkSession (at interpreter exit, or when a test suite is done)."""
    global _SESSION
    with _SESSION_LOCK:
        session, _SESSION = _SESSION, None
    if session is not None:
        with contextlib.suppress(Exception):  # the JVM may already be gone at exit
            session.stop()


def _is_alive(session: Any) -> bool:
    try:
        if getattr(session, "is_stopped", False):  # Spark Connect
            return False
        context = getattr(session, "_sc", None)
        return context is None or context._jsc is not None
    except Exception:  # pragma: no cover - defensive
        return False


def _local_builder(builder: Any, connection: ConnectionConfig, root: Path) -> Any:
    import sys

    warehouse = (root / connection.warehouse_dir).resolve()
    warehouse.mkdir(parents=True, exist_ok=True)
    log4j = Path(tempfile.gettempdir()) / "tidegate-spark-log4j2.properties"
    if not log4j.exists() or log4j.read_text() != _LOG4J:
        log4j.write_text(_LOG4J)
    java_options = (
        f"-Dlog4j2.configurationFile={log4j} -Dderby.system.home={warehouse} "
        f"-Dderby.stream.error.file={warehouse / 'derby.log'}"
    )
    builder = (
        builder.master(connection.master)
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.catalogImplementation", "hive")  # falls back to in-memory without Hive
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(_cores(connection.master) * 2))
        .config("spark.default.parallelism", str(_cores(connection.master) * 2))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
    )
    if connection.table_format == "delta":
        try:
            from delta import configure_spark_with_delta_pip
        except ImportError:
            raise ConfigError(
                "table_format: delta needs delta-spark, which is not installed",
                hint="pip install delta-spark (the version matching your pyspark)",
            ) from None
        builder = configure_spark_with_delta_pip(
            builder.config("spark.sql.extensions", _DELTA_EXTENSION).config(
                "spark.sql.catalog.spark_catalog", _DELTA_CATALOG
            )
        )
    return builder


def _require_delta(session: Any) -> None:
    extensions = session.conf.get("spark.sql.extensions", "") or ""
    if _DELTA_EXTENSION not in extensions:
        raise ConfigError(
            "table_format: delta, but this process's Spark session was started without Delta",
            hint="use one table_format per process (pip install delta-spark for delta)",
        )


def _cores(master: str) -> int:
    match = re.fullmatch(r"local\[(\d+)(?:,\d+)?\]", master.strip())
    if match:
        return max(1, int(match.group(1)))
    if master.strip() in ("local", "local[*]"):
        return 1 if master.strip() == "local" else 4
    return 100  # a cluster: Spark's default of 200 shuffle partitions halved


def _quiet_python_loggers() -> None:
    """PySpark logs every SQL error it raises; tidegate reports them itself."""
    import logging

    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pragma: no cover - PySpark < 4
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


class _State:
    """The state engine the adapter of a connection and all its workers share."""

    def __init__(self, open_: Callable[[], EngineAdapter]) -> None:
        self._open = open_
        self._engine: EngineAdapter | None = None
        self._lock = threading.Lock()

    def get(self) -> EngineAdapter:
        with self._lock:
            if self._engine is None:
                self._engine = self._open()
            return self._engine

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()


class SparkAdapter(EngineAdapter):
    spec = SPARK

    def __init__(
        self,
        session: Any,
        connection: ConnectionConfig,
        root: Path,
        state: _State,
        *,
        owner: bool = True,
    ) -> None:
        self.session = session
        self.connection = connection
        self.root = root
        self.table_format = connection.table_format
        self._state = state
        self._owner = owner
        self._location = None if connection.remote else (root / connection.warehouse_dir).resolve()

    @classmethod
    def connect(
        cls, connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
    ) -> SparkAdapter:
        state = _State(lambda: _open_state(connection, root, on_wait))
        if not connection.remote:
            # the local metastore and the state file admit one process: wait for the state first
            state.get()
        try:
            session = spark_session(connection, root)
        except BaseException:
            state.close()
            raise
        return cls(session, connection, root, state)

    # statements --------------------------------------------------------------------------

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        frame = self._sql(sql, parameters)
        if _is_query(sql):  # commands run when planned; a query only when its rows are asked for
            self._guard(lambda: frame.write.format("noop").mode("overwrite").save())

    def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        frame = self._sql(sql, parameters)
        rows = self._guard(frame.collect)
        return QueryResult(list(frame.columns), [tuple(row) for row in rows])

    def _sql(self, sql: str, parameters: Sequence[Any]) -> Any:
        text = bind_parameters(reveal(sql), parameters) if parameters else reveal(sql)
        return self._guard(lambda: self.session.sql(text), sql)

    @staticmethod
    def _guard(action: Callable[[], Any], sql: str = "") -> Any:
        """Run `action`, turning Spark's errors into tidegate's (with the `env_var()` values
        revealed in `sql` masked again)."""
        from pyspark.errors import AnalysisException, PySparkException

        try:
            return action()
        except AnalysisException as error:  # ParseException is one too
            raise InvalidSQL(conceal(_message(error), sql)) from None
        except PySparkException as error:
            raise EngineError(conceal(_message(error), sql)) from None
        except Exception as error:
            if type(error).__module__.startswith(("py4j", "pyspark", "grpc")):
                raise EngineError(conceal(_message(error), sql)) from None
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Spark has no transactions: the block runs and nothing is rolled back if it raises.

        tidegate's own records are written to the state engine after the Spark work they
        describe, so a failure leaves at worst unused tables, which the janitor drops."""
        yield

    def worker(self) -> SparkAdapter:
        """The session is thread-safe: workers share it, and the state engine."""
        return SparkAdapter(self.session, self.connection, self.root, self._state, owner=False)

    def close(self) -> None:
        """Close the state engine; the process's SparkSession stays for the next connection."""
        if self._owner:
            self._state.close()

    def state_engine(self) -> EngineAdapter:
        """DuckDB at `state_path` (or the database of `state_dsn`): Spark cannot hold the state
        because it has no transactions and no constraints to take a lock with."""
        return self._state.get()

    # identifiers -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def relation(self, schema: str, name: str) -> str:
        """Lowercased: Spark's catalog stores names so, and `relations()` must match."""
        return f"{self.quote(schema.lower())}.{self.quote(name.lower())}"

    # catalog -----------------------------------------------------------------------------

    def create_schema(self, schema: str) -> None:
        sql = f"CREATE DATABASE IF NOT EXISTS {self.quote(schema.lower())}"
        if self._location is not None:
            # local mode: the project's warehouse even when the session came from another one
            sql += f" LOCATION {_string(str(self._location / (schema.lower() + '.db')))}"
        self.execute(sql)

    def drop_schema(self, schema: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {self.quote(schema.lower())} CASCADE")

    def relations(self, schema_prefix: str) -> list[tuple[str, str, str]]:
        prefix = schema_prefix.lower()
        databases = [str(row[0]) for row in self.fetch("SHOW DATABASES").rows]
        found = []
        for database in sorted(d for d in databases if d.lower().startswith(prefix)):
            try:
                tables = self.fetch(f"SHOW TABLES IN {self.quote(database)}")
                views = self.fetch(f"SHOW VIEWS IN {self.quote(database)}")
            except InvalidSQL:  # dropped meanwhile
                continue
            view_names = {str(row[1]) for row in views.rows if not _is_temporary(views, row)}
            for row in tables.rows:
                if _is_temporary(tables, row):
                    continue
                name = str(row[1])
                found.append((database, name, "view" if name in view_names else "table"))
        return found

    def columns(self, relation: str) -> list[tuple[str, str]]:
        schema = self._guard(lambda: self.session.table(relation).schema)
        return [(field.name, field.dataType.simpleString()) for field in schema.fields]

    def narrow_integers(self, relation: str, keep: set[str]) -> None:
        """dbt-spark's seeds keep 64-bit integers too."""

    def query_columns(self, query: str) -> list[tuple[str, str]]:
        schema = self._guard(lambda: self.session.sql(reveal(query)).schema, query)
        return [(field.name, field.dataType.simpleString()) for field in schema.fields]

    def create_table_as(self, relation: str, query: str) -> None:
        self.execute(f"CREATE TABLE {relation} USING {self.table_format} AS {query}")

    def replace_table_as(self, relation: str, query: str) -> None:
        if self.table_format == "delta":
            self.execute(f"CREATE OR REPLACE TABLE {relation} USING delta AS {query}")
        else:  # parquet tables cannot be replaced in one statement
            self.drop_table(relation)
            self.create_table_as(relation, query)

    def refresh_table(self, relation: str, query: str) -> None:
        """One statement that replaces the table's rows (Spark has no transaction to hold a
        DELETE and an INSERT together)."""
        self.execute(f"INSERT OVERWRITE TABLE {relation} {query}")

    def merge_into(self, relation: str, query: str, keys: Sequence[str]) -> None:
        """Upsert on `keys`. Delta: one MERGE. Parquet: the table is rewritten (rows not matching
        `query`'s keys, then all of `query`) into a staging table that replaces it; not safe
        while another process writes the same table."""
        if not keys:
            raise ValueError("merge_into needs at least one key")
        match = " AND ".join(f"target.{self.quote(k)} = staged.{self.quote(k)}" for k in keys)
        if self.table_format == "delta":
            self.execute(
                f"MERGE INTO {relation} AS target USING ({query}) AS staged ON {match} "
                "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
            )
            return
        schema = relation.rsplit(".", 1)[0]
        staging = f"{schema}.{self.quote('__tidegate_merge_' + uuid.uuid4().hex[:12])}"
        self.create_table_as(
            staging,
            f"SELECT target.* FROM {relation} AS target LEFT ANTI JOIN ({query}) AS staged ON {match} "
            f"UNION ALL SELECT * FROM ({query}) AS staged",
        )
        try:
            self.drop_table(relation)
            self.execute(f"ALTER TABLE {staging} RENAME TO {relation}")
        except BaseException:
            self.drop_table(staging)
            raise

    # data in and out ---------------------------------------------------------------------

    def load_csv(self, relation: str, path: Path, column_types: dict[str, str], delimiter: str = ",") -> None:
        """Spark reads the file in local mode; with a remote server the file is on this machine,
        so pandas reads it and its rows are sent. Types are inferred, except for the columns of
        `column_types`: they are read as text and cast, so `007` typed varchar stays `007`."""
        typed = {name.lower() for name in column_types}
        if self.connection.remote:
            import pandas as pd

            header = pd.read_csv(path, sep=delimiter, nrows=0).columns
            text = {name: str for name in header if name.lower() in typed}
            frame = self.session.createDataFrame(pd.read_csv(path, sep=delimiter, dtype=text))
        else:
            frame = self._guard(lambda: self._read_csv(path, typed, delimiter))
        if column_types:
            from pyspark.sql.functions import col

            frame = frame.withColumns(
                {name: col(self.quote(name)).cast(kind) for name, kind in column_types.items()}
            )
        self._save(frame, relation)

    def _read_csv(self, path: Path, text: set[str], delimiter: str) -> Any:
        """The file with inferred types, but the (lowercase) columns of `text` as strings."""
        from pyspark.sql.types import StringType, StructField, StructType

        read = self.session.read.options(header=True, sep=delimiter)
        frame = read.csv(str(path.resolve()), inferSchema=True)
        if not text:
            return frame
        schema = StructType(
            [
                StructField(field.name, StringType()) if field.name.lower() in text else field
                for field in frame.schema.fields
            ]
        )
        return read.schema(schema).csv(str(path.resolve()))

    def dataframe(self, relation: str) -> Any:
        """A Spark DataFrame over the relation."""
        return self._guard(lambda: self.session.table(relation))

    def python_session(self) -> Any:
        return self.session

    def write_dataframe(self, relation: str, frame: Any) -> None:
        """Accepts a Spark DataFrame, or pandas, a pyarrow Table, polars (rows sent to Spark)."""
        if not (hasattr(frame, "write") and hasattr(frame, "sparkSession")):
            if hasattr(frame, "to_arrow") and not hasattr(frame, "to_batches"):  # polars
                frame = frame.to_arrow()
            frame = self._guard(lambda: self.session.createDataFrame(frame))
        self._save(frame, relation)

    def _save(self, frame: Any, relation: str) -> None:
        self._guard(lambda: frame.write.format(self.table_format).mode("error").saveAsTable(relation))


def _open_state(
    connection: ConnectionConfig, root: Path, on_wait: Callable[[str], None] | None
) -> EngineAdapter:
    if connection.state_dsn:
        from tidegate.engines import connect

        return connect(
            ConnectionConfig(
                engine=POSTGRES.name, dsn=connection.state_dsn, lock_timeout=connection.lock_timeout
            ),
            root,
            on_wait=on_wait,
        )
    path = root / connection.state_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return _SharedDuckDB.open(
        str(path), lock_timeout=parse_duration(connection.lock_timeout), on_wait=on_wait
    )


class _SharedDuckDB(DuckDBAdapter):
    """The state's DuckDB connection, shared by a Spark adapter's build threads: statements are
    serialized, and a transaction holds the connection until it ends."""

    def __init__(self, connection: Any, path: str) -> None:
        super().__init__(connection, path)
        self._mutex = threading.RLock()
        self._closed = False

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        with self._mutex:
            super().execute(sql, parameters)

    def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        with self._mutex:
            return super().fetch(sql, parameters)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._mutex, super().transaction():
            yield

    def worker(self) -> _SharedDuckDB:
        return self

    def close(self) -> None:
        with self._mutex:
            if not self._closed:
                self._closed = True
                super().close()


# SQL text -------------------------------------------------------------------------------------


def literal(value: Any) -> str:
    """A Spark SQL literal for a Python value (string escapes are on in Spark SQL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "CAST('NaN' AS DOUBLE)"
        if math.isinf(value):
            return f"CAST('{'' if value > 0 else '-'}Infinity' AS DOUBLE)"
        return f"{value!r}D"
    if isinstance(value, Decimal):
        return f"{value}BD" if value.is_finite() else f"CAST('{value}' AS DOUBLE)"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return f"TIMESTAMP {_string(value.isoformat(sep=' '))}"
        return f"TIMESTAMP_NTZ {_string(value.isoformat(sep=' '))}"
    if isinstance(value, dt.date):
        return f"DATE {_string(value.isoformat())}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"X'{bytes(value).hex()}'"
    return _string(str(value))


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bind_parameters(sql: str, parameters: Sequence[Any]) -> str:
    """Replace each `?` outside strings, quoted identifiers and comments by a quoted literal."""
    pieces = split_on_placeholders(sql, quotes="'\"`", backslash_escapes=True)
    if len(pieces) - 1 != len(parameters):
        raise InvalidSQL(
            f"the statement has {len(pieces) - 1} ? placeholders for {len(parameters)} parameters"
        )
    bound = [pieces[0]]
    for value, piece in zip(parameters, pieces[1:], strict=True):
        bound += [literal(value), piece]
    return "".join(bound)


_QUERY = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*\(*\s*(select|with|values|from|table)\b", re.I | re.S
)


def _is_query(sql: str) -> bool:
    return _QUERY.match(sql) is not None


def _is_temporary(result: QueryResult, row: tuple[Any, ...]) -> bool:
    if "isTemporary" in result.columns:
        return bool(row[result.columns.index("isTemporary")])
    return False


def _message(error: BaseException) -> str:
    """The first lines of a Spark error, without the JVM's plan and stack trace."""
    text = str(error).strip()
    lines = []
    for line in text.splitlines():
        if line.startswith(("\tat ", "JVM stacktrace", "== Physical Plan", "'")) or line.startswith("+-"):
            break
        lines.append(line)
        if len(lines) >= 4:
            break
    return "\n".join(lines).strip() or type(error).__name__
