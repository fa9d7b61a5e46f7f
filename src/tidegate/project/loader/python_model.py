"""A Python model: tidegate's (a function `model(...)` whose parameters are its parents) or
dbt's (`def model(dbt, session)` reading `dbt.ref`, `dbt.source` and `dbt.config`)."""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project import dbt_python, materializations
from tidegate.project.dbt import string_list
from tidegate.project.loader.state import LoadState
from tidegate.project.model import Kind, Language, Location, Model
from tidegate.project.properties import NodeProperties


def python_model(load: LoadState, path: Path, props: NodeProperties | None) -> Model | None:
    """The model in `path`; None when it is disabled."""
    rel, name = load.files.rel(path), path.stem
    source = load.files.read(path)
    try:
        tree = ast.parse(source, filename=rel)
    except SyntaxError as error:
        raise ProjectError(
            f"Python syntax error: {error.msg}", path=rel, line=error.lineno, model=name
        ) from None
    function = next(
        (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "model"), None
    )
    if function is None:
        raise ProjectError("a Python model defines a function model(...)", path=rel, model=name)
    folder = load.folders.of("models", path, load.config.model_paths)
    calls = dbt_python.read_calls(tree, function, rel, name) if dbt_python.is_dbt_model(function) else None
    literal = calls.config if calls is not None else _literal_config(tree, rel, name)
    config = {**folder.values, **(props.config if props else {}), **literal}
    if not load.collected.enabled(name, rel, config):
        return None
    node = load.nodes.with_relation(load.nodes.node(name, rel, "model", config), name, config, rel, "model")
    if calls is not None:
        read = _dbt_python(load, calls, config, rel, name, node)
    else:  # tidegate's: each parameter is a parent
        read = {"kind": Kind.TABLE, "refs": tuple(arg.arg for arg in function.args.args)}
        for ref in read["refs"]:
            load.collected.ref(name, ref, rel, function.lineno)
    return Model(
        name=name,
        language=Language.PYTHON,
        location=Location(rel),
        python_source=ast.unparse(_without_docstrings(tree)),
        **read,
        **load.hooks.of_node([folder.values, props.config if props else {}, literal], rel, name, node),
        **load.nodes.common(name, props, config, rel, "model"),
    )


def _dbt_python(
    load: LoadState,
    calls: dbt_python.Calls,
    config: dict[str, Any],
    rel: str,
    name: str,
    node: dict[str, Any],
) -> dict[str, Any]:
    """What a dbt Python model reads, resolved as for SQL: its refs (versions, packages),
    its sources (a source that is a seed of the project reads the seed), and the configs its
    code asks for. It is a table unless `materialized` is `incremental`, as in dbt."""
    materialized = str(config.get("materialized") or "table")  # dbt's default for Python
    if materialized not in ("table", "incremental"):
        raise ProjectError(
            f"a Python model is a table or an incremental model, not {materialized!r}",
            path=rel,
            model=name,
        )

    def ref(call: dbt_python.Call) -> str:
        version = call.kwargs.get("v", call.kwargs.get("version"))
        try:
            model = load.renderer.resolve_ref(call.args, version, rel, partial(int, call.line))
        except ProjectError as error:
            raise ProjectError(error.message, path=rel, line=call.line, model=name) from None
        load.collected.ref(name, model, rel, call.line)
        return model

    relation = node["relation"]
    this = {"database": relation["database"], "schema": relation["schema"], "identifier": relation["alias"]}
    return {
        "kind": load.nodes.kind({**config, "materialized": materialized}, rel, name),
        "unique_key": string_list(config.get("unique_key")),
        "incremental_strategy": materializations.strategy(config, dbt=load.dbt is not None),
        **dbt_python.model_fields(
            calls, config, ref, load.source_relations, load.seed_sources, this, rel, name
        ),
    }


def _literal_config(tree: ast.Module, path: str, name: str) -> dict[str, Any]:
    """A Python model's module-level `config = {...}`, which must be a literal."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "config" for target in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ProjectError(
                    "config must be a literal dict", path=path, line=node.lineno, model=name
                ) from None
            if not isinstance(value, dict):
                raise ProjectError("config must be a dict", path=path, line=node.lineno, model=name)
            return value
    return {}


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """Docstrings do not change data, so they do not count in a Python model's fingerprint."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree
