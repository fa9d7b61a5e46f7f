"""Opening PostgreSQL: the dsn of `tidegate.yml` expanded from the environment, the session's
settings, one first connection that fails fast with libpq's reason, then the pool.

Credentials come only from the environment (`${VAR}` in the dsn); no message ever shows the dsn
or a password, only `host:port/dbname` (the server's `identity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool, PoolTimeout

from tidegate.errors import ConfigError, EngineError
from tidegate.project.config import ConnectionConfig, parse_duration
from tidegate.project.dsn import dsn_identity, expand_connection, scrub


@dataclass(frozen=True)
class Server:
    """An open pool of sessions on one server, and what messages may say of it."""

    pool: ConnectionPool[Any]
    identity: str
    """`host:port/dbname`: the only part of the dsn messages show."""
    statement_timeout: str | None
    """The connection's statement_timeout as `tidegate.yml` writes it (`5m`), for messages."""
    lock_timeout: float
    secrets: tuple[str, ...]
    """The password and the expanded dsn, scrubbed from every message."""

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)


def open_server(connection: ConnectionConfig) -> tuple[Server, Any]:
    """The pool of `connection`, open, and a first connection from it (the adapter's session)."""
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
    lock_timeout = float(parse_duration(connection.lock_timeout))
    return Server(pool, identity, timeout_text, lock_timeout, secrets), main


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
