"""The objects of dbt's Jinja context that are more than a function, shared by everything that
renders dbt's Jinja: rendering models (`tidegate.project.jinja`), generic tests
(`tidegate.project.generic_tests`) and linting (`tidegate.ci.lint`). `Relation` is what `ref()`,
`source()` and a test's `model` give, `Adapter` is dbt's `adapter`; `target`, `modules`,
`exceptions`, `flags` and the errors a render raises on purpose are here too (dbt's `config` is
`tidegate.project.dbt_config`).
"""

from __future__ import annotations

import collections.abc
import datetime
import hashlib
import itertools
import json
import re
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any


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


class Relation(str):
    """A relation as dbt's Jinja sees it: the text the SQL needs, with the fields of dbt's
    Relation that macros read (`identifier`, `schema`, `database`, `is_cte`...). A Relation is
    also a mapping to dbt_utils' `_is_relation` (`obj is mapping` with a `metadata.type`).

    When rendering, a field that is not known is refused by name (`call`, the Jinja that made
    the relation); when linting (`lenient`), any field or call is the relation itself, since
    linting needs SQL that parses, not the values of a warehouse."""

    metadata = {"type": "Relation"}
    is_cte = False
    type = None
    unsafe_callable = False  # what Jinja's sandbox (in which sqlfluff renders) asks a callable
    alters_data = False

    _call: str
    _fields: dict[str, str]
    _lenient: bool

    def __new__(
        cls,
        text: str,
        name: str,
        names: Mapping[str, str] | None = None,
        *,
        call: str = "",
        lenient: bool = False,
    ) -> Relation:
        """`name` is the relation's identifier; `names`, when known, dbt's `database`, `schema`
        and `alias` of it."""
        relation = super().__new__(cls, text)
        relation._call = call or str(text)
        relation._fields = {"identifier": name, "name": name, "table": name, **_relation_fields(names)}
        relation._lenient = lenient
        return relation

    def __getattr__(self, name: str) -> Any:
        if is_internal(name) or name.startswith("_"):
            raise AttributeError(name)
        if self._lenient:
            return self
        if name in ("schema", "database", "identifier", "name", "table"):
            if name not in self._fields:  # a model loaded later: its names are not known yet
                raise Unsupported(f"{self._call}.{name} before that model is loaded")
            return self._fields[name]
        raise Unsupported(f"{self._call}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Relation:
        if self._lenient:
            return self
        raise Unsupported(f"calling {self._call}", "it is a relation, not a function")

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata if key == "metadata" else default

    def include(self, *args: Any, **kwargs: Any) -> Relation:
        return self

    def render(self) -> str:
        return str(self)


def _relation_fields(names: Mapping[str, str] | None) -> dict[str, str]:
    if names is None:
        return {}
    return {
        "schema": names["schema"],
        "database": names["database"],
        "identifier": names["alias"],
        "name": names["alias"],
        "table": names["alias"],
    }


collections.abc.Mapping.register(Relation)


class Adapter:
    """dbt's `adapter`: its `type`, `dispatch` (which `find` answers from the macros at hand) and
    `quote`. Everything else would query the warehouse (`get_columns_in_relation`,
    `get_relation`...): `missing` answers it, refusing by name unless told otherwise (linting
    renders it as nothing)."""

    def __init__(
        self,
        kind: str,
        find: Callable[[str, str | None], Any],
        missing: Callable[[str], Any] | None = None,
    ) -> None:
        self.type = AdapterType(kind)
        self._find = find
        self._missing = missing

    def dispatch(self, macro_name: str, macro_namespace: str | None = None, packages: Any = None) -> Any:
        return self._find(macro_name, macro_namespace)

    def quote(self, identifier: str) -> str:
        return '"' + str(identifier).replace('"', '""') + '"'

    def __getattr__(self, name: str) -> Any:
        if is_internal(name) or name.startswith("_"):
            raise AttributeError(name)
        if self._missing is not None:
            return self._missing(name)
        raise Unsupported(f"adapter.{name}")


class AdapterType(str):
    """`adapter.type`: dbt's is a method (`adapter.type()`); reading it as a value works too."""

    def __call__(self) -> str:
        return str(self)


def dispatched(name: str, namespace: str | None, spaces: Iterable[Mapping[str, Any]], adapter: str) -> Any:
    """The macro `adapter.dispatch(name, namespace)` calls: `<adapter>__name`, else
    `default__name`, from the first of `spaces` (macros by name, in search order) that has one."""
    for space in spaces:
        for prefix in dict.fromkeys([adapter, "default"]):
            macro = space.get(f"{prefix}__{name}")
            if macro is not None:
                return macro
    raise CompilerError(
        f"adapter.dispatch('{name}'"
        + (f", '{namespace}'" if namespace else "")
        + f"): no macro {adapter}__{name} or default__{name}"
    )


def ephemeral_cte(name: str) -> str:
    """`api.Relation.add_ephemeral_prefix`: dbt's name for an ephemeral model's CTE."""
    return f"__dbt__cte__{name}"


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
