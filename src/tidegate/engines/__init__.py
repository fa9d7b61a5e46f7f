"""Engine adapters behind one protocol (see :mod:`tidegate.engines.base`).

Which engines there are, and what each can do, is declared once in
:mod:`tidegate.project.engines` (`ENGINES`); each entry names its adapter here, one module per
engine, imported only when a project uses it, so DuckDB users never import psycopg or PySpark.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tidegate.engines.base import EngineAdapter, QueryResult
from tidegate.errors import ConfigError
from tidegate.project.config import ConnectionConfig
from tidegate.project.engines import ENGINES, Engine, engine


def adapter_class(name: str) -> type[EngineAdapter]:
    """The adapter of the engine `name`, imported now."""
    spec = engine(name)
    module, _, attribute = spec.adapter.partition(":")
    try:
        adapter: type[EngineAdapter] = getattr(importlib.import_module(module), attribute)
        return adapter
    except ImportError as error:
        raise ConfigError(
            f"the {name} engine needs a package that is not installed: {error.name}",
            hint=f"pip install 'tidegate[{spec.extra or name}]'",
        ) from None


def connect(
    connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
) -> EngineAdapter:
    """Open the warehouse a connection describes."""
    return adapter_class(connection.engine).connect(connection, root, on_wait=on_wait)


__all__ = ["ENGINES", "Engine", "EngineAdapter", "QueryResult", "adapter_class", "connect"]
