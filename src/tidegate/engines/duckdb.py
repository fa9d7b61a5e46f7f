"""DuckDB, embedded: the default engine, no server needed.

One process at a time may open a DuckDB file for writing; a second tidegate process waits for
the file (with a message) instead of failing, which also serializes concurrent applies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.engines.duckdb_holder import Holder
from tidegate.errors import EngineError, InvalidSQL, LockError
from tidegate.project.config import ConnectionConfig, parse_duration
from tidegate.project.engines import DUCKDB
from tidegate.project.envvars import conceal, reveal


class DuckDBAdapter(EngineAdapter):
    spec = DUCKDB

    def __init__(self, connection: Any, path: str) -> None:
        self._connection = connection
        self.path = path

    @classmethod
    def connect(
        cls, connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
    ) -> DuckDBAdapter:
        path = connection.path if connection.path == ":memory:" else str(root / connection.path)
        return cls.open(path, lock_timeout=parse_duration(connection.lock_timeout), on_wait=on_wait)

    @classmethod
    def open(
        cls, path: str, *, lock_timeout: float = 60.0, on_wait: Callable[[str], None] | None = None
    ) -> DuckDBAdapter:
        """Open the database file, waiting up to `lock_timeout` seconds for another process."""
        import duckdb

        deadline = time.monotonic() + lock_timeout
        announced = False
        while True:
            try:
                adapter = cls(duckdb.connect(path), path)
                adapter.attach_databases()
                return adapter
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise EngineError(f"cannot open {path}: {error}") from None
                if time.monotonic() >= deadline:
                    holder = Holder.of(str(error))
                    raise LockError(
                        f"{path} stayed locked for {lock_timeout:.0f}s: {holder}", hint=holder.hint
                    ) from None
                if not announced and on_wait is not None:
                    on_wait(f"waiting for {path}: {Holder.of(str(error))}")
                    announced = True
                time.sleep(0.2)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._run(sql, parameters).fetchall()

    def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        cursor = self._run(sql, parameters)
        columns = [column[0] for column in cursor.description or []]
        return QueryResult(columns, cursor.fetchall())

    def _run(self, sql: str, parameters: Sequence[Any]) -> Any:
        import duckdb

        try:
            return self._connection.execute(reveal(sql), list(parameters) or None)
        except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as error:
            raise InvalidSQL(conceal(str(error).strip(), sql)) from None
        except duckdb.Error as error:
            raise EngineError(conceal(str(error).strip(), sql)) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    @property
    def databases_dir(self) -> str | None:
        """Where the warehouse's other databases are (`tidegate infra` creates them): DuckDB
        files beside it, attached by name on every connection."""
        if self.path == ":memory:":
            return None
        return str(Path(self.path).with_suffix(".databases"))

    def attach_databases(self) -> None:
        folder = Path(self.databases_dir) if self.databases_dir else None
        if folder is None or not folder.is_dir():
            return
        for file in sorted(folder.glob("*.duckdb")):
            self.execute(f"ATTACH IF NOT EXISTS {_literal(str(file))} AS {self.quote(file.stem)}")

    def worker(self) -> DuckDBAdapter:
        return DuckDBAdapter(self._connection.cursor(), self.path)

    def close(self) -> None:
        self._connection.close()

    def relations(self, schema_prefix: str) -> list[tuple[str, str, str]]:
        rows = self.fetch(
            "SELECT schema_name, table_name, 'table' FROM duckdb_tables() "
            "WHERE database_name = current_database() AND starts_with(schema_name, ?) "
            "UNION ALL SELECT schema_name, view_name, 'view' FROM duckdb_views() "
            "WHERE NOT internal AND database_name = current_database() AND starts_with(schema_name, ?)",
            [schema_prefix, schema_prefix],
        ).rows
        return [(str(schema), str(name), str(kind)) for schema, name, kind in rows]

    def columns(self, relation: str) -> list[tuple[str, str]]:
        return [(str(row[0]), str(row[1])) for row in self.fetch(f"DESCRIBE {relation}").rows]

    def views_read(self, schema: str) -> dict[str, set[str] | None]:
        """DuckDB keeps a view as its CREATE statement and tracks no dependencies: the tables of
        its parsed query (its CTEs left out; an unqualified name is the view's schema's, where
        DuckDB looks first)."""
        rows = self.fetch(
            "SELECT view_name, sql, current_database() FROM duckdb_views() WHERE NOT internal "
            "AND database_name = current_database() AND schema_name = ?",
            [schema],
        ).rows
        return {str(name): self._reads(str(sql), schema, str(database)) for name, sql, database in rows}

    def _reads(self, sql: str, schema: str, database: str) -> set[str] | None:
        import sqlglot
        from sqlglot import expressions as exp

        try:
            query = sqlglot.parse_one(sql, read="duckdb").expression
        except sqlglot.errors.ParseError:  # SQL only DuckDB reads: cannot tell
            return None
        ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
        return {
            self.relation(table.db or schema, table.name)
            if table.catalog in ("", database)
            else f"{self.quote(table.catalog)}.{self.relation(table.db, table.name)}"
            for table in query.find_all(exp.Table)
            if table.db or table.name not in ctes
        }

    def query_columns(self, query: str) -> list[tuple[str, str]]:
        return self.columns(f"({query})")

    def load_csv(self, relation: str, path: Path, column_types: dict[str, str], delimiter: str = ",") -> None:
        options = (
            f"header = true, auto_detect = true, delim = {_literal(delimiter)}, quote = '\"', escape = '\"'"
        )
        if column_types:
            types = ", ".join(f"{_literal(name)}: {_literal(kind)}" for name, kind in column_types.items())
            options += f", types = {{{types}}}"
        self.create_table_as(relation, f"SELECT * FROM read_csv({_literal(str(path))}, {options})")

    def dataframe(self, relation: str) -> Any:
        return self._connection.sql(f"SELECT * FROM {relation}")

    def python_session(self) -> Any:
        return self._connection

    def write_dataframe(self, relation: str, frame: Any) -> None:
        """Accepts a DuckDB relation, or anything DuckDB can scan (pandas, polars, Arrow)."""
        import duckdb

        name = f"__tidegate_frame_{threading.get_ident()}"
        if isinstance(frame, duckdb.DuckDBPyRelation):
            frame.to_view(name, replace=True)
            try:
                self.execute(f"SELECT * FROM {self.quote(name)} LIMIT 0")
            except EngineError:
                # a relation of another database (e.g. `duckdb.sql(...)`): copy its rows over
                self._connection.register(name, frame.df())
        else:
            self._connection.register(name, frame)
        try:
            self.create_table_as(relation, f"SELECT * FROM {self.quote(name)}")
        finally:
            self.execute(f"DROP VIEW IF EXISTS {self.quote(name)}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
