"""dbt's Python models: `def model(dbt, session)`, which read other models with `dbt.ref(...)`,
sources with `dbt.source(...)`, and configure themselves with `dbt.config(...)`.

dbt finds those calls in the code without running it (so their arguments must be literals),
and so does tidegate: they give the model's refs, sources and configs at load time. The model
runs when it is built, with a `dbt` object that resolves each ref and source to the relation of
the environment being built (see `tidegate.plan.dbt_python`), and the engine's session (DuckDB's
connection) as `session`. tidegate's own Python models, `def model(orders, customers)`, receive
their parents as arguments instead.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project.dbt_config import config_value
from tidegate.project.model import DbtPython

_CALLS = {"dbt.ref": "ref", "dbt.source": "source", "dbt.config": "config"}
_READS = {"dbt.config.get": "get", "dbt.config.meta_get": "meta_get"}


@dataclass(frozen=True)
class Call:
    """One `dbt.<function>(...)` call of the code, with its literal arguments."""

    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Calls:
    """What a dbt Python model asks of dbt, in the order of its code."""

    refs: list[Call] = field(default_factory=list)
    sources: list[Call] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The configs its `dbt.config(...)` calls set, later calls winning."""
    reads: list[Call] = field(default_factory=list)
    """`dbt.config.get` and `dbt.config.meta_get` calls."""


def is_dbt_model(function: ast.FunctionDef) -> bool:
    """Whether `def model(...)` is dbt's (`dbt` first) rather than tidegate's (its parents)."""
    return bool(function.args.args) and function.args.args[0].arg == "dbt"


def read_calls(tree: ast.Module, function: ast.FunctionDef, path: str, model: str) -> Calls:
    """The dbt calls of a dbt Python model; like dbt, a model needs `(dbt, session)` and a
    call with an argument that is not a literal is an error naming its line."""
    if len(function.args.args) != 2:
        raise ProjectError(
            "a dbt Python model is def model(dbt, session): two arguments, dbt and the session",
            path=path,
            line=function.lineno,
            model=model,
        )
    calls = Calls()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        kind = _CALLS.get(name or "") or _READS.get(name or "")
        if kind is None:
            continue
        try:
            args = tuple(ast.literal_eval(arg) for arg in node.args)
            kwargs = {str(k.arg): ast.literal_eval(k.value) for k in node.keywords}
        except (ValueError, TypeError, SyntaxError):
            raise ProjectError(
                f"{name}() takes literal arguments (strings, numbers, lists...): dbt reads them "
                "without running the model",
                path=path,
                line=node.lineno,
                model=model,
            ) from None
        call = Call(kind, args, kwargs, node.lineno)
        if kind == "ref":
            calls.refs.append(call)
        elif kind == "source":
            calls.sources.append(call)
        elif kind == "config":
            calls.config.update(kwargs)
        else:
            calls.reads.append(call)
    for found in (calls.refs, calls.sources, calls.reads):
        found.sort(key=lambda call: call.line)
    return calls


def resolve(
    calls: Calls,
    config: Mapping[str, Any],
    ref: Callable[[Call], str],
    sources: Mapping[str, str],
    path: str,
    model: str,
) -> DbtPython:
    """What the calls read: each ref's model (`ref` resolves a call as SQL's ref() would),
    each source's relation (or model) among `sources` (`source.table` -> either), and what
    `dbt.config.get` and `meta_get` return (dbt passes the configs a model has, so one it does
    not set reads as the call's default)."""
    refs = {ref_key(call): ref(call) for call in calls.refs}
    read: dict[str, str] = {}
    for call in calls.sources:
        key = ".".join(str(arg) for arg in call.args)
        if len(call.args) != 2 or key not in sources:
            raise ProjectError(
                f"dbt.source{call.args!r} is not declared in any sources: block",
                path=path,
                line=call.line,
                model=model,
            )
        read[key] = sources[key]
    get: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for call in calls.reads:
        if not 1 <= len(call.args) <= 2:
            raise ProjectError(
                f"dbt.config.{call.function}() takes a key and optionally a default",
                path=path,
                line=call.line,
                model=model,
            )
        key, default = call.args[0], call.args[1] if len(call.args) > 1 else None
        if call.function == "get":
            value = config_value("model", config, key, default)
            get[key] = default if value is None else value
        else:
            meta[key] = (config.get("meta") or {}).get(key, default)
    return DbtPython(refs=refs, sources=read, config=get, meta=meta)


def model_fields(
    calls: Calls,
    config: Mapping[str, Any],
    ref: Callable[[Call], str],
    sources: Mapping[str, str],
    seeds: Mapping[str, str],
    this: dict[str, str],
    path: str,
    model: str,
) -> dict[str, Any]:
    """The `Model` fields of what a dbt Python model reads (see `resolve`): its refs (and the
    seeds its sources are), the sources it reads, and its `dbt_python`. `sources` and `seeds`
    map `source.table` to a relation, and to a seed of the project."""
    found = resolve(calls, config, ref, {**sources, **seeds}, path, model)
    read_seeds = frozenset(key for key in found.sources if key in seeds)
    return {
        "refs": tuple(dict.fromkeys([*found.refs.values(), *(found.sources[key] for key in read_seeds)])),
        "sources": tuple(key for key in found.sources if key not in read_seeds),
        "dbt_python": dataclasses.replace(found, source_models=read_seeds, this=this),
    }


def ref_key(call: Call) -> str:
    """dbt's key of a ref in the model's code: its arguments joined by dots, and `v<version>`."""
    version = call.kwargs.get("v", call.kwargs.get("version"))
    key = ".".join(str(arg) for arg in call.args)
    return f"{key}.v{version}" if version is not None else key


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None
