"""The statements of an infrastructure plan, one module per warehouse dialect.

`DIALECTS` is the one table from a dialect's name (a catalog's, or `infra plan --dialect`) to
the class that writes its statements; `base` holds what they share.
"""

from __future__ import annotations

from tidegate.errors import ConfigError
from tidegate.infra import STATE_FILE_DIALECTS
from tidegate.infra.dialects.base import MASK, PASSWORD_PLACEHOLDER, InfraDialect, Statement
from tidegate.infra.dialects.duckdb import DuckDBDialect
from tidegate.infra.dialects.postgres import PostgresDialect
from tidegate.infra.dialects.snowflake import SnowflakeDialect
from tidegate.infra.diff import Change

DIALECTS: dict[str, type[InfraDialect]] = {
    "postgres": PostgresDialect,
    "duckdb": DuckDBDialect,
    "snowflake": SnowflakeDialect,
}


def dialect_class(name: str) -> type[InfraDialect]:
    if name not in DIALECTS:
        raise ConfigError(f"no infrastructure statements for {name!r} (one of {', '.join(sorted(DIALECTS))})")
    return DIALECTS[name]


def dialect(
    name: str,
    users: frozenset[str] = frozenset(),
    databases_dir: str | None = None,
    schema_owners: dict[str, str] | None = None,
) -> InfraDialect:
    return dialect_class(name)(users, databases_dir, schema_owners)


def statements(
    changes: list[Change],
    name: str,
    users: frozenset[str] = frozenset(),
    databases_dir: str | None = None,
    schema_owners: dict[str, str] | None = None,
) -> list[Statement]:
    writer = dialect(name, users, databases_dir, schema_owners)
    return [statement for change in changes for statement in writer.statements(change)]


__all__ = [
    "DIALECTS",
    "MASK",
    "PASSWORD_PLACEHOLDER",
    "STATE_FILE_DIALECTS",
    "InfraDialect",
    "Statement",
    "dialect",
    "dialect_class",
    "statements",
]
