"""Warnings about a pull request as a whole, shown at the top of the CI report.

They fail no check. A pull request that conflicts with its base cannot be merged: the forge
refuses it until the conflicts are resolved (and CI runs again then), so failing CI would say
nothing more, but reviewers must know that what CI checked (head alone) is not what will merge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidegate.ci.findings import Finding
from tidegate.git.workspace import LOCAL_FOLDER

if TYPE_CHECKING:
    from tidegate.git.repository import Repository
    from tidegate.state.records import EnvironmentVersion


def _conflicts(base: str, files: list[str]) -> Finding:
    return Finding(
        message=f"merging it into {base} conflicts in {', '.join(files)}. CI checked the head alone, "
        "not the result of the merge; the pull request cannot merge until the conflicts are "
        f"resolved (merge {base} into it, or rebase it), and CI runs again then.",
        severity="warning",
        title="This pull request conflicts with its base",
    )


def _committed_folder(repo: Repository) -> Finding:
    path = f"{repo.prefix}/{LOCAL_FOLDER}" if repo.prefix else LOCAL_FOLDER
    return Finding(
        message="holds tidegate's local caches and runs, and is committed: CI ignored the committed "
        f"files. Remove them with `git rm -r --cached {path}` and add `{LOCAL_FOLDER}/` to "
        ".gitignore.",
        path=path,
        severity="warning",
        title="tidegate's local folder is committed",
    )


_UNCHECKED = Finding(
    message="git could not merge head into base here (`git merge-tree --write-tree` needs git 2.38 or "
    "later): whether this pull request conflicts with its base was not checked",
    severity="notice",
    title="Merge conflicts not checked",
)


def notices(repo: Repository, base: str, head: str) -> tuple[list[str], tuple[Finding, ...]]:
    """(the files that conflict when `head` merges into `base`, the warnings) for the report."""
    conflicts = repo.conflicts(base, head)
    found = [_conflicts(base, conflicts)] if conflicts else [_UNCHECKED] if conflicts is None else []
    if repo.contains(head, LOCAL_FOLDER):
        found.append(_committed_folder(repo))
    return conflicts or [], tuple(found)


def broke_glass(base: EnvironmentVersion) -> Finding | None:
    """A warning when the environment a pull request is compared with was last changed past
    Git (`--break-glass`): it may hold what no commit has, so the comparison is with that."""
    if base.break_glass is None:
        return None
    return Finding(
        message=f"{base.environment} is at version {base.version}, changed past Git by "
        f"{base.author or 'someone'} at {base.created_at:%Y-%m-%d %H:%M} UTC: {base.break_glass}. "
        f"This pull request was compared with that version; {base.environment} follows Git again "
        "at its next deployment.",
        severity="warning",
        title=f"{base.environment} was changed with --break-glass",
    )
