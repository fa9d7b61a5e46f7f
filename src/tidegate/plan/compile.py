"""Compile placeholder SQL for an engine: refs become physical relations, ephemerals subqueries.

Loading renders refs as placeholders; here they are swapped for the relations a plan chose, and
the query is transpiled by sqlglot from the project's dialect to the engine's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError

from tidegate.errors import InvalidSQL, PlanError
from tidegate.project.model import REF_PREFIX, THIS_PLACEHOLDER

if TYPE_CHECKING:
    from tidegate.project.names import Names


def compile_sql(
    sql: str,
    relations: Mapping[str, str],
    *,
    read: str,
    write: str,
    ephemerals: Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    this: str | None = None,
    normalized: bool = False,
) -> str:
    """`sql` with each `ref` placeholder replaced.

    `relations` maps model names to physical relations (text in the engine's dialect);
    `ephemerals` maps ephemeral model names to their already compiled queries, and `sources`
    maps `source.table` names to queries that stand in for them (unit tests).

    A ref without a relation is a PlanError; SQL sqlglot cannot read or write, InvalidSQL.
    `normalized` SQL (as the loader keeps a model's) was written by sqlglot in `read` already.
    """
    if normalized and read == write and not sources and this is None:
        quick = _substitute(sql, relations, ephemerals or {})
        if quick is not None:
            return quick
    try:
        return _compile(sql, relations, read, write, ephemerals or {}, sources or {}, this)
    except SqlglotError as error:
        raise InvalidSQL(f"cannot compile the SQL: {str(error).splitlines()[0]}") from None


_PLACEHOLDER = re.compile(rf"(?<![\w$\"'.]){REF_PREFIX}(\w+)(?![\w$\"'.])", re.IGNORECASE)


def _substitute(sql: str, relations: Mapping[str, str], ephemerals: Mapping[str, str]) -> str | None:
    """Without a dialect to translate, a ref is only a name to swap: sqlglot wrote `sql` in
    this dialect, so each placeholder is a whole table name. Parsing a query
    again costs more than building the table it names; refs to ephemeral models (subqueries)
    and anything unusual take the parser's way (None)."""
    models = {match.lower() for match in _PLACEHOLDER.findall(sql)}
    if sql.lower().count(REF_PREFIX) != len(_PLACEHOLDER.findall(sql)) or models & set(ephemerals):
        return None
    if not models <= set(relations):
        return None
    return _PLACEHOLDER.sub(lambda match: relations[match.group(1).lower()], sql)


def _compile(
    sql: str,
    relations: Mapping[str, str],
    read: str,
    write: str,
    ephemerals: Mapping[str, str],
    sources: Mapping[str, str],
    this: str | None,
) -> str:
    tree = parse_one(sql, read=read)

    def replace(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Table):
            return node
        if sources and node.args.get("db"):
            key = ".".join(part for part in (node.catalog, node.db, node.name) if part).lower()
            if key in sources:
                return _subquery(sources[key], node.alias or node.name, write)
        if node.args.get("db"):
            return node
        name = node.name.lower()
        if name == THIS_PLACEHOLDER and this is not None:
            return _table(this, node, write)
        if not name.startswith(REF_PREFIX):
            return node
        model = name[len(REF_PREFIX) :]
        if model in ephemerals:
            return _subquery(ephemerals[model], node.alias or model, write)
        if model in relations:
            return _table(relations[model], node, write)
        raise PlanError(f"no relation for ref('{model}')")

    return tree.transform(replace, copy=False).sql(dialect=write)  # the tree is our own


def compile_hook(sql: str, this: str | None) -> str:
    """A hook's SQL with `{{ this }}` replaced by the relation. Hooks run as written, in the
    warehouse's SQL: they may be any statement, which sqlglot need not understand."""
    if this is None:
        return sql
    return _THIS.sub(lambda _: this, sql)


_THIS = re.compile(rf"(?<![A-Za-z0-9_$]){THIS_PLACEHOLDER}(?![A-Za-z0-9_$])", re.IGNORECASE)


def _subquery(sql: str, alias: str, dialect: str) -> exp.Subquery:
    """`(sql) AS alias`, standing in for a table."""
    return exp.Subquery(
        this=parse_one(sql, read=dialect), alias=exp.TableAlias(this=exp.to_identifier(alias))
    )


def _table(relation: str, original: exp.Table, dialect: str) -> exp.Table:
    table = exp.to_table(relation, dialect=dialect)
    if original.args.get("alias") is not None:
        table.set("alias", original.args["alias"].copy())
    return table


def resolve_names(sql: str, names: Names[str], *, read: str, write: str) -> str:
    """A user's query with unqualified model names (not CTEs) replaced by the relations
    `names` gives them (see `tidegate.project.names`).

    Lets people write `select * from orders` against any environment; the table keeps its name
    as alias, so `orders.id` still works. Qualified names are left as written: they read what
    they name. A bare name of relations in several schemas is an error, not a guess.
    """
    from tidegate.errors import TidegateError
    from tidegate.project.syntax import syntax_error

    try:
        tree = parse_one(sql, read=read)
    except SqlglotError as error:
        message, line = syntax_error(error, sql, read)
        raise TidegateError(
            message + (f" (line {line} of the query)" if line and "\n" in sql else "")
        ) from None

    def replace(relation: str, node: exp.Table) -> exp.Expr:
        table = exp.to_table(relation, dialect=write)
        table.set("alias", node.args.get("alias") or exp.TableAlias(this=node.this.copy()))
        return table

    resolution = names.resolve(tree, replace, bare_only=True)
    ambiguous = next((name for name in resolution.unresolved if name.candidates), None)
    if ambiguous is not None:
        raise TidegateError(f"{ambiguous.name} is {ambiguous.reason}")
    return tree.sql(dialect=write)
