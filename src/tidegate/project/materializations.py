"""What a model's `materialized` and incremental configs mean, and which tidegate refuses: one
set of rules for projects tidegate renders (`tidegate.project.loader`) and those loaded from a
dbt manifest (`tidegate.project.manifest`).

tidegate builds views, tables, incremental and ephemeral models itself, in its own snapshot
tables, so it cannot run dbt's `{% materialization name, adapter %}` macros. A block is no error in itself (a package may
bring materializations a project never uses): it is left out of the macros, and a model whose
`materialized` names it, or names a kind of model the project redefines, is refused with the
model's file and line and where the materialization is defined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project.model import Kind

_BLOCK = re.compile(
    r"\{%-?\s*materialization\s+([A-Za-z_][A-Za-z0-9_]*)\s*,\s*"
    r"(?:adapter\s*=\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]|default)"
    r".*?\{%-?\s*endmaterialization\s*-?%\}",
    re.DOTALL,
)
BUILT_IN = ("view", "table", "incremental", "ephemeral")
"""The kinds of models tidegate builds (seeds and snapshots are not `materialized` configs)."""
INCREMENTAL_STRATEGIES = ("merge", "delete+insert", "append")
"""dbt's strategies tidegate runs: merge and delete+insert replace the rows whose unique_key
comes again (delete, then insert), append inserts every row."""


@dataclass(frozen=True)
class Materialization:
    """A `{% materialization %}` block of the project or a package."""

    name: str
    adapter: str
    """The adapter it is for (`default` for every adapter)."""
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def find(path: str, text: str) -> list[Materialization]:
    if "materialization" not in text:
        return []
    return [
        Materialization(
            match.group(1), match.group(2) or "default", path, text.count("\n", 0, match.start()) + 1
        )
        for match in _BLOCK.finditer(text)
    ]


def without_blocks(text: str) -> str:
    """`text` without its materialization blocks, each replaced by as many line breaks, so
    the macros around them keep their line numbers."""
    if "materialization" not in text:
        return text
    return _BLOCK.sub(lambda match: "\n" * match.group(0).count("\n"), text)


def for_adapter(files: Iterable[tuple[str, str]], adapter: str) -> dict[str, Materialization]:
    """The materializations of these macro files that dbt would use on `adapter`: one for the
    adapter wins over a `default` one."""
    found: dict[str, Materialization] = {}
    for path, text in files:
        for block in find(path, text):
            if block.adapter == adapter or (block.adapter == "default" and block.name not in found):
                found[block.name] = block
    return found


def refusal(materialized: str, defined: Mapping[str, Materialization]) -> str | None:
    """Why tidegate cannot build a model `materialized` so; None when it can."""
    block = defined.get(materialized)
    if block is not None and materialized in BUILT_IN:
        return (
            f"materialized={materialized!r} is redefined by the materialization in {block}: "
            f"tidegate builds {materialized} models itself and cannot run a custom materialization"
        )
    if block is not None:
        return (
            f"custom materialization {materialized!r} (defined in {block}) is not supported: "
            f"tidegate builds {', '.join(BUILT_IN)} models itself"
        )
    if materialized not in BUILT_IN:
        return f"unknown materialization {materialized!r} (one of {', '.join(BUILT_IN)})"
    return None


_ROW_MERGE_CONFIGS = (
    "incremental_predicates",
    "predicates",
    "merge_update_columns",
    "merge_exclude_columns",
    "merge_update_condition",
    "merge_insert_condition",
    "merge_update_set_expressions",
    "merge_clauses",
)
"""Incremental configs of dbt (and dbt-duckdb) that merge part of a row, or some rows."""


def incremental_refusal(config: Mapping[str, object]) -> str | None:
    """Why tidegate cannot run an incremental model so configured; None when it can. Its
    strategies replace whole rows or append them, and it refuses rather than ignore a config
    that would make dbt keep other values."""
    found = next((key for key in _ROW_MERGE_CONFIGS if config.get(key)), None)
    if found is None:
        return None
    return (
        f"{found} is not supported: tidegate's incremental strategies replace every column of the "
        "rows whose unique_key comes again (merge, delete+insert) or append rows"
    )


def kind(
    materialized: str,
    defined: Mapping[str, Materialization],
    path: str | None,
    line: int | None,
    model: str,
) -> Kind:
    """The kind of model `materialized` names; one tidegate cannot build is refused at `path`
    and `line` (where `materialized` is set). `defined` are the project's materialization blocks."""
    refused = refusal(materialized, defined)
    if refused:
        raise ProjectError(refused, path=path, line=line, model=model)
    return Kind(materialized)


def strategy(config: Mapping[str, Any], *, dbt: bool) -> str:
    """An incremental model's strategy: its `incremental_strategy`, else `merge`; in a dbt
    project without a `unique_key`, `append` (dbt-duckdb's and dbt-postgres' default then
    inserts every row)."""
    configured = config.get("incremental_strategy")
    if configured:
        return str(configured)
    return "append" if dbt and not config.get("unique_key") else "merge"


def check_incremental(config: Mapping[str, Any], path: str, model: str, *, dbt: bool) -> None:
    """Refuse an incremental model tidegate cannot run as configured: an unknown strategy, a
    config that merges part of a row (see `incremental_refusal`), or a strategy that replaces
    rows without a `unique_key` to find them by."""
    chosen = strategy(config, dbt=dbt)
    if chosen not in INCREMENTAL_STRATEGIES:
        raise ProjectError(
            f"incremental_strategy must be one of {', '.join(INCREMENTAL_STRATEGIES)}, not {chosen!r}",
            path=path,
            model=model,
        )
    refused = incremental_refusal(config)
    if refused:
        raise ProjectError(refused, path=path, model=model)
    if chosen != "append" and not config.get("unique_key"):
        raise ProjectError(
            f"an incremental model with the {chosen} strategy needs a unique_key",
            path=path,
            model=model,
            hint="set unique_key in config(), or incremental_strategy='append'",
        )
