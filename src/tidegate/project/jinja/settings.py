"""What rendering a dbt project adds to rendering a tidegate project."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DbtSettings:
    """What rendering a dbt project adds: the target, the adapter, packages' macros."""

    target: Mapping[str, Any]
    packages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Package name -> {macro file path: text}, from `dbt_packages/<package>/macros/`."""
    models: frozenset[str] = frozenset()
    """Every model name of the project, to resolve versioned refs (`ref('m', v=2)`)."""
    versions: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    """Versioned models (`versions:` in properties): name -> (latest, {version: model})."""
    model_packages: Mapping[str, str] = field(default_factory=dict)
    """Model -> the project or package (under `dbt_packages/`) it belongs to."""
    project: str = ""
    """The root project's name (dbt_project.yml's `name`)."""
    dispatch: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """dbt_project.yml's `dispatch:`: macro namespace -> the packages to search, in order."""
    package_variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """A package's folder (`dbt_packages/<folder>`) -> the vars its nodes see: its own
    `dbt_project.yml`'s, then the root project's (global, then scoped to the package), then the
    command line's. Macros see the vars of the node they render, as in dbt."""

    @property
    def adapter(self) -> str:
        """The target's adapter type (`duckdb`, `postgres`...), `default` when it has none."""
        return str(self.target.get("type", "default"))
