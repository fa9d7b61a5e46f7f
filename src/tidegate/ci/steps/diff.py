"""The data diff of the changed models against production, counted by the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidegate.ci.report import Case, Step, Table
from tidegate.ci.steps.run import Run, skipped
from tidegate.plan.plan import ChangeType

if TYPE_CHECKING:
    from tidegate.ci.diff import ModelDiff


def diff_step(run: Run) -> Step:
    """The rows of each changed model against production, counted by the engine."""
    from tidegate.ci.diff import diff_environments

    if run.plan is None:
        return skipped("the plan did not finish")
    base = run.plan.base_environment
    mapping = run.plan.mapping
    changed = [
        c.model
        for c in run.plan.changes
        if c.change is ChangeType.DIRECTLY_MODIFIED and c.model in mapping and mapping[c.model].physical
    ]
    if base is None or not changed:
        return skipped("no changed model exists in production" if changed else "no model changed")
    config = run.session.config.ci.diff
    result = diff_environments(run.session, base, run.environment, changed, config)
    failing = {d.model for d in result.failures(config)}
    rows = tuple(
        (
            d.model,
            ", ".join(d.key) or "(whole rows)",
            f"{d.rows_before} → {d.rows_after}",
            str(d.added),
            str(d.removed),
            "" if d.changed is None else str(d.changed),
            f"{d.percent:.1f} %",
            ", ".join(f"{c.column} ({c.changed})" for c in d.columns if c.changed)
            + "".join(f" +{name}" for name in d.columns_added)
            + "".join(f" -{name}" for name in d.columns_removed),
        )
        for d in result.models
    )
    samples = tuple(_samples(d) for d in result.models if not d.same)
    return Step(
        status="failed" if failing else "passed",
        summary=f"{len(result.models)} model(s) compared with {base}: "
        + (
            f"{len(failing)} above the {config.fail_above} % threshold"
            if failing
            else f"{sum(not d.same for d in result.models)} differ"
        ),
        tables=(
            Table(
                f"Rows against {base}",
                ("model", "key", "rows", "added", "removed", "changed", "differing", "changed columns"),
                rows,
            ),
            *(table for group in samples for table in group),
        ),
        cases=tuple(
            Case(
                d.model,
                d.seconds,
                failure=f"{d.percent:.1f} % of rows differ (threshold {config.fail_above} %)"
                if d.model in failing
                else None,
            )
            for d in result.models
        ),
        data=result.to_dict(),
    )


def _samples(diff: ModelDiff) -> tuple[Table, ...]:
    tables = []
    for kind, sample in (
        ("added", diff.samples_added),
        ("removed", diff.samples_removed),
        ("changed", diff.samples_changed),
    ):
        if sample is not None and sample.rows:
            rows = tuple(tuple("" if v is None else str(v) for v in row) for row in sample.rows)
            tables.append(Table(f"{diff.model}: rows {kind} (sample)", tuple(sample.columns), rows))
    return tuple(tables)
