"""PostgreSQL, a real server through psycopg 3 and a connection pool.

The adapter holds one pooled connection for its whole life: its session, on which the state
store's advisory locks live (the server releases them if the process dies). `worker()` borrows
another pooled connection for a build thread. Connections are in autocommit mode; `transaction()`
opens a transaction (a savepoint when nested), and DDL is transactional, so a view swap commits
as one step.

Credentials come only from the environment (`${VAR}` in the dsn); no message ever shows the dsn
or a password, only `host:port/dbname`.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool, PoolTimeout

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.engines.placeholders import split_on_placeholders
from tidegate.errors import ConfigError, EngineError, InvalidSQL, LockError
from tidegate.project.config import ConnectionConfig, parse_duration
from tidegate.project.dsn import dsn_identity, expand_connection, scrub
from tidegate.project.engines import POSTGRES
from tidegate.project.envvars import conceal, reveal
from tidegate.project.seeds import read_seed

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

    def __init__(
        self,
        pool: ConnectionPool[Any],
        connection: Any,
        *,
        identity: str,
        statement_timeout: str | None = None,
        lock_timeout: float = 60.0,
        secrets: tuple[str, ...] = (),
        owns_pool: bool = True,
    ) -> None:
        self._pool = pool
        self._conn = connection
        self.identity = identity
        """`host:port/dbname`: the only part of the dsn messages show."""
        self.statement_timeout = statement_timeout
        self.lock_timeout = lock_timeout
        self._secrets = secrets
        self._owns_pool = owns_pool
        self._closed = False

    # connecting --------------------------------------------------------------------------

    @classmethod
    def connect(
        cls, connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
    ) -> PostgresAdapter:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        expanded = expand_connection(connection.dsn or "")  # config refused a password written in it
        dsn = expanded.text
        try:
            fields = conninfo_to_dict(dsn)
        except Exception:
            raise ConfigError(
                "the dsn is not a valid PostgreSQL connection string (not shown: it may hold a password)",
                hint="use a URL (postgresql://user@host:5432/db) or key=value pairs (host=... dbname=...)",
            ) from None
        identity = dsn_identity(dsn)
        secrets = tuple(s for s in (str(fields.get("password") or ""), dsn, *expanded.secrets) if s)
        extra: dict[str, Any] = {"application_name": fields.get("application_name") or "tidegate"}
        timeout_text = None
        options = [str(fields.get("options") or "")]
        if connection.statement_timeout is not None:
            seconds = parse_duration(connection.statement_timeout)
            timeout_text = _seconds_text(seconds)
            options.append(f"-c statement_timeout={seconds * 1000}")
        if connection.role is not None:  # the session's role from the start, and after a reset
            options.append(f"-c role={connection.role}")
        if len(options) > 1:
            extra["options"] = " ".join(options).strip()
        if "connect_timeout" not in fields:
            extra["connect_timeout"] = 10
        conninfo = make_conninfo(dsn, **extra)
        _probe(conninfo, identity, secrets)
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=connection.threads + 2,
            kwargs={"autocommit": True, "prepare_threshold": None},
            open=False,
            name=f"tidegate {identity}",
            check=ConnectionPool.check_connection,
            reset=_reset,
            timeout=60.0,
        )
        try:
            pool.open(wait=True, timeout=30.0)
            main = pool.getconn()
        except PoolTimeout:
            pool.close()
            raise EngineError(f"cannot connect to {identity}: no connection within 30s") from None
        return cls(
            pool,
            main,
            identity=identity,
            statement_timeout=timeout_text,
            lock_timeout=float(parse_duration(connection.lock_timeout)),
            secrets=secrets,
        )

    def worker(self) -> PostgresAdapter:
        try:
            connection = self._pool.getconn()
        except PoolTimeout:
            raise EngineError(
                f"no free connection to {self.identity} within 60s",
                hint="lower --threads, or raise threads in tidegate.yml (the pool holds threads + 2)",
            ) from None
        return PostgresAdapter(
            self._pool,
            connection,
            identity=self.identity,
            statement_timeout=self.statement_timeout,
            lock_timeout=self.lock_timeout,
            secrets=self._secrets,
            owns_pool=False,
        )

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
            self._pool.close()
        else:
            with suppress(Exception):  # a connection the server killed: the pool discards it
                self._pool.putconn(self._conn)

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

        message = self._scrub(str(error).strip()) or type(error).__name__
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

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

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
        """Types inferred from the values (bigint, double precision, boolean, date, timestamp,
        text; an empty field is NULL) unless `column_types` names them; loaded with COPY."""
        table = read_seed(path.read_bytes(), str(path), delimiter)
        header, rows = table.header, [[value if value != "" else None for value in row] for row in table.rows]
        overrides = {name.lower(): kind for name, kind in column_types.items()}
        types = []
        for index, name in enumerate(header):
            given = column_types.get(name) or overrides.get(name.lower())
            types.append(given or _infer([row[index] for row in rows]))
        columns = ", ".join(f"{self.quote(name)} {kind}" for name, kind in zip(header, types, strict=True))
        with self.transaction():
            self.execute(f"CREATE TABLE {relation} ({columns})")
            self._copy(relation, header, rows)

    def _copy(self, relation: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        import psycopg

        names = ", ".join(self.quote(name) for name in columns)
        try:
            with self._conn.cursor() as cursor, cursor.copy(f"COPY {relation} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as error:
            raise self._translate(error) from None

    def dataframe(self, relation: str) -> Any:
        """A pandas DataFrame of the relation (numeric columns as floats)."""
        import pandas as pd

        result = self.fetch(f"SELECT * FROM {relation}")
        frame = pd.DataFrame.from_records(result.rows, columns=result.columns)
        for name in frame.columns:
            if frame[name].dtype == object and any(isinstance(v, Decimal) for v in frame[name]):
                frame[name] = frame[name].astype("float64")
        return frame

    def write_dataframe(self, relation: str, frame: Any) -> None:
        """Create `relation` from a pandas DataFrame, or anything with `.to_pandas()` (polars,
        Arrow) or `.df()` (a DuckDB relation), with COPY."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            if hasattr(frame, "to_pandas"):
                frame = frame.to_pandas()
            elif hasattr(frame, "df"):
                frame = frame.df()
            else:
                raise EngineError(
                    f"a Python model returned a {type(frame).__name__}; return a pandas or polars DataFrame"
                )
        names = [str(name) for name in frame.columns]
        if len(set(names)) != len(names):
            raise EngineError(f"the dataframe has duplicate column names: {', '.join(names)}")
        columns = [frame.iloc[:, index] for index in range(len(names))]
        types = [_frame_type(series) for series in columns]
        values = [series.astype(object).where(series.notna(), None).tolist() for series in columns]
        definition = ", ".join(f"{self.quote(n)} {t}" for n, t in zip(names, types, strict=True))
        with self.transaction():
            self.execute(f"CREATE TABLE {relation} ({definition})")
            self._copy(relation, names, [[_python(v) for v in row] for row in zip(*values, strict=True)])

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


def _seconds_text(seconds: int) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _probe(conninfo: str, identity: str, secrets: tuple[str, ...]) -> None:
    """Connect once, so an unreachable server or a refused login fails at once with libpq's
    reason (a pool would retry in the background and only time out)."""
    import psycopg

    try:
        psycopg.connect(conninfo, autocommit=True).close()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        reason = scrub(reason, secrets)
        raise EngineError(f"cannot connect to {identity}: {reason}") from None


def _reset(connection: Any) -> None:
    """Before a connection goes back to the pool: no temp table, setting or lock survives."""
    connection.execute("DISCARD ALL")


_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _infer(values: list[str | None]) -> str:
    present = [value.strip() for value in values if value is not None]
    if not present:
        return "text"
    if all(_INTEGER.match(v) for v in present):
        return "bigint" if all(-(2**63) <= int(v) < 2**63 for v in present) else "numeric"
    if all(_FLOAT.match(v) for v in present):
        return "double precision"
    if all(v.lower() in ("true", "false") for v in present):
        return "boolean"
    if all(_DATE.match(v) and _valid(dt.date.fromisoformat, v) for v in present):
        return "date"
    if all(_TIMESTAMP.match(v) and _valid(dt.datetime.fromisoformat, v) for v in present):
        return "timestamp"
    return "text"


def _valid(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _frame_type(series: Any) -> str:
    import pandas as pd

    kind = series.dtype
    types = pd.api.types
    if types.is_bool_dtype(kind):
        return "boolean"
    if types.is_integer_dtype(kind):
        if getattr(kind, "itemsize", 8) <= 2:
            return "smallint"
        if getattr(kind, "itemsize", 8) <= 4 and not types.is_unsigned_integer_dtype(kind):
            return "integer"
        return "numeric" if types.is_unsigned_integer_dtype(kind) and kind.itemsize == 8 else "bigint"
    if types.is_float_dtype(kind):
        return "real" if getattr(kind, "itemsize", 8) == 4 else "double precision"
    if isinstance(kind, pd.DatetimeTZDtype):
        return "timestamptz"
    if types.is_datetime64_any_dtype(kind):
        return "timestamp"
    if types.is_timedelta64_dtype(kind):
        return "interval"
    if not (types.is_object_dtype(kind) or isinstance(kind, pd.CategoricalDtype)):
        return "text"  # strings, and anything else COPY writes as text
    present = [value for value in series.tolist() if value is not None and not _is_missing(value)]
    checks: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "boolean"),
        (int, "bigint"),
        (float, "double precision"),
        (Decimal, "numeric"),
        (dt.datetime, "timestamp"),
        (dt.date, "date"),
        (dt.time, "time"),
        ((bytes, bytearray, memoryview), "bytea"),
    ]
    for python_type, name in checks:
        if present and all(isinstance(_python(value), python_type) for value in present):
            if name == "bigint" and any(isinstance(_python(value), bool) for value in present):
                continue
            return name
    return "text"


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _python(value: Any) -> Any:
    """A value COPY can write: numpy scalars as Python ones, anything unknown as text."""
    if value is None or isinstance(value, (str, bool, int, float, Decimal, dt.date, dt.time, bytes)):
        return value
    if isinstance(value, dt.timedelta):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if hasattr(value, "to_pytimedelta"):
        return value.to_pytimedelta()
    return str(value)
