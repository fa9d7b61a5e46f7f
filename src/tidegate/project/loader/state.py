"""One load in progress: the parts every builder of nodes uses, and what has been found so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidegate.project.cache import SqlCache
from tidegate.project.config import ProjectConfig
from tidegate.project.dbt import DbtProject
from tidegate.project.ephemerals import Unbuildable
from tidegate.project.jinja import Renderer
from tidegate.project.loader.discovery import ProjectFiles
from tidegate.project.loader.folder_configs import FolderConfigs
from tidegate.project.loader.hooks import Hooks
from tidegate.project.loader.nodes import Nodes
from tidegate.project.model import Model
from tidegate.project.queries import Queries
from tidegate.project.validation import check_model

PendingRef = tuple[str, str, str, int | None]
"""(reader, the model it refs, file, line) of a ref, checked once every model is known."""


class Collected:
    """What a load has found so far: the models (seeds and snapshots too), the nodes switched
    off, and every ref, to check once all models are known."""

    def __init__(self) -> None:
        self.models: dict[str, Model] = {}
        self._by_lower_name: dict[str, Model] = {}
        """The models by lower-cased name, to find two that differ only in case at once."""
        self.disabled: dict[str, str] = {}
        """Models and seeds switched off with `enabled: false`, and where they are."""
        self.refs: list[PendingRef] = []
        self.unbuildable = Unbuildable()
        """Ephemeral models whose SQL could not be rendered or parsed (see `ephemerals`)."""

    def add(self, model: Model) -> None:
        """Keep a model whose names are valid and differ from every other's."""
        check_model(model, self._by_lower_name.get(model.name.lower()))
        self.models[model.name] = model
        self._by_lower_name[model.name.lower()] = model

    def enabled(self, name: str, rel: str, config: dict[str, Any]) -> bool:
        """Whether a node is enabled; one that is not is remembered, for refs to name it."""
        if config.get("enabled", True) is False:
            self.disabled[name] = rel
            return False
        return True

    def ref(self, reader: str, model: str, path: str, line: int | None) -> None:
        self.refs.append((reader, model, path, line))


@dataclass
class LoadState:
    """The parts of one load that build its nodes."""

    config: ProjectConfig
    dbt: DbtProject | None
    """The project's dbt_project.yml (`config.dbt`, read once: it is a property of the config)."""
    files: ProjectFiles
    renderer: Renderer
    queries: Queries
    sql_cache: SqlCache
    folders: FolderConfigs
    nodes: Nodes
    hooks: Hooks
    collected: Collected
    source_relations: dict[str, str]
    """`source.table` -> the relation a dbt Python model's `dbt.source(...)` reads."""
    seed_sources: dict[str, str] = field(default_factory=dict)
    """Sources that are seeds of the project (see `sources.seed_sources`), once seeds are loaded."""
