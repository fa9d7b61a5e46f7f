"""A seed's CSV file, read and checked in one place before any engine loads it.

Each engine reads CSV its own way: DuckDB's sniffer makes a ragged file into garbage columns and
an empty one into a table of one column, renames duplicate headers and dumps its sniffer state
on a file that is not UTF-8; PostgreSQL's COPY needs the rows split first. So the loader reads
every seed here (the file must be UTF-8, its first line a header of distinct, non-empty names,
and every row as many fields as the header), and a bad one is the user's error, exit 2, naming
the file and the line. The engines then load a file they all read the same way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.datatypes import column_type
from tidegate.project.files import decode
from tidegate.project.model import Kind, Language, Location

if TYPE_CHECKING:
    from _csv import Reader

    from tidegate.project.cache import SqlCache

Where = Callable[[str], tuple[str, int | None]]
"""The file and line that declare a column's entry of `column_types`."""

_CACHE_MARK = "\0tidegate-seed\0"
"""Keys of checked seeds' headers in the load's SQL cache: never a query's text (which has no NUL)."""
_HINT = "a seed is a CSV file: a header line of column names, then one line per row"


@dataclass(frozen=True)
class SeedTable:
    """The header and the rows of a seed's file (each row as many fields as the header; blank
    lines are skipped, as every engine skips them)."""

    header: tuple[str, ...]
    rows: list[list[str]]


def seed_fields(
    data: bytes,
    rel: str,
    name: str,
    config: Mapping[str, Any],
    column_types: Mapping[Any, Any],
    dialect: str,
    where: Where,
    *,
    dbt: bool,
    cache: SqlCache | None = None,
) -> dict[str, Any]:
    """The `Model` fields of the seed `name` whose file `rel` holds `data`, read with the
    `delimiter` of its `config` and typed by `column_types` (declared where `where` says). In a
    dbt project, column_types of columns the file lacks are left out and integer columns are
    narrowed, as dbt's seeds are. The `cache` keeps the header of a file already checked."""
    delimiter = str(config.get("delimiter") or ",")
    if len(delimiter) != 1:
        raise ConfigError(f"delimiter must be one character, not {delimiter!r}", path=rel)
    digest = hashlib.sha256(data).hexdigest()
    header = _checked_header(data, rel, delimiter, digest, cache)
    return {
        "kind": Kind.SEED,
        "language": Language.CSV,
        "location": Location(rel),
        "seed_hash": digest,
        "column_types": check_column_types(column_types, header, name, dialect, where, ignore_unknown=dbt),
        "delimiter": delimiter,
        "narrow_integers": dbt,
    }


def _checked_header(
    data: bytes, rel: str, delimiter: str, digest: str, cache: SqlCache | None
) -> tuple[str, ...]:
    """The header of a seed's file once the whole file is checked (`read_seed`). A file is
    checked once per content: reading a large seed costs more than the rest of its load."""
    key = f"{_CACHE_MARK}{digest}\0{delimiter}"
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        return tuple(json.loads(cached))
    header = read_seed(data, rel, delimiter).header
    if cache is not None:
        cache.put(key, json.dumps(header))
    return header


def read_seed(data: bytes, shown: str, delimiter: str = ",") -> SeedTable:
    """The table in a seed's bytes, fields separated by `delimiter` and quoted with `"` (a
    quote inside a quoted field is doubled). Anything else is a ProjectError naming `shown`
    and the line."""
    text = decode(data, shown).removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    header = _header(_next(reader, shown)[1], shown)
    rows: list[list[str]] = []
    while True:
        line, row = _next(reader, shown)
        if row is None:
            return SeedTable(tuple(header), rows)
        if row and len(row) != len(header):
            raise ProjectError(
                f"{len(row)} field(s) on this line, where the header has {len(header)} column(s)",
                path=shown,
                line=line,
                hint=f"every line needs one value per column; quote a value that holds {delimiter!r}",
            )
        if row:
            rows.append(row)


def check_column_types(
    column_types: Mapping[Any, Any],
    header: Sequence[str],
    seed: str,
    dialect: str,
    where: Where,
    *,
    ignore_unknown: bool = False,
) -> tuple[tuple[str, str], ...]:
    """The seed's `column_types` as (column, type) pairs, sorted: each entry gives one SQL type
    of the project's `dialect` (see `tidegate.project.datatypes`) to a column of its file; a
    ConfigError at the line that declares it otherwise. `ignore_unknown` leaves out entries of
    columns the file does not have, as dbt does (a dbt project keeps building)."""
    columns = {name.lower() for name in header}
    typed: list[tuple[str, str]] = []
    for name, kind in column_types.items():
        path, line = where(str(name))
        if str(name).lower() not in columns:
            if ignore_unknown:
                continue
            raise ConfigError(
                f"column_types names column {str(name)!r}, which the seed's file does not have "
                f"(its columns: {', '.join(header)})",
                path=path,
                line=line,
                model=seed,
            )
        try:
            if not isinstance(kind, str):
                raise ValueError(f"{kind!r} is not a SQL type")
            column_type(kind, dialect, dialect)
        except ValueError as error:
            raise ConfigError(
                f"column_types of column {str(name)!r}: {error}",
                path=path,
                line=line,
                model=seed,
                hint="give one type, such as integer, varchar, date or decimal(10, 2)",
            ) from None
        typed.append((str(name), str(kind)))
    return tuple(sorted(typed))


def _next(reader: Reader, shown: str) -> tuple[int, list[str] | None]:
    """The line the next row starts on, and the row (None at the end). A CSV the reader cannot
    split (a quote left open, text after a closing quote) is an error at that line."""
    line = reader.line_num + 1
    try:
        return line, next(reader)
    except StopIteration:
        return line, None
    except csv.Error as error:
        reason = "a quoted value starts on this line and is never closed"
        raise ProjectError(
            reason if "unexpected end of data" in str(error) else f"cannot read the CSV: {error}",
            path=shown,
            line=line,
            hint='a value in double quotes ends with a double quote; one inside it is doubled ("a ""b"" c")',
        ) from None


def _header(row: list[str] | None, shown: str) -> list[str]:
    if not row:
        raise ProjectError(
            "the file is empty: a seed's first line is its header"
            if row is None
            else "the first line is empty",
            path=shown,
            line=1,
            hint=_HINT,
        )
    seen: dict[str, int] = {}
    for number, name in enumerate(row, start=1):
        if not name.strip():
            raise ProjectError(f"column {number} of the header has no name", path=shown, line=1, hint=_HINT)
        other = seen.setdefault(name.lower(), number)
        if other != number:
            first = row[other - 1]
            raise ProjectError(
                f"the header names column {name!r} twice (columns {other} and {number})"
                if first == name
                else f"columns {other} and {number} of the header, {first!r} and {name!r}, differ "
                "only in case, which most engines ignore",
                path=shown,
                line=1,
                hint="give every column its own name",
            )
    return row
