"""Engine adapters behind one protocol (see :mod:`tidegate.engines.base`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.project.config import ConnectionConfig, parse_duration


def connect(
    connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
) -> EngineAdapter:
    """Open the warehouse a connection describes."""
    if connection.engine == "duckdb":
        from tidegate.engines.duckdb import DuckDBAdapter

        path = connection.path if connection.path == ":memory:" else str(root / connection.path)
        return DuckDBAdapter.open(path, lock_timeout=parse_duration(connection.lock_timeout), on_wait=on_wait)
    raise NotImplementedError(connection.engine)  # pragma: no cover - pydantic allows only known engines


__all__ = ["EngineAdapter", "QueryResult", "connect"]
