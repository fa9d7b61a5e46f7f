"""The git repository a project lives in, through the `git` executable in subprocesses.

A pull request is judged by what it would change: the diff from the merge base of base and head
to head, which is what the pull-request page shows, not a diff against the tip of base. The
project at any commit is read from the object database (`ls-tree` and `cat-file --batch`), never
checked out, so a run leaves the user's working tree and index alone and can read base and head
side by side.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import IO

from tidegate.errors import GitError

# Set inside git hooks; they would point git at another repository or index than the project's.
_LOCATING = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")
_COMMIT_FORMAT = "%H%x00%h%x00%an%x00%ae%x00%aI%x00%s"
_SHALLOW_HINT = (
    "this is a shallow clone: fetch the whole history (`git fetch --unshallow`; in CI, "
    "actions/checkout with fetch-depth: 0, or GIT_DEPTH: 0 on GitLab)"
)


class ChangeStatus(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


# Copies (C) only appear with copy detection; a copy is a new file. A type change (T) is a change.
_STATUS = {
    "A": ChangeStatus.ADDED,
    "C": ChangeStatus.ADDED,
    "M": ChangeStatus.MODIFIED,
    "T": ChangeStatus.MODIFIED,
    "D": ChangeStatus.DELETED,
    "R": ChangeStatus.RENAMED,
}


@dataclass(frozen=True)
class Commit:
    sha: str
    short_sha: str
    author_name: str
    author_email: str
    time: datetime
    """When the author made the commit (what `git log` shows), with its time zone."""
    subject: str

    @property
    def author(self) -> str:
        """`Name <email>`, as git writes an author."""
        return f"{self.author_name} <{self.author_email}>"


@dataclass(frozen=True)
class ChangedFile:
    path: str
    """Relative to the project directory, '/'-separated; for a deletion, the path that is gone."""
    status: ChangeStatus
    old_path: str | None = None
    """Where a renamed file was, relative to the project directory."""


@dataclass(frozen=True)
class _Entry:
    mode: str
    kind: str
    sha: str
    path: str


class Repository:
    """The git repository a project lives in; the project may be any subdirectory of it."""

    def __init__(self, project_dir: str | Path) -> None:
        self.project_dir = Path(project_dir).resolve()
        self._env = _git_environment()
        self.root, self.prefix = self._locate()

    def __repr__(self) -> str:
        return f"Repository({str(self.project_dir)!r})"

    # -- commits and refs ------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """The full sha of the commit `ref` names: a branch, tag, sha, `origin/main`, `HEAD~2`."""
        sha = self._verify(ref)
        if sha is None:
            raise GitError(f"unknown ref {ref!r}: no such commit in {self.root}", hint=self._ref_hint(ref))
        return sha

    def exists(self, ref: str) -> bool:
        """Whether `ref` names a commit here (a branch may exist only as `origin/<branch>` in CI)."""
        return self._verify(ref) is not None

    def branch_ref(self, branch: str) -> str | None:
        """Where `branch` is here: the local branch, else `origin/<branch>` (a CI checkout has
        only the remote-tracking branch); None when neither exists."""
        for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
            if self.exists(ref):
                return ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")
        return None

    def is_ancestor(self, commit: str, ref: str) -> bool:
        """Whether `commit` is reachable from `ref` (`ref` itself, or any commit in its history)."""
        done = self._run("merge-base", "--is-ancestor", self.resolve(commit), self.resolve(ref))
        if done.returncode not in (0, 1):
            raise GitError(f"cannot tell whether {commit[:10]} is in {ref!r}: {_said(done.stderr)}")
        return done.returncode == 0

    def commit(self, ref: str = "HEAD") -> Commit:
        sha = self.resolve(ref)
        out = self._git(
            "-c",
            "log.showSignature=false",
            "show",
            "-s",
            "--encoding=UTF-8",
            f"--format={_COMMIT_FORMAT}",
            sha,
            what=f"cannot read commit {ref!r}",
        )
        full, short, name, email, time, subject = out.decode("utf-8", "replace").rstrip("\n").split("\0")
        return Commit(full, short, name, email, datetime.fromisoformat(time), subject)

    def current_branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD (as CI systems check commits out)."""
        done = self._run("symbolic-ref", "--quiet", "--short", "HEAD")
        if done.returncode != 0:
            return None
        return done.stdout.decode().strip()

    def is_clean(self) -> bool:
        """Whether the project's files are as committed: nothing staged, modified or untracked
        (ignored files do not count). Files of the repository outside the project do not count."""
        out = self._git(
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=normal",
            *self._pathspec(),
            what="cannot read the status of the working tree",
        )
        return not out

    def remote_url(self, name: str = "origin") -> str | None:
        """The URL of a remote (as configured: it may hold credentials), None without one."""
        done = self._run("remote", "get-url", name)
        url = done.stdout.decode().strip() if done.returncode == 0 else ""
        return url or None

    def is_shallow(self) -> bool:
        """A shallow clone (CI's default) lacks the history merge bases are computed from."""
        done = self._run("rev-parse", "--is-shallow-repository")
        return done.stdout.decode().strip() == "true"

    # -- pull requests ---------------------------------------------------------------------

    def merge_base(self, base: str, head: str = "HEAD") -> str:
        """The commit `head` branched from `base` at: what a pull request of head into base is
        compared with, so commits merged into base since then are not counted as its changes."""
        base_sha, head_sha = self.resolve(base), self.resolve(head)
        done = self._run("merge-base", base_sha, head_sha)
        if done.returncode != 0 or not done.stdout.strip():
            hint = _SHALLOW_HINT if self.is_shallow() else "they come from unrelated histories"
            raise GitError(f"{base!r} and {head!r} have no common ancestor", hint=hint)
        return done.stdout.decode().strip()

    def changed_files(self, base: str, head: str = "HEAD") -> list[ChangedFile]:
        """The project's files a pull request of `head` into `base` changes, sorted by path.

        Files outside the project directory are ignored; a file renamed into the project from
        outside it is added, one renamed out of it is deleted."""
        start, end = self.merge_base(base, head), self.resolve(head)
        out = self._git(
            "diff-tree",
            "-r",
            "-z",
            "-M",
            "--no-commit-id",
            "--name-status",
            start,
            end,
            *self._pathspec(),
            what=f"cannot diff {base!r} and {head!r}",
        )
        changes = (self._relative_change(code, paths) for code, paths in _name_status(out))
        return sorted((c for c in changes if c is not None), key=lambda change: change.path)

    def conflicts(self, base: str, head: str = "HEAD") -> list[str] | None:
        """The files (relative to the repository) that conflict when `head` is merged into
        `base`, as the forge would merge the pull request; None when git cannot tell (before git
        2.38, `merge-tree --write-tree`). The merge is done in the object database only: its
        objects are written, unreferenced, and the working tree and index are left alone."""
        base_sha, head_sha = self.resolve(base), self.resolve(head)
        done = self._run(
            "merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", base_sha, head_sha
        )
        if done.returncode not in (0, 1):
            return None
        # the merged tree's id, then each conflicted file (once per stage it has)
        files = os.fsdecode(done.stdout).split("\0")[1:]
        return list(dict.fromkeys(path for path in files if path))

    # -- the project at a commit -----------------------------------------------------------

    def contains(self, ref: str, path: str) -> bool:
        """Whether the project's file or folder `path` (relative to the project) is committed at `ref`."""
        done = self._run("cat-file", "-e", f"{self.resolve(ref)}:{self._repository_path(path)}")
        return done.returncode == 0

    def has_file(self, ref: str, path: str) -> bool:
        """Whether `path`, relative to the repository's top level (not the project), is a file
        committed at `ref`."""
        done = self._run("cat-file", "-t", f"{self.resolve(ref)}:{path}")
        return done.returncode == 0 and done.stdout.strip() == b"blob"

    def read_file(self, ref: str, path: str) -> bytes:
        """The bytes of the project's file `path` (relative to the project) as committed at `ref`."""
        sha = self.resolve(ref)
        done = self._run("cat-file", "blob", f"{sha}:{self._repository_path(path)}")
        if done.returncode != 0:
            raise GitError(f"{path} does not exist at {ref!r} ({sha[:10]})", path=path)
        return done.stdout

    def tree_id(self, ref: str) -> str:
        """The id of the project directory's tree at `ref`: equal for two commits exactly when
        they hold the same files (a pull request's head and the merge that brings it in)."""
        sha = self.resolve(ref)
        tree = f"{sha}:{self.prefix}" if self.prefix else f"{sha}^{{tree}}"
        done = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", tree)
        if done.returncode != 0:
            raise GitError(f"the project directory {self.prefix!r} does not exist at {ref!r} ({sha[:10]})")
        return done.stdout.decode().strip()

    def materialize(self, ref: str, target: str | Path) -> Path:
        """Write the project's files as committed at `ref` into `target` (new or empty).

        Reads the object database only: the working tree and the index are never touched. Files
        are written as committed: no checkout filters, line-ending conversion or Git LFS
        smudging (an LFS file is its pointer). Submodules are left out."""
        sha = self.resolve(ref)
        directory = Path(target)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise GitError(f"cannot write {ref!r} into {directory}: it is not an empty directory")
        entries = self._tree(sha, ref)
        directory.mkdir(parents=True, exist_ok=True)
        _write_entries(directory, entries, self._blobs(entries))
        return directory

    @contextmanager
    def materialized(self, ref: str) -> Iterator[Path]:
        """The project as committed at `ref`, in a temporary directory removed afterwards (or,
        when this process is killed, by the next one)."""
        from tidegate.processes import temporary_folder

        with temporary_folder("checkout") as directory:
            yield self.materialize(ref, directory / "project")

    # -- plumbing --------------------------------------------------------------------------

    def _locate(self) -> tuple[Path, str]:
        if not self.project_dir.is_dir():
            raise GitError(f"{self.project_dir} is not a directory")
        done = self._run("rev-parse", "--show-toplevel", "--show-prefix", cwd=self.project_dir)
        if done.returncode != 0:
            raise GitError(
                f"{self.project_dir} is not in a git repository: {_said(done.stderr)}",
                hint=_ownership_hint(done.stderr, self.project_dir)
                or "run `git init` and commit the project",
            )
        top, prefix = done.stdout.decode().split("\n")[:2]
        return Path(top), prefix.rstrip("/")

    def _run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(["git", *args], cwd=cwd or self.root, capture_output=True, env=self._env)
        except FileNotFoundError:
            raise GitError("git is not installed (or not on PATH)", hint="install git") from None

    def _git(self, *args: str, what: str) -> bytes:
        done = self._run(*args)
        if done.returncode != 0:
            raise GitError(f"{what}: {_said(done.stderr)}", hint=_ownership_hint(done.stderr, self.root))
        return done.stdout

    def _verify(self, ref: str) -> str | None:
        if not ref:
            return None
        done = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def _pathspec(self) -> list[str]:
        return ["--", self.prefix] if self.prefix else []

    def _ref_hint(self, ref: str) -> str:
        if self.is_shallow():
            return _SHALLOW_HINT
        remote, _, branch = ref.partition("/")
        remotes = self._run("remote").stdout.decode().split()
        if branch and remote in remotes:
            return f"fetch it first: git fetch {remote} {branch}"
        return "check the name with `git branch --all` or `git log --oneline`"

    def _repository_path(self, path: str) -> str:
        parts = PurePosixPath(path.replace(os.sep, "/")).parts
        if not parts or ".." in parts or PurePosixPath(path).is_absolute():
            raise GitError(f"{path!r} is not a path inside the project")
        return "/".join([self.prefix, *parts] if self.prefix else parts)

    def _relative_change(self, code: str, paths: Sequence[str]) -> ChangedFile | None:
        status = _STATUS.get(code)
        new = self._project_path(paths[-1])
        if status is None or new is None:
            return None
        old = self._project_path(paths[0]) if len(paths) == 2 else None
        if status is ChangeStatus.RENAMED and old is None:
            return ChangedFile(new, ChangeStatus.ADDED)
        return ChangedFile(new, status, old if status is ChangeStatus.RENAMED else None)

    def _project_path(self, path: str) -> str | None:
        """`path` relative to the project, or None when it is outside the project."""
        if not self.prefix:
            return path
        return path[len(self.prefix) + 1 :] if path.startswith(self.prefix + "/") else None

    def _tree(self, sha: str, ref: str) -> list[_Entry]:
        """Every file of the project's directory at commit `sha`, recursively."""
        tree = f"{sha}:{self.prefix}" if self.prefix else sha
        done = self._run("ls-tree", "-r", "-z", "--end-of-options", tree)
        if done.returncode != 0:
            raise GitError(f"the project directory {self.prefix!r} does not exist at {ref!r} ({sha[:10]})")
        return [_entry(line) for line in os.fsdecode(done.stdout).split("\0") if line]

    def _blobs(self, entries: Sequence[_Entry]) -> Iterator[tuple[str, bytes]]:
        """(sha, content) of each distinct blob, streamed from one `git cat-file --batch`."""
        shas = list(dict.fromkeys(e.sha for e in entries if e.kind == "blob"))
        with subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            # Fed from a thread: writing every sha before reading could fill both pipes and hang.
            feeder = threading.Thread(target=_feed, args=(process.stdin, shas), daemon=True)
            feeder.start()
            for sha in shas:
                yield sha, _read_object(process.stdout, sha)
            feeder.join()


def _git_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _LOCATING}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_LITERAL_PATHSPECS="1")
    return env


def _said(stderr: bytes) -> str:
    """What git printed, on one line, for an error message."""
    text = stderr.decode("utf-8", "replace").strip()
    lines = [line.removeprefix("fatal: ").removeprefix("error: ") for line in text.splitlines() if line]
    return "; ".join(lines) or "git failed without saying why"


def _ownership_hint(stderr: bytes, directory: Path) -> str | None:
    """CI containers often run as another user than the one owning the checkout; git refuses it."""
    if b"dubious ownership" in stderr:
        return f"git config --global --add safe.directory {directory}"
    return None


def _name_status(out: bytes) -> Iterator[tuple[str, list[str]]]:
    """(status letter, paths) from `--name-status -z`: a rename or copy has its old path first."""
    fields = os.fsdecode(out).split("\0")
    index = 0
    while index < len(fields) and fields[index]:
        code = fields[index][0]
        count = 2 if code in "RC" else 1
        yield code, fields[index + 1 : index + 1 + count]
        index += 1 + count


def _entry(line: str) -> _Entry:
    meta, path = line.split("\t", 1)
    mode, kind, sha = meta.split(" ")
    return _Entry(mode, kind, sha, path)


def _feed(stdin: IO[bytes], shas: Iterable[str]) -> None:
    try:
        for sha in shas:
            stdin.write(f"{sha}\n".encode())
    finally:
        stdin.close()


def _read_object(stdout: IO[bytes], sha: str) -> bytes:
    header = stdout.readline().decode().split()
    if len(header) != 3:
        raise GitError(f"cannot read object {sha} from the repository: {' '.join(header) or 'no answer'}")
    content = stdout.read(int(header[2]))
    stdout.read(1)  # the newline after each object
    return content


def _write_entries(directory: Path, entries: Sequence[_Entry], blobs: Iterable[tuple[str, bytes]]) -> None:
    """Each blob is written to its paths as it arrives, so a large file is in memory only once;
    symbolic links last, so that no file is ever written through one."""
    paths: dict[str, list[_Entry]] = {}
    for entry in entries:
        if entry.kind == "blob":
            _safe_path(entry.path)
            paths.setdefault(entry.sha, []).append(entry)
    for folder in {(directory / entry.path).parent for entry in entries if entry.kind == "blob"}:
        folder.mkdir(parents=True, exist_ok=True)
    links = []
    for sha, content in blobs:
        for entry in paths[sha]:
            if entry.mode == "120000":
                links.append((directory / entry.path, os.fsdecode(content)))
            else:
                _write_file(directory / entry.path, content, executable=entry.mode == "100755")
    for path, link in links:
        path.symlink_to(link)


def _safe_path(path: str) -> None:
    """Git refuses such paths in trees it writes; a crafted object could still hold one."""
    parts = PurePosixPath(path).parts
    if PurePosixPath(path).is_absolute() or any(part in ("..", ".git") for part in parts):
        raise GitError(f"refusing to write {path!r}: it would land outside the directory")


def _write_file(path: Path, content: bytes, *, executable: bool) -> None:
    path.write_bytes(content)
    if executable:
        path.chmod(0o755)
