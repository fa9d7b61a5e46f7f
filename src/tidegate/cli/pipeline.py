"""`tidegate ci` and `tidegate deploy`: the commands a CI system runs on pull requests and merges."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from tidegate.cli import Output, cli, command, context, parse_vars

if TYPE_CHECKING:
    from rich.console import Console

    from tidegate.context import Context
    from tidegate.infra.terraform.workflow import RootApply


@command(cli)
@click.option("--base", help="The pull request's base (default: from the CI's variables).")
@click.option("--head", help="The pull request's head (default: from the CI's variables, else HEAD).")
@click.option(
    "--pr", "pull_request", type=click.IntRange(min=1), help="Pull-request number (default: the CI's)."
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FORMAT[=PATH]",
    help="md (the pull-request comment; default, on stdout), json, junit=PATH, github (annotations "
    "and the job summary). Repeatable.",
)
@click.option("--close", is_flag=True, help="Tear down the pull request's environment (when it is closed).")
@click.option("--threads", type=click.IntRange(1, 64), help="Parallel builds.")
@click.option("--vars", "variables", help="Project variables as YAML, e.g. '{limit: 10}'.")
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Let destructive Terraform changes (delete, replace) pass; the reviewed plans record "
    "that they were allowed, so the deploy applies them.",
)
def ci(
    base: str | None,
    head: str | None,
    pull_request: int | None,
    reports: tuple[str, ...],
    close: bool,
    threads: int | None,
    variables: str | None,
    allow_destroy: bool,
    project_dir: Path,
    output: Output,
) -> int:
    """Check a pull request: lint, DAG checks, build its environment on top of production,
    tests, impact on models and dashboards, a data diff against production, the plan of
    infra/*.yml, and the plans of the Terraform roots it touches (`terraform: roots:`), kept
    for the deploy that applies them. A destructive Terraform change (delete, replace) fails
    unless --allow-destroy or `terraform: allow_destroy:` allows it.

    \b
    Exit codes: 0 every check passed, 1 a check failed, 2 bad input (an unknown git ref,
    a file of the pull request that does not load: the report names it), 128+N on signal N.
    Examples:
      tidegate ci --base origin/main --head HEAD --pr 12 --report md=report.md --report junit=junit.xml
      tidegate ci --close --pr 12
      tidegate ci --base origin/main --pr 12 --allow-destroy
    """
    from tidegate.ci.pipeline import CiRequest, Pipeline
    from tidegate.ci.report import parse_targets, to_json, write
    from tidegate.ci.variables import ci_refs, pull_request_number
    from tidegate.cli.steps import StepLines

    number = pull_request_number(pull_request)
    if close:
        return _close(project_dir, output, number)
    targets = parse_targets(reports or ["md"])
    default_base, default_head = ci_refs()
    if not (base or default_base):
        from tidegate.errors import ConfigError

        raise ConfigError("no base to compare with: pass --base REF (e.g. origin/main)")
    request = CiRequest(
        project_dir=project_dir.resolve(),
        base=base or default_base or "",
        head=head or default_head or "HEAD",
        pull_request=number,
        threads=threads,
        variables=parse_vars(variables),
        allow_destroy=allow_destroy,
    )
    report = Pipeline(request, StepLines(output.err)).run(
        _opener(output, request.variables, threads, pull_request=True)
    )
    if output.as_json:
        targets = [(kind, path) for kind, path in targets if path is not None or kind == "github"]
    write(report, targets, sys.stdout)
    if output.as_json:
        sys.stdout.write(to_json(report))
    verdict = ("passed", "green") if report.passed else ("failed", "red")
    why = ": the pull request holds bad input (exit 2)" if report.exit_code == 2 else ""
    output.err.print(Text.assemble("CI ", verdict, f" in {report.seconds:.1f} s{why}"))
    return report.exit_code


def _close(project_dir: Path, output: Output, number: int | None) -> int:
    from tidegate.errors import ConfigError, StateError

    if number is None:
        raise ConfigError("--close needs the pull request: --pr N")
    with context(project_dir, output, pull_request=True) as ctx:
        environment = ctx.config.pull_requests.environment.format(number=number)
        try:
            ctx.drop_environment(environment)
            closed = True
        except StateError:
            closed = False
    text = f"Closed {environment}" if closed else f"{environment} does not exist: nothing to close"
    output.human.print(text)
    if output.as_json:
        output.json({"environment": environment, "closed": closed})
    return 0


def _opener(
    output: Output, variables: dict[str, Any], threads: int | None, *, pull_request: bool
) -> Callable[[Path, Path], AbstractContextManager[Context]]:
    """What the pipeline and a deployment open the project with: `files` (a commit's) whose
    warehouses resolve in `workspace` (the project directory). Only the pipeline acts for a pull
    request (through `pull_requests.connection`); a deployment acts as the environment's role."""

    def open_context(files: Path, workspace: Path) -> Context:
        return context(
            files,
            output,
            variables=variables,
            threads=threads,
            workspace=workspace,
            pull_request=pull_request,
        )

    return open_context


@command(cli)
@click.option("--branch", help="Deploy the environment this branch maps to (`branches:` in tidegate.yml).")
@click.option("--env", "environment", help="Deploy this environment (with --ref; default HEAD).")
@click.option("--ref", help="The commit to deploy (default: the branch's head, or HEAD).")
@click.option("--threads", type=click.IntRange(1, 64), help="Parallel builds.")
@click.option(
    "--allow-destroy",
    is_flag=True,
    help="Apply destructive infrastructure changes too (dropping a schema that holds tables, a "
    "role that owns objects, a Terraform delete or replace...); the deployment's record says what "
    "they destroyed.",
)
@click.option(
    "--allow-unreviewed",
    is_flag=True,
    help="Apply a Terraform root whose plan no pull request reviewed (a first bootstrap); the "
    "deployment's record and the environment's history say so.",
)
def deploy(
    branch: str | None,
    environment: str | None,
    ref: str | None,
    threads: int | None,
    allow_destroy: bool,
    allow_unreviewed: bool,
    project_dir: Path,
    output: Output,
) -> int:
    """Bring an environment to a commit after a merge: its Terraform roots (`terraform: roots:`)
    first, then its infrastructure (infra/*.yml), then its models, reusing every snapshot
    already built and tested for the same fingerprints; only what is missing is built. Gates in
    tidegate.yml (`deploy: {gates: {prod: [staging]}}`) refuse what did not pass the required
    environments. Each Terraform root gets the plan `tidegate ci` reviewed for exactly its files;
    a plan gone stale is planned again and applied only when it makes the same changes; no
    reviewed plan, or other changes, stops the deployment (exit 1, naming the root and the
    addresses) unless --allow-unreviewed is given. A destructive infrastructure change stops the
    deployment (exit 1, nothing applied) unless --allow-destroy is given. An environment a
    rollback pinned stays where it is while the commit deployed is the one it was rolled back
    from; a new commit removes the pin. With --env and --ref, an environment a branch maps to
    takes only a commit of that branch. Then, when `orchestration: airflow: targets:` names the
    environment, its DAG files ship there (a folder, s3:// or gs://) and, with the target's
    api_url, deploy waits for Airflow to parse them; if that fails, the models stay deployed,
    the run is recorded as failed (exit 1), and deploying the commit again ships the DAGs again.

    \b
    Examples:
      tidegate deploy --branch main
      tidegate deploy --env prod --ref v1.4.0
      tidegate deploy --branch production --allow-destroy
      tidegate deploy --env staging --allow-unreviewed   # the first apply of a new root
    """
    from tidegate.ci.deploy import DeployRequest, deploy, deployment_record
    from tidegate.ci.variables import deploy_branch
    from tidegate.cli.dags import render_shipped
    from tidegate.cli.infra import render_applied
    from tidegate.cli.render import render_apply, render_plan

    request = DeployRequest(
        project_dir=project_dir.resolve(),
        branch=branch or (None if environment else deploy_branch()),
        environment=environment,
        ref=ref,
        allow_destroy=allow_destroy,
        allow_unreviewed=allow_unreviewed,
    )
    deployment = deploy(
        request,
        _opener(output, {}, threads, pull_request=False),
        on_plan=lambda plan: render_plan(output.human, plan),
        progress=lambda text: output.err.print(Text(text, style="dim")),
    )
    if deployment.pinned is not None:
        pin = deployment.pinned
        output.human.print(
            Text.assemble(
                (deployment.environment, "bold magenta"),
                f" is pinned at version {pin.version} ({pin.reason}): its branch was at {deployment.commit[:10]} "
                "when it was rolled back, so nothing was deployed. A new commit on the branch "
                f"deploys as usual; `tidegate unpin {deployment.environment}` lets this one through.",
            )
        )
        if output.as_json:
            output.json(deployment_record(deployment))
        return 0
    for applied in deployment.terraform:
        _render_root(output.human, applied)
    if deployment.infra is not None:
        render_applied(output.human, deployment.infra)
    if deployment.result is not None:
        render_apply(output.human, deployment.result, deployment.plan)
    output.human.print(
        Text.assemble(
            ("Deployed ", "green"),
            deployment.commit[:10],
            " to ",
            (deployment.environment, "bold magenta"),
            f": {len(deployment.built)} snapshot(s) built, {deployment.seconds:.1f} s",
        )
    )
    if deployment.dags is not None:
        render_shipped(output.human, deployment.dags)
    if output.as_json:
        output.json(deployment_record(deployment))
    return 0


def _render_root(console: Console, applied: RootApply) -> None:
    """One Terraform root of a deployment: what was applied, and each change, destructive ones
    in red."""
    from tidegate.cli.render import render_terraform_change

    source = applied.reviewed.source if applied.reviewed else ""
    outcome = {
        "applied": f"applied the plan reviewed in {source}",
        "applied again": f"the plan reviewed in {source} was stale: planned again, the same changes applied",
        "applied unreviewed": "applied a plan no one reviewed (--allow-unreviewed)",
        "no changes": "no changes",
    }[applied.outcome]
    counts = f" ({applied.plan.summary})" if applied.plan.changes else ""
    console.print(Text.assemble(("Terraform ", "bold"), (applied.root, "bold"), f": {outcome}{counts}"))
    for change in applied.plan.changes:
        render_terraform_change(console, change)
