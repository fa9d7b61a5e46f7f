"""Plans: what changes in an environment, how it is reviewed, and how it is applied.

Names are imported on first use: planning needs sqlglot, but reading a plan's results does not,
and commands such as `promote` must start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidegate.plan.apply import Applier
    from tidegate.plan.plan import Plan
    from tidegate.plan.planner import Planner, PlanRequest
    from tidegate.plan.results import ApplyResult, Progress

_HOMES = {
    "Applier": "tidegate.plan.apply",
    "ApplyResult": "tidegate.plan.results",
    "Plan": "tidegate.plan.plan",
    "PlanRequest": "tidegate.plan.planner",
    "Planner": "tidegate.plan.planner",
    "Progress": "tidegate.plan.results",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)


__all__ = ["Applier", "ApplyResult", "Plan", "PlanRequest", "Planner", "Progress"]
