"""The controller's own clone of the repository it watches, under its state dir: fetched on
every poll and webhook, read commit by commit (never checked out again), so the user's working
tree is never touched and several runs can read different commits side by side. Its working
tree stays at the commit first cloned (where a deployment reads the `branches:` binding).

Branches arrive as `origin/<branch>`; pull-request heads as `origin/pull/<n>` (GitHub's
`refs/pull/<n>/head`) and `origin/merge-requests/<n>` (GitLab's), which a forge serves even when
the pull request comes from a fork.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from tidegate.errors import ConfigError, GitError
from tidegate.git.repository import Repository

_REFSPECS = (
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/pull/*/head:refs/remotes/origin/pull/*",
    "+refs/merge-requests/*/head:refs/remotes/origin/merge-requests/*",
)


class WorkingCopy:
    """A clone of `url` in `directory`; the project is at `prefix` inside it."""

    def __init__(self, url: str, directory: Path, prefix: str = "") -> None:
        self.url = url
        self.directory = directory
        self.prefix = prefix
        self._lock = threading.Lock()

    @property
    def project_dir(self) -> Path:
        """Where the project lives in the clone: what deployments and CI read commits from."""
        return self.directory / self.prefix if self.prefix else self.directory

    def fetch(self) -> dict[str, str]:
        """Bring the clone up to date (cloning it the first time); every branch's head."""
        with self._lock:
            if not (self.directory / ".git").is_dir():
                self.directory.parent.mkdir(parents=True, exist_ok=True)
                self._clone()
            self._git("fetch", "--quiet", "--prune", "--no-tags", "origin", *_REFSPECS)
            return self.branches()

    def _clone(self) -> None:
        """Clone, then leave HEAD detached at what was checked out, with no local branch: a
        branch is always `origin/<branch>` as last fetched (a stale local branch would hide it)."""
        self._git("clone", "--quiet", "--no-tags", self.url, str(self.directory), cwd=self.directory.parent)
        self._git("checkout", "--quiet", "--detach")
        local = self._git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
        if local:
            self._git("branch", "--quiet", "-D", *local)

    def branches(self) -> dict[str, str]:
        """Each branch of the remote (as last fetched) and its head commit."""
        out = self._git("for-each-ref", "--format=%(refname:strip=3) %(objectname)", "refs/remotes/origin/")
        heads = dict(line.split(" ", 1) for line in out.splitlines() if line)
        return {
            name: sha
            for name, sha in heads.items()
            if name != "HEAD" and not name.startswith(("pull/", "merge-requests/"))
        }

    def repository(self) -> Repository:
        return Repository(self.project_dir)

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd or self.directory, capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise GitError("git is not installed (or not on PATH)", hint="install git") from None
        if done.returncode != 0:
            raise GitError(f"git {args[0]} of {self.url} failed: {done.stderr.strip()}")
        return done.stdout


def repository_url(configured: str | None, project_dir: Path) -> tuple[str, str]:
    """(the URL the controller fetches, the project's folder inside that repository):
    `controller.repository` or else the project directory's `origin`."""
    try:
        local = Repository(project_dir)
    except GitError:
        local = None
    prefix = local.prefix if local is not None else ""
    if configured is not None:
        url = configured
        if "://" not in url and not url.startswith("git@"):
            path = Path(url).expanduser()
            url = str(path if path.is_absolute() else (project_dir / path).resolve())
        return url, prefix
    origin = local.remote_url() if local is not None else None
    if origin is None:
        raise ConfigError(
            "the controller has no repository to watch",
            path="tidegate.yml",
            hint="set controller.repository in tidegate.yml (a URL, a local path or a file:// URL), "
            "or give the project an `origin` remote",
        )
    return origin, prefix
