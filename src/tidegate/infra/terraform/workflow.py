"""Plan a root for review, apply what was reviewed, and look for drift.

Each runs Terraform in a private copy of the root (`private_copy`) with its own data directory,
so runs of the same root in one workspace never share files; the state is the root's backend's
(remote, with Terraform's own locking).

The rule of `apply_root`, what a deployment applies:
1. the plan reviewed for exactly these files (`ReviewedPlan`, found by the content key), applied
   as saved: Terraform refuses it, changing nothing, when its state changed since (stale);
2. a stale plan is planned again, and the new plan applied only when each of its changes is one
   the reviewed plan made (equal address, actions and planned values, sensitive ones compared as
   the reviewer saw them, `(sensitive)`): the same changes, or the rest of them after an apply
   that stopped part-way;
3. no reviewed plan, or a new plan that differs: refused with exit 1, naming the root and the
   addresses, unless `allow_unreviewed` (recorded by the deployment, for a first bootstrap).
A plan with no changes needs no review.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal

from tidegate.errors import CheckFailed, TerraformError
from tidegate.infra.terraform.binary import Diagnostic, StalePlan, Terraform, find_binary
from tidegate.infra.terraform.plans import (
    Drifted,
    TerraformChange,
    TerraformPlan,
    drifted,
    plan_from_json,
    redact_plan,
)
from tidegate.infra.terraform.roots import RootFiles, private_copy, require_remote_state, root_files
from tidegate.project.config import ProjectConfig
from tidegate.project.durations import parse_duration
from tidegate.project.shipping import TerraformConfig, TerraformRoot
from tidegate.state.records import ReviewedPlan, now

PLAN_FILE = "tidegate.tfplan"


@dataclass(frozen=True)
class Settings:
    """What every Terraform run of a project shares, from `terraform:` in tidegate.yml."""

    executable: str
    lock_timeout: str
    allow_destroy: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: TerraformConfig, project_dir: Path) -> Settings:
        return cls(
            executable=find_binary(config.binary, project_dir),
            lock_timeout=f"{parse_duration(config.lock_timeout)}s",
            allow_destroy=tuple(config.allow_destroy),
        )

    def allows(self, change: TerraformChange) -> bool:
        """Whether `terraform: allow_destroy:` lets this destructive change through."""
        return any(fnmatch.fnmatchcase(change.address, pattern) for pattern in self.allow_destroy)


@dataclass(frozen=True)
class RootPlan:
    """A root planned for review: what `tidegate ci` shows and keeps."""

    files: RootFiles
    plan: TerraformPlan
    plan_file: bytes
    plan_json: str
    """The plan's JSON, sensitive values redacted."""
    blocked: tuple[TerraformChange, ...]
    """Destructive changes neither `--allow-destroy` nor `allow_destroy:` allows."""
    unformatted: tuple[str, ...] = ()
    """Files (relative to the project) `terraform fmt` would rewrite."""
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def root(self) -> TerraformRoot:
        return self.files.root

    def reviewed(self, source: str, git_commit: str | None, *, allowed: bool) -> ReviewedPlan:
        return ReviewedPlan(
            root=self.root.path,
            content_key=self.files.key,
            environment=self.root.environment,
            plan=self.plan_file,
            plan_json=self.plan_json,
            allowed=allowed or not self.blocked,
            source=source,
            git_commit=git_commit,
            created_at=now(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root.path,
            "environment": self.root.environment,
            "content_key": self.files.key,
            **self.plan.to_dict(),
            "blocked": [change.address for change in self.blocked],
            "unformatted": list(self.unformatted),
            "warnings": [d.message for d in self.warnings],
        }


Outcome = Literal["applied", "applied again", "no changes", "applied unreviewed"]


@dataclass(frozen=True)
class RootApply:
    """What a deployment did to one root."""

    root: str
    outcome: Outcome
    """`applied`: the reviewed plan as saved; `applied again`: planned again after the reviewed
    plan went stale, with the same changes; `applied unreviewed`: through --allow-unreviewed."""
    plan: TerraformPlan
    reviewed: ReviewedPlan | None = None
    destroyed: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "outcome": self.outcome,
            **self.plan.to_dict(),
            "reviewed": self.reviewed.to_dict() if self.reviewed else None,
            "destroyed": list(self.destroyed),
        }


# the roots of a change, of an environment ---------------------------------------------------


def touched_roots(project: Path, config: TerraformConfig, changed: Sequence[str]) -> list[RootFiles]:
    """The roots (with their files at the checkout `project`) that a change to these
    project-relative paths reaches: a file of the root, of a local module it calls, or of its
    variables files; a root whose folder is gone at the checkout is left out."""
    found = []
    for root in config.roots:
        if (project / root.path).is_dir() and (files := root_files(project, root)).touched_by(changed):
            found.append(files)
    return found


def roots_of(config: ProjectConfig, environment: str) -> list[TerraformRoot]:
    """The roots an environment's deploy applies, in the order tidegate.yml lists them; a
    concrete name counts (`dev_alice`: the roots of `dev` with `per_user`)."""
    return [
        root
        for root in config.terraform.roots
        if environment in (root.environment, config.resolve_environment(root.environment))
    ]


def environment_roots(project: Path, config: ProjectConfig, environment: str) -> list[RootFiles]:
    """The files of `roots_of(config, environment)` at the checkout `project`."""
    return [root_files(project, root) for root in roots_of(config, environment)]


# plan, apply, drift ---------------------------------------------------------------------------


def plan_root(
    project: Path, files: RootFiles, settings: Settings, *, allow_destroy: bool = False
) -> RootPlan:
    """init, validate, fmt -check and plan one root of the checkout `project`."""
    with _terraform(project, files, settings) as terraform:
        terraform.init()
        warnings = terraform.validate()
        unformatted = [f"{files.root.path}/{name}" for name in terraform.unformatted()]
        document, plan_file = _plan(terraform)
    plan = plan_from_json(document, files.root.path)
    blocked = () if allow_destroy else tuple(c for c in plan.destructive if not settings.allows(c))
    return RootPlan(
        files=files,
        plan=plan,
        plan_file=plan_file,
        plan_json=json.dumps(redact_plan(document), sort_keys=True),
        blocked=blocked,
        unformatted=tuple(unformatted),
        warnings=tuple(d for d in warnings if d.severity != "error"),
    )


def apply_root(
    project: Path,
    files: RootFiles,
    settings: Settings,
    reviewed: ReviewedPlan | None,
    *,
    allow_unreviewed: bool = False,
    allow_destroy: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> RootApply:
    """Apply to one root what was reviewed for its files (the module's rule)."""
    name = files.root.path
    if reviewed is not None and not reviewed.allowed and not allow_destroy:
        raise CheckFailed(
            f"{name}: the reviewed plan ({reviewed.source}) destroys what CI did not allow",
            path=name,
            hint="allow it in review (`tidegate ci --allow-destroy`, or `terraform: allow_destroy:`), "
            "or deploy with --allow-destroy",
        )
    with _terraform(project, files, settings) as terraform:
        terraform.init()
        saved = terraform.folder / PLAN_FILE
        reviewed_plan: TerraformPlan | None = None
        if reviewed is not None:
            saved.write_bytes(reviewed.plan)
            # its JSON as kept, not `terraform show`: Terraform 1.0 refuses to show a stale plan
            reviewed_plan = plan_from_json(_json(reviewed), name)
            if reviewed_plan.changes:
                try:
                    progress(f"{name}: applying the plan reviewed in {reviewed.source}")
                    terraform.apply(saved)
                    return RootApply(name, "applied", reviewed_plan, reviewed, _destroyed(reviewed_plan))
                except StalePlan:
                    progress(f"{name}: the reviewed plan is stale, planning again")
        document, _ = _plan(terraform)
        plan = plan_from_json(document, name)
        if not plan.changes:
            return RootApply(name, "no changes", plan, reviewed)
        if reviewed_plan is not None and _within(plan, reviewed_plan):
            terraform.apply(terraform.folder / PLAN_FILE)
            return RootApply(name, "applied again", plan, reviewed, _destroyed(plan))
        if not allow_unreviewed:
            raise _unreviewed(name, plan, reviewed, reviewed_plan)
        blocked = [c for c in plan.destructive if not (allow_destroy or settings.allows(c))]
        if blocked:
            raise CheckFailed(
                f"{name}: the unreviewed plan destroys {', '.join(c.address for c in blocked)}",
                path=name,
                hint="deploy with --allow-destroy as well, if that is meant",
            )
        progress(f"{name}: applying an unreviewed plan (--allow-unreviewed)")
        terraform.apply(terraform.folder / PLAN_FILE)
        return RootApply(name, "applied unreviewed", plan, None, _destroyed(plan))


def drift_root(project: Path, files: RootFiles, settings: Settings) -> list[Drifted]:
    """What changed outside Terraform in one root's resources: a refresh-only plan's drift."""
    with _terraform(project, files, settings) as terraform:
        terraform.init()
        changed = terraform.plan(terraform.folder / PLAN_FILE, refresh_only=True)
        if not changed:
            return []
        return drifted(terraform.show(terraform.folder / PLAN_FILE))


@contextmanager
def _terraform(project: Path, files: RootFiles, settings: Settings) -> Iterator[Terraform]:
    require_remote_state(project, files)
    with private_copy(project, files) as folder, TemporaryDirectory(prefix="tidegate-tfdata-") as data:
        yield Terraform(
            settings.executable,
            folder,
            root=files.root.path,
            data_dir=Path(data),
            lock_timeout=settings.lock_timeout,
            var_files=[*map(Path, files.root.var_files), *_variables_file(folder, files.root)],
        )


def _variables_file(folder: Path, root: TerraformRoot) -> list[Path]:
    """`vars:` of the root as a variables file next to it (JSON, so lists and maps work),
    given after `var_files:`, so a value in tidegate.yml wins over the same one in a file."""
    if not root.vars:
        return []
    path = folder / "tidegate.tfvars.json"
    path.write_text(json.dumps(root.vars))
    return [path]


def _plan(terraform: Terraform) -> tuple[dict[str, Any], bytes]:
    """Plan into the private copy; the plan's JSON and its file."""
    saved = terraform.folder / PLAN_FILE
    terraform.plan(saved)
    return terraform.show(saved), saved.read_bytes()


def _json(reviewed: ReviewedPlan) -> Any:
    try:
        return json.loads(reviewed.plan_json)
    except json.JSONDecodeError as error:
        raise TerraformError(
            f"{reviewed.root}: the plan reviewed in {reviewed.source} is kept damaged ({error.msg})",
            path=reviewed.root,
            hint="review the change again (`tidegate ci`)",
        ) from None


def _within(plan: TerraformPlan, reviewed: TerraformPlan) -> bool:
    digests = {change.digest for change in reviewed.changes}
    return all(change.digest in digests for change in plan.changes)


def _destroyed(plan: TerraformPlan) -> tuple[str, ...]:
    return tuple(change.address for change in plan.destructive)


def _unreviewed(
    name: str, plan: TerraformPlan, reviewed: ReviewedPlan | None, reviewed_plan: TerraformPlan | None
) -> CheckFailed:
    """The refusal to apply changes nobody reviewed, naming them."""
    if reviewed is None or reviewed_plan is None:
        why, changes = "no plan was reviewed for these files", plan.changes
    elif not reviewed_plan.changes:
        why, changes = (
            f"the plan reviewed in {reviewed.source} changed nothing, planning now changes",
            plan.changes,
        )
    else:
        why = (
            f"the plan reviewed in {reviewed.source} went stale, and planning again makes changes it did not"
        )
        digests = {change.digest for change in reviewed_plan.changes}
        changes = tuple(change for change in plan.changes if change.digest not in digests)
    addresses = ", ".join(f"{c.address} ({c.action})" for c in changes)
    return CheckFailed(
        f"{name}: {why}: {addresses}",
        path=name,
        hint="open a pull request so `tidegate ci` reviews the plan, or deploy with --allow-unreviewed "
        "(recorded) to bootstrap",
    )
