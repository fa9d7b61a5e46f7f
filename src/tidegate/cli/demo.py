"""`tidegate demo`: the whole story on the example shop, in a temporary git repository.

Build staging and production from their branches (they change only from Git, so a first build
goes through `deploy`), change a model on a branch, plan a dev environment that rebuilds only
what changed, test it, promote it through Git to production without copying data (a promotion
straight from dev is refused), and roll back, which pins prod. Then the pipeline: a pull request
that breaks a dashboard fails CI, its fix passes, and merging deploys to staging and then prod
without building anything again.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from tidegate.cli.render import ConsoleProgress, render_apply, render_plan, render_rows, render_tests
from tidegate.context import Context
from tidegate.errors import BindingError, ConfigError
from tidegate.processes import temporary_folder
from tidegate.project.scaffold import create_project
from tidegate.state.views import INTERNAL_PREFIX

CHANGED_MODEL = "models/marts/fct_orders.sql"
RENAMED_MODEL = "models/marts/dim_products.sql"
DASHBOARDS = "dashboards/revenue.yml"
NEW_COLUMN = "    coalesce(totals.order_total, 0) >= 200               as is_large_order,\n"


def run_demo(console: Console, keep: Path | None = None) -> dict[str, Any]:
    """Tell the story on `console`; returns its facts (what was built, versions) for --json."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        root = keep / "shop"
        if root.exists():
            raise ConfigError(f"{root} already exists", hint="give --keep an empty or new directory")
        return _story(console, root)
    with temporary_folder("demo") as directory:
        return _story(console, directory / "shop")


def _story(console: Console, root: Path) -> dict[str, Any]:
    started = time.perf_counter()
    facts: dict[str, Any] = {"project": str(root)}
    create_project(root, "shop")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "shop: first version")

    _chapter(
        console,
        "1. Build production from Git",
        "prod and staging change only from their branches: a first build goes through `tidegate deploy`",
    )
    facts["first_staging"] = _deploy(console, root, "main", show=True)
    _git(root, "branch", "production", "main")
    facts["prod"] = _deploy(console, root, "production")
    with _context(console, root) as ctx:
        render_rows(
            console,
            ctx.query("prod", "select status, count(*) as orders from fct_orders group by 1 order by 1"),
        )

    _chapter(console, "2. Change a model on a branch", f"add is_large_order to {CHANGED_MODEL}")
    _git(root, "checkout", "-q", "-b", "feature/large-orders")
    path = root / CHANGED_MODEL
    text = path.read_text()
    anchor = "    coalesce(payments.amount_paid, 0) >= coalesce(totals.order_total, 0) as is_fully_paid\n"
    path.write_text(text.replace(anchor, anchor.rstrip("\n") + ",\n" + NEW_COLUMN.rstrip(",\n") + "\n"))
    _git(root, "commit", "-q", "-am", "fct_orders: flag large orders")
    console.print(Text(_git(root, "diff", "main", "--stat").strip(), style="dim"))

    _chapter(console, "3. Plan a dev environment", "only the changed model is built; the rest reuses prod")
    with _context(console, root) as ctx:
        before = _physical_count(ctx)
        dev_plan, result = ctx.plan_and_apply(
            "dev", git_commit=_head(root), on_plan=lambda p: render_plan(console, p)
        )
        if result:
            render_apply(console, result, dev_plan)
            facts["dev"] = {"version": result.version, "built": sorted(result.built)}
        after = _physical_count(ctx)
        rebuilt = ", ".join(sorted(result.built)) if result else "nothing"
        console.print(
            f"rebuilt in dev: {rebuilt}; physical tables {before} before, {after} after "
            f"({after - before} new snapshot(s)); every other model reads prod's snapshots"
        )
        render_rows(
            console,
            ctx.query(
                "dev", "select is_large_order, count(*) as orders from fct_orders group by 1 order by 1"
            ),
        )

        _chapter(console, "4. Test dev", "unit tests and data tests against dev's snapshots")
        results = ctx.test("dev")
        render_tests(console, results, only_problems=True)
        passed = sum(r.passed for r in results)
        console.print(f"[green]{passed}[/] of {len(results)} tests passed")
        facts["tests"] = {"passed": passed, "total": len(results)}

        _chapter(console, "5. Promote dev to prod through Git", "a view swap: no data copied")
        try:
            ctx.promote("dev", "prod")
        except BindingError as refused:
            console.print(Text.assemble(("refused: ", "yellow"), refused.message))
        _git(root, "checkout", "-q", "main")
        _git(root, "merge", "-q", "--no-ff", "feature/large-orders", "-m", "Merge pull request: large orders")
        _git(root, "checkout", "-q", "production")
        _git(root, "merge", "-q", "--no-ff", "main", "-m", "Release: large orders")
        console.print("merged into main, then production: dev's commit is on both branches now")
        before = _physical_count(ctx)
        clock = time.perf_counter()
        ctx.promote("dev", "staging")
        version = ctx.promote("staging", "prod")
        console.print(
            f"dev → staging → prod: prod is now version {version} in {time.perf_counter() - clock:.3f}s; "
            f"physical tables {before} before, {_physical_count(ctx)} after"
        )
        facts["promoted"] = {"version": version}
        render_rows(
            console, ctx.query("prod", "select count(*) as large_orders from fct_orders where is_large_order")
        )

        _chapter(
            console, "6. Roll prod back", "the previous version's views, instantly; prod is pinned there"
        )
        version = ctx.rollback("prod", branch_head=ctx.branch_head("prod"))
        columns = ctx.query("prod", "select * from fct_orders limit 0").columns
        console.print(f"prod is now version {version}; is_large_order in prod: {'is_large_order' in columns}")
        facts["rolled_back"] = {"version": version}
        console.print(Rule("history of prod"), width=min(console.width, 100))
        from tidegate.cli.render import render_history

        render_history(console, ctx.history("prod"), ctx.pin_of("prod"))
    pinned = _deploy(console, root, "production")
    facts["rolled_back"]["pinned"] = pinned["pinned"]
    _pipeline_chapters(console, root, facts)
    facts["seconds"] = round(time.perf_counter() - started, 2)
    console.print(f"\n[bold green]Demo finished[/] in {facts['seconds']:.1f}s.")
    return facts


def _pipeline_chapters(console: Console, root: Path, facts: dict[str, Any]) -> None:
    _chapter(console, "7. A pull request breaks a dashboard", f"rename units_sold in {RENAMED_MODEL}")
    _git(root, "checkout", "-q", "main")
    _git(root, "checkout", "-q", "-b", "rename-units-sold")
    _edit(root, RENAMED_MODEL, r"(coalesce\(sales\.units_sold, 0\)\s+as) units_sold,", r"\1 quantity_sold,")
    _git(root, "commit", "-q", "-am", "dim_products: units_sold is quantity_sold")
    report = _ci(console, root, facts, "broken")
    for step in report.steps:
        for finding in step.findings:
            console.print(Text.assemble(("  ✗ ", "red"), f"{finding.path}:{finding.line} {finding.message}"))

    _chapter(console, "8. The fix passes", "the dashboard reads the new name")
    _edit(root, DASHBOARDS, r"sum\(units_sold\) as units_sold", "sum(quantity_sold) as units_sold")
    _git(root, "commit", "-q", "-am", "revenue dashboard: read quantity_sold")
    _ci(console, root, facts, "fixed")

    _chapter(console, "9. Merge: deploy to staging, then prod", "what CI built and tested is what ships")
    _git(root, "checkout", "-q", "main")
    _git(root, "merge", "-q", "--no-ff", "rename-units-sold", "-m", "Merge pull request #1")
    facts["staging"] = _deploy(console, root, "main")
    _git(root, "checkout", "-q", "production")
    _git(root, "merge", "-q", "--no-ff", "main", "-m", "Release: units_sold is quantity_sold")
    facts["deployed"] = _deploy(console, root, "production")


def _ci(console: Console, root: Path, facts: dict[str, Any], name: str) -> Any:
    from tidegate.ci.pipeline import CiRequest, Pipeline
    from tidegate.ci.report import markdown
    from tidegate.cli.steps import StepLines

    request = CiRequest(project_dir=root, base="main", head="HEAD", pull_request=1)
    report = Pipeline(request, StepLines(console)).run(
        lambda files, workspace: _context(console, files, workspace)
    )
    saved = root / ".tidegate" / f"ci-report-{name}.md"
    saved.write_text(markdown(report), encoding="utf-8")
    verdict = ("passed", "green") if report.passed else ("failed", "red")
    console.print(
        Text.assemble(
            "CI ",
            verdict,
            f" in {report.seconds:.1f}s (exit code {report.exit_code}); the pull-request comment: {saved}",
        )
    )
    facts[f"ci_{name}"] = {
        "passed": report.passed,
        "failed": [s.name for s in report.steps if s.status == "failed"],
    }
    return report


def _deploy(console: Console, root: Path, branch: str, *, show: bool = False) -> dict[str, Any]:
    """`tidegate deploy --branch BRANCH`; `show`: its plan and apply too."""
    from tidegate.ci.deploy import DeployRequest, deploy

    deployment = deploy(
        DeployRequest(project_dir=root, branch=branch),
        lambda files, workspace: _context(console, files, workspace),
        on_plan=(lambda plan: render_plan(console, plan)) if show else None,
    )
    if show and deployment.result is not None:
        render_apply(console, deployment.result, deployment.plan)
    if deployment.pinned is not None:
        console.print(
            f"{branch} → {deployment.environment}: pinned at version {deployment.pinned.version} by the "
            f"rollback, so {deployment.commit[:10]} was not deployed again; a new commit on {branch} will be"
        )
        return {"environment": deployment.environment, "pinned": deployment.pinned.version}
    version = deployment.result.version if deployment.result else None
    console.print(
        f"{branch} → {deployment.environment}: version {version}, "
        f"{len(deployment.built)} snapshot(s) built, commit {deployment.commit[:10]}"
    )
    return {"environment": deployment.environment, "version": version, "built": deployment.built}


def _edit(root: Path, name: str, pattern: str, replacement: str) -> None:
    path = root / name
    text, count = re.subn(pattern, replacement, path.read_text())
    if count != 1:
        raise ConfigError(f"the demo could not edit {name}")
    path.write_text(text)


def _context(console: Console, root: Path, workspace: Path | None = None) -> Context:
    return Context(root, progress=_QuietProgress(console), workspace=workspace)


class _QuietProgress(ConsoleProgress):
    """The demo shows stage totals rather than a line per model."""

    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None:
        if not ok:
            super().advance(stage, item, seconds, ok)


def _chapter(console: Console, title: str, subtitle: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{title}[/]"), width=min(console.width, 100))
    console.print(f"[dim]{subtitle}[/]")


def _physical_count(ctx: Context) -> int:
    return len(ctx.engine("prod").relations(INTERNAL_PREFIX))


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=tidegate demo", "-c", "user.email=demo@tidegate.dev", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def _head(root: Path) -> str:
    return _git(root, "rev-parse", "HEAD").strip()
