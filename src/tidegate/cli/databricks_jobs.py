"""`tidegate databricks plan|drift ENV`: the jobs of `databricks/jobs/*.yml` against the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.text import Text

from tidegate.cli import Output, command
from tidegate.cli.databricks import databricks
from tidegate.errors import ConfigError

if TYPE_CHECKING:
    from tidegate.orchestrate.databricks_deploy import JobDrift
    from tidegate.orchestrate.databricks_jobs import JobsPlan

_STYLE = {"create": "green", "update": "yellow", "delete": "red", "unchanged": "dim"}


@command(databricks, "plan")
@click.argument("environment")
@click.option("--ref", default="HEAD", show_default=True, help="The commit whose job files are planned.")
def plan_command(environment: str, ref: str, project_dir: Path, output: Output) -> int:
    """Show what deploying --ref to ENV would do to its Databricks jobs: the jobs to create, to
    update (with the settings that differ) and to delete (their file was removed: deploy deletes
    them only with --allow-destroy). Reads the workspace, changes nothing.

    \b
    Examples:
      tidegate databricks plan prod
      tidegate databricks plan staging --ref origin/main --json
    """
    from tidegate.git.repository import Repository
    from tidegate.git.workspace import project_files
    from tidegate.orchestrate.databricks_deploy import jobs_plan, workspace_client
    from tidegate.project.config import load_config

    repo = Repository(project_dir.resolve())
    commit = repo.resolve(ref)
    with project_files(repo, commit) as files:
        config = load_config(files)
        name = config.resolve_environment(environment)
        if name not in config.databricks_job_environments():
            raise ConfigError(
                f"deploying {name} ships no Databricks jobs",
                path="tidegate.yml",
                hint="list it under `databricks: jobs: environments:` in tidegate.yml (by default the "
                "environments `branches:` maps a branch to)",
            )
        plan = jobs_plan(workspace_client(), config, files, repo, name, commit)
    if output.as_json:
        output.json(plan.to_dict())
    _render_plan(output.human, plan)
    return 0


@command(databricks, "drift")
@click.argument("environment")
def drift_command(environment: str, project_dir: Path, output: Output) -> int:
    """List the Databricks jobs tidegate manages for ENV that were changed in the workspace
    since they were deployed (compared with their file at the commit they were deployed from).
    Exit 1 when there are any: the next deploy resets them.
    """
    from tidegate.git.repository import Repository
    from tidegate.orchestrate.databricks_deploy import jobs_drift, workspace_client
    from tidegate.project.config import load_config

    config = load_config(project_dir)
    name = config.resolve_environment(environment)
    found = jobs_drift(workspace_client(), config, Repository(project_dir.resolve()), name)
    if output.as_json:
        output.json({"environment": name, "drift": bool(found), "jobs": [job.to_dict() for job in found]})
    _render_drift(output.human, name, found)
    return 1 if found else 0


def _render_plan(console: Console, plan: JobsPlan) -> None:
    for change in plan.changes:
        where = f" (job {change.job_id})" if change.job_id is not None else ""
        console.print(
            Text.assemble(
                (f"{change.action:>9} ", _STYLE[change.action]), change.name, where, f"  [{change.key}]"
            )
        )
        for difference in change.differences:
            console.print(Text(f"            {difference}", style="dim"))
    counts = plan.counts
    console.print(
        f"Databricks jobs of {plan.environment} at {plan.commit[:10]}: "
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['unchanged']} unchanged"
    )


def _render_drift(console: Console, environment: str, found: list[JobDrift]) -> None:
    if not found:
        console.print(f"[green]No drift[/]: {environment}'s Databricks jobs are as tidegate deployed them")
        return
    for job in found:
        console.print(Text.assemble(("  drifted ", "red"), job.name, f" (job {job.job_id}, {job.key})"))
        for difference in job.differences:
            console.print(Text(f"            {difference}", style="dim"))
    console.print(
        f"{len(found)} Databricks job(s) of {environment} changed by hand; the next deploy resets them"
    )
