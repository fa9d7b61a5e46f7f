"""Parsing rendered SQL with sqlglot: one statement per model, errors with file and line."""

from __future__ import annotations

from sqlglot import exp, parse
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from tidegate.errors import ProjectError
from tidegate.project.syntax import syntax_error


def parse_query(
    sql: str, dialect: str, *, path: str, model: str | None = None, source: str | None = None
) -> exp.Query:
    """Parse the single query of a model or test; a syntax error names the line of `source`,
    the template `sql` was rendered from, when it is given (see `tidegate.project.syntax`)."""
    try:
        statements = _parse(sql, dialect)
    except (ParseError, TokenError) as error:
        message, line = syntax_error(error, sql, dialect, source)
        raise ProjectError(message, path=path, line=line, model=model) from None
    if len(statements) != 1:
        raise ProjectError(
            f"expected exactly one SQL statement, found {len(statements)}", path=path, model=model
        )
    statement = statements[0]
    if isinstance(statement, exp.Values):  # a query, though not an exp.Query for sqlglot
        return exp.select("*").from_(statement.as_("_values"))
    if not isinstance(statement, exp.Query):
        raise ProjectError(
            f"a model must be a query (SELECT, WITH, VALUES...), not {statement.key.upper()}",
            path=path,
            model=model,
        )
    return statement


def _parse(sql: str, dialect: str) -> list[exp.Expr]:
    """Parse; only a text that fails is parsed again without its comments (see below)."""
    try:
        return [statement for statement in parse(sql, read=dialect) if statement is not None]
    except ParseError:
        if "--" not in sql and "/*" not in sql:
            raise
    return [statement for statement in parse(_without_comments(sql, dialect), read=dialect) if statement]


def _without_comments(sql: str, dialect: str) -> str:
    """`sql` with its comments blanked out, keeping every newline so error lines stay right.

    sqlglot does not recognize a keyword of several words (`GROUP BY`, `ORDER BY`) with a comment
    between its words, so `GROUP /* c */ BY` would be a syntax error; comments never count anyway.
    """
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except TokenError:
        return sql  # parsing reports the error
    parts, position = [], 0
    for token in tokens:
        gap = sql[position : token.start]
        parts += ["\n" * gap.count("\n") or (" " if gap else ""), sql[token.start : token.end + 1]]
        position = token.end + 1
    parts.append("\n" * sql[position:].count("\n"))
    return "".join(parts)


def normalize(expression: exp.Expr, dialect: str) -> str:
    """Canonical text of a query: whitespace, comments and keyword case do not count."""
    return expression.sql(dialect=dialect, comments=False, copy=False)
