"""Human output: plans, results, environments and query results as rich tables.

Colour degrades to plain text when stdout is not a terminal, so CI logs stay clean.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tidegate.plan.results import ApplyResult, Progress, TestResult
from tidegate.project.model import Kind, Severity

if TYPE_CHECKING:
    from tidegate.engines.base import QueryResult
    from tidegate.infra.terraform.plans import TerraformChange
    from tidegate.plan.plan import Plan
    from tidegate.state import EnvironmentVersion, Pin, SnapshotRecord

_MARKS: dict[str, tuple[str, str]] = {  # by `ChangeType` value: commands that show no plan never import it
    "added": ("+", "green"),
    "removed": ("-", "red"),
    "directly_modified": ("~", "yellow"),
    "indirectly_modified": ("~", "cyan"),
    "metadata": ("i", "dim"),
}


def render_plan(console: Console, plan: Plan) -> None:
    from tidegate.plan.plan import ChangeType

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
    visible = [c for c in plan.changes if c.change is not ChangeType.METADATA]
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
            if change.change is ChangeType.REMOVED:
                action = "drop view"
            elif entry is not None and entry.kind is Kind.EPHEMERAL:
                action = "inline (ephemeral)"
            elif change.rebuild:
                action = "build"
            else:
                action = "reuse snapshot"
            detail = f" ({change.reason})" if change.reason and change.change is not ChangeType.ADDED else ""
            table.add_row(
                Text(mark, style=colour),
                Text(change.model, style=colour),
                Text(change.change.replace("_", " ") + detail),
                category,
                action,
            )
        console.print(table)
    metadata = [c.model for c in plan.changes if c.change is ChangeType.METADATA]
    if metadata:
        console.print(Text(f"metadata only (no rebuild): {', '.join(metadata)}", style="dim"))
    summary = plan.summary()
    built = {b.model for b in plan.builds if b.materializes}
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


def render_apply(console: Console, result: ApplyResult, plan: Plan | None = None) -> None:
    render_tests(console, result.unit_tests + result.tests, only_problems=True)
    kept = result.kept(plan)
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
        label = ("WARN", "yellow") if result.severity is Severity.WARN else ("FAIL", "red")
        console.print(
            Text.assemble(label, f" {result.name} ({result.kind}, {result.failures} failing)", where)
        )
        # where the failing rows are kept (dbt's store_failures), then up to five of them
        for detail in result.details[: 5 + (result.failures_relation is not None)]:
            console.print(f"     {detail}", markup=False, highlight=False)


def render_environments(
    console: Console, versions: list[EnvironmentVersion], pins: Mapping[str, Pin] | None = None
) -> None:
    if not versions:
        console.print("No environments yet. Create one with `tidegate plan dev`, or `tidegate deploy`.")
        return
    pins = pins or {}
    table = Table(box=None, show_edge=False)
    for column in ("environment", "version", "models", "updated", "action", "commit", "by", "note"):
        table.add_column(column, no_wrap=column not in ("by", "note"))
    for version in versions:
        pin = pins.get(version.environment)
        table.add_row(
            Text(version.environment),
            str(version.version),
            str(len(version.models)),
            f"{version.created_at:%Y-%m-%d %H:%M:%S}",
            version.action,
            (version.git_commit or "")[:10],
            Text(version.author or ""),
            Text("; ".join(filter(None, [_pinned(pin), _broke_glass(version)]))),
        )
    console.print(table)


def _pinned(pin: Pin | None) -> str:
    return f"pinned at v{pin.version} ({pin.reason}; `tidegate unpin {pin.environment}`)" if pin else ""


def _broke_glass(version: EnvironmentVersion) -> str:
    return f"break glass: {version.break_glass}" if version.break_glass else ""


def _history_note(version: EnvironmentVersion, pin: Pin | None) -> str:
    parts = [
        version.message or (f"plan {version.source}" if version.source else ""),
        _broke_glass(version),
        _pinned(pin) if pin is not None and pin.version == version.version else "",
    ]
    return "; ".join(part for part in parts if part)


def render_history(console: Console, versions: list[EnvironmentVersion], pin: Pin | None = None) -> None:
    """Every version, what it changed and why; a version made past Git says so, and so does a
    pin holding the environment at a version."""
    table = Table(box=None, show_edge=False)
    for column in ("version", "time", "action", "changed", "commit", "by", "note"):
        table.add_column(column, no_wrap=column not in ("by", "note"))
    previous: dict[str, SnapshotRecord] = {}
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
            Text(_history_note(version, pin)),
        )
        previous = version.models
    console.print(table)


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


_TERRAFORM_COLOURS = {"create": "green", "update": "yellow", "delete": "red", "replace": "red"}


def render_terraform_change(console: Console, change: TerraformChange) -> None:
    """One resource change of a Terraform plan, as Terraform marks it, destructive ones in red,
    then the attributes that change (sensitive values are redacted already)."""
    from tidegate.infra.terraform.plans import SYMBOLS

    colour = _TERRAFORM_COLOURS.get(change.action, "yellow")
    line = Text.assemble((f"  {SYMBOLS.get(change.action, '?')} ", colour), (change.address, "bold"))
    line.append(f" ({change.action})")
    if change.destructive:
        line.append("  DESTRUCTIVE", style="bold red")
    console.print(line)
    for attribute in change.attributes:
        forces = "  (forces replacement)" if attribute.name in change.replaced_by else ""
        console.print(
            f"      {attribute.name}: {attribute.before!r} -> {attribute.after!r}{forces}", highlight=False
        )
