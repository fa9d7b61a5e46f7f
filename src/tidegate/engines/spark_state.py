"""Where tidegate keeps its state beside Spark, which has no transactions and no constraints to
take a lock with: a DuckDB file (`state_path`) shared by an adapter's build threads, or the
PostgreSQL database of `state_dsn`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.engines.duckdb import DuckDBAdapter
from tidegate.project.config import ConnectionConfig, parse_duration
from tidegate.project.engines import POSTGRES


class SharedState:
    """The state engine the adapter of a connection and all its workers share, opened when
    first asked for."""

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


def open_state(
    connection: ConnectionConfig, root: Path, on_wait: Callable[[str], None] | None
) -> EngineAdapter:
    """The state engine of a Spark connection: the database of `state_dsn`, or the DuckDB
    file at `state_path`."""
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
