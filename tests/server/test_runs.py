"""What the controller keeps between runs: the files of a commit's tree and the project loaded
from them, so that a deployment after the CI of the same tree starts warm."""

from __future__ import annotations

from pathlib import Path

from tests.ci.repos import git, make_repository
from tidegate.git.repository import Repository
from tidegate.server.runs import RunLog, Warm


def test_the_project_of_a_kept_tree_is_loaded_once(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    repo, head = Repository(root), git(root, "rev-parse", "HEAD")
    warm = Warm(tmp_path / "trees")
    open_context = warm.opener(RunLog(), root, pull_request=False)

    with warm.trees.files(repo, head) as files, open_context(files, root) as first:
        loaded = first.project
        assert first.fingerprints
    with warm.trees.files(repo, head) as files, open_context(files, root) as second:
        assert second.project is loaded
        assert second.fingerprints == first.fingerprints


def test_files_that_are_not_kept_are_loaded_each_time(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    warm = Warm(tmp_path / "trees")
    open_context = warm.opener(RunLog(), root, pull_request=False)

    with open_context(root, root) as first:
        loaded = first.project
        assert first.fingerprints
    with open_context(root, root) as second:
        assert second.project is not loaded
