"""The project's files at the commit being checked or deployed, without touching the working tree.

CI systems check out the commit they build, so the working tree is used as it is when it holds
that commit unchanged; any other commit is written to a temporary directory from Git's objects.
Warehouse paths and the load cache stay the project directory's (see `Session.workspace`).

tidegate's local folder (`.tidegate/`: caches, saved runs) is never part of a commit. When a
commit holds one all the same (committed by mistake, or on purpose to feed the loader a forged
cache), the copy is used, without it, with a cache of its own thrown away afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tidegate.errors import GitError
from tidegate.git.repository import Repository

LOCAL_FOLDER = ".tidegate"
"""What tidegate keeps beside a project (caches, saved runs), never committed."""
CACHE_DIR = f"{LOCAL_FOLDER}/cache"
"""The project's load caches (`tidegate.project.cache`): content-addressed, so the one of the
project directory serves the files of every commit."""


@contextmanager
def project_files(repo: Repository, commit: str) -> Iterator[Path]:
    """The project directory as committed at `commit`."""
    committed = repo.contains(commit, LOCAL_FOLDER)
    if not committed and repo.resolve("HEAD") == commit and repo.is_clean():
        yield repo.project_dir
        return
    with repo.materialized(commit) as files:
        if committed:
            _remove(files / LOCAL_FOLDER)
        else:
            cache = repo.project_dir / CACHE_DIR
            cache.mkdir(parents=True, exist_ok=True)
            (files / CACHE_DIR).parent.mkdir(parents=True, exist_ok=True)
            # content-addressed, so one cache serves every commit: an unchanged model is not re-parsed
            (files / CACHE_DIR).symlink_to(cache, target_is_directory=True)
        yield files


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
