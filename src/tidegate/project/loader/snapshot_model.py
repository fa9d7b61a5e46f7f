"""dbt snapshots (tidegate's models of kind scd2): `{% snapshot %}` blocks in the snapshots'
folders, and snapshots declared in YAML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project import scd2
from tidegate.project.jinja import ref_names
from tidegate.project.loader.state import LoadState
from tidegate.project.model import Kind, Language, Location, Model
from tidegate.project.properties import NodeProperties


def snapshot_definitions(
    load: LoadState, documents: list[tuple[str, Any]]
) -> Iterator[scd2.SnapshotDefinition]:
    """The project's snapshots: its blocks, then those its YAML `documents` declare."""
    for path in load.files.files(load.config.snapshot_paths, ".sql"):
        yield from scd2.blocks(load.files.read(path), load.files.rel(path))
    yield from scd2.yaml_definitions(documents)


def snapshot_model(
    load: LoadState, definition: scd2.SnapshotDefinition, props: NodeProperties | None
) -> Model | None:
    """A dbt snapshot: configs from dbt_project.yml's `snapshots:` (by folder, then the
    snapshot's name), its properties, then its block's `config()`; `target_schema` is the
    schema as it is (dbt's legacy config), `schema` goes through generate_schema_name. None
    when it is disabled."""
    name, rel = definition.name, definition.path
    folder = load.folders.of_snapshot(rel, name, load.config.snapshot_paths)
    defined = {**folder.values, **(props.config if props else {})}
    node = load.nodes.node(name, rel, "snapshot", defined)
    try:
        rendered = load.renderer.render(definition.text, rel, node=node)
    except ProjectError as error:
        if not definition.from_yaml:
            raise
        raise ProjectError(error.message, path=rel, line=definition.line, model=name) from None
    config = {**defined, **rendered.config}
    if not load.collected.enabled(name, rel, config):
        return None
    strategy = scd2.scd2_config(config, name, rel, definition.line)
    for ref, ref_line in rendered.refs:
        load.collected.ref(name, ref, rel, definition.line if definition.from_yaml else ref_line)
    without_target = {key: value for key, value in config.items() if key != "target_schema"}
    common = load.nodes.common(name, props, without_target, rel, "snapshot")
    if config.get("target_schema"):
        common["schema"] = str(config["target_schema"])
    return Model(
        name=name,
        kind=Kind.SCD2,
        language=Language.SQL,
        location=Location(rel, definition.line),
        sql=load.queries.normalized(rendered.text, rel, name),
        refs=ref_names(rendered),
        sources=tuple(dict.fromkeys(rendered.sources)),
        unique_key=strategy.unique_key,
        scd2=strategy,
        **common,
    )
