"""The `dbt` a dbt Python model receives when it runs (`def model(dbt, session)`), as dbt-duckdb
gives it: `dbt.ref(...)` and `dbt.source(...)` return the engine's relation of what they read
(for DuckDB a `DuckDBPyRelation`), `dbt.config.get(...)` the configs the loader found,
`dbt.this` the model's own relation and `dbt.is_incremental` whether a run is adding to it.

What the model reads was resolved when the project was loaded (see
`tidegate.project.dbt_python`); here each ref becomes the physical relation of the environment
being built, which the build's `inputs` hold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from tidegate.errors import EngineError
from tidegate.project.model import Model


def spec(model: Model) -> dict[str, Any] | None:
    """What a build of a dbt Python model needs to run it (None for tidegate's Python models)."""
    if model.dbt_python is None:
        return None
    found = dataclasses.asdict(model.dbt_python)
    found["source_models"] = sorted(model.dbt_python.source_models)
    return found


class _Config:
    """`dbt.config`: calling it configures nothing when the model runs (the loader read those
    calls); `get` and `meta_get` return what the loader found for each key the code asks for."""

    def __init__(self, values: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self._values = values
        self._meta = meta

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def meta_get(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)


class _This:
    """`dbt.this`: the relation being built (its text), with dbt's names of it in prod."""

    def __init__(self, relation: str, names: Mapping[str, str]) -> None:
        self._relation = relation
        self.database = names.get("database", "")
        self.schema = names.get("schema", "")
        self.identifier = names.get("identifier", "")

    def __str__(self) -> str:
        return self._relation

    __repr__ = __str__


class DbtObject:
    """The `dbt` argument of a dbt Python model."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        inputs: Mapping[str, str],
        load: Callable[[str], Any],
        this: str,
        *,
        is_incremental: bool,
    ) -> None:
        self._spec = spec
        self._inputs = inputs
        self._load = load
        self.config = _Config(spec.get("config") or {}, spec.get("meta") or {})
        self.this = _This(this, spec.get("this") or {})
        self.is_incremental = is_incremental

    def ref(self, *args: str, v: Any = None, version: Any = None) -> Any:
        key = ".".join(str(arg) for arg in args)
        number = v if v is not None else version
        if number is not None:
            key += f".v{number}"
        model = (self._spec.get("refs") or {}).get(key)
        if model is None:
            raise EngineError(
                f"dbt.ref({', '.join(map(repr, args))}) is not among the refs read from the model's code"
            )
        return self._load(self._inputs[model])

    def source(self, *args: str) -> Any:
        key = ".".join(str(arg) for arg in args)
        found = (self._spec.get("sources") or {}).get(key)
        if found is None:
            raise EngineError(
                f"dbt.source({', '.join(map(repr, args))}) is not among the sources read from the model's code"
            )
        if key in (self._spec.get("source_models") or ()):  # a source that is a seed of the project
            return self._load(self._inputs[found])
        return self._load(found)
