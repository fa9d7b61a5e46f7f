"""The project's files at the commit being checked or deployed, without touching the working tree.

CI systems check out the commit they build, so the working tree is used as it is when it holds
that commit unchanged; any other commit is written to a temporary directory from Git's objects.
Warehouse paths and the load cache stay the project directory's (see `Session.workspace`).

tidegate's local folder (`.tidegate/`: caches, saved runs) is never part of a commit. When a
commit holds one all the same (committed by mistake, or on purpose to feed the loader a forged
cache), the copy is used, without it, with a cache of its own thrown away afterwards.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from tidegate.errors import GitError
from tidegate.git.repository import Repository

LOCAL_FOLDER = ".tidegate"
"""What tidegate keeps beside a project (caches, saved runs), never committed."""
CACHE_DIR = f"{LOCAL_FOLDER}/cache"
"""The project's load caches (`tidegate.project.cache`): content-addressed, so the one of the
project directory serves the files of every commit."""


Checkout = Callable[[Repository, str], AbstractContextManager[Path]]
"""How a command reads the project's files at a commit: `project_files`, or a long-lived
process's `KeptTrees.files`."""


@contextmanager
def project_files(repo: Repository, commit: str) -> Iterator[Path]:
    """The project directory as committed at `commit`."""
    committed = repo.contains(commit, LOCAL_FOLDER)
    if not committed and repo.resolve("HEAD") == commit and repo.is_clean():
        yield repo.project_dir
        return
    with repo.materialized(commit) as files:
        _prepare(repo, files, committed)
        yield files


def _prepare(repo: Repository, files: Path, committed: bool) -> None:
    """A commit's files as tidegate reads them: without a committed `.tidegate/`, with the
    project directory's load cache."""
    if committed:
        _remove(files / LOCAL_FOLDER)
        return
    cache = repo.project_dir / CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    (files / CACHE_DIR).parent.mkdir(parents=True, exist_ok=True)
    # content-addressed, so one cache serves every commit: an unchanged model is not re-parsed
    (files / CACHE_DIR).symlink_to(cache, target_is_directory=True)


class KeptTrees:
    """Commits' files kept on disk by their git tree, for a process that reads the same files
    again and again: the controller checks a pull request's head, then deploys the merge that
    brings it in (usually the same tree) to one environment after another. Writing a project's
    files costs a deployment that builds nothing more than its plan does; a tree already kept
    costs nothing. The `keep` trees used last stay; a tree in use is never removed."""

    def __init__(self, directory: Path, keep: int = 8) -> None:
        self.directory = directory
        self.keep = keep
        self._lock = threading.Lock()
        self._using: Counter[str] = Counter()
        directory.mkdir(parents=True, exist_ok=True)
        for partial in directory.glob(".partial-*"):  # left by a process killed while writing
            shutil.rmtree(partial, ignore_errors=True)

    @contextmanager
    def files(self, repo: Repository, commit: str) -> Iterator[Path]:
        """The project's files at `commit`, written once per tree; never changed afterwards."""
        tree = repo.tree_id(commit)
        kept = self.directory / tree
        with self._lock:
            if not kept.is_dir():
                partial = self.directory / f".partial-{tree}-{os.getpid()}"
                shutil.rmtree(partial, ignore_errors=True)
                repo.materialize(commit, partial)
                _prepare(repo, partial, repo.contains(commit, LOCAL_FOLDER))
                partial.rename(kept)  # whole or not at all
            os.utime(kept)
            self._using[tree] += 1
        try:
            yield kept
        finally:
            with self._lock:
                self._using[tree] -= 1
                self._prune()

    def _prune(self) -> None:
        trees = sorted(
            (path for path in self.directory.iterdir() if not path.name.startswith(".")),
            key=lambda path: path.stat().st_mtime,
            reverse=True,
        )
        for old in trees[self.keep :]:
            if not self._using[old.name]:
                shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    """A committed file, folder or symbolic link (never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def working_commit(project_dir: Path) -> str | None:
    """The commit the project directory holds, when it is a clean git checkout: what a plan made
    from it records. Outside git, or with uncommitted changes, there is no such commit."""
    try:
        repo = Repository(project_dir)
        return repo.resolve("HEAD") if repo.is_clean() else None
    except GitError:
        return None


@contextmanager
def project_at(project_dir: Path, ref: str | None) -> Iterator[tuple[Path, str | None]]:
    """(the project's files, their commit): the working tree without `ref`, else the commit."""
    if ref is None:
        yield project_dir, working_commit(project_dir)
        return
    repo = Repository(project_dir)
    commit = repo.resolve(ref)
    with project_files(repo, commit) as files:
        yield files, commit
