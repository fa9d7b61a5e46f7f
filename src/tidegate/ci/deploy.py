"""`tidegate deploy`: bring the environment a branch maps to up to a commit.

A deployment plans the environment at the commit and applies it. Every snapshot already built
for the same fingerprint is reused, wherever it was built: a pull request merged to main, then
main merged to production, builds nothing new, so what was tested is what ships. Gates
(`deploy: {gates: {prod: [staging]}}`) refuse a deployment whose snapshots the required
environments never had. Each deployment is recorded with its commit, author, time and plan.

What a deployment changes goes in this order, under the environment's lock and after the gates:
the environment's Terraform roots (`terraform: roots:`, each the plan reviewed in CI for exactly
its files, by the rule of `tidegate.infra.terraform.workflow`), then infra/*.yml, then the
models. A root that fails stops the deployment before anything tidegate manages changes; what
Terraform applied stays in its state, and a rerun applies what is left.

After the models switched, the steps that ship code to where it runs: the DAG files to the
environment's target (`orchestration: airflow: targets:`, see `tidegate.orchestrate.ship`; deploy
waits for that Airflow to parse them when the target names its API), then Databricks repos and
jobs (`tidegate.orchestrate.databricks_deploy`). A step that fails does not undo the models: the
environment's new version stays (recorded as deployed), the run is recorded as failed with the
step's error, the command exits 1 naming what failed (`DeployStepFailed`) and the steps after it
do not run; deploying the same commit again (its models a no-op then) runs them again.

A rollback pins its environment (`tidegate.state.records.Pin`): deploying the commit the pin
recorded (the branch's head when it was rolled back) leaves the environment where the rollback
put it; deploying any other commit (a new one landed on the branch) removes the pin and deploys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.ci.guard import binding_of, gate_gaps, gate_refusal, off_branch
from tidegate.errors import BindingError, CheckFailed, ConfigError, DeployStepFailed, TidegateError

if TYPE_CHECKING:
    from tidegate.git.repository import Repository
    from tidegate.git.workspace import Checkout
    from tidegate.infra.apply import InfraPlan
    from tidegate.infra.terraform.workflow import RootApply
    from tidegate.orchestrate.databricks_deploy import DatabricksDeploy
    from tidegate.orchestrate.ship.targets import Shipped
    from tidegate.plan.plan import Plan
    from tidegate.plan.results import ApplyResult
    from tidegate.plan.session import Session
    from tidegate.project.config import ProjectConfig
    from tidegate.state.records import Pin


@dataclass(frozen=True)
class DeployRequest:
    project_dir: Path
    branch: str | None = None
    environment: str | None = None
    ref: str | None = None
    allow_destroy: bool = False
    """Let destructive infrastructure changes through (dropping a schema that holds tables...)."""
    workspace: Path | None = None
    """Where relative warehouse paths resolve, when not in `project_dir` (the controller deploys
    from its own working copy of the repository into the project's warehouses)."""
    checkout: Checkout | None = None
    """How the commit's files are read (default `project_files`; the controller keeps them)."""
    allow_unreviewed: bool = False
    """Apply a Terraform root's plan that no pull request reviewed (a first bootstrap); recorded.
    The controller never sets it."""


@dataclass(frozen=True)
class Deployment:
    environment: str
    branch: str | None
    commit: str
    author: str
    plan: Plan | None
    """None when the environment is pinned at this commit: nothing was planned."""
    result: ApplyResult | None
    gates: tuple[str, ...]
    """The environments whose versions this deployment's snapshots were checked against."""
    seconds: float
    infra: InfraPlan | None = None
    """The infrastructure plan applied first, when infra/ declares any."""
    allow_destroy: bool = False
    pinned: Pin | None = None
    """The pin that kept the environment where a rollback put it (nothing was deployed)."""
    terraform: tuple[RootApply, ...] = ()
    """What was done to each of the environment's Terraform roots, applied before infra/*.yml."""
    allow_unreviewed: bool = False
    dags: Shipped | None = None
    """Where the DAG files went after the models, when the environment has a DAG target."""
    databricks: DatabricksDeploy | None = None
    """What was done to the environment's Databricks repos and jobs, after the DAGs."""
    failed: DeployStepFailed | None = None
    """The step after the models that failed (the models stayed deployed)."""

    @property
    def built(self) -> list[str]:
        return self.result.built if self.result else []


def requested_ref(request: DeployRequest) -> str:
    """The ref a deployment request deploys: `--ref`, else the branch of `--branch`, else HEAD."""
    if request.branch is not None and request.environment is not None:
        raise ConfigError("give --branch or --env, not both")
    if request.branch is None and request.environment is None:
        raise ConfigError("say what to deploy: --branch BRANCH, or --env ENV [--ref REF]")
    return request.ref or request.branch or "HEAD"


def target_environment(request: DeployRequest, branches: Mapping[str, str]) -> str:
    """The environment a deployment request means: `--branch` maps through `branches:` (of the
    commit being deployed: what it says about itself is what Git holds)."""
    if request.branch is None:
        assert request.environment is not None, "checked by requested_ref"
        return request.environment
    environment = branches.get(request.branch)
    if environment is None:
        known = ", ".join(f"{b} -> {e}" for b, e in branches.items()) or "none"
        raise ConfigError(
            f"branch {request.branch!r} deploys no environment (branches: {known})",
            path="tidegate.yml",
            hint="map it under `branches:` in tidegate.yml, or use --env",
        )
    return environment


def deploy(
    request: DeployRequest,
    open_session: Callable[[Path, Path], AbstractContextManager[Session]],
    *,
    on_plan: Callable[[Plan], None] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Deployment:
    """Deploy under the environment's lock (plan and apply cannot be separated by another run).
    `open_session(files, workspace)` opens the project read from `files` whose warehouses
    resolve in `workspace` (the project directory); `progress` hears of each Terraform root."""
    from tidegate.git.repository import Repository
    from tidegate.git.workspace import project_files
    from tidegate.infra.apply import Target, apply_plan, declares_infra
    from tidegate.project.config import load_config

    started = time.perf_counter()
    repo = Repository(request.project_dir)
    wanted = requested_ref(request)
    ref = _branch_ref(repo, wanted)
    if request.branch is not None and not repo.exists(ref):
        # no commit to read `branches:` from: the working tree's says whether it is mapped at all
        target_environment(request, load_config(request.project_dir).branches)
    commit = repo.resolve(ref)
    info = repo.commit(commit)
    with (
        (request.checkout or project_files)(repo, commit) as files,
        open_session(files, request.workspace or request.project_dir) as session,
    ):
        environment = target_environment(request, session.config.branches)
        configured = environment  # as tidegate.yml names it (`dev`, not `dev_ada`)
        _require_on_branch(request, environment, commit, session.config)
        target_env = session.resolve(environment)
        environment = target_env.name
        gates = tuple(session.config.deploy.gates.get(environment, ()))
        state = session.state(target_env)
        pin = state.pin_of(environment)
        if pin is not None and pin.commit == commit:
            pinned = Deployment(
                environment, request.branch, commit, info.author, None, None, gates, 0.0, pinned=pin
            )
            session.record_run("deploy", target_env, deployment_record(pinned))
            return pinned

        infra: InfraPlan | None = None
        terraform: tuple[RootApply, ...] = ()
        apply_options = {
            "action": "deploy",
            "message": f"deploy {request.branch or wanted} @ {info.short_sha}",
        }

        def checked(plan: Plan) -> None:
            """Under the lock, once the gates pass: the Terraform roots, infra/*.yml, then the models."""
            nonlocal infra, terraform
            if on_plan is not None:
                on_plan(plan)
            for required in gates:
                missing = gate_gaps(plan.mapping, session.history_or_empty(required))
                if missing:
                    raise CheckFailed(
                        gate_refusal(plan.environment, required, missing),
                        hint=f"deploy this commit to {required} first",
                    )
            terraform = _apply_roots(session, environment, request, progress)
            apply_options["message"] += _terraform_note(terraform)
            if declares_infra(session.root):
                infra = apply_plan(
                    Target.of(session, target_env),
                    allow_destroy=request.allow_destroy,
                    allow_hint=f"review it (tidegate infra plan {environment}), then deploy again "
                    "with --allow-destroy",
                )
                if infra.destructive:  # the environment's history says what was let through
                    apply_options["message"] += f"; --allow-destroy: {_destroyed(infra)}"

        plan, result = session.plan_and_apply(
            target_env, git_commit=commit, on_plan=checked, apply_options=apply_options
        )
        if pin is not None:  # a new commit landed: the environment follows its branch again
            state.unpin(environment)
        deployment = Deployment(
            environment=environment,
            branch=request.branch,
            commit=commit,
            author=info.author,
            plan=plan,
            result=result,
            gates=gates,
            seconds=time.perf_counter() - started,
            infra=infra,
            allow_destroy=request.allow_destroy,
            terraform=terraform,
            allow_unreviewed=request.allow_unreviewed,
        )
        deployment = _after_models(session, deployment, files, repo, configured, request, progress)
        session.record_run("deploy", target_env, deployment_record(deployment))
    return deployment


def _after_models(
    session: Session,
    deployment: Deployment,
    files: Path,
    repo: Repository,
    configured: str,
    request: DeployRequest,
    progress: Callable[[str], None],
) -> Deployment:
    """The steps after the models switched, in order: the DAGs, then Databricks. A failure is
    recorded on the run (the models stay deployed) and raised as `DeployStepFailed`, naming the
    file and line of its cause; the steps after it do not run."""
    from tidegate.orchestrate.databricks_deploy import ship_databricks
    from tidegate.orchestrate.ship.targets import ship_dags

    environment, commit = deployment.environment, deployment.commit
    steps: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "dags",
            "DAGs",
            lambda: ship_dags(
                session.root,
                session.config.orchestration.airflow,
                configured,
                commit,
                base=request.workspace or request.project_dir,
                progress=progress,
            ),
        ),
        (
            "databricks",
            "Databricks",
            lambda: ship_databricks(
                session.config,
                files,
                repo,
                environment,
                commit,
                branch=request.branch,
                allow_destroy=request.allow_destroy,
                progress=progress,
            ),
        ),
    ]
    for name, title, step in steps:
        try:
            deployment = replace(deployment, **{name: step()})
        except TidegateError as error:
            failed = _step_failed(name, title, deployment, error)
            record = deployment_record(replace(deployment, failed=failed))
            session.record_run("deploy", environment, record, status="failed")
            raise failed from None
    return deployment


def _step_failed(name: str, title: str, deployment: Deployment, error: TidegateError) -> DeployStepFailed:
    """The error a deploy exits with when a step after the models failed: exit 1, saying that
    the models are deployed and what to do."""
    version = deployment.result.version if deployment.result else None
    at = f" at version {version}" if version is not None else f" at {deployment.commit[:10]}"
    return DeployStepFailed(
        name,
        error,
        f"the models of {deployment.environment} are deployed{at}, but its {title} step failed: {error.message}",
        hint=(f"{error.hint}; " if error.hint else "")
        + "deploying this commit again runs the step again (its models are a no-op then); "
        "if the cause is in the commit (a DAG that does not import), deploy the commit that fixes it",
    )


def _apply_roots(
    session: Session, environment: str, request: DeployRequest, progress: Callable[[str], None]
) -> tuple[RootApply, ...]:
    """Apply the environment's Terraform roots in the order tidegate.yml lists them, each with
    the plan reviewed for its files (kept in the state of its environment's warehouse)."""
    from tidegate.infra.terraform.workflow import Settings, apply_root, environment_roots

    roots = environment_roots(session.root, session.config, environment)
    if not roots:
        return ()
    settings = Settings.of(session.config.terraform, session.root)
    state = session.state(environment)
    return tuple(
        apply_root(
            session.root,
            files,
            settings,
            state.reviewed_plan(files.root.path, files.key),
            allow_unreviewed=request.allow_unreviewed,
            allow_destroy=request.allow_destroy,
            progress=progress,
        )
        for files in roots
    )


def _terraform_note(applied: tuple[RootApply, ...]) -> str:
    """What the environment's history says of the roots: what went through unreviewed, and
    what was destroyed."""
    note = ""
    unreviewed = [done.root for done in applied if done.outcome == "applied unreviewed"]
    if unreviewed:
        note += f"; --allow-unreviewed: {', '.join(unreviewed)}"
    destroyed = [f"{address} ({done.root})" for done in applied for address in done.destroyed]
    if destroyed:
        note += f"; terraform destroyed: {', '.join(destroyed)}"
    return note


def _branch_ref(repo: Repository, ref: str) -> str:
    """A branch name may exist only as its remote-tracking branch in a CI checkout."""
    if repo.exists(ref) or not repo.exists(f"origin/{ref}"):
        return ref
    return f"origin/{ref}"


def _require_on_branch(request: DeployRequest, environment: str, commit: str, config: ProjectConfig) -> None:
    """`--env ENV --ref REF` into an environment a branch maps to: REF must be on that branch."""
    binding = binding_of(config, environment)
    if request.branch is not None or binding is None or binding.branch is None:
        return
    reason = off_branch(request.project_dir, binding.branch, commit)
    if reason is not None:
        raise BindingError(
            f"{binding.rule}: {reason}",
            hint=f"merge it into {binding.branch}, then run `{binding.command}`",
        )


def deployment_record(deployment: Deployment) -> dict[str, Any]:
    """What `runs` keeps of a deployment, and what `--json` prints."""
    return {
        "environment": deployment.environment,
        "branch": deployment.branch,
        "commit": deployment.commit,
        "author": deployment.author,
        "version": deployment.result.version if deployment.result else None,
        "pinned": deployment.pinned.to_dict() if deployment.pinned else None,
        "built": deployment.built,
        "gates": list(deployment.gates),
        "terraform": [done.to_dict() for done in deployment.terraform],
        "infra": _infra_record(deployment.infra),
        "allow_destroy": deployment.allow_destroy,
        "allow_unreviewed": deployment.allow_unreviewed,
        "seconds": round(deployment.seconds, 3),
        "dags": deployment.dags.to_dict() if deployment.dags else None,
        "databricks": deployment.databricks.to_dict() if deployment.databricks else None,
        "error": deployment.failed.to_dict() if deployment.failed else None,
        "summary": deployment.plan.summary() if deployment.plan else None,
        "plan": deployment.plan.to_dict() if deployment.plan else None,
    }


def _infra_record(plan: InfraPlan | None) -> dict[str, Any] | None:
    """The counts of the infrastructure apply, each change, and what it destroyed."""
    if plan is None:
        return None
    return {
        **plan.counts,
        "changes": [change.to_dict() for change in plan.changes],
        "destroyed": [change.resource.label for change in plan.destructive],
    }


def _destroyed(plan: InfraPlan) -> str:
    return "; ".join(f"{change.resource.label} ({change.destructive})" for change in plan.destructive)
