"""Objects of dbt's Jinja context that are more than a function: `config` (which a model calls
and reads), `modules`, and the errors a render raises on purpose.

dbt renders a model twice: once to parse it (where `config.get` returns an empty string and
`config()` records configs) and once to run it (where `config()` does nothing and `config.get`
reads the model's final configs). tidegate renders once, then again when the model read its
configs (see `Rendered.reads_config`), so the SQL is what dbt runs.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import itertools
import json
import re
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING = object()


def is_internal(name: str) -> bool:
    """Whether an attribute is one Python or Jinja asks any object for (`__html__`,
    `jinja_pass_arg`): objects that refuse unknown attributes must answer those as absent."""
    return name.startswith(("__", "jinja_"))


class Unsupported(Exception):
    """A dbt feature tidegate cannot render: it renders a model once, at load time, without a
    connection to the warehouse, so it refuses rather than produce different SQL than dbt."""

    def __init__(self, feature: str, why: str | None = None) -> None:
        super().__init__(
            f"{feature} is not supported: "
            + (
                why
                or "tidegate renders models once, without querying the warehouse, and will not "
                "guess what it would return"
            )
        )
        self.feature = feature


class CompilerError(Exception):
    """`exceptions.raise_compiler_error(message)` in a model or macro, or a compilation error
    dbt raises itself (a missing required config)."""


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


class Namespace(types.SimpleNamespace):
    """A dbt context object of named members (`flags`, `exceptions`, `api`...): a member
    tidegate does not provide is refused by name (with the file and line of its use), never
    rendered as Jinja's undefined."""

    def __init__(self, name: str, **members: Any) -> None:
        super().__init__(**members)
        self.__dict__["_name"] = name

    def __getattr__(self, member: str) -> Any:
        if is_internal(member):
            raise AttributeError(member)
        name = self.__dict__["_name"]
        known = ", ".join(sorted(key for key in self.__dict__ if not key.startswith("_")))
        raise Unsupported(f"{name}.{member}", f"tidegate provides {known}")


class Refused:
    """A member of dbt's context tidegate cannot provide (`graph`): any use of it is an
    :class:`Unsupported` naming it."""

    def __init__(self, feature: str, why: str | None = None) -> None:
        self._feature = feature
        self._why = why

    def _refuse(self, feature: str) -> Unsupported:
        return Unsupported(feature, self._why)

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        raise self._refuse(f"{self._feature}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse(self._feature)

    def __getitem__(self, key: Any) -> Any:
        raise self._refuse(self._feature)

    def __iter__(self) -> Any:
        raise self._refuse(self._feature)

    def __len__(self) -> int:
        raise self._refuse(self._feature)

    def __contains__(self, item: Any) -> bool:
        raise self._refuse(self._feature)

    def __str__(self) -> str:
        raise self._refuse(self._feature)


RUN_TIME_MEMBERS = (
    "graph",
    "results",
    "schemas",
    "database_schemas",
    "selected_resources",
    "invocation_args_dict",
    "dbt_metadata_envs",
    "store_result",
    "store_raw_result",
    "submit_python_job",
    "write",
    "context_macro_stack",
    "sql",
    "compiled_code",
    "pre_hooks",
    "post_hooks",
    "schema",
    "database",
)
"""Members of dbt's context that describe a run (the manifest, its results, the node being
executed): tidegate renders each model once, before any run, and refuses them by name."""
RUN_TIME = (
    "it belongs to dbt's context of a run, which tidegate does not have: it renders each model "
    "once, before building anything"
)


class Target(dict[str, Any]):
    """dbt's `target`: a mapping whose fields also read as attributes; a field tidegate's
    target does not have is refused by name rather than rendered as undefined."""

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        if name in self:
            return self[name]
        raise Unsupported(f"target.{name}", f"tidegate's target has {', '.join(sorted(self))}")


class _Modules(Namespace):
    """dbt's `modules`: `datetime`, `pytz`, `re` and `itertools`, pytz imported on first use."""

    def __getattr__(self, name: str) -> Any:
        if name == "pytz":
            import pytz

            self.pytz = pytz
            return pytz
        if is_internal(name):
            raise AttributeError(name)
        raise Unsupported(f"modules.{name}", "dbt's modules are datetime, pytz, re and itertools")


class _Exceptions(Namespace):
    """dbt's `exceptions`: every `raise_...` stops the render with its message, `warn` does not."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("raise_"):
            return raise_compiler_error
        if is_internal(name):
            raise AttributeError(name)
        raise Unsupported(f"exceptions.{name}", "tidegate's exceptions are warn and the raise_... functions")


def raise_compiler_error(message: Any = "", *args: Any, **kwargs: Any) -> None:
    raise CompilerError(str(message))


DBT_VERSION = "1.11.0"
"""`dbt_version`: tidegate renders projects as dbt-core 1.11 does."""


def context_members(project: str) -> dict[str, Any]:
    """The members of dbt's context that need nothing of the node being rendered."""
    return {
        "modules": _Modules("modules", datetime=datetime, re=re, itertools=itertools),
        "exceptions": _Exceptions("exceptions", warn=_nothing, warn_snapshot_timestamp_data_types=_nothing),
        "flags": Namespace(
            "flags",
            FULL_REFRESH=False,
            STORE_FAILURES=False,
            WARN_ERROR=False,
            EMPTY=False,
            DEBUG=False,
            WHICH="run",
        ),
        "log": _nothing,
        "print": _nothing,
        "fromjson": _fromjson,
        "tojson": _tojson,
        "fromyaml": _fromyaml,
        "toyaml": _toyaml,
        "set": _set,
        "set_strict": set,
        "zip": _zip,
        "zip_strict": zip,
        "local_md5": lambda value: hashlib.md5(str(value).encode(), usedforsecurity=False).hexdigest(),
        "project_name": project,
        "dbt_version": DBT_VERSION,
        "invocation_id": str(uuid.uuid4()),
    }


def _nothing(*args: Any, **kwargs: Any) -> str:
    return ""


def _fromjson(string: str, default: Any = None) -> Any:
    try:
        return json.loads(string)
    except ValueError:
        return default


def _tojson(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return json.dumps(value, sort_keys=sort_keys)
    except (TypeError, ValueError):
        return default


def _fromyaml(value: str, default: Any = None) -> Any:
    import yaml

    try:
        return yaml.safe_load(value)
    except (AttributeError, ValueError, yaml.YAMLError):
        return default


def _toyaml(value: Any, default: str | None = None, sort_keys: bool = False) -> str | None:
    import yaml

    try:
        return yaml.safe_dump(data=value, sort_keys=sort_keys)
    except (ValueError, yaml.YAMLError):
        return default


def _set(value: Any, default: Any = None) -> Any:
    try:
        return set(value)
    except TypeError:
        return default


def _zip(*args: Any, default: Any = None) -> Any:
    try:
        return zip(*args, strict=False)
    except TypeError:
        return default
