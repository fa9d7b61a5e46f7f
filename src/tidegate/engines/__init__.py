"""Engine adapters behind one protocol (see :mod:`tidegate.engines.base`).

Each engine lives in its own module and is imported only when a project uses it, so DuckDB users
never import psycopg or PySpark.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.errors import ConfigError
from tidegate.project.config import ConnectionConfig

ADAPTERS = {
    "duckdb": "tidegate.engines.duckdb:DuckDBAdapter",
    "postgres": "tidegate.engines.postgres:PostgresAdapter",
    "spark": "tidegate.engines.spark:SparkAdapter",
}


def adapter_class(engine: str) -> type[EngineAdapter]:
    module, _, name = ADAPTERS[engine].partition(":")
    try:
        adapter: type[EngineAdapter] = getattr(importlib.import_module(module), name)
        return adapter
    except ImportError as error:
        extra = {"postgres": "postgres", "spark": "spark"}.get(engine, engine)
        raise ConfigError(
            f"the {engine} engine needs a package that is not installed: {error.name}",
            hint=f"pip install 'tidegate[{extra}]'",
        ) from None


def connect(
    connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
) -> EngineAdapter:
    """Open the warehouse a connection describes."""
    return adapter_class(connection.engine).connect(connection, root, on_wait=on_wait)


__all__ = ["ADAPTERS", "EngineAdapter", "QueryResult", "adapter_class", "connect"]
