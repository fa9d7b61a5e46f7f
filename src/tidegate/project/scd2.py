"""dbt snapshots as tidegate reads them: `{% snapshot %}` blocks and YAML-declared snapshots.

dbt calls them snapshots; tidegate's snapshots are the physical tables of fingerprints, so these
are models of kind `scd2` (a type-2 slowly changing dimension). This module finds their
definitions and checks their configuration; the loader renders them like models, and
`tidegate.plan.scd2` builds and merges them.

Two forms, as in dbt 1.9+:

    {% snapshot customers_snapshot %}                      snapshots/*.sql
    {{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}
    select * from {{ source('crm', 'customers') }}
    {% endsnapshot %}

    snapshots:                                             a properties file
      - name: customer_tiers_snapshot
        relation: source('crm', 'customers')               or ref('model')
        config: {unique_key: id, strategy: check, check_cols: [tier, email]}
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project.model import Scd2Config
from tidegate.project.properties import parse_target
from tidegate.project.yamlio import LineDict, LineList

_START = re.compile(r"\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}")
_END = re.compile(r"\{%-?\s*endsnapshot\s*-?%\}")
STRATEGIES = ("timestamp", "check")
HARD_DELETES = ("ignore", "invalidate")
UNSUPPORTED = {
    "dbt_valid_to_current": "dbt_valid_to_current (current rows have dbt_valid_to null)",
    "snapshot_meta_column_names": "snapshot_meta_column_names (the columns are dbt_scd_id, "
    "dbt_updated_at, dbt_valid_from, dbt_valid_to)",
    "pre_hook": "hooks on snapshots",
    "pre-hook": "hooks on snapshots",
    "post_hook": "hooks on snapshots",
    "post-hook": "hooks on snapshots",
}


@dataclass(frozen=True)
class SnapshotDefinition:
    """One snapshot's query as Jinja text, with where it is defined."""

    name: str
    path: str
    line: int
    text: str
    """The block's body, preceded by newlines so that template lines are the file's lines; or
    `select * from {{ relation }}` for a YAML-declared snapshot."""
    from_yaml: bool = False


def blocks(text: str, path: str) -> Iterator[SnapshotDefinition]:
    """The `{% snapshot name %} ... {% endsnapshot %}` blocks of one file."""
    position = 0
    while (start := _START.search(text, position)) is not None:
        end = _END.search(text, start.end())
        line = text.count("\n", 0, start.start()) + 1
        if end is None:
            raise ProjectError(
                f"{{% snapshot {start.group(1)} %}} has no {{% endsnapshot %}}", path=path, line=line
            )
        nested = _START.search(text, start.end(), end.start())
        if nested is not None:
            raise ProjectError(
                "a snapshot block cannot contain another one",
                path=path,
                line=text.count("\n", 0, nested.start()) + 1,
            )
        padding = "\n" * text.count("\n", 0, start.end())
        yield SnapshotDefinition(start.group(1), path, line, padding + text[start.end() : end.start()])
        position = end.end()


def yaml_definitions(documents: list[tuple[str, Any]]) -> Iterator[SnapshotDefinition]:
    """Snapshots declared in properties files with `relation:` (entries without it only
    describe a block's snapshot)."""
    for path, data in documents:
        items = data.get("snapshots") if isinstance(data, dict) else None
        if not isinstance(items, list):
            continue
        for index, entry in enumerate(items):
            if not isinstance(entry, dict) or "relation" not in entry:
                continue
            line = items.line_of(index) if isinstance(items, LineList) else 1
            if isinstance(entry, LineDict) and "relation" in entry:
                line = entry.line_of("relation") or line
            target, is_source = parse_target(str(entry["relation"]), path, line)
            if is_source:
                source, table = target.split(".", 1)
                jinja = f"source('{source}', '{table}')"
            else:
                jinja = f"ref('{target}')"
            yield SnapshotDefinition(
                str(entry["name"]), path, line or 1, f"select * from {{{{ {jinja} }}}}", from_yaml=True
            )


def scd2_config(config: dict[str, Any], name: str, path: str, line: int | None) -> Scd2Config:
    """The strategy of a snapshot from its merged config, or a ProjectError naming what is wrong."""

    def fail(message: str, hint: str | None = None) -> ProjectError:
        return ProjectError(f"snapshot {name}: {message}", path=path, line=line, model=name, hint=hint)

    for key, feature in UNSUPPORTED.items():
        value = config.get(key)
        if isinstance(value, dict):  # a manifest lists every meta column name, unset ones as null
            value = {name: column for name, column in value.items() if column is not None}
        if value not in (None, False, [], (), {}):
            raise fail(f"{feature} is not supported")
    legacy = config.get("invalidate_hard_deletes") is True  # dbt < 1.9's spelling of invalidate
    hard_deletes = config.get("hard_deletes") or ("invalidate" if legacy else "ignore")
    if hard_deletes not in HARD_DELETES:
        raise fail(
            f"hard_deletes: {hard_deletes} is not supported (ignore: deleted rows stay current, or "
            "invalidate: a run closes them)"
        )
    strategy = config.get("strategy")
    if strategy not in STRATEGIES:
        raise fail(f"strategy must be timestamp or check, not {strategy!r}")
    keys = config.get("unique_key")
    unique_key = (keys,) if isinstance(keys, str) else tuple(str(k) for k in keys or ())
    if not unique_key or not all(unique_key):
        raise fail("a snapshot needs a unique_key")
    updated_at = config.get("updated_at")
    if strategy == "timestamp":
        if not isinstance(updated_at, str) or not updated_at:
            raise fail("the timestamp strategy needs updated_at, the column that says when a row changed")
        return Scd2Config("timestamp", unique_key, updated_at=updated_at, hard_deletes=hard_deletes)
    stamp = updated_at if isinstance(updated_at, str) and updated_at else None  # else the run's time
    columns = config.get("check_cols")
    if columns == "all":
        return Scd2Config("check", unique_key, updated_at=stamp, check_cols=("*",), hard_deletes=hard_deletes)
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, list | tuple) or not columns or not all(isinstance(c, str) for c in columns):
        raise fail("the check strategy needs check_cols: a list of columns, or all")
    return Scd2Config(
        "check", unique_key, updated_at=stamp, check_cols=tuple(columns), hard_deletes=hard_deletes
    )
