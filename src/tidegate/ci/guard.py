"""Environments only Git can change (DESIGN section 4, "Git-enforced environments").

An environment that `branches:` maps a branch to, and every environment of a `deploy: gates:`
chain, is bound: `plan --auto-apply`, `apply` and `promote` take it only to a clean commit
reachable from its branch, and only with snapshots its gates' environments ran, exactly what
`tidegate deploy` would put there. Anything else is refused (exit 2) with the command that does
it properly. `--break-glass REASON` lets a person past in an emergency, and the new version
records it. Every other environment (dev, dev_<user>, pr_N) is free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import BindingError, ConfigError, GitError
from tidegate.state.records import EnvironmentVersion

if TYPE_CHECKING:
    from tidegate.project.config import ProjectConfig
    from tidegate.state.records import SnapshotRecord

Histories = Callable[[str], list[EnvironmentVersion]]
"""Every version of an environment by name (none if it never existed)."""


@dataclass(frozen=True)
class Binding:
    """What ties an environment to Git: the branch that deploys it and the environments whose
    snapshots it only takes (`deploy: gates:`)."""

    environment: str
    branch: str | None
    """None for an environment bound only by a gate chain: any clean commit may deploy it."""
    gates: tuple[str, ...]

    @property
    def command(self) -> str:
        """The command that changes the environment properly."""
        if self.branch is not None:
            return f"tidegate deploy --branch {self.branch}"
        return f"tidegate deploy --env {self.environment} --ref COMMIT"

    @property
    def rule(self) -> str:
        if self.branch is not None:
            return f"{self.environment} changes only from Git (branches: {self.branch} -> {self.environment})"
        return f"{self.environment} changes only from Git (it is in the deploy gates of tidegate.yml)"

    def hint(self) -> str:
        merge = (
            f"commit the change and merge it into {self.branch}, then run" if self.branch else "commit, run"
        )
        return f'{merge} `{self.command}`; in an emergency, add --break-glass "REASON" (it is recorded)'


def binding_of(config: ProjectConfig, environment: str) -> Binding | None:
    """The environment's binding, None when it is free."""
    gates = config.deploy.gates
    branches = [branch for branch, mapped in config.branches.items() if mapped == environment]
    gated = environment in gates or any(environment in required for required in gates.values())
    if not branches and not gated:
        return None
    return Binding(environment, branches[0] if branches else None, tuple(gates.get(environment, ())))


def off_branch(repository_dir: Path, branch: str, commit: str) -> str | None:
    """Why `commit` cannot deploy the environment `branch` maps to (the branch missing, or the
    commit not reachable from it); None when it can. The branch is the local one, or
    `origin/<branch>` in a CI checkout that has only the remote-tracking branch."""
    from tidegate.git.repository import Repository

    repo = Repository(repository_dir)
    ref = repo.branch_ref(branch)
    if ref is None:
        return f"branch {branch!r} does not exist here (nor origin/{branch})"
    if not repo.is_ancestor(commit, ref):
        where = f" ({ref})" if ref != branch else ""
        return f"commit {commit[:10]} is not on branch {branch}{where}"
    return None


def gate_gaps(mapping: Mapping[str, SnapshotRecord], history: list[EnvironmentVersion]) -> list[str]:
    """The models whose snapshot in `mapping` no version of `history` had, for the version that
    had the most of them; none when one version had them all: what ships is what ran there. A
    change that builds nothing new passes by construction."""
    wanted = {name: entry.fingerprint for name, entry in mapping.items() if entry.physical}
    best: list[str] | None = None
    for version in history:
        had = {name: record.fingerprint for name, record in version.models.items() if record.physical}
        differing = sorted(name for name, fingerprint in wanted.items() if had.get(name) != fingerprint)
        if not differing:
            return []
        if best is None or len(differing) < len(best):
            best = differing
    return best if best is not None else sorted(wanted)


def gate_refusal(environment: str, required: str, missing: list[str]) -> str:
    names = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
    return (
        f"{environment} only takes what passed {required}, and {len(missing)} model(s) never ran "
        f"there as this commit has them: {names}"
    )


@dataclass(frozen=True)
class Guard:
    """The checks of one change of one environment: its commit was checked when the guard was
    made; its snapshots are checked against the gates once known (a plan's, under the lock)."""

    binding: Binding | None
    break_glass: str | None
    """Recorded on the new version: set only for a bound environment."""
    histories: Histories

    def check_gates(self, mapping: Mapping[str, SnapshotRecord]) -> None:
        if self.binding is None or self.break_glass is not None:
            return
        for required in self.binding.gates:
            missing = gate_gaps(mapping, self.histories(required))
            if missing:
                raise BindingError(
                    gate_refusal(self.binding.environment, required, missing),
                    hint=f"deploy this commit to {required} first, then `{self.binding.command}`",
                )

    @property
    def apply_options(self) -> dict[str, Any]:
        """What the apply records: the break-glass reason, when there is one."""
        return {"break_glass": self.break_glass} if self.break_glass is not None else {}


def guard(
    binding: Binding | None,
    repository_dir: Path,
    commit: str | None,
    *,
    unclean: str,
    break_glass: str | None,
    histories: Histories,
) -> Guard:
    """Check that `commit` may change the environment, or that `break_glass` says why it may
    all the same; `unclean` says why there is no commit (a working tree with uncommitted
    changes, a version built from one). Raises `BindingError` (exit 2) with the proper command."""
    if break_glass is not None and not break_glass.strip():
        raise ConfigError('--break-glass needs the reason, e.g. --break-glass "revert the broken orders fix"')
    if binding is None:
        return Guard(None, None, histories)
    if break_glass is None:
        reason = _no_commit(repository_dir, commit, unclean)
        if reason is None and binding.branch is not None and commit is not None:
            reason = off_branch(repository_dir, binding.branch, commit)
        if reason is not None:
            raise BindingError(f"{binding.rule}: {reason}", hint=binding.hint())
    return Guard(binding, break_glass.strip() if break_glass else None, histories)


def _no_commit(repository_dir: Path, commit: str | None, unclean: str) -> str | None:
    from tidegate.git.repository import Repository

    try:
        Repository(repository_dir)
    except GitError:
        return "the project is not in a git repository"
    return unclean if commit is None else None
