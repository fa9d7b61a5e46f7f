"""The commands of DESIGN section 5 that the foundation provides."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.text import Text

from tidegate.cli import Output, cli, command, context, parse_vars
from tidegate.errors import ConfigError, EngineError, TidegateError

if TYPE_CHECKING:
    from tidegate.ci.guard import Guard
    from tidegate.engines import QueryResult
    from tidegate.plan import Plan
    from tidegate.state import EnvironmentVersion, Pin

_VARS = click.option("--vars", "variables", help="Project variables as YAML, e.g. '{limit: 10}'.")
_BREAK_GLASS = click.option(
    "--break-glass",
    "break_glass",
    metavar="REASON",
    help="Change an environment bound to a branch past Git (a working tree, a commit off its "
    "branch, past its gates): an emergency lever; the new version records who, when and why.",
)
_UNCLEAN = "the working tree has uncommitted changes"
_MANIFEST = click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TIDEGATE_DBT_MANIFEST",
    help="Load the dbt project from this target/manifest.json (written by `dbt compile`) instead of "
    "rendering its Jinja. Env: TIDEGATE_DBT_MANIFEST.",
)


@command(cli)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--example", type=click.Choice(["shop"]), help="Start from a working example project.")
@click.option(
    "--ci",
    type=click.Choice(["github", "gitlab"]),
    help="Also write the CI/CD pipeline: .github/workflows/tidegate.yml or .gitlab-ci.yml.",
)
def init(
    directory: Path | None, example: str | None, ci: str | None, project_dir: Path, output: Output
) -> int:
    """Create a new project in DIRECTORY (default: the --project directory).

    --ci also writes the pipeline, at the top of the project's git repository: `tidegate ci` on
    pull requests, `tidegate deploy` on pushes to the branches of `branches:`, and the janitor
    every night. In an existing project, --ci writes only the pipeline. Existing files are never
    overwritten.
    """
    from tidegate.project.scaffold import create_project, is_project, pipeline_path, write_pipeline

    target = (directory or project_dir).resolve()
    pipeline_only = ci is not None and example is None and is_project(target)
    if ci is not None:
        pipeline_path(target, ci)  # an existing pipeline refuses before anything is written
    files = [] if pipeline_only else create_project(target, example or "minimal")
    pipeline = write_pipeline(target, ci) if ci is not None else None
    if output.as_json:
        output.json(
            {
                "project": str(target),
                "example": example,
                "files": [str(f) for f in files],
                "pipeline": str(pipeline) if pipeline else None,
            }
        )
        return 0
    if not pipeline_only:
        output.out.print(Text.assemble("Created a tidegate project in ", (str(target), "bold")))
    if pipeline is not None:
        _print_pipeline(output, target, pipeline)
    if not pipeline_only:
        _print_first_build(output, target)
    return 0


def _print_first_build(output: Output, project: Path) -> None:
    """How to build production first: `plan` where prod is free; where Git binds it, commit the
    project and deploy each branch the way to prod goes through (its gates' first)."""
    from tidegate.ci.guard import binding_of
    from tidegate.project.config import PROD, load_config

    move = "" if project == Path.cwd().resolve() else f"cd {_shell_path(project)} && "
    config = load_config(project)
    binding = binding_of(config, PROD)
    if binding is None or binding.branch is None:
        output.out.print(f"Next: [bold]{escape(move)}tidegate plan prod --auto-apply[/] to build production.")
        return
    on_branch = {environment: branch for branch, environment in reversed(config.branches.items())}
    branches = [on_branch[gate] for gate in binding.gates if gate in on_branch] + [binding.branch]
    steps = [f"{move}git init -q -b {branches[0]} && git add -A && git commit -qm 'first version'"]
    for branch in dict.fromkeys(branches):
        create = f"git branch {branch} && " if branch != branches[0] else ""
        steps.append(f"{create}tidegate deploy --branch {branch}")
    output.out.print(
        "Next: prod changes only from Git (`branches:` in tidegate.yml), so commit the project and deploy it:"
    )
    for step in steps:
        output.out.print(f"  [bold]{escape(step)}[/]")


def _print_pipeline(output: Output, project: Path, pipeline: Path) -> None:
    """Where the pipeline is and the secrets it needs before its first run."""
    from tidegate.project.ci_files import pipeline_settings
    from tidegate.project.config import load_config

    output.out.print(Text.assemble("Wrote the CI/CD pipeline ", (str(pipeline), "bold")))
    needed = pipeline_settings(project, project, load_config(project)).variables
    if needed:
        output.out.print(f"Give the pipeline these secrets before its first run: {', '.join(needed)}")


def _shell_path(path: Path) -> str:
    """`path` as short as possible for a command to copy: relative to the current directory if below it."""
    import shlex

    try:
        text = str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        text = str(path)
    return shlex.quote(text)


@command(cli)
@click.argument("environment")
@click.option("--auto-apply", is_flag=True, help="Apply without asking (for CI).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to apply later.")
@click.option(
    "--full-refresh", "full_refresh", multiple=True, help="Rebuild this incremental model from scratch."
)
@click.option("--threads", type=click.IntRange(1, 64), help="Parallel builds (default: from tidegate.yml).")
@click.option("--ref", help="Plan the project as committed at this git ref instead of the working tree.")
@_BREAK_GLASS
@_VARS
@_MANIFEST
def plan(
    environment: str,
    ref: str | None,
    auto_apply: bool,
    out: Path | None,
    full_refresh: tuple[str, ...],
    threads: int | None,
    break_glass: str | None,
    variables: str | None,
    manifest: Path | None,
    project_dir: Path,
    output: Output,
) -> int:
    """Show what applying the project to ENVIRONMENT would change, and apply it if asked.

    A new environment starts from production and builds only what differs from it. On a
    terminal, asks before applying; --auto-apply applies without asking. The plan records the
    commit it was made from (--ref, or HEAD when the working tree is clean). An environment
    bound to a branch (`branches:`, `deploy: gates:`) is applied only from a clean commit of its
    branch, past its gates, as `tidegate deploy` does, unless --break-glass says why.
    """
    from tidegate.cli.render import render_apply, render_plan
    from tidegate.git.workspace import project_at

    if ref is not None and out is not None:
        raise ConfigError("--out saves a plan of the working tree: check the ref out to save its plan")
    result = None
    checks: Guard | None = None
    with (
        project_at(project_dir.resolve(), ref) as (files, commit),
        context(
            files,
            output,
            variables=parse_vars(variables),
            threads=threads,
            manifest=_resolved(manifest),
            workspace=project_dir,
        ) as ctx,
    ):
        unclean = _UNCLEAN
        if auto_apply and out is None:
            checks = checking = ctx.guard(environment, commit, unclean=unclean, break_glass=break_glass)
            # Plan and apply under one lock: nothing can move the environment in between.
            the_plan, result = ctx.plan_and_apply(
                environment,
                full_refresh=full_refresh,
                git_commit=commit,
                on_plan=lambda p: _shown(output, p, checking),
                apply_options=checking.apply_options,
            )
        else:
            the_plan = ctx.plan(environment, full_refresh=full_refresh, git_commit=commit)
            render_plan(output.human, the_plan)
            if out is not None:
                the_plan.save(out)
                output.human.print(
                    Text.assemble(
                        "Saved the plan to ",
                        (str(out), "bold"),
                        f"; apply it exactly as reviewed with `tidegate apply {_shell_path(out.resolve())}`",
                    )
                )
            if the_plan.has_changes:
                if auto_apply or _confirm(output, out):
                    checks = ctx.guard(environment, commit, unclean=unclean, break_glass=break_glass)
                    checks.check_gates(the_plan.mapping)
                    result = ctx.apply(the_plan, **checks.apply_options)
                elif out is None:
                    output.human.print(
                        "Not applied. Apply it with "
                        f"`tidegate plan {escape(the_plan.environment)} --auto-apply`, or save it with --out "
                        "and `tidegate apply` it."
                    )
        if result is not None:
            render_apply(output.human, result, the_plan)
            _say_broke_glass(output, the_plan.environment, checks.break_glass if checks else None)
        if output.as_json:
            output.json(
                the_plan.to_dict()
                | {"summary": the_plan.summary(), "apply": result.to_dict(the_plan) if result else None}
            )
    return 0


def _shown(output: Output, plan: Plan, checks: Guard) -> None:
    """Show the plan, then check it against the gates of its environment (under the lock)."""
    from tidegate.cli.render import render_plan

    render_plan(output.human, plan)
    checks.check_gates(plan.mapping)


def _say_broke_glass(output: Output, environment: str, reason: str | None) -> None:
    if reason is not None:
        output.human.print(
            Text.assemble(
                ("break glass: ", "bold yellow"),
                f"{environment} was changed past Git ({reason}); its history says so, and the "
                "controller shows it out of sync until Git catches up",
            )
        )


def _resolved(manifest: Path | None) -> Path | None:
    """--manifest is relative to the current directory (the loader's is relative to the project)."""
    return manifest.resolve() if manifest is not None else None


def _confirm(output: Output, out: Path | None) -> bool:
    """On a terminal, ask before applying (never with --json or --out, never in a pipe)."""
    if out is not None or output.as_json or not _stdin_is_terminal():
        return False
    return click.confirm("Apply this plan?", default=False, err=True)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@command(cli)
@click.argument("target")
@click.option("--threads", type=click.IntRange(1, 64), help="Parallel builds.")
@_BREAK_GLASS
@_MANIFEST
def apply(
    target: str,
    threads: int | None,
    break_glass: str | None,
    manifest: Path | None,
    project_dir: Path,
    output: Output,
) -> int:
    """Apply a saved plan (plan.json) or plan and apply ENVIRONMENT.

    A saved plan is applied exactly as reviewed; it is refused if the environment changed since.
    An environment bound to a branch takes only a clean commit of its branch, past its gates,
    unless --break-glass says why.
    """
    from tidegate.cli.render import render_apply, render_plan
    from tidegate.git.workspace import working_commit
    from tidegate.plan import ApplyResult, Plan

    with context(project_dir, output, threads=threads, manifest=_resolved(manifest)) as ctx:
        path = Path(target)
        if target.endswith(".json") or path.is_file():
            the_plan = Plan.load(path)
            render_plan(output.human, the_plan)
            checks = ctx.guard(
                the_plan.environment,
                the_plan.git_commit,
                unclean="the plan was made from uncommitted changes",
                break_glass=break_glass,
            )
            checks.check_gates(the_plan.mapping)
            result = ctx.apply(the_plan, **checks.apply_options) if the_plan.has_changes else None
        else:
            commit = working_commit(project_dir.resolve())
            checks = ctx.guard(target, commit, unclean=_UNCLEAN, break_glass=break_glass)
            the_plan, result = ctx.plan_and_apply(
                target,
                git_commit=commit,
                on_plan=lambda p: _shown(output, p, checks),
                apply_options=checks.apply_options,
            )
        if result is not None:
            render_apply(output.human, result, the_plan)
            _say_broke_glass(output, the_plan.environment, checks.break_glass)
        if output.as_json:
            applied = result or ApplyResult(the_plan.environment, the_plan.base_version)
            document = applied.to_dict(the_plan)
            output.json(document | {"changed": result is not None, "plan": the_plan.id})
    return 0


@command(cli)
@click.argument("environment", required=False)
@click.option("--select", "-s", multiple=True, help="Only the tests of this model (repeatable).")
@_MANIFEST
def test(
    environment: str | None, select: tuple[str, ...], manifest: Path | None, project_dir: Path, output: Output
) -> int:
    """Run unit tests, and data tests against ENVIRONMENT (default prod) when it exists."""
    from tidegate.cli.render import render_tests

    with context(project_dir, output, manifest=_resolved(manifest)) as ctx:
        results = ctx.test(environment, select)
    render_tests(output.human, results)
    failed = [r for r in results if r.blocking]
    warned = [r for r in results if not r.passed and not r.blocking]
    output.human.print(
        f"{len(results) - len(failed) - len(warned)} passed, {len(warned)} warned, {len(failed)} failed"
    )
    if output.as_json:
        output.json({"passed": not failed, "tests": [r.to_dict() for r in results]})
    return 1 if failed else 0


@command(cli)
@click.argument("source")
@click.argument("target")
@_BREAK_GLASS
def promote(source: str, target: str, break_glass: str | None, project_dir: Path, output: Output) -> int:
    """Point TARGET at SOURCE's snapshots: no data copied, all views swapped at once.

    A TARGET bound to a branch takes only a version built from a clean commit of its branch,
    past its gates, unless --break-glass says why.
    """
    with context(project_dir, output) as ctx:
        version = ctx.promote(source, target, break_glass=break_glass)
        name = ctx.environment(target)
        recorded = ctx.history(name)[-1].break_glass
    output.human.print(f"[green]Promoted[/] {source} to [bold magenta]{name}[/] (version {version})")
    _say_broke_glass(output, name, recorded)
    if output.as_json:
        output.json({"source": source, "target": name, "version": version, "break_glass": recorded})
    return 0


@command(cli)
@click.argument("environment")
@click.option("--to", "to", type=int, help="Version to return to (default: the previous one).")
def rollback(environment: str, to: int | None, project_dir: Path, output: Output) -> int:
    """Return ENVIRONMENT to an earlier version; see `tidegate history ENV`.

    An environment bound to a branch is pinned there: deployments of the branch's current head
    leave it alone until a new commit lands on the branch, or `tidegate unpin ENV`.
    """
    with context(project_dir, output) as ctx:
        version = ctx.rollback(environment, to, branch_head=ctx.branch_head(environment))
        name = ctx.environment(environment)
        pin = ctx.pin_of(name)
    output.human.print(f"[green]Rolled back[/] [bold magenta]{name}[/] (now version {version})")
    if pin is not None:
        output.human.print(
            f"{escape(name)} is pinned: deploying {escape((pin.commit or 'its commit')[:10])} again leaves it "
            f"here, until a new commit lands on its branch or `tidegate unpin {escape(name)}`"
        )
    if output.as_json:
        output.json({"environment": name, "version": version, "pinned": pin.to_dict() if pin else None})
    return 0


@command(cli)
@click.argument("environment")
def unpin(environment: str, project_dir: Path, output: Output) -> int:
    """Let ENVIRONMENT follow its branch again after a rollback pinned it."""
    with context(project_dir, output) as ctx:
        name = ctx.environment(environment)
        pin = ctx.pin_of(name)
        ctx.unpin(name)
    if pin is None:
        output.human.print(f"{escape(name)} was not pinned: nothing to do")
    else:
        output.human.print(
            f"[green]Unpinned[/] [bold magenta]{escape(name)}[/] (pinned at version {pin.version} by "
            f"{escape(pin.reason)}): the next deployment of its branch moves it"
        )
    if output.as_json:
        output.json({"environment": name, "unpinned": pin is not None, "pin": pin.to_dict() if pin else None})
    return 0


@command(cli)
def envs(project_dir: Path, output: Output) -> int:
    """List environments with their current version."""
    from tidegate.cli.render import render_environments

    with context(project_dir, output) as ctx:
        versions = ctx.environments()
        pins = {pin.environment: pin for pin in ctx.pins()}
    if output.as_json:
        output.json([_version_dict(v, pins) | {"models": len(v.models)} for v in versions])
    else:
        render_environments(output.out, versions, pins)
    return 0


def _version_dict(version: EnvironmentVersion, pins: dict[str, Pin]) -> dict[str, Any]:
    """A version as plain data, with the pin that holds its environment at it."""
    pin = pins.get(version.environment)
    held = pin is not None and pin.version == version.version
    return version.to_dict() | {"pinned": pin.to_dict() if held and pin else None}


@command(cli)
@click.argument("environment")
def history(environment: str, project_dir: Path, output: Output) -> int:
    """Every version of ENVIRONMENT: applies, promotions, rollbacks."""
    from tidegate.cli.render import render_history

    with context(project_dir, output) as ctx:
        versions = ctx.history(environment)
        pin = ctx.pin_of(environment)
    pins = {pin.environment: pin} if pin else {}
    if output.as_json:
        output.json([_version_dict(v, pins) for v in versions])
    else:
        render_history(output.out, versions, pin)
    return 0


@command(cli)
@click.argument("environment")
@click.argument("sql")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Show at most this many rows.")
def query(environment: str, sql: str, limit: int | None, project_dir: Path, output: Output) -> int:
    """Run SQL in ENVIRONMENT; unqualified model names resolve to the environment's views.

    Example: tidegate query dev "select status, count(*) from fct_orders group by 1"
    """
    with context(project_dir, output) as ctx:
        try:
            result = ctx.query(environment, sql)
        except EngineError as error:  # the user's SQL was rejected: bad input, not a failed check
            raise TidegateError(f"the query failed: {error.message}") from None
    _print_rows(output, result, limit)
    return 0


@command(cli)
@click.argument("environment")
@click.argument("model")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Rows to show.")
def show(environment: str, model: str, limit: int, project_dir: Path, output: Output) -> int:
    """Show the first rows of MODEL in ENVIRONMENT."""
    with context(project_dir, output) as ctx:
        result = ctx.show(environment, model, limit)
    _print_rows(output, result, None)
    return 0


def _print_rows(output: Output, result: QueryResult, limit: int | None) -> None:
    if output.as_json:
        rows = [list(row) for row in (result.rows if limit is None else result.rows[:limit])]
        output.json({"columns": result.columns, "rows": rows})
    else:
        from tidegate.cli.render import render_rows

        render_rows(output.out, result, limit)


@command(cli)
@click.argument("environment")
@click.option("--select", "-s", multiple=True, help="Only this incremental model (repeatable).")
@_MANIFEST
def run(
    environment: str, select: tuple[str, ...], manifest: Path | None, project_dir: Path, output: Output
) -> int:
    """Process new data for ENVIRONMENT's incremental models (is_incremental() is true).

    Then refreshes the tables downstream of them, as a dbt build would. All models and their
    tests run in one transaction: if a test fails, nothing changes.
    """
    with context(project_dir, output, manifest=_resolved(manifest)) as ctx:
        processed = ctx.run(environment, select)
    if processed:
        output.human.print(
            Text.assemble(
                ("Ran", "green"),
                f" {len(processed)} incremental model(s) in {environment}: {', '.join(processed)}",
            )
        )
    else:
        output.human.print(Text(f"{environment} has no incremental models: nothing to run"))
    if output.as_json:
        output.json({"environment": environment, "models": processed})
    return 0


@command(cli)
@click.option("--retention", help="Keep unused snapshots this long (e.g. 7d); default from tidegate.yml.")
def janitor(retention: str | None, project_dir: Path, output: Output) -> int:
    """Drop snapshots no environment uses any more, and expire pull-request environments."""
    try:
        from tidegate.project.config import parse_duration

        if retention:
            parse_duration(retention)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    with context(project_dir, output) as ctx:
        report = ctx.janitor(retention)
    for name in report.dropped_snapshots:
        output.human.print(Text(f"  dropped snapshot {name}"))
    for name in report.dropped_orphans:
        output.human.print(Text(f"  dropped orphan relation {name}"))
    for name in report.dropped_failures:
        output.human.print(Text(f"  dropped view of failing rows {name} (it read a dropped snapshot)"))
    for name in report.expired_environments:
        output.human.print(Text(f"  expired environment {name}"))
    output.human.print(
        f"Dropped {len(report.dropped_snapshots)} unused snapshot(s) and {len(report.dropped_orphans)} "
        f"orphan relation(s); expired {len(report.expired_environments)} environment(s)"
    )
    if output.as_json:
        output.json(
            {
                "dropped_snapshots": report.dropped_snapshots,
                "dropped_orphans": report.dropped_orphans,
                "dropped_failures": report.dropped_failures,
                "expired_environments": report.expired_environments,
            }
        )
    return 0


@command(cli)
@click.option(
    "--keep", type=click.Path(file_okay=False, path_type=Path), help="Run in this directory and keep it."
)
def demo(keep: Path | None, project_dir: Path, output: Output) -> int:
    """The end-to-end story on embedded DuckDB, in a temporary git repository."""
    from tidegate.cli.demo import run_demo

    summary = run_demo(output.human, keep)
    if output.as_json:
        output.json(summary)
    return 0
