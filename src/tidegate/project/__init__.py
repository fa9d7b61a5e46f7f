"""Reading a tidegate project: configuration, models, seeds, tests, unit tests, dashboards.

The loader (Jinja, sqlglot) is imported on first use, so reading `tidegate.yml` alone is fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidegate.project.loader import load_project
    from tidegate.project.project import Project

_HOMES = {"load_project": "tidegate.project.loader", "Project": "tidegate.project.project"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)


__all__ = ["Project", "load_project"]
