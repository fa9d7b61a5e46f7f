"""The shape of a DAG generated from the model graph: what `generate` writes and `tasks` checks.

A build task per model, after the builds of the models it reads; a test task per model that has
tests, after the builds its tests read. A data test belongs to its first model (the one it is
defined on), so a test reading several models waits for all of their builds.

The DAG file is written once and the project keeps changing, so the file carries the layout's
key: the plan task refuses to run a DAG whose layout is no longer the project's (models added,
removed or reading other models), instead of building a model no task waits for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidegate.graph.dag import Graph
    from tidegate.project.project import Project


@dataclass(frozen=True)
class Layout:
    models: dict[str, list[str]]
    """Every model, in topological order, and the models it reads."""
    tests: dict[str, list[str]]
    """Every model with tests, and the models whose builds its tests read (itself included)."""

    @classmethod
    def of(cls, project: Project, graph: Graph) -> Layout:
        reads: dict[str, set[str]] = {}
        for test in project.tests:
            if test.models:
                reads.setdefault(test.models[0], set()).update(test.models)
        for unit in project.unit_tests:
            reads.setdefault(unit.model, set())
        return cls(
            models={name: graph.sort(set(graph.parents[name])) for name in graph.order},
            tests={
                name: graph.sort({name, *(m for m in reads[name] if m in graph.models)})
                for name in graph.order
                if name in reads
            },
        )

    @property
    def key(self) -> str:
        text = json.dumps({"models": self.models, "tests": self.tests}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
