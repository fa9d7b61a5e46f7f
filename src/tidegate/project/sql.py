"""Parsing rendered SQL with sqlglot: one statement per model, errors with file and line."""

from __future__ import annotations

from sqlglot import exp, parse
from sqlglot.errors import ParseError, TokenError

from tidegate.errors import ProjectError


def parse_query(sql: str, dialect: str, *, path: str, model: str | None = None) -> exp.Query:
    """Parse the single query of a model or test."""
    try:
        statements = [statement for statement in parse(sql, read=dialect) if statement is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        description = first.get("description") or str(error).splitlines()[0]
        raise ProjectError(
            f"SQL syntax error: {description}", path=path, line=first.get("line"), model=model
        ) from None
    except TokenError as error:
        raise ProjectError(f"SQL syntax error: {error}", path=path, model=model) from None
    if len(statements) != 1:
        raise ProjectError(
            f"expected exactly one SQL statement, found {len(statements)}", path=path, model=model
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ProjectError(
            f"a model must be a query (SELECT, WITH, VALUES...), not {statement.key.upper()}",
            path=path,
            model=model,
        )
    return statement


def normalize(expression: exp.Expr, dialect: str) -> str:
    """Canonical text of a query: whitespace, comments and keyword case do not count."""
    return expression.sql(dialect=dialect, comments=False)
