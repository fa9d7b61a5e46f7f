"""Human output: plans, results, environments and query results as rich tables.

Colour degrades to plain text when stdout is not a terminal, so CI logs stay clean.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tidegate.plan.results import ApplyResult, Progress, TestResult
from tidegate.plan.summary import plan_summary

if TYPE_CHECKING:
    from tidegate.engines.base import QueryResult
    from tidegate.plan.plan import Plan
    from tidegate.state import EnvironmentVersion

_MARKS = {
    "added": ("+", "green"),
    "removed": ("-", "red"),
    "directly_modified": ("~", "yellow"),
    "indirectly_modified": ("~", "cyan"),
    "metadata": ("i", "dim"),
}


def render_plan(console: Console, plan: Plan) -> None:
    if plan.base_version is not None:
        where = f" (currently version {plan.base_version})"
    elif plan.base_environment and plan.base_environment != plan.environment:
        where = f": new environment, starting from {plan.base_environment}"
    else:
        where = ": new environment"
    console.print(Text.assemble(("Plan for ", "bold"), (plan.environment, "bold magenta"), where))
    for note in plan.notes:
        console.print(Text.assemble(("note: ", "yellow"), note))
    if not plan.has_changes:
        console.print("[green]No changes.[/] The environment already matches the project.")
        return
    visible = [c for c in plan.changes if c.change != "metadata"]
    if visible:
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("", width=1)
        table.add_column("model", no_wrap=True)
        table.add_column("change")
        table.add_column("category", no_wrap=True)
        table.add_column("action", no_wrap=True)
        for change in visible:
            mark, colour = _MARKS[change.change]
            # added, removed and metadata changes have no category (breaking is None)
            category = {True: "breaking", False: "non-breaking", None: ""}[change.breaking]
            entry = plan.mapping.get(change.model)
            if change.change == "removed":
                action = "drop view"
            elif entry is not None and entry.kind == "ephemeral":
                action = "inline (ephemeral)"
            elif change.rebuild:
                action = "build"
            else:
                action = "reuse snapshot"
            detail = f" ({change.reason})" if change.reason and change.change != "added" else ""
            table.add_row(
                Text(mark, style=colour),
                Text(change.model, style=colour),
                Text(change.change.replace("_", " ") + detail),
                category,
                action,
            )
        console.print(table)
    metadata = [c.model for c in plan.changes if c.change == "metadata"]
    if metadata:
        console.print(Text(f"metadata only (no rebuild): {', '.join(metadata)}", style="dim"))
    summary = plan_summary(plan)
    built = {b.model for b in plan.builds if b.reused_from is None and b.kind != "ephemeral"}
    reused = sum(1 for name, entry in plan.mapping.items() if entry.physical and name not in built)
    parts = [
        f"[bold]{summary['builds']}[/] snapshot(s) to build",
        *(
            [f"{reused} reused from {escape(plan.base_environment)}"]
            if plan.base_version is None and plan.base_environment and reused
            else []
        ),
        f"[bold]{summary['views']}[/] view(s) to swap",
        f"[bold]{summary['tests']}[/] data test(s)",
        *([f"[bold]{summary['unit_tests']}[/] unit test(s)"] if summary["unit_tests"] else []),
    ]
    console.print("Plan: " + ", ".join(parts))
    if plan.dashboards_affected:
        console.print(Text(f"dashboards affected: {', '.join(plan.dashboards_affected)}"))
    if plan.exposures_affected:
        console.print(Text(f"exposures affected: {', '.join(plan.exposures_affected)}"))


def _reused(result: ApplyResult, plan: Plan | None) -> list[str]:
    """Snapshots the apply kept instead of building; ephemeral models have none (they are inlined)."""
    if plan is None:
        return result.reused
    return [n for n in result.reused if n not in plan.mapping or plan.mapping[n].kind != "ephemeral"]


def render_apply(console: Console, result: ApplyResult, plan: Plan | None = None) -> None:
    render_tests(console, result.unit_tests + result.tests, only_problems=True)
    kept = _reused(result, plan)
    reused = f", reused {len(kept)} already built" if kept else ""
    tests = f", {sum(r.passed for r in result.tests)}/{len(result.tests)} data tests passed"
    units = (
        f", {sum(r.passed for r in result.unit_tests)}/{len(result.unit_tests)} unit tests passed"
        if result.unit_tests
        else ""
    )
    console.print(
        f"[green]Applied[/] [bold magenta]{escape(result.environment)}[/] version {result.version}: "
        f"built {len(result.built)} snapshot(s){reused}, swapped {result.views_changed} view(s){tests}{units}"
    )


def render_tests(console: Console, results: list[TestResult], *, only_problems: bool = False) -> None:
    for result in results:
        if result.passed and only_problems:
            continue
        where = (" " + f"{result.path}:{result.line}", "dim") if result.path and result.line else ""
        if result.passed:
            console.print(Text.assemble(("PASS", "green"), f" {result.name}", where))
            continue
        label = ("WARN", "yellow") if result.severity == "warn" else ("FAIL", "red")
        console.print(
            Text.assemble(label, f" {result.name} ({result.kind}, {result.failures} failing)", where)
        )
        # where the failing rows are kept (dbt's store_failures), then up to five of them
        for detail in result.details[: 5 + (result.failures_relation is not None)]:
            console.print(f"     {detail}", markup=False, highlight=False)


def apply_dict(result: ApplyResult, plan: Plan | None = None) -> dict[str, Any]:
    return {
        "environment": result.environment,
        "version": result.version,
        "built": result.built,
        "reused": _reused(result, plan),
        "views_changed": result.views_changed,
        "tests": [r.to_dict() for r in result.unit_tests + result.tests],
    }


def render_environments(console: Console, versions: list[EnvironmentVersion]) -> None:
    if not versions:
        console.print("No environments yet. Create one with `tidegate plan prod`.")
        return
    table = Table(box=None, show_edge=False)
    for column in ("environment", "version", "models", "updated", "action", "commit", "by"):
        table.add_column(column, no_wrap=column != "by")
    for version in versions:
        table.add_row(
            Text(version.environment),
            str(version.version),
            str(len(version.models)),
            f"{version.created_at:%Y-%m-%d %H:%M:%S}",
            version.action,
            (version.git_commit or "")[:10],
            Text(version.author or ""),
        )
    console.print(table)


def render_history(console: Console, versions: list[EnvironmentVersion]) -> None:
    table = Table(box=None, show_edge=False)
    for column in ("version", "time", "action", "changed", "commit", "by", "note"):
        table.add_column(column, no_wrap=column not in ("by", "note"))
    previous: dict[str, Any] = {}
    for version in versions:
        changed = sum(
            1
            for name, record in version.models.items()
            if name not in previous or previous[name].physical != record.physical
        ) + sum(1 for name in previous if name not in version.models)
        table.add_row(
            str(version.version),
            f"{version.created_at:%Y-%m-%d %H:%M:%S}",
            version.action,
            str(changed),
            (version.git_commit or "")[:10],
            Text(version.author or ""),
            Text(version.message or (f"plan {version.source}" if version.source else "")),
        )
        previous = version.models
    console.print(table)


def version_dict(version: EnvironmentVersion) -> dict[str, Any]:
    return {
        "environment": version.environment,
        "version": version.version,
        "created_at": version.created_at.isoformat(),
        "action": version.action,
        "git_commit": version.git_commit,
        "author": version.author,
        "message": version.message,
        "models": {name: record.physical for name, record in version.models.items()},
    }


def render_rows(console: Console, result: QueryResult, limit: int | None = None) -> None:
    """A result as a table; values are shown as they are (never read as markup)."""
    rows = result.rows if limit is None else result.rows[:limit]
    table = Table(box=None, show_edge=False)
    for column in result.columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text("NULL", style="dim") if value is None else Text(str(value)) for value in row))
    console.print(table)
    shown = f"{len(rows)} of {len(result.rows)}" if len(rows) < len(result.rows) else f"{len(rows)}"
    console.print(Text(f"{shown} row(s)", style="dim"))


class ConsoleProgress(Progress):
    """Progress of an apply on stderr: a line per finished item, timed."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._started = time.perf_counter()

    def stage(self, name: str, total: int) -> None:
        self._totals[name], self._done[name] = total, 0
        self.console.print(Text.assemble((name, "bold"), f" ({total})"))

    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None:
        self._done[stage] = self._done.get(stage, 0) + 1
        total = self._totals.get(stage, 0)
        mark = ("✓", "green") if ok else ("✗", "red")
        self.console.print(
            Text.assemble("  ", mark, f" [{self._done[stage]}/{total}] {item} ", (f"{seconds:.2f}s", "dim")),
            highlight=False,
        )

    def message(self, text: str) -> None:
        self.console.print(Text(text))
