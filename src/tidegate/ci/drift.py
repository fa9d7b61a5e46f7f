"""Drift of an environment against its recorded version, and healing it (the controller's
`drift` checks and `self_heal`).

Detection is the warehouse's (`tidegate.state.drift`: views, snapshots, schemas), when the
project declares `infra/`, the infrastructure's (`tidegate infra drift`), and for the
environment's Terraform roots, Terraform's (a refresh-only plan of each root): all against what
the environment's current version recorded, that is the files of the version's commit, not a
working tree that may hold changes not deployed yet; and the Databricks jobs tidegate manages for
the environment, against their files at the commit each was deployed from.

Healing puts back what the version says, and only that: views are created again over their
snapshots (no data copied, one transaction, no new version: the environment is at its version
again, and the state's `runs` keep what was healed); a missing snapshot is built again from the
version's commit, into the relation the version records; managed infrastructure is applied
again without any destructive change. What cannot be healed is reported with why. Terraform
drift is only reported: healing never applies Terraform (a root changes through a reviewed plan
and a deployment, never behind a reviewer's back).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import GitError, TidegateError
from tidegate.state.drift import Drift, DriftKind, restore_views, warehouse_drift

if TYPE_CHECKING:
    from tidegate.infra.apply import Target
    from tidegate.infra.diff import Change
    from tidegate.infra.terraform.plans import Drifted
    from tidegate.plan.session import EnvironmentName, Session
    from tidegate.project.environments import Environment
    from tidegate.state.records import EnvironmentVersion

__all__ = ["Drift", "DriftKind", "HealReport", "NotHealed", "detect", "heal"]


@dataclass(frozen=True)
class NotHealed:
    """A drift healing left as it is, and why."""

    object: str
    kind: DriftKind
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "kind": self.kind.value, "reason": self.reason}


@dataclass(frozen=True)
class HealReport:
    """What healing an environment did: each list names the objects as `Drift` does."""

    environment: str
    version: int
    """The version the environment was healed back to (healing writes no new version)."""
    restored: tuple[str, ...] = ()
    """Schemas and views created again over their snapshots."""
    rebuilt: tuple[str, ...] = ()
    """Snapshots built again from the version's commit."""
    reapplied: tuple[str, ...] = ()
    """Infrastructure resources applied again."""
    not_healed: tuple[NotHealed, ...] = ()

    @property
    def healed(self) -> bool:
        """Whether everything found was healed."""
        return not self.not_healed

    @property
    def changed(self) -> bool:
        """Whether healing changed anything in the warehouse."""
        return bool(self.restored or self.rebuilt or self.reapplied)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "version": self.version,
            "healed": self.healed,
            "restored": list(self.restored),
            "rebuilt": list(self.rebuilt),
            "reapplied": list(self.reapplied),
            "not_healed": [item.to_dict() for item in self.not_healed],
        }


def detect(
    session: Session, environment: EnvironmentName, *, terraform: bool = True, commits: Path | None = None
) -> list[Drift]:
    """Every drift of the environment's warehouse from its current version; with `terraform`,
    its Terraform roots' drift too (a refresh-only plan per root, seconds each). `commits`: a
    repository that has the version's commit (see `recorded_files`)."""
    resolved = session.resolve(environment)
    version = session.current(resolved)
    found = warehouse_drift(session.engine(resolved), version)
    with recorded_files(session, version, commits) as files:
        found += infra_drift(session, resolved, files)
        if terraform:
            found += terraform_drift(session, resolved, files)
            found += databricks_drift(session, resolved, files, commits)
    return found


@contextmanager
def recorded_files(
    session: Session, version: EnvironmentVersion, commits: Path | None = None
) -> Iterator[Path | None]:
    """The project's files at the version's commit, read from `commits` (a project directory in
    a repository that has every deployed commit: the controller's working copy, where the
    project directory it is given may be a clone that is never fetched) or else the project's
    repository; None when the version has no commit (built from a working tree with changes)
    or neither repository has it."""
    from tidegate.git.repository import Repository
    from tidegate.git.workspace import project_files

    if version.git_commit is not None:
        for place in [*([commits] if commits is not None else []), session.root]:
            try:
                repo = Repository(place)
                commit = repo.resolve(version.git_commit)
            except GitError:
                continue
            with project_files(repo, commit) as files:
                yield files
            return
    yield None


def infra_target(session: Session, environment: Environment, files: Path | None) -> Target | None:
    """The environment's infrastructure as the files of its version declare it (the project's
    own files when the version has no commit); None when they declare none."""
    from tidegate.infra.apply import Target, declares_infra

    root = files or session.root
    if not declares_infra(root):
        return None
    return replace(Target.of(session, environment), root=root)


def infra_drift(session: Session, environment: Environment, files: Path | None) -> list[Drift]:
    """`tidegate infra drift` as `Drift` values: managed resources that differ from their
    declaration, and grants or memberships made by hand on what tidegate manages."""
    from tidegate.infra.apply import drift

    target = infra_target(session, environment, files)
    if target is None:
        return []
    found = drift(target)
    name = environment.name
    return [
        *(Drift(name, change.resource.label, _changed(change), DriftKind.INFRA) for change in found.changed),
        *(
            Drift(name, item.label, "made by hand on what tidegate manages", DriftKind.INFRA)
            for item in found.unmanaged
        ),
    ]


def terraform_drift(session: Session, environment: Environment, files: Path | None) -> list[Drift]:
    """What a refresh-only plan of each of the environment's Terraform roots (as the files of
    its version declare them) finds changed outside Terraform, one `Drift` per address. A root
    that cannot be checked (Terraform missing, a state that cannot be read) is one `Drift`
    saying why, so it neither hides the other findings nor passes for clean."""
    from tidegate.infra.terraform.roots import root_files
    from tidegate.infra.terraform.workflow import Settings, drift_root, roots_of
    from tidegate.project.config import load_config

    project = files or session.root
    config = load_config(project) if files is not None else session.config
    roots = roots_of(config, environment.name)
    found: list[Drift] = []
    for root in roots:
        try:
            drifted = drift_root(project, root_files(project, root), Settings.of(config.terraform, project))
        except TidegateError as error:
            why = f"cannot check Terraform drift of root {root.path}: {error.message}"
            found.append(Drift(environment.name, root.path, why, DriftKind.TERRAFORM))
            continue
        found += [_terraform_drift(environment.name, root.path, item) for item in drifted]
    return found


def databricks_drift(
    session: Session, environment: Environment, files: Path | None, commits: Path | None = None
) -> list[Drift]:
    """`tidegate databricks drift` as `Drift` values, when the environment's deploy ships jobs. A
    workspace that cannot be read is one `Drift` saying why, as for Terraform."""
    from tidegate.git.repository import Repository
    from tidegate.orchestrate.databricks_deploy import jobs_drift, ships_jobs, workspace_client
    from tidegate.project.config import load_config

    config = load_config(files) if files is not None else session.config
    name = environment.name
    if not ships_jobs(config, files or session.root, name):
        return []
    try:
        found = jobs_drift(workspace_client(), config, Repository(commits or session.root), name)
    except TidegateError as error:
        return [
            Drift(
                name,
                "databricks jobs",
                f"cannot check Databricks drift: {error.message}",
                DriftKind.DATABRICKS,
            )
        ]
    return [
        Drift(
            name,
            f"{job.name} (job {job.job_id})",
            f"changed by hand: {', '.join(job.differences)}",
            DriftKind.DATABRICKS,
        )
        for job in found
    ]


def _terraform_drift(environment: str, root: str, item: Drifted) -> Drift:
    changed = ", ".join(item.attributes)
    what = "deleted outside Terraform" if item.deleted else f"changed outside Terraform: {changed}"
    return Drift(environment, item.address, f"{what} (root {root})", DriftKind.TERRAFORM)


def _changed(change: Change) -> str:
    if change.action == "create":
        return "missing: infra/*.yml declares it"
    differences = "; ".join(
        f"{key} is {actual!r}, declared {declared!r}" for key, actual, declared in change.differences
    )
    return f"differs from infra/*.yml: {differences}"


def heal(session: Session, environment: EnvironmentName, *, commits: Path | None = None) -> HealReport:
    """Bring the environment's warehouse back to its current version, under its lock: snapshots
    first (the views read them), then schemas and views, then the infrastructure. Terraform
    roots are left as they are (their drift stays reported). The state's `runs` keep what a
    heal that found drift did. `commits`: as for `detect`."""
    resolved = session.resolve(environment)
    with session.lock(resolved):
        version = session.current(resolved)
        engine = session.engine(resolved)
        found = warehouse_drift(engine, version)
        with recorded_files(session, version, commits) as files:
            rebuilt, lost = _rebuild(session, resolved, version, files, found)
            restored, refused = _restore(session, resolved, version, found)
            reapplied, kept = _reapply(session, resolved, files)
        report = HealReport(
            resolved.name,
            version.version,
            tuple(restored),
            tuple(rebuilt),
            tuple(reapplied),
            tuple([*lost, *refused, *kept]),
        )
        if report.changed or not report.healed:
            session.record_run("heal", resolved, report.to_dict())
    return report


def _rebuild(
    session: Session,
    environment: Environment,
    version: EnvironmentVersion,
    files: Path | None,
    found: list[Drift],
) -> tuple[list[str], list[NotHealed]]:
    """Build the missing snapshots again from the project at the version's commit, parents
    first, each into the relation the version records."""
    missing = {item.model: item for item in found if item.kind is DriftKind.SNAPSHOT and item.model}
    if not missing:
        return [], []
    if files is None:
        why = (
            "the version records no commit to build it from"
            if version.git_commit is None
            else f"the project's repository does not have its commit {version.git_commit[:10]}"
        )
        return [], [NotHealed(item.object, item.kind, why) for item in missing.values()]
    from tidegate.graph.dag import Graph
    from tidegate.graph.fingerprint import fingerprint_project
    from tidegate.plan.planner import Planner
    from tidegate.project.loader import load_project

    try:
        project = load_project(files, variables=session.variables)
        graph = Graph(project.models)
        fingerprints = fingerprint_project(graph)
    except TidegateError as error:
        why = f"the project at its commit does not load: {error.message}"
        return [], [NotHealed(item.object, item.kind, why) for item in missing.values()]
    planner = Planner(project, graph, fingerprints, session.state(environment), session.engine(environment))
    applier = session.applier(environment)
    rebuilt, lost = [], []
    for name in [*(n for n in graph.order if n in missing), *sorted(set(missing) - set(graph.order))]:
        item, record = missing[name], version.models[name]
        fingerprint = fingerprints.get(name)
        if fingerprint is None or fingerprint.data != record.fingerprint:
            lost.append(
                NotHealed(item.object, item.kind, f"the project at its commit does not build {name} so")
            )
            continue
        try:
            applier.rebuild(planner.rebuild(name, record, version.models), record)
        except TidegateError as error:
            lost.append(NotHealed(item.object, item.kind, error.message))
            continue
        rebuilt.append(item.object)
    return rebuilt, lost


def _restore(
    session: Session, environment: Environment, version: EnvironmentVersion, found: list[Drift]
) -> tuple[list[str], list[NotHealed]]:
    views = [item for item in found if item.kind in (DriftKind.VIEW, DriftKind.SCHEMA)]
    if not views:
        return [], []
    try:
        restored, refused = restore_views(session.engine(environment), version, views)
    except TidegateError as error:  # the transaction rolled back: nothing was restored
        return [], [NotHealed(item.object, item.kind, error.message) for item in views]
    return restored, [NotHealed(name, DriftKind.VIEW, why) for name, why in refused.items()]


def _reapply(
    session: Session, environment: Environment, files: Path | None
) -> tuple[list[str], list[NotHealed]]:
    """Apply the managed infrastructure again, never a destructive change; what was made by
    hand on it stays (healing does not revoke what tidegate does not manage)."""
    from tidegate.infra.apply import reapply

    found = infra_drift(session, environment, files)
    target = infra_target(session, environment, files)
    if not found or target is None:
        return [], []
    try:
        plan, destructive = reapply(target)
    except TidegateError as error:
        return [], [NotHealed(item.object, item.kind, error.message) for item in found]
    left = {change.resource.label: change.destructive or "" for change in destructive}
    kept = [
        NotHealed(
            label,
            DriftKind.INFRA,
            f"destructive ({why}): review it with `tidegate infra plan {environment.name}`",
        )
        for label, why in left.items()
    ]
    applied = {change.resource.label for change in plan.changes}
    kept += [
        NotHealed(item.object, item.kind, "made by hand: healing never revokes what tidegate does not manage")
        for item in found
        if item.object not in applied and item.object not in left
    ]
    return sorted(applied), kept
