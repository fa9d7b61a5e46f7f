"""A seed: a CSV file loaded as a table, with the column types its configs declare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.dbt import DBT_PROJECT
from tidegate.project.loader.state import LoadState
from tidegate.project.model import Model
from tidegate.project.properties import NodeProperties
from tidegate.project.seeds import Where, seed_fields
from tidegate.project.yamlio import LineDict


def seed_model(load: LoadState, path: Path, props: NodeProperties | None) -> Model | None:
    """The seed in `path`; None when it is disabled."""
    rel, name = load.files.rel(path), path.stem
    folder = load.folders.of("seeds", path, load.config.seed_paths)
    own = props.config if props else {}
    config = {**folder.values, **own}
    if not load.collected.enabled(name, rel, config):
        return None
    declared = [
        (folder.values.get("column_types"), DBT_PROJECT, folder.lines.get("column_types")),
        (own.get("column_types") if props else None, *_at(props, rel)),
    ]
    for types, where_path, where_line in declared:
        if types is not None and not isinstance(types, dict):
            raise ConfigError("column_types must map column names to types", path=where_path, line=where_line)
    column_types = {**(declared[0][0] or {}), **(declared[1][0] or {})}  # merged, as dbt merges them
    data = path.read_bytes()
    where = _declared(declared, rel)
    fields = seed_fields(
        data,
        rel,
        name,
        config,
        column_types,
        load.config.dialect,
        where,
        dbt=load.dbt is not None,
        cache=load.sql_cache,
    )
    node = load.nodes.with_relation(load.nodes.node(name, rel, "seed", config), name, config, rel, "seed")
    return Model(
        name=name,
        **fields,
        **load.hooks.of_node([folder.values, own], rel, name, node),
        **load.nodes.common(name, props, config, rel, "seed"),
    )


def _at(props: NodeProperties | None, rel: str) -> tuple[str, int | None]:
    """The file and line of a node's properties, else its own file."""
    return (props.location.path, props.location.line) if props is not None else (rel, None)


def _declared(declared: list[tuple[Any, str, int | None]], rel: str) -> Where:
    """Where each entry of a mapping config (a seed's `column_types`) is declared: its line in
    the last of `declared` (mappings, each with its file and line) that holds it, else the
    node's own file."""

    def where(name: str) -> tuple[str, int | None]:
        for value, path, line in reversed(declared):
            if isinstance(value, dict) and name in value:
                return path, value.line_of(name) if isinstance(value, LineDict) else line
        return rel, None

    return where
