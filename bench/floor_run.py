"""The engine floor, run: a plan's compiled statements, one after another, in one DuckDB connection.

    python bench/floor_run.py WAREHOUSE STATEMENTS.json

Why a script of its own, importing nothing but DuckDB and the standard library: its process is what
the engine alone costs for the work tidegate does (interpreter start, ``import duckdb``, opening the
file, the statements, closing it), so that a tidegate figure can be set against it as a ratio.
``floor.py`` writes STATEMENTS.json from the plan tidegate saves (``tidegate plan ENV --out``).
Prints one JSON object: seconds spent importing, opening, in each group of statements, and closing.
"""

import json
import sys
import time
from typing import Any


def narrow(connection: Any, relation: str, keep: list[str]) -> None:
    """What tidegate does to a loaded seed (``EngineAdapter.narrow_integers``): 64-bit integer
    columns become 32-bit where every value fits, as dbt types them."""
    wide = [
        name
        for name, kind, *_ in connection.execute(f"DESCRIBE {relation}").fetchall()
        if kind.lower() in ("bigint", "int8") and name not in keep
    ]
    if not wide:
        return
    quoted = ['"' + name.replace('"', '""') + '"' for name in wide]
    checks = ", ".join(f"coalesce(min({q}) >= -2147483648 AND max({q}) <= 2147483647, FALSE)" for q in quoted)
    fits = connection.execute(f"SELECT {checks} FROM {relation}").fetchall()[0]
    for name, ok in zip(quoted, fits, strict=True):
        if ok:
            connection.execute(f"ALTER TABLE {relation} ALTER COLUMN {name} TYPE INTEGER").fetchall()


def main(warehouse: str, statements: str) -> dict[str, float]:
    started = time.perf_counter()
    import duckdb  # timed: the import is part of the floor

    seconds = {"import": time.perf_counter() - started}
    with open(statements, encoding="utf-8") as file:
        steps = json.load(file)
    started = time.perf_counter()
    connection = duckdb.connect(warehouse)
    seconds["open"] = time.perf_counter() - started
    for step in steps:
        started = time.perf_counter()
        if "narrow" in step:
            narrow(connection, step["narrow"], step["keep"])
        else:
            connection.execute(step["sql"]).fetchall()
        seconds[step["group"]] = seconds.get(step["group"], 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    connection.close()
    seconds["close"] = time.perf_counter() - started
    return seconds


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
