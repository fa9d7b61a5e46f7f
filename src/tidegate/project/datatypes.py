"""Column types a project writes (seeds' `column_types`), checked and translated for an engine.

A type is pasted into the DDL an engine runs (`CREATE TABLE t (id <type>)`), so it must be one
type and nothing more: `integer, x text); create table y (z int` is not. Each is parsed with
sqlglot in the project's dialect, which also spells it as the engine does (DuckDB's `DOUBLE` is
PostgreSQL's `DOUBLE PRECISION`). A plain name sqlglot does not know (`citext`, an enum type)
is taken as a type of the engine's, as it is.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def column_type(text: str, read: str, write: str) -> str:
    """`text`, one column type written in the `read` dialect, as the `write` dialect spells it;
    a ValueError saying why when it is not exactly one type."""
    from sqlglot import exp, parse_one
    from sqlglot.errors import SqlglotError

    try:
        parsed = parse_one(text, read=read, into=exp.DataType)
    except SqlglotError:
        if _NAME.match(text.strip()):
            return text.strip()
        raise ValueError(f"{text!r} is not one SQL type of the {read} dialect") from None
    if read == write and "--" not in text and "/*" not in text:
        return text.strip()  # as written: sqlglot's spelling is not always the engine's own
    return parsed.sql(dialect=write, comments=False)
