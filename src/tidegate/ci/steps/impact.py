"""What a pull request's changes reach: changed columns and what reads them downstream, the
dashboards whose queries run against its environment, and the exposures whose owners should know."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from tidegate.ci.findings import Finding
from tidegate.ci.report import Case, Step, Table
from tidegate.ci.steps.run import Run, skipped
from tidegate.plan.plan import ChangeType


def impact_step(run: Run) -> Step:
    """Column-level lineage from each changed column to models, dashboards and exposures, and
    every dashboard query the change reaches run against the pull request's environment."""
    from tidegate.ci.impact import reached_exposures, run_dashboards
    from tidegate.ci.lineage import compare

    if run.plan is None:
        return skipped("the plan did not finish")
    session, base = run.session, run.plan.base_environment
    names = _unresolved_names(run)
    changed = [c.model for c in run.plan.changes if c.change.direct or c.change is ChangeType.REMOVED]
    if not changed:
        return replace(skipped("no model changed"), **names)
    lineage = compare(session, base=base, head=run.environment) if base else None
    if not session.config.ci.dashboards:
        impact = None
    else:
        impact = run_dashboards(session, run.environment, changed, lineage=lineage, base=base)
    exposures = reached_exposures(session, changed, lineage)
    failures = impact.failures if impact else ()
    findings = tuple(
        Finding(
            message=f"dashboard {q.dashboard}, query {q.query} fails in {run.environment}"
            + (f": column {q.missing_column} is gone" if q.missing_column else "")
            + f" ({q.error})",
            path=run.repo_path(q.path),
            line=q.line,
            title="dashboard broken",
        )
        for q in failures
    )
    columns = lineage.changes if lineage else ()
    column_rows = tuple(
        (
            f"{c.model}.{c.column}",
            c.change + (f" (was {c.previous})" if c.previous else ""),
            ", ".join(f"{r.model}.{r.column}" for r in c.downstream[:8])
            + (" …" if len(c.downstream) > 8 else ""),
            ", ".join(f"{q.dashboard}/{q.query}" for q in c.queries),
            ", ".join(c.exposures),
        )
        for c in columns
    )
    query_rows = tuple(
        (
            q.dashboard,
            q.query,
            "passed" if q.passed else "FAILED",
            q.missing_column or "",
            f"{q.seconds:.2f} s",
            "" if q.passed else (q.error or "")[:200],
        )
        for q in (impact.runs if impact else ())
    )
    dashboards = impact.dashboards if impact else (lineage.dashboards if lineage else ())
    summary = (
        f"{len(columns)} changed column(s), {len(dashboards)} dashboard(s) and "
        f"{len(exposures)} exposure(s) reached"
        + (f", {len(failures)} dashboard quer(ies) broken" if failures else "")
    )
    return Step(
        status="failed" if failures else "passed",
        summary=summary,
        findings=findings + names["findings"],
        tables=(
            Table(
                "Changed columns and what reads them",
                ("column", "change", "downstream", "dashboards", "exposures"),
                column_rows,
            ),
            Table(
                "Dashboard queries",
                ("dashboard", "query", "result", "missing column", "time", "error"),
                query_rows,
            ),
            Table(
                "Exposures reached",
                ("exposure", "type", "owner", "url", "through", "changed columns"),
                tuple(
                    (
                        e.exposure,
                        e.type,
                        e.owner,
                        e.url or "",
                        ", ".join(e.models),
                        ", ".join(map(str, e.changes)),
                    )
                    for e in exposures
                ),
            ),
            *names["tables"],
        ),
        cases=tuple(
            Case(
                f"{q.dashboard}.{q.query}",
                q.seconds,
                failure=None if q.passed else str(q),
                path=run.repo_path(q.path),
            )
            for q in (impact.runs if impact else ())
        )
        + tuple(
            Case(
                f"exposure {e.exposure}",
                path=run.repo_path(e.path),
                output=f"{e.type} owned by {e.owner or 'nobody'}"
                + (f", {e.url}" if e.url else "")
                + f": depends on {', '.join(e.models)}, which this change reaches",
            )
            for e in exposures
        ),
        data={
            "dashboards": list(dashboards),
            "queries": [q.__dict__ for q in (impact.runs if impact else ())],
            "columns": [
                {"model": c.model, "column": c.column, "change": c.change, "previous": c.previous}
                for c in columns
            ],
            "exposures": [asdict(e) for e in exposures],
            **names["data"],
        },
    )


def _unresolved_names(run: Run) -> dict[str, Any]:
    """The tables dashboard queries name that are no model, seed or source (left as written:
    `information_schema.tables`, a table outside the project), and the ambiguous ones, which
    are warnings on the dashboard's file: as parts of an impact step."""
    rows, ambiguous, listed = [], [], []
    for dashboard in run.session.project.dashboards:
        for query in dashboard.queries:
            for name in query.unresolved:
                rows.append((dashboard.name, query.name, name.name, name.reason))
                listed.append({"dashboard": dashboard.name, "query": query.name, **asdict(name)})
                listed[-1]["reason"] = name.reason
                if name.candidates:
                    ambiguous.append(
                        Finding(
                            message=f"dashboard {dashboard.name}, query {query.name}: "
                            f"{name.name} is {name.reason}",
                            path=run.repo_path(dashboard.location.path),
                            line=dashboard.location.line,
                            severity="warning",
                            title="ambiguous name",
                        )
                    )
    table = Table(
        "Names in dashboard SQL that are not a model, seed or source (left as written)",
        ("dashboard", "query", "name", "why"),
        tuple(rows),
    )
    return {"findings": tuple(ambiguous), "tables": (table,), "data": {"unresolved": listed}}
