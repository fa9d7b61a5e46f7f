"""dbt-style unit tests: a model's query over given rows must return the expected rows.

The model's query is compiled with each given input as an inline `VALUES` subquery, so a unit
test needs no warehouse data at all and runs in milliseconds on any engine.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tidegate.engines.base import EngineAdapter
from tidegate.errors import ConfigError, EngineError
from tidegate.plan.compile import compile_sql
from tidegate.plan.plan import GivenLater, UnitTestRun
from tidegate.project.model import Model, UnitTest


def compile_unit_test(
    test: UnitTest,
    model: Model,
    *,
    read: str,
    write: str,
    column_types: Mapping[str, dict[str, str]],
    source_relations: Mapping[str, str],
    quote: Callable[[str], str],
    typed_later: Mapping[str, str] | None = None,
) -> UnitTestRun:
    """The model's SQL with its refs and sources replaced by the given rows. Rows for an input
    in `typed_later` (name: the relation the plan builds for it) are read from a name that the
    run binds to them once that relation exists and has column types (`run_unit_test`)."""
    path, line = test.location.path, test.location.line
    if not model.sql:
        raise ConfigError(
            f"unit test {test.name!r}: only SQL models can be unit tested", path=path, line=line
        )
    given = {item.target.lower(): item for item in test.given}
    for ref in model.refs:
        if ref.lower() not in given:
            raise ConfigError(f"unit test {test.name!r} gives no rows for ref('{ref}')", path=path, line=line)
    for source in model.sources:
        if source.lower() not in given:
            name, table = source.split(".", 1)
            raise ConfigError(
                f"unit test {test.name!r} gives no rows for source('{name}', '{table}')", path=path, line=line
            )
    inline: dict[str, str] = {}
    later: list[GivenLater] = []
    for key, item in given.items():
        if item.sql is not None:
            inline[key] = item.sql
        elif key in (typed_later or {}) and key not in column_types:
            name = f"__tidegate_given_{len(later) + 1}"
            rows = [{column: _jsonable(value) for column, value in row.items()} for row in item.rows]
            later.append(GivenLater(name=name, relation=(typed_later or {})[key], rows=rows))
            inline[key] = f"SELECT * FROM {name}"
        else:
            inline[key] = _values(item.rows, column_types.get(key, {}), quote)
    sources = {
        source_relations.get(key, key).lower(): inline[key] for key, item in given.items() if item.is_source
    }
    refs = {key: inline[key] for key, item in given.items() if not item.is_source}
    sql = model.incremental_sql if test.overrides.get("macros", {}).get("is_incremental") else model.sql
    compiled = compile_sql(sql or model.sql, {}, read=read, write=write, ephemerals=refs, sources=sources)
    return UnitTestRun(
        name=test.name,
        model=test.model,
        sql=compiled,
        expected_rows=[{key: _jsonable(value) for key, value in row.items()} for row in test.expect_rows],
        expected_sql=test.expect_sql,
        path=path,
        line=line,
        given_later=later,
    )


def _values(rows: tuple[dict[str, Any], ...], types: dict[str, str], quote: Callable[[str], str]) -> str:
    """A query returning `rows`, with columns cast to the upstream's types when known. As in
    dbt, given rows name only the columns a test is about: the upstream's other columns are
    NULLs of their types, so the model's query still finds every column it reads."""
    given = {column.lower(): column for row in rows for column in row}
    columns = [given.pop(c.lower(), c) for c in types] + list(given.values())
    types = {
        column: kind for column in columns for name, kind in types.items() if name.lower() == column.lower()
    }
    if not rows:
        if not types:
            return "SELECT NULL AS __empty WHERE FALSE"
        columns = list(types)
        return (
            "SELECT " + ", ".join(f"CAST(NULL AS {types[c]}) AS {quote(c)}" for c in columns) + " WHERE FALSE"
        )
    selects = []
    for row in rows:
        values = []
        for column in columns:
            literal = _literal(row.get(column))
            kind = types.get(column)
            values.append(
                f"CAST({literal} AS {kind}) AS {quote(column)}" if kind else f"{literal} AS {quote(column)}"
            )
        selects.append("SELECT " + ", ".join(values))
    return " UNION ALL ".join(selects)


def _bind_given_later(engine: EngineAdapter, test: UnitTestRun) -> str:
    """The test's query with its late inputs bound: each is the given rows cast to the types
    of the relation built for it, as a common table expression around the query."""
    if not test.given_later:
        return test.sql
    bound = ", ".join(
        f"{engine.quote(given.name)} AS ("
        f"{_values(tuple(given.rows), dict(engine.columns(given.relation)), engine.quote)})"
        for given in test.given_later
    )
    return f"WITH {bound} SELECT * FROM ({test.sql}) AS __tidegate_unit_test"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and not math.isfinite(value):
        return f"CAST('{value}' AS DOUBLE)"
    if isinstance(value, (int, float, Decimal)):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _jsonable(value: object) -> object:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _normal(value: object) -> object:
    """Values compare by meaning: 10 equals 10.0 and Decimal('10.00'); dates equal their text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return round(float(value), 6)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.replace("T", " ") if len(value) >= 19 and value[10] == "T" else value
        try:
            number = float(text)
        except ValueError:
            return text
        # text such as "NaN" or "Inf" (a name, a code) stays text: NaN never equals itself
        return round(number, 6) if math.isfinite(number) else text
    return str(value)


def run_unit_test(engine: EngineAdapter, test: UnitTestRun) -> list[str]:
    """Run one unit test; the list of differences is empty when it passes."""
    sql = _bind_given_later(engine, test)
    actual = engine.fetch(sql)
    expected_rows = test.expected_rows
    if test.expected_sql is not None:
        expected = engine.fetch(test.expected_sql)
        expected_rows = [dict(zip(expected.columns, row, strict=True)) for row in expected.rows]
    columns = list(dict.fromkeys(column for row in expected_rows for column in row)) or actual.columns
    lowered = {name.lower(): index for index, name in enumerate(actual.columns)}
    missing = [column for column in columns if column.lower() not in lowered]
    if missing:
        return [f"the model returns no column {', '.join(missing)} (it returns {', '.join(actual.columns)})"]
    if test.expected_sql is None:
        expected_rows = _typed(engine, sql, expected_rows, columns)
    got = Counter(tuple(_normal(row[lowered[c.lower()]]) for c in columns) for row in actual.rows)
    want = Counter(tuple(_normal(row.get(c)) for c in columns) for row in expected_rows)
    if got == want:
        return []
    problems = [f"expected but missing: {row}" for row in (want - got).elements()][:10]
    problems += [f"returned but not expected: {row}" for row in (got - want).elements()][:10]
    return [f"{_HEADER}{', '.join(columns)}", *problems]


_HEADER = "columns: "


def failure_count(problems: list[str]) -> int:
    """How many rows (or problems) a unit test's details report: the header line is not one."""
    return sum(1 for problem in problems if not problem.startswith(_HEADER))


def _typed(
    engine: EngineAdapter, sql: str, rows: list[dict[str, Any]], columns: list[str]
) -> list[dict[str, Any]]:
    """The expected rows cast to the types of the model's columns, as dbt compares them (a
    date written for a timestamp column is that day's midnight); as written if a cast fails."""
    if not rows:
        return rows
    try:
        types = {name.lower(): kind for name, kind in engine.query_columns(sql)}
        typed = {column: types[column.lower()] for column in columns}
        result = engine.fetch(_values(tuple(rows), typed, engine.quote))
    except EngineError:
        return rows
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]
