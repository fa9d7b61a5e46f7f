"""Plans from git: the commit a plan was made from, and `plan --ref` for another commit (in dev,
which no branch binds: prod and staging take only commits of their branches)."""

from __future__ import annotations

from pathlib import Path

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import invoke
from tests.conftest import edit
from tidegate.git.repository import Repository
from tidegate.git.workspace import KeptTrees


def test_a_plan_of_a_clean_checkout_records_its_commit(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")

    ran = invoke(root, "plan", "dev", "--auto-apply", "--json")

    assert ran.json()["git_commit"] == git(root, "rev-parse", "HEAD")


def test_a_plan_of_uncommitted_changes_records_no_commit(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    edit(root, "models/order_count.sql", "count(*) as n", "count(*) + 0 as n")

    ran = invoke(root, "plan", "dev", "--auto-apply", "--json")

    assert ran.json()["git_commit"] is None


def test_plan_ref_builds_another_commit_and_leaves_the_working_tree(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    first = git(root, "rev-parse", "HEAD")
    edit(root, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(root, "one more order")
    edit(root, "models/order_count.sql", "count(*) as n", "count(*) * 100 as n")  # uncommitted

    ran = invoke(root, "plan", "dev", "--ref", first, "--auto-apply", "--json")

    assert ran.code == 0, ran.all
    assert ran.json()["git_commit"] == first
    assert invoke(root, "query", "dev", "select n from order_count", "--json").json()["rows"] == [[4]]
    assert "* 100" in (root / "models/order_count.sql").read_text()


def test_plan_ref_of_an_unknown_ref_is_bad_input(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")

    ran = invoke(root, "plan", "prod", "--ref", "no-such-branch")

    assert ran.code == 2 and "no-such-branch" in ran.stderr


# kept trees: the controller's checkouts of commits, one per git tree ----------------------------


def test_commits_of_one_tree_share_the_files_written_once(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    first = git(root, "rev-parse", "HEAD")
    git(root, "commit", "--allow-empty", "-m", "same files, new commit")
    same_tree = git(root, "rev-parse", "HEAD")
    repo = Repository(root)
    trees = KeptTrees(tmp_path / "trees")

    with trees.files(repo, first) as files:
        written = (files / "models/order_count.sql").stat().st_ino
    with trees.files(repo, same_tree) as again:
        assert again == files
        assert (again / "models/order_count.sql").stat().st_ino == written
        assert (again / ".tidegate/cache").resolve() == (root / ".tidegate/cache").resolve()


def test_another_tree_is_written_apart_and_the_least_used_go(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    repo = Repository(root)
    trees = KeptTrees(tmp_path / "trees", keep=2)
    commits = []
    for n in range(3):
        edit(root, "models/order_count.sql", "as n", f"+ {n} as n")
        commit(root, f"change {n}")
        commits.append(git(root, "rev-parse", "HEAD"))

    with trees.files(repo, commits[0]) as oldest:  # in use while the others come and go
        for n, sha in enumerate(commits[1:], 1):
            with trees.files(repo, sha) as files:
                assert files != oldest
                assert f"+ {n} as n" in (files / "models/order_count.sql").read_text()
        assert oldest.is_dir()
    kept = sorted(path.name for path in (tmp_path / "trees").iterdir())

    assert len(kept) == 2 and oldest.name not in kept


def test_files_half_written_by_a_killed_process_are_removed(tmp_path: Path) -> None:
    (tmp_path / "trees" / ".partial-abc-123" / "models").mkdir(parents=True)

    KeptTrees(tmp_path / "trees")

    assert list((tmp_path / "trees").iterdir()) == []
