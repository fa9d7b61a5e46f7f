"""dbt's `config` in Jinja: `config(key=value)` sets a node's configs, `config.get` reads them.

dbt renders a model twice: once to parse it (where `config.get` returns an empty string and
`config()` records configs) and once to run it (where `config()` does nothing and `config.get`
reads the model's final configs). tidegate renders once, then again when the model read its
configs (see `Rendered.reads_config`), so the SQL is what dbt runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tidegate.project.dbt_context import CompilerError, Unsupported, is_internal

_MISSING = object()


@dataclass(frozen=True)
class ConfigScope:
    """The node whose configs `config.get` reads: its configs so far (dbt_project.yml's
    folders, properties, then its own `config()` calls) and what dbt calls it."""

    unique_id: str
    resource_type: str
    values: Mapping[str, Any]


_NODE_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "alias": None,
    "schema": None,
    "database": None,
    "tags": [],
    "meta": {},
    "group": None,
}
"""The configs every dbt node has (dbt's `NodeAndTestConfig`), with their defaults: `config.get`
returns these, not its own default, when a node does not set them."""
_MODEL_DEFAULTS: dict[str, Any] = {
    **_NODE_DEFAULTS,
    "materialized": "view",
    "incremental_strategy": None,
    "persist_docs": {},
    "pre_hook": [],
    "post_hook": [],
    "quoting": {},
    "column_types": {},
    "full_refresh": None,
    "unique_key": None,
    "on_schema_change": "ignore",
    "on_configuration_change": "apply",
    "grants": {},
    "packages": [],
    "docs": {"show": True, "node_color": None},
    "contract": {"enforced": False, "alias_types": True},
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {**_MODEL_DEFAULTS, "access": "protected"},
    "seed": {**_MODEL_DEFAULTS, "materialized": "seed", "delimiter": ",", "quote_columns": None},
    "snapshot": {
        **_MODEL_DEFAULTS,
        "materialized": "snapshot",
        "strategy": None,
        "target_schema": None,
        "target_database": None,
        "updated_at": None,
        "check_cols": None,
    },
    "test": {
        **_NODE_DEFAULTS,
        "schema": "dbt_test__audit",
        "materialized": "test",
        "severity": "ERROR",
        "store_failures": None,
        "store_failures_as": None,
        "where": None,
        "limit": None,
        "fail_calc": "count(*)",
        "warn_if": "!= 0",
        "error_if": "!= 0",
    },
}


class ConfigObject:
    """dbt's `config`: `config(key=value)` sets configs of the node being rendered;
    `config.get(name, default)` and `config.require(name)` read them (in a macro, those of the
    node that called it). As in dbt, a config every node has (`materialized`, `unique_key`...)
    reads as its default when unset, whatever default `get` is given; `require` fails only for
    a config the node does not have at all."""

    def __init__(
        self, call: Callable[..., str], scope: Callable[[], ConfigScope | None], read: Callable[[], None]
    ) -> None:
        self._call = call
        self._scope = scope
        self._read = read

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return self._call(*args, **kwargs)

    def set(self, name: str, value: Any) -> str:
        return self._call(**{name: value})

    def get(self, name: str, default: Any = None, validator: Any = None) -> Any:
        return self._lookup(name, default)

    def require(self, name: str, validator: Any = None) -> Any:
        return self._lookup(name, _MISSING)

    def meta_get(self, name: str, default: Any = None, validator: Any = None) -> Any:
        return self._meta(name, default)

    def meta_require(self, name: str, validator: Any = None) -> Any:
        return self._meta(name, _MISSING)

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        raise Unsupported(f"config.{name}", "dbt's config has get, require, set, meta_get and meta_require")

    def persist_relation_docs(self) -> bool:
        return bool((self.get("persist_docs") or {}).get("relation", False))

    def persist_column_docs(self) -> bool:
        return bool((self.get("persist_docs") or {}).get("columns", False))

    def _lookup(self, name: str, default: Any) -> Any:
        self._read()
        scope = self._scope()
        if scope is None:  # a macro called outside any node (dbt: a macro has no config)
            return _missing(default, scope, name)
        return _missing(config_value(scope.resource_type, scope.values, name, default), scope, name)

    def _meta(self, name: str, default: Any) -> Any:
        self._read()
        scope = self._scope()
        meta = (scope.values.get("meta") if scope else None) or {}
        return _missing(meta.get(name, default) if isinstance(meta, Mapping) else default, scope, name)


def config_value(resource_type: str, values: Mapping[str, Any], name: str, default: Any) -> Any:
    """dbt's `config.get(name, default)` of a node with these configs: a config every node of
    its type has reads as its default when unset, not as `default`."""
    if name in values:
        return values[name]
    value = _DEFAULTS.get(resource_type, _NODE_DEFAULTS).get(name, default)
    return copy.deepcopy(value) if isinstance(value, list | dict) else value  # a macro may change it


def _missing(value: Any, scope: ConfigScope | None, name: str) -> Any:
    if value is _MISSING:
        node = scope.unique_id if scope else "this macro"
        raise CompilerError(f"{node} does not define a required config parameter '{name}'")
    return value
