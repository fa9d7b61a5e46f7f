"""dbt's model contracts: `contract: {enforced: true}` with typed columns, and `constraints:` of
a model or its columns, read from properties (or a manifest) and checked before any build."""

from __future__ import annotations

from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.datatypes import column_type
from tidegate.project.model import CONSTRAINT_TYPES, Column, Constraint, Contract, Kind, Location
from tidegate.project.yamlio import LineList


def read_contract(
    config: dict[str, Any],
    columns: tuple[Column, ...],
    constraints: tuple[Constraint, ...],
    kind: Kind,
    where: Location,
    name: str,
    dialect: str,
) -> Contract | None:
    """A model's contract when its config enforces one (dbt's `contract: {enforced: true}`):
    as in dbt, every column declared with a `data_type`, and not on an ephemeral model. Each
    `data_type` is one type of the project's `dialect`: it is written into the table's DDL."""
    contract = config.get("contract")
    if not (isinstance(contract, dict) and contract.get("enforced")):
        return None
    if kind not in (Kind.TABLE, Kind.VIEW, Kind.INCREMENTAL):
        raise ConfigError(
            f"{name}: contracts are enforced on tables, views and incremental models, not {kind.value} ones",
            path=where.path,
            line=where.line,
        )
    untyped = [column.name for column in columns if not column.data_type]
    if not columns or untyped:
        listed = f" (no data_type for {', '.join(untyped)})" if untyped else ""
        raise ConfigError(
            f"{name} has an enforced contract: declare each of its columns with a data_type{listed}",
            path=where.path,
            line=where.line,
        )
    for column in columns:
        try:
            column_type(str(column.data_type), dialect, dialect)
        except ValueError as error:
            raise ConfigError(
                f"{name}: data_type of column {column.name!r}: {error}",
                path=where.path,
                line=where.line,
                hint="give one type, such as integer, varchar, date or decimal(10, 2)",
            ) from None
    return Contract(columns=columns, constraints=constraints)


def read_constraints(entry: dict[str, Any], path: str, line: int | None) -> tuple[Constraint, ...]:
    """dbt's `constraints:` of a column or a model, checked for their types."""
    found = []
    listed = entry.get("constraints")
    for index, item in enumerate(listed if isinstance(listed, list) else []):
        item_line = listed.line_of(index) if isinstance(listed, LineList) else line
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in CONSTRAINT_TYPES:
            raise ConfigError(
                f"a constraint's type must be one of {', '.join(CONSTRAINT_TYPES)}, not {kind!r}",
                path=path,
                line=item_line,
            )
        expression = item.get("expression")
        if kind == "foreign_key" and expression is None and item.get("to"):
            expression = f"{item['to']} ({', '.join(map(str, item.get('to_columns') or []))})"
        if kind in ("check", "custom") and not expression:
            raise ConfigError(f"a {kind} constraint needs an expression", path=path, line=item_line)
        found.append(
            Constraint(
                type=kind,
                expression=None if expression is None else str(expression),
                columns=tuple(str(c) for c in item.get("columns") or ()),
                name=None if item.get("name") is None else str(item["name"]),
            )
        )
    return tuple(found)
