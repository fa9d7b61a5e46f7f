"""Drift of an environment against its recorded version, and healing it (the controller's
`drift` checks and `self_heal`).

Detection is the warehouse's (`tidegate.state.drift`: views, snapshots, schemas) and, when the
project declares `infra/`, the infrastructure's (`tidegate infra drift`), both against what the
environment's current version recorded: the infrastructure is compared with the files of the
version's commit, not with a working tree that may hold changes not deployed yet.

Healing puts back what the version says, and only that: views are created again over their
snapshots (no data copied, one transaction, no new version: the environment is at its version
again, and the state's `runs` keep what was healed); a missing snapshot is built again from the
version's commit, into the relation the version records; managed infrastructure is applied
again without any destructive change. What cannot be healed is reported with why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.errors import GitError
from tidegate.state.drift import Drift, DriftKind, warehouse_drift

if TYPE_CHECKING:
    from tidegate.infra.apply import Target
    from tidegate.infra.diff import Change
    from tidegate.plan.session import EnvironmentName, Session
    from tidegate.project.environments import Environment
    from tidegate.state.records import EnvironmentVersion

__all__ = ["Drift", "DriftKind", "detect"]


def detect(session: Session, environment: EnvironmentName) -> list[Drift]:
    """Every drift of the environment's warehouse from its current version."""
    resolved = session.resolve(environment)
    version = session.current(resolved)
    found = warehouse_drift(session.engine(resolved), version)
    with recorded_files(session, version) as files:
        found += infra_drift(session, resolved, files)
    return found


@contextmanager
def recorded_files(session: Session, version: EnvironmentVersion) -> Iterator[Path | None]:
    """The project's files at the version's commit; None when the version has no commit (built
    from a working tree with changes) or the project's repository does not have it."""
    from tidegate.git.repository import Repository
    from tidegate.git.workspace import project_files

    if version.git_commit is None:
        yield None
        return
    try:
        repo = Repository(session.root)
        commit = repo.resolve(version.git_commit)
    except GitError:
        yield None
        return
    with project_files(repo, commit) as files:
        yield files


def infra_target(session: Session, environment: Environment, files: Path | None) -> Target | None:
    """The environment's infrastructure as the files of its version declare it (the project's
    own files when the version has no commit); None when they declare none."""
    from tidegate.infra.apply import Target, declares_infra

    root = files or session.root
    if not declares_infra(root):
        return None
    target = Target.of(session, environment)
    return Target(root, target.environment, target.engine, target.state, target.as_deployer)


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


def _changed(change: Change) -> str:
    if change.action == "create":
        return "missing: infra/*.yml declares it"
    differences = "; ".join(
        f"{key} is {actual!r}, declared {declared!r}" for key, actual, declared in change.differences
    )
    return f"differs from infra/*.yml: {differences}"
