"""Plans: what changes in an environment, how it is reviewed, and how it is applied."""

from tidegate.plan.apply import Applier, ApplyResult, Progress
from tidegate.plan.plan import Plan
from tidegate.plan.planner import Planner, PlanRequest

__all__ = ["Applier", "ApplyResult", "Plan", "PlanRequest", "Planner", "Progress"]
