"""A plan in a few numbers, as plain data: what `plan --json`, the CI report and the record of
a deployment show beside (or instead of) the whole plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidegate.plan.plan import Plan


def plan_summary(plan: Plan) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.change] = counts.get(change.change, 0) + 1
    return {
        "environment": plan.environment,
        "has_changes": plan.has_changes,
        "changes": counts,
        "builds": sum(1 for b in plan.builds if b.reused_from is None and b.kind != "ephemeral"),
        "views": len(plan.views_changed) + len(plan.views_removed),
        "tests": len(plan.tests),
        "unit_tests": len(plan.unit_tests),
    }
