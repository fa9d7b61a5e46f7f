"""What PostgreSQL is given with COPY: the columns, their types and the rows of a seed's CSV file
(types inferred from the text, as dbt's seeds are) or of a Python model's dataframe (types from
its dtypes, or from the Python values of an object column); and dataframes back for Python models.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tidegate.engines.base import QueryResult
from tidegate.errors import EngineError
from tidegate.project.seeds import read_seed


@dataclass(frozen=True)
class Rows:
    """A table to create and fill: its columns, their PostgreSQL types, and values COPY writes."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]


def seed_rows(path: Path, column_types: dict[str, str], delimiter: str) -> Rows:
    """A seed's rows; types inferred from the values (bigint, double precision, boolean, date,
    timestamp, text; an empty field is NULL) unless `column_types` names them."""
    table = read_seed(path.read_bytes(), str(path), delimiter)
    header, rows = table.header, [[value if value != "" else None for value in row] for row in table.rows]
    overrides = {name.lower(): kind for name, kind in column_types.items()}
    types = []
    for index, name in enumerate(header):
        given = column_types.get(name) or overrides.get(name.lower())
        types.append(given or _infer([row[index] for row in rows]))
    return Rows(list(header), types, rows)


def frame_rows(frame: Any) -> Rows:
    """The rows of a pandas DataFrame, or of anything with `.to_pandas()` (polars, Arrow) or
    `.df()` (a DuckDB relation)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        if hasattr(frame, "to_pandas"):
            frame = frame.to_pandas()
        elif hasattr(frame, "df"):
            frame = frame.df()
        else:
            raise EngineError(
                f"a Python model returned a {type(frame).__name__}; return a pandas or polars DataFrame"
            )
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        raise EngineError(f"the dataframe has duplicate column names: {', '.join(names)}")
    columns = [frame.iloc[:, index] for index in range(len(names))]
    types = [_frame_type(series) for series in columns]
    values = [series.astype(object).where(series.notna(), None).tolist() for series in columns]
    return Rows(names, types, [[_python(v) for v in row] for row in zip(*values, strict=True)])


def to_frame(result: QueryResult) -> Any:
    """A pandas DataFrame of a query's result (numeric columns as floats)."""
    import pandas as pd

    frame = pd.DataFrame.from_records(result.rows, columns=result.columns)
    for name in frame.columns:
        if frame[name].dtype == object and any(isinstance(v, Decimal) for v in frame[name]):
            frame[name] = frame[name].astype("float64")
    return frame


_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _infer(values: list[str | None]) -> str:
    present = [value.strip() for value in values if value is not None]
    if not present:
        return "text"
    if all(_INTEGER.match(v) for v in present):
        return "bigint" if all(-(2**63) <= int(v) < 2**63 for v in present) else "numeric"
    if all(_FLOAT.match(v) for v in present):
        return "double precision"
    if all(v.lower() in ("true", "false") for v in present):
        return "boolean"
    if all(_DATE.match(v) and _valid(dt.date.fromisoformat, v) for v in present):
        return "date"
    if all(_TIMESTAMP.match(v) and _valid(dt.datetime.fromisoformat, v) for v in present):
        return "timestamp"
    return "text"


def _valid(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _frame_type(series: Any) -> str:
    import pandas as pd

    kind = series.dtype
    types = pd.api.types
    if types.is_bool_dtype(kind):
        return "boolean"
    if types.is_integer_dtype(kind):
        if getattr(kind, "itemsize", 8) <= 2:
            return "smallint"
        if getattr(kind, "itemsize", 8) <= 4 and not types.is_unsigned_integer_dtype(kind):
            return "integer"
        return "numeric" if types.is_unsigned_integer_dtype(kind) and kind.itemsize == 8 else "bigint"
    if types.is_float_dtype(kind):
        return "real" if getattr(kind, "itemsize", 8) == 4 else "double precision"
    if isinstance(kind, pd.DatetimeTZDtype):
        return "timestamptz"
    if types.is_datetime64_any_dtype(kind):
        return "timestamp"
    if types.is_timedelta64_dtype(kind):
        return "interval"
    if not (types.is_object_dtype(kind) or isinstance(kind, pd.CategoricalDtype)):
        return "text"  # strings, and anything else COPY writes as text
    present = [value for value in series.tolist() if value is not None and not _is_missing(value)]
    checks: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "boolean"),
        (int, "bigint"),
        (float, "double precision"),
        (Decimal, "numeric"),
        (dt.datetime, "timestamp"),
        (dt.date, "date"),
        (dt.time, "time"),
        ((bytes, bytearray, memoryview), "bytea"),
    ]
    for python_type, name in checks:
        if present and all(isinstance(_python(value), python_type) for value in present):
            if name == "bigint" and any(isinstance(_python(value), bool) for value in present):
                continue
            return name
    return "text"


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _python(value: Any) -> Any:
    """A value COPY can write: numpy scalars as Python ones, anything unknown as text."""
    if value is None or isinstance(value, (str, bool, int, float, Decimal, dt.date, dt.time, bytes)):
        return value
    if isinstance(value, dt.timedelta):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if hasattr(value, "to_pytimedelta"):
        return value.to_pytimedelta()
    return str(value)
