"""Spark SQL text: literals for Python values, `?` placeholders bound as literals (Spark SQL
takes no parameters the way tidegate's statements pass them), telling a query from a command,
and the first lines of a Spark error."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tidegate.engines.placeholders import split_on_placeholders
from tidegate.errors import InvalidSQL


def literal(value: Any) -> str:
    """A Spark SQL literal for a Python value (string escapes are on in Spark SQL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "CAST('NaN' AS DOUBLE)"
        if math.isinf(value):
            return f"CAST('{'' if value > 0 else '-'}Infinity' AS DOUBLE)"
        return f"{value!r}D"
    if isinstance(value, Decimal):
        return f"{value}BD" if value.is_finite() else f"CAST('{value}' AS DOUBLE)"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return f"TIMESTAMP {_string(value.isoformat(sep=' '))}"
        return f"TIMESTAMP_NTZ {_string(value.isoformat(sep=' '))}"
    if isinstance(value, dt.date):
        return f"DATE {_string(value.isoformat())}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"X'{bytes(value).hex()}'"
    return _string(str(value))


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bind_parameters(sql: str, parameters: Sequence[Any]) -> str:
    """Replace each `?` outside strings, quoted identifiers and comments by a quoted literal."""
    pieces = split_on_placeholders(sql, quotes="'\"`", backslash_escapes=True)
    if len(pieces) - 1 != len(parameters):
        raise InvalidSQL(
            f"the statement has {len(pieces) - 1} ? placeholders for {len(parameters)} parameters"
        )
    bound = [pieces[0]]
    for value, piece in zip(parameters, pieces[1:], strict=True):
        bound += [literal(value), piece]
    return "".join(bound)


_QUERY = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*\(*\s*(select|with|values|from|table)\b", re.I | re.S
)


def is_query(sql: str) -> bool:
    return _QUERY.match(sql) is not None


def error_message(error: BaseException) -> str:
    """The first lines of a Spark error, without the JVM's plan and stack trace."""
    text = str(error).strip()
    lines = []
    for line in text.splitlines():
        if line.startswith(("\tat ", "JVM stacktrace", "== Physical Plan", "'")) or line.startswith("+-"):
            break
        lines.append(line)
        if len(lines) >= 4:
            break
    return "\n".join(lines).strip() or type(error).__name__
