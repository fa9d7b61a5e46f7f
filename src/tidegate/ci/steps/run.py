"""What one run of `tidegate ci` knows so far, shared by its steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.ci.report import Step

if TYPE_CHECKING:
    from tidegate.ci.lint import LintResult
    from tidegate.git.repository import ChangedFile
    from tidegate.plan.plan import Plan
    from tidegate.plan.session import Session
    from tidegate.processes import Worker


@dataclass
class Run:
    session: Session
    """The project at the pull request's head and the warehouses of its environments."""
    project_dir: Path
    """The project directory (the files may be a checkout of the head elsewhere)."""
    pull_request: int
    head: str
    """The commit being checked."""
    prefix: str
    """The project directory relative to the repository's top level ("" at the top)."""
    changed: list[ChangedFile]
    environment: str
    """The pull request's environment."""
    plan: Plan | None = None
    lint_job: Worker[LintResult] | None = None
    """Linting runs in another process while the pull request's environment is built."""
    base: str | None = None
    """The commit the pull request branched from: what its changes are counted from."""
    allow_destroy: bool = False
    """`--allow-destroy`: destructive Terraform changes pass, and are recorded as allowed."""

    def repo_path(self, path: str | None) -> str | None:
        """A project-relative path as GitHub annotates it: relative to the repository."""
        return f"{self.prefix}{path}" if path else None

    @property
    def changed_paths(self) -> list[str]:
        return [change.path for change in self.changed if change.status != "deleted"]

    @property
    def touched_paths(self) -> list[str]:
        """Every path the change touches: deleted files, and where renamed files were, too."""
        paths = [change.path for change in self.changed]
        return paths + [change.old_path for change in self.changed if change.old_path]


def skipped(why: str) -> Step:
    return Step(status="skipped", summary=why)
