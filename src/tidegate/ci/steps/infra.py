"""The infrastructure plan of production, for review beside the models."""

from __future__ import annotations

from tidegate.ci.findings import Finding
from tidegate.ci.report import Step, Table
from tidegate.ci.steps.run import Run, skipped


def infra_step(run: Run) -> Step:
    """The infrastructure plan of production, for review beside the models: what merging
    would create, change and drop in the warehouse (`tidegate deploy` applies it)."""
    from tidegate.infra.apply import Target, declares_infra, warehouse_plan

    if not declares_infra(run.session.root):
        return skipped("no infra/*.yml")
    environment = run.session.config.pull_requests.base
    plan = warehouse_plan(Target.of(run.session, environment))
    rows = tuple(
        (
            change.action,
            change.resource.label,
            "; ".join(f"{a}: {b!r} -> {c!r}" for a, b, c in change.differences),
            change.destructive or "",
        )
        for change in plan.changes
    )
    findings = tuple(
        Finding(
            message=f"{change.resource.label}: {change.destructive}; the deploy needs "
            f"`tidegate infra apply {environment} --allow-destroy`",
            path=run.repo_path(change.resource.location.path) if change.resource.location else None,
            line=change.resource.location.line if change.resource.location else None,
            severity="warning",
            title="Destructive infrastructure change",
        )
        for change in plan.destructive
    )
    counts = plan.counts
    return Step(
        status="passed",
        summary=f"{environment}: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete" + (f", {len(findings)} destructive" if findings else ""),
        findings=findings,
        tables=(
            Table(
                f"Infrastructure changes in {environment}",
                ("action", "resource", "changes", "destroys"),
                rows,
            ),
        )
        if rows
        else (),
        data=plan.to_dict(),
    )
