"""Plans from git: the commit a plan was made from, and `plan --ref` for another commit (in dev,
which no branch binds: prod and staging take only commits of their branches)."""

from __future__ import annotations

from pathlib import Path

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import invoke
from tests.conftest import edit


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
