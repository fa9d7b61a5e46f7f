"""A loaded project: the validated configuration and every node it defines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tidegate.project.config import ProjectConfig
from tidegate.project.model import Dashboard, DataTest, Exposure, Model, Source, UnitTest


@dataclass(frozen=True)
class Project:
    root: Path
    config: ProjectConfig
    models: dict[str, Model]
    sources: dict[str, Source]
    tests: tuple[DataTest, ...]
    unit_tests: tuple[UnitTest, ...]
    dashboards: tuple[Dashboard, ...]
    exposures: tuple[Exposure, ...] = ()
    """dbt's exposures (`exposures:` in properties YAML), each dependency checked."""
    on_run_start: tuple[str, ...] = ()
    """dbt_project.yml's `on-run-start` hooks, rendered: SQL run when an apply or a run starts."""
    on_run_end: tuple[str, ...] = ()
    """`on-run-end` hooks: SQL run when an apply (after its view swap) or a run ends."""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dialect(self) -> str:
        return self.config.dialect

    def model(self, name: str) -> Model:
        from tidegate.errors import ProjectError

        try:
            return self.models[name]
        except KeyError:
            raise ProjectError(f"no model named {name!r} in project {self.name}") from None
