"""A SQL model: its template rendered (twice when it reads its own names or configs, once more
for its incremental run), its kind and configs, hooks and contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project import materializations
from tidegate.project.contracts import read_contract
from tidegate.project.dbt import DBT_PROJECT, FolderConfig, string_list
from tidegate.project.jinja import Rendered, ref_names
from tidegate.project.loader.nodes import tags
from tidegate.project.loader.state import LoadState
from tidegate.project.model import Kind, Language, Location, Model
from tidegate.project.properties import NodeProperties


def sql_model(load: LoadState, path: Path, props: NodeProperties | None) -> Model | None:
    """The model in `path`; None when it is disabled."""
    rel, name = load.files.rel(path), path.stem
    text = load.files.read(path)
    folder = load.folders.of("models", path, load.config.model_paths)
    defined = {**folder.values, **(props.config if props else {})}
    node = load.nodes.node(name, rel, "model", defined)
    so_far = Rendered("")
    try:
        rendered = load.renderer.render(text, rel, node=node, collected=so_far)
    except ProjectError as error:
        return _unbuildable_ephemeral(load, name, rel, props, {**defined, **so_far.config}, text, error)
    config = {**defined, **rendered.config}
    if "tags" in rendered.config and "tags" in defined:  # dbt adds tags up
        config["tags"] = list(dict.fromkeys([*tags(defined["tags"]), *tags(rendered.config["tags"])]))
    if not load.collected.enabled(name, rel, config):
        return None
    node = load.nodes.with_relation({**node, "config": config}, name, config, rel, "model")
    if rendered.uses_this_names or rendered.reads_config:
        # `this.schema`, `config.get(...)`: render again with the names and the final configs
        rendered = load.renderer.render(text, rel, node=node)
    kind = load.nodes.kind(config, rel, name, _materialized_at(folder, defined, rendered, rel))
    on_error = load.collected.unbuildable.keep_unparsed(name) if kind is Kind.EPHEMERAL else None
    sql = load.queries.normalized(rendered.text, rel, name, on_error, text)
    incremental_sql = None
    env_digests = rendered.env_digests
    if kind is Kind.INCREMENTAL:
        incremental = load.renderer.render(text, rel, incremental=True, node=node)
        incremental_sql = load.queries.normalized(incremental.text, rel, name, source=text)
        env_digests = tuple(sorted({*env_digests, *incremental.env_digests}))
    for ref, line in rendered.refs:
        load.collected.ref(name, ref, rel, line)
    configs = [folder.values, props.config if props else {}, rendered.config]
    hooks = load.hooks.of_node(configs, rel, name, node)
    if kind is Kind.INCREMENTAL:
        run = load.hooks.of_node(configs, rel, name, node, incremental=True)
        hooks["incremental_hooks"] = (run["pre_hooks"], run["post_hooks"])
    return Model(
        name=name,
        kind=kind,
        language=Language.SQL,
        location=Location(rel),
        sql=sql,
        incremental_sql=incremental_sql,
        env_digests=env_digests,
        refs=ref_names(rendered),
        sources=tuple(dict.fromkeys(rendered.sources)),
        unique_key=string_list(config.get("unique_key")),
        incremental_strategy=materializations.strategy(config, dbt=load.dbt is not None),
        contract=read_contract(
            {} if load.dbt is not None and kind is Kind.EPHEMERAL else config,  # dbt ignores it
            tuple(props.columns) if props else (),
            tuple(props.constraints) if props else (),
            kind,
            props.location if props else Location(rel),
            name,
            load.config.dialect,
        ),
        **hooks,
        **load.nodes.common(name, props, config, rel, "model"),
    )


def _materialized_at(
    folder: FolderConfig, defined: dict[str, Any], rendered: Rendered, rel: str
) -> tuple[str, int | None] | None:
    """The file and line that set a model's `materialized`: its `config()` call, or
    dbt_project.yml when a folder config set it; None when its properties did."""
    if "materialized" in rendered.config:
        return rel, rendered.config_lines.get("materialized")
    key = "materialized"
    if key in folder.lines and defined.get(key) == folder.values.get(key):
        return DBT_PROJECT, folder.lines[key]
    return None


def _unbuildable_ephemeral(
    load: LoadState,
    name: str,
    rel: str,
    props: NodeProperties | None,
    config: dict[str, Any],
    text: str,
    error: ProjectError,
) -> Model | None:
    """An ephemeral model whose Jinja tidegate cannot render: dbt never runs an ephemeral
    model, only inlines it where it is read, so it loads (as its template) and is an error
    only if something reads it (see `ephemerals`). Any other model's error is raised."""
    if config.get("materialized") != "ephemeral":
        raise error
    if not load.collected.enabled(name, rel, config):
        return None
    load.collected.unbuildable.add(name, error)
    return Model(
        name=name,
        kind=Kind.EPHEMERAL,
        language=Language.SQL,
        location=Location(rel),
        sql=text,
        **load.nodes.common(name, props, config, rel, "model"),
    )
