"""PostgreSQL, a real server through psycopg 3 and a connection pool.

The adapter holds one pooled connection for its whole life: its session, on which the state
store's advisory locks live (the server releases them if the process dies). `worker()` borrows
another pooled connection for a build thread. Connections are in autocommit mode; `transaction()`
opens a transaction (a savepoint when nested), and DDL is transactional, so a view swap commits
as one step.

Opening the pool is `postgres_connection`; the types and values of what COPY loads (seeds,
dataframes) are `postgres_values`. No message ever shows the dsn or a password, only
`host:port/dbname`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from psycopg_pool import PoolTimeout

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.engines.placeholders import split_on_placeholders
from tidegate.engines.postgres_connection import Server, open_server
from tidegate.engines.postgres_values import Rows, frame_rows, seed_rows, to_frame
from tidegate.errors import EngineError, InvalidSQL, LockError
from tidegate.project.config import ConnectionConfig
from tidegate.project.engines import POSTGRES
from tidegate.project.envvars import conceal, reveal

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates longer identifiers silently (NAMEDATALEN - 1): refuse them instead."""


# SQLSTATEs of class 42 ("syntax error or access rule violation") that do not mean the SQL is
# wrong: permissions, and objects that already exist (a state of the warehouse, not of the SQL).
_NOT_INVALID_SQL = {"42501", "42P04", "42P05", "42P06", "42P07", "42710", "42723", "42P03"}
_SWAP_LOCK_WAIT = "200ms"
"""How long one attempt to lock the views of a swap waits; below the server's deadlock_timeout
(1s by default), so a reader that holds one view and waits for another never deadlocks a swap."""


class PostgresAdapter(EngineAdapter):
    spec = POSTGRES

    def __init__(self, server: Server, connection: Any, *, owns_pool: bool = True) -> None:
        self._server = server
        self._conn = connection
        self._owns_pool = owns_pool
        self._closed = False

    @property
    def identity(self) -> str:
        """`host:port/dbname`: the only part of the dsn messages show."""
        return self._server.identity

    @property
    def statement_timeout(self) -> str | None:
        return self._server.statement_timeout

    @property
    def lock_timeout(self) -> float:
        return self._server.lock_timeout

    # connecting --------------------------------------------------------------------------

    @classmethod
    def connect(
        cls, connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
    ) -> PostgresAdapter:
        return cls(*open_server(connection))

    def worker(self) -> PostgresAdapter:
        try:
            connection = self._server.pool.getconn()
        except PoolTimeout:
            raise EngineError(
                f"no free connection to {self.identity} within 60s",
                hint="lower --threads, or raise threads in tidegate.yml (the pool holds threads + 2)",
            ) from None
        return PostgresAdapter(self._server, connection, owns_pool=False)

    def close(self) -> None:
        """Return the connection to the pool; the main adapter also closes the pool."""
        if self._closed:
            return
        self._closed = True
        if self._owns_pool:  # the session ends now, and with it its advisory locks
            with suppress(Exception):  # released now, not when the server notices the close
                self._conn.execute("SELECT pg_advisory_unlock_all()")
            with suppress(Exception):
                self._conn.close()
            self._server.pool.close()
        else:
            with suppress(Exception):  # a connection the server killed: the pool discards it
                self._server.pool.putconn(self._conn)

    @property
    def backend_pid(self) -> int:
        """The server process of this adapter's session."""
        return int(self._conn.info.backend_pid)

    # statements --------------------------------------------------------------------------

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._run(sql, parameters, fetch=False)

    def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        result = self._run(sql, parameters, fetch=True)
        assert result is not None
        return result

    def _run(self, sql: str, parameters: Sequence[Any], *, fetch: bool) -> QueryResult | None:
        import psycopg

        try:
            return self._raw(sql, parameters, fetch=fetch)
        except psycopg.Error as error:
            translated = self._translate(error)
            translated.message = conceal(translated.message, sql)
            translated.args = (translated.message,)
            raise translated from None

    def _raw(self, sql: str, parameters: Sequence[Any] = (), *, fetch: bool = False) -> QueryResult | None:
        """Run a statement; psycopg's errors are left untranslated."""
        sql = reveal(sql)
        query = to_pyformat(sql) if parameters else sql
        with self._conn.cursor() as cursor:
            cursor.execute(query, list(parameters) if parameters else None)
            if not fetch:
                return None
            if cursor.description is None:
                return QueryResult([], [])
            return QueryResult([column.name for column in cursor.description], cursor.fetchall())

    def _translate(self, error: Exception) -> EngineError:
        from psycopg import errors

        message = self._server.scrub(str(error).strip()) or type(error).__name__
        sqlstate = getattr(error, "sqlstate", None) or ""
        if isinstance(error, errors.QueryCanceled):
            if "statement timeout" in message:
                after = self.statement_timeout or "the server's statement_timeout"
                return EngineError(
                    f"the statement timed out after {after}",
                    hint="raise statement_timeout in tidegate.yml if the query needs longer",
                )
            return EngineError(f"the statement was canceled: {message}")
        if (
            self._conn.broken
            or self._conn.closed
            or sqlstate.startswith("08")
            or sqlstate in ("57P01", "57P02", "57P03")
            or isinstance(error, errors.InterfaceError)
        ):
            return EngineError(f"connection to {self.identity} lost: {message.splitlines()[0]}")
        if sqlstate.startswith("42") and sqlstate not in _NOT_INVALID_SQL:
            return InvalidSQL(message)
        return EngineError(message)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction, or a savepoint inside the caller's: nesting works."""
        import psycopg

        try:
            with self._conn.transaction():
                yield
        except psycopg.Error as error:
            raise self._translate(error) from None

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Like `transaction()`, but psycopg's errors come out untranslated."""
        with self._conn.transaction():
            yield

    # identifiers -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        if len(identifier.encode()) > MAX_IDENTIFIER_BYTES:
            raise InvalidSQL(
                f"{identifier!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES} bytes for a name",
                hint="shorten the model or schema name (snapshot tables add 18 characters to a model's name)",
            )
        return super().quote(identifier)

    # catalog -----------------------------------------------------------------------------

    def relations(self, schema_prefix: str) -> list[tuple[str, str, str]]:
        rows = self.fetch(
            "SELECT n.nspname, c.relname, CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm') AND left(n.nspname, length(?)) = ? "
            "AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' "
            "ORDER BY 1, 2",
            [schema_prefix, schema_prefix],
        ).rows
        return [(str(schema), str(name), str(kind)) for schema, name, kind in rows]

    def columns(self, relation: str) -> list[tuple[str, str]]:
        rows = self.fetch(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
            "FROM pg_catalog.pg_attribute a WHERE a.attrelid = to_regclass(?) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [relation],
        ).rows
        if not rows and self.fetch("SELECT to_regclass(?) IS NULL", [relation]).rows[0][0]:
            raise InvalidSQL(f"relation {relation} does not exist")
        return [(str(name), str(kind)) for name, kind in rows]

    def has_schema(self, schema: str) -> bool:
        """From the catalog: information_schema lists only the schemas the role may use."""
        rows = self.fetch("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = ?", [schema]).rows
        return bool(rows[0][0])

    def views_read(self, schema: str) -> dict[str, set[str] | None]:
        """The relations the server records each view's rewrite rule as depending on."""
        found = self.fetch(
            "SELECT c.relname, n.nspname, r.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_rewrite w ON w.ev_class = c.oid "
            "LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass "
            "AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> c.oid "
            "LEFT JOIN pg_catalog.pg_class r ON r.oid = d.refobjid "
            "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace "
            "WHERE s.nspname = ? AND c.relkind = 'v'",
            [schema],
        ).rows
        reads: dict[str, set[str] | None] = {}
        for view, space, table in found:
            read = reads.setdefault(str(view), set())
            if table is not None and read is not None:
                read.add(self.relation(str(space), str(table)))
        return reads

    def create_schema(self, schema: str) -> None:
        """Idempotent even when another session creates the same schema at the same moment."""
        import psycopg
        from psycopg import errors

        statement = f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"
        try:
            with self._savepoint():
                self._raw(statement)
        except errors.UniqueViolation:
            pass  # created concurrently by another session: it exists, which is what was asked
        except psycopg.Error as error:
            raise self._translate(error) from None

    def replace_table_as(self, relation: str, query: str) -> None:
        """PostgreSQL has no CREATE OR REPLACE TABLE: drop and create in one transaction (the
        caller's, when it holds one)."""
        with self.transaction():
            self.execute(f"DROP TABLE IF EXISTS {relation}")
            self.execute(f"CREATE TABLE {relation} AS {query}")

    def create_view(self, relation: str, query: str) -> None:
        """CREATE OR REPLACE VIEW keeps views that depend on this one, but refuses to drop,
        rename or retype columns; then the view is dropped and created, in one transaction."""
        import psycopg
        from psycopg import errors

        with self.transaction():
            try:
                with self._savepoint():
                    self._raw(f"CREATE OR REPLACE VIEW {relation} AS {query}")
                return
            except errors.InvalidTableDefinition:
                pass  # the columns changed
            except psycopg.Error as error:
                raise self._translate(error) from None
            self.execute(f"DROP VIEW IF EXISTS {relation}")
            self.execute(f"CREATE VIEW {relation} AS {query}")

    def drop_view(self, relation: str) -> None:
        kind = self.fetch("SELECT relkind FROM pg_catalog.pg_class WHERE oid = to_regclass(?)", [relation])
        materialized = bool(kind.rows) and kind.rows[0][0] == "m"
        self.execute(f"DROP {'MATERIALIZED VIEW' if materialized else 'VIEW'} IF EXISTS {relation}")

    def merge_into(self, relation: str, query: str, keys: Sequence[str]) -> None:
        """Delete the matching rows, insert all, in a savepoint so a failure leaves no staging
        table and does not hide the real error behind "current transaction is aborted"."""
        if not keys:
            raise ValueError("merge_into needs at least one key")
        staged = self.quote("__tidegate_staged")
        match = " AND ".join(f"target.{self.quote(k)} = staged.{self.quote(k)}" for k in keys)
        with self.transaction():
            self.execute(f"CREATE TEMPORARY TABLE {staged} AS {query}")
            self.execute(
                f"DELETE FROM {relation} AS target "
                f"WHERE EXISTS (SELECT 1 FROM {staged} AS staged WHERE {match})"
            )
            self.execute(f"INSERT INTO {relation} SELECT * FROM {staged}")
            self.execute(f"DROP TABLE {staged}")

    def lock_relations(self, relations: Sequence[str]) -> None:
        """Lock the existing ones of `relations` (views a swap is about to replace) before any of
        them changes, inside the caller's transaction.

        Without this, a reader that holds one view and waits for another the swap already
        replaced would deadlock with it (and the server may abort the swap). Each attempt waits
        a short while for all the locks, in a savepoint, and gives all of them back if it cannot
        get them, so a reader is never waiting on a lock the swap holds while the swap waits on
        the reader; the swap queues for the views, so a stream of readers cannot starve it.
        """
        import psycopg
        from psycopg import errors

        if not relations or self._conn.info.transaction_status == 0:  # idle: no transaction
            return
        found = self.fetch(
            "SELECT r FROM unnest(?::text[]) WITH ORDINALITY AS t(r, i) WHERE to_regclass(r) IS NOT NULL "
            "ORDER BY i",
            [list(dict.fromkeys(relations))],
        ).rows
        existing = [str(row[0]) for row in found]
        if not existing:
            return
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                with self._savepoint():
                    previous = self._raw("SELECT current_setting('lock_timeout')", fetch=True)
                    assert previous is not None
                    self._raw("SELECT set_config('lock_timeout', ?, true)", [_SWAP_LOCK_WAIT])
                    self._raw(f"LOCK TABLE {', '.join(existing)} IN ACCESS EXCLUSIVE MODE")
                    self._raw("SELECT set_config('lock_timeout', ?, true)", [str(previous.rows[0][0])])
                return
            except errors.LockNotAvailable:
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"the views to swap stayed in use by other sessions for {self.lock_timeout:.0f}s",
                        hint="long-running queries on the environment hold them; raise lock_timeout",
                    ) from None
                time.sleep(random.uniform(0.01, 0.05))
            except psycopg.Error as error:
                raise self._translate(error) from None

    # data in and out ---------------------------------------------------------------------

    def load_csv(self, relation: str, path: Path, column_types: dict[str, str], delimiter: str = ",") -> None:
        """Types inferred from the values unless `column_types` names them (see `seed_rows`);
        loaded with COPY."""
        self._create_and_copy(relation, seed_rows(path, column_types, delimiter))

    def dataframe(self, relation: str) -> Any:
        """A pandas DataFrame of the relation (numeric columns as floats)."""
        return to_frame(self.fetch(f"SELECT * FROM {relation}"))

    def write_dataframe(self, relation: str, frame: Any) -> None:
        """Create `relation` from a pandas DataFrame, or anything with `.to_pandas()` (polars,
        Arrow) or `.df()` (a DuckDB relation), with COPY."""
        self._create_and_copy(relation, frame_rows(frame))

    def _create_and_copy(self, relation: str, table: Rows) -> None:
        """Create the table and fill it with COPY, in one transaction (the caller's, if any)."""
        import psycopg

        columns = ", ".join(f"{self.quote(n)} {t}" for n, t in zip(table.columns, table.types, strict=True))
        names = ", ".join(self.quote(name) for name in table.columns)
        with self.transaction():
            self.execute(f"CREATE TABLE {relation} ({columns})")
            try:
                with (
                    self._conn.cursor() as cursor,
                    cursor.copy(f"COPY {relation} ({names}) FROM STDIN") as copy,
                ):
                    for row in table.rows:
                        copy.write_row(row)
            except psycopg.Error as error:
                raise self._translate(error) from None

    # locks -------------------------------------------------------------------------------

    def try_advisory_lock(self, key: str) -> bool:
        rows = self.fetch("SELECT pg_try_advisory_lock(hashtextextended(?, 0))", [key]).rows
        return bool(rows[0][0])

    def advisory_unlock(self, key: str) -> None:
        self.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", [key])


# helpers ---------------------------------------------------------------------------------


def to_pyformat(sql: str) -> str:
    """`?` placeholders to psycopg's `%s`, and a literal `%` to `%%`; a `?` in a string,
    quoted identifier, comment or dollar-quoted body stays as it is."""
    pieces = split_on_placeholders(sql, dollar_quotes=True)
    return "%s".join(piece.replace("%", "%%") for piece in pieces)
