"""`tidegate deploy`: bring the environment a branch maps to up to a commit.

A deployment plans the environment at the commit and applies it. Every snapshot already built
for the same fingerprint is reused, wherever it was built: a pull request merged to main, then
main merged to production, builds nothing new, so what was tested is what ships. Gates
(`deploy: {gates: {prod: [staging]}}`) refuse a deployment whose snapshots the required
environments never had. Each deployment is recorded with its commit, author, time and plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from tidegate.git.repository import Repository
    from tidegate.infra.apply import InfraPlan
    from tidegate.plan.plan import Plan
    from tidegate.plan.results import ApplyResult
    from tidegate.plan.session import Session
    from tidegate.state.records import EnvironmentVersion


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


@dataclass(frozen=True)
class Deployment:
    environment: str
    branch: str | None
    commit: str
    author: str
    plan: Plan
    result: ApplyResult | None
    gates: tuple[str, ...]
    """The environments whose versions this deployment's snapshots were checked against."""
    seconds: float
    infra: InfraPlan | None = None
    """The infrastructure plan applied first, when infra/ declares any."""
    allow_destroy: bool = False

    @property
    def built(self) -> list[str]:
        return self.result.built if self.result else []


def target(request: DeployRequest, branches: Mapping[str, str]) -> tuple[str, str]:
    """(environment, ref) a deployment request means: `--branch` maps through `branches:`."""
    if request.branch is not None:
        if request.environment is not None:
            raise ConfigError("give --branch or --env, not both")
        environment = branches.get(request.branch)
        if environment is None:
            known = ", ".join(f"{b} -> {e}" for b, e in branches.items()) or "none"
            raise ConfigError(
                f"branch {request.branch!r} deploys no environment (branches: {known})",
                path="tidegate.yml",
                hint="map it under `branches:` in tidegate.yml, or use --env",
            )
        return environment, request.ref or request.branch
    if request.environment is None:
        raise ConfigError("say what to deploy: --branch BRANCH, or --env ENV [--ref REF]")
    return request.environment, request.ref or "HEAD"


def deploy(
    request: DeployRequest,
    open_session: Callable[[Path, Path], AbstractContextManager[Session]],
    *,
    on_plan: Callable[[Plan], None] | None = None,
) -> Deployment:
    """Deploy under the environment's lock (plan and apply cannot be separated by another run).
    `open_session(files, workspace)` opens the project read from `files` whose warehouses
    resolve in `workspace` (the project directory)."""
    from tidegate.git.repository import Repository
    from tidegate.git.workspace import project_files
    from tidegate.infra.apply import Target, apply_plan, declares_infra
    from tidegate.project.config import load_config

    started = time.perf_counter()
    repo = Repository(request.project_dir)
    environment, ref = target(request, load_config(request.project_dir).branches)
    commit = repo.resolve(_branch_ref(repo, ref))
    info = repo.commit(commit)
    with (
        project_files(repo, commit) as files,
        open_session(files, request.workspace or request.project_dir) as session,
    ):
        target_env = session.resolve(environment)
        environment = target_env.name
        gates = tuple(session.config.deploy.gates.get(environment, ()))

        infra: InfraPlan | None = None
        apply_options = {"action": "deploy", "message": f"deploy {request.branch or ref} @ {info.short_sha}"}

        def checked(plan: Plan) -> None:
            """Under the lock, once the gates pass: the infrastructure first, then the models."""
            nonlocal infra
            if on_plan is not None:
                on_plan(plan)
            for required in gates:
                _check_gate(plan, required, session.history_or_empty(required))
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
        )
        session.record_run("deploy", target_env, deployment_record(deployment))
    return deployment


def _branch_ref(repo: Repository, ref: str) -> str:
    """A branch name may exist only as its remote-tracking branch in a CI checkout."""
    if repo.exists(ref) or not repo.exists(f"origin/{ref}"):
        return ref
    return f"origin/{ref}"


def _check_gate(plan: Plan, required: str, history: list[EnvironmentVersion]) -> None:
    """Every model's snapshot must be one `required` had in some version: what ships is what
    ran there. A deployment that builds nothing new passes by construction."""
    wanted = {name: entry.fingerprint for name, entry in plan.mapping.items() if entry.physical}
    best: list[str] | None = None
    for version in history:
        had = {name: record.fingerprint for name, record in version.models.items() if record.physical}
        differing = sorted(name for name, fingerprint in wanted.items() if had.get(name) != fingerprint)
        if not differing:
            return
        if best is None or len(differing) < len(best):
            best = differing
    missing = best if best is not None else sorted(wanted)
    raise CheckFailed(
        f"{plan.environment} only takes what passed {required}, and {len(missing)} model(s) never ran "
        f"there as this commit has them: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}",
        hint=f"deploy this commit to {required} first",
    )


def deployment_record(deployment: Deployment) -> dict[str, Any]:
    """What `runs` keeps of a deployment, and what `--json` prints."""
    return {
        "environment": deployment.environment,
        "branch": deployment.branch,
        "commit": deployment.commit,
        "author": deployment.author,
        "version": deployment.result.version if deployment.result else None,
        "built": deployment.built,
        "gates": list(deployment.gates),
        "infra": _infra_record(deployment.infra),
        "allow_destroy": deployment.allow_destroy,
        "seconds": round(deployment.seconds, 3),
        "summary": deployment.plan.summary(),
        "plan": deployment.plan.to_dict(),
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
