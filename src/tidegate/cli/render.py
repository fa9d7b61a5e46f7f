"""Human output: plans, results, environments and query results as rich tables.

Colour degrades to plain text when stdout is not a terminal, so CI logs stay clean.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tidegate.engines.base import QueryResult
from tidegate.plan import ApplyResult, Plan, Progress
from tidegate.plan.apply import TestResult
from tidegate.state import EnvironmentVersion

_MARKS = {
    "added": ("+", "green"),
    "removed": ("-", "red"),
    "directly_modified": ("~", "yellow"),
    "indirectly_modified": ("~", "cyan"),
    "metadata": ("i", "dim"),
}


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


def render_plan(console: Console, plan: Plan) -> None:
    base = f" (from {plan.base_environment})" if plan.base_version is None and plan.base_environment else ""
    version = f"version {plan.base_version}" if plan.base_version else "new environment"
    console.print(Text.assemble(("Plan ", "bold"), (plan.environment, "bold magenta"), f": {version}{base}"))
    if not plan.has_changes:
        console.print("[green]No changes.[/] The environment already matches the project.")
        return
    visible = [c for c in plan.changes if c.change != "metadata"]
    if visible:
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("", width=1)
        table.add_column("model")
        table.add_column("change")
        table.add_column("category")
        table.add_column("action")
        for change in visible:
            mark, colour = _MARKS[change.change]
            category = "" if change.breaking is None else ("breaking" if change.breaking else "non-breaking")
            if change.change == "removed":
                action = "drop view"
            elif change.rebuild:
                action = "build"
            else:
                action = "reuse snapshot"
            detail = f" ({change.reason})" if change.reason and change.change != "added" else ""
            table.add_row(
                Text(mark, style=colour),
                Text(change.model, style=colour),
                change.change.replace("_", " ") + detail,
                category,
                action,
            )
        console.print(table)
    metadata = [c.model for c in plan.changes if c.change == "metadata"]
    if metadata:
        console.print(f"[dim]metadata only (no rebuild): {', '.join(metadata)}[/]")
    summary = plan_summary(plan)
    console.print(
        f"[bold]{summary['builds']}[/] to build, [bold]{summary['views']}[/] view(s) to swap, "
        f"[bold]{summary['tests']}[/] data test(s), [bold]{summary['unit_tests']}[/] unit test(s)"
    )
    if plan.dashboards_affected:
        console.print(f"dashboards affected: {', '.join(plan.dashboards_affected)}")


def render_apply(console: Console, result: ApplyResult) -> None:
    render_tests(console, result.unit_tests + result.tests, only_problems=True)
    reused = f", reused {len(result.reused)} already built" if result.reused else ""
    console.print(
        f"[green]Applied[/] [bold magenta]{result.environment}[/] version {result.version}: "
        f"built {len(result.built)} snapshot(s){reused}, swapped {result.views_changed} view(s), "
        f"{sum(r.passed for r in result.tests)}/{len(result.tests)} data tests and "
        f"{sum(r.passed for r in result.unit_tests)}/{len(result.unit_tests)} unit tests passed"
    )


def render_tests(console: Console, results: list[TestResult], *, only_problems: bool = False) -> None:
    for result in results:
        if result.passed and only_problems:
            continue
        where = f" [dim]{result.path}:{result.line}[/]" if result.path and result.line else ""
        if result.passed:
            console.print(f"[green]PASS[/] {result.name}{where}")
            continue
        label = "[yellow]WARN[/]" if result.severity == "warn" else "[red]FAIL[/]"
        console.print(f"{label} {result.name} ({result.kind}, {result.failures} failing){where}")
        for detail in result.details[:5]:
            console.print(f"     {detail}", markup=False, highlight=False)


def test_result_dict(result: TestResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "kind": result.kind,
        "severity": result.severity,
        "passed": result.passed,
        "failures": result.failures,
        "models": result.models,
        "details": result.details,
        "path": result.path,
        "line": result.line,
    }


def apply_dict(result: ApplyResult) -> dict[str, Any]:
    return {
        "environment": result.environment,
        "version": result.version,
        "built": result.built,
        "reused": result.reused,
        "views_changed": result.views_changed,
        "tests": [test_result_dict(r) for r in result.unit_tests + result.tests],
    }


def render_environments(console: Console, versions: list[EnvironmentVersion]) -> None:
    if not versions:
        console.print("No environments yet. Create one with `tidegate plan prod`.")
        return
    table = Table(box=None, show_edge=False)
    for column in ("environment", "version", "models", "updated", "action", "commit", "by"):
        table.add_column(column)
    for version in versions:
        table.add_row(
            version.environment,
            str(version.version),
            str(len(version.models)),
            f"{version.created_at:%Y-%m-%d %H:%M:%S}",
            version.action,
            (version.git_commit or "")[:10],
            version.author or "",
        )
    console.print(table)


def render_history(console: Console, versions: list[EnvironmentVersion]) -> None:
    table = Table(box=None, show_edge=False)
    for column in ("version", "time", "action", "changed", "commit", "by", "note"):
        table.add_column(column)
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
            version.author or "",
            version.message or version.source or "",
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
    table = Table(box=None, show_edge=False)
    for column in result.columns:
        table.add_column(column)
    for row in result.rows[:limit] if limit else result.rows:
        table.add_row(*("NULL" if value is None else str(value) for value in row))
    console.print(table)
    console.print(f"[dim]{len(result.rows)} row(s)[/]")


class ConsoleProgress(Progress):
    """Progress of an apply on stderr: a line per finished item, timed."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._started = time.perf_counter()

    def stage(self, name: str, total: int) -> None:
        self._totals[name], self._done[name] = total, 0
        self.console.print(f"[bold]{name}[/] ({total})")

    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None:
        self._done[stage] = self._done.get(stage, 0) + 1
        total = self._totals.get(stage, 0)
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(
            f"  {mark} [{self._done[stage]}/{total}] {item} [dim]{seconds:.2f}s[/]", highlight=False
        )

    def message(self, text: str) -> None:
        self.console.print(text)
