"""Spark through PySpark: local mode for tests and one machine, Spark Connect for clusters.

`master: local[2]` starts Spark inside the tidegate process; `remote: sc://host:port` talks to a
Spark Connect server (a cluster, or Databricks). Snapshots are tables in `table_format`
(`parquet`, or `delta` with delta-spark); environments are views, as on every engine.

Engine-specific limits (see also the README):

- **One SparkSession per process**, created by the first `connect` and shared by every adapter
  after it (static settings such as the warehouse directory and the catalog come from that first
  connection). `close()` keeps it alive; `spark_session.stop_session()` stops it, and runs at
  interpreter exit.
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

The session is `spark_session`, the state beside Spark `spark_state`, literals and placeholders
`spark_sql`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.engines.spark_session import spark_session
from tidegate.engines.spark_sql import bind_parameters, error_message, is_query, literal
from tidegate.engines.spark_state import SharedState, open_state
from tidegate.errors import EngineError, InvalidSQL
from tidegate.project.config import ConnectionConfig
from tidegate.project.engines import SPARK
from tidegate.project.envvars import conceal, reveal


class SparkAdapter(EngineAdapter):
    spec = SPARK

    def __init__(
        self,
        session: Any,
        connection: ConnectionConfig,
        root: Path,
        state: SharedState,
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
        state = SharedState(lambda: open_state(connection, root, on_wait))
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
        if is_query(sql):  # commands run when planned; a query only when its rows are asked for
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
            raise InvalidSQL(conceal(error_message(error), sql)) from None
        except PySparkException as error:
            raise EngineError(conceal(error_message(error), sql)) from None
        except Exception as error:
            if type(error).__module__.startswith(("py4j", "pyspark", "grpc")):
                raise EngineError(conceal(error_message(error), sql)) from None
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
            sql += f" LOCATION {literal(str(self._location / (schema.lower() + '.db')))}"
        self.execute(sql)

    def drop_schema(self, schema: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {self.quote(schema.lower())} CASCADE")

    def has_schema(self, schema: str) -> bool:
        return schema.lower() in {str(row[0]).lower() for row in self.fetch("SHOW DATABASES").rows}

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


def _is_temporary(result: QueryResult, row: tuple[Any, ...]) -> bool:
    if "isTemporary" in result.columns:
        return bool(row[result.columns.index("isTemporary")])
    return False
