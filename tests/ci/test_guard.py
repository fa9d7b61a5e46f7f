"""Environments bound to branches change only from Git: plan --auto-apply, apply and promote
take a bound environment only to a clean commit of its branch through its gates, or with
--break-glass, which is recorded; a rollback pins it until a new commit lands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.repos import commit, deploy_production, git, make_repository
from tests.cli.conftest import Ran, invoke
from tests.conftest import edit

HOTFIX = ("models/order_count.sql", "count(*) as n", "count(*) + 0 as n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main deployed to staging and production to prod (PIPELINE_CONFIG: branches main ->
    staging, production -> prod; prod gated on staging)."""
    root = make_repository(tmp_path / "repo")
    deploy_production(root)
    return root


def versions(root: Path, environment: str) -> list[dict[str, object]]:
    return invoke(root, "history", environment, "--json").json()


def table(root: Path, *command: str) -> str:
    """A command's human output, its table as wide as it needs (not wrapped at 80 columns)."""
    return invoke(root, *command, env={"COLUMNS": None}).stdout


def refused(ran: Ran, *words: str) -> None:
    """Exit 2, with the rule, the reason and the proper command in the message."""
    assert ran.code == 2, ran.all
    assert "changes only from Git" in ran.stderr or "only takes what passed" in ran.stderr, ran.stderr
    for word in words:
        assert word in ran.stderr, ran.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "prod", "--auto-apply"],
        ["apply", "prod"],
        ["plan", "staging", "--auto-apply"],
    ],
)
def test_a_dirty_tree_is_refused_with_the_command_that_does_it_properly(
    repo: Path, command: list[str]
) -> None:
    edit(repo, *HOTFIX)
    environment = command[1]
    branch = {"prod": "production", "staging": "main"}[environment]

    ran = invoke(repo, *command)

    refused(ran, "uncommitted changes", f"tidegate deploy --branch {branch}", "--break-glass")
    assert len(versions(repo, environment)) == 1


def test_promote_from_a_dev_built_from_a_dirty_tree_is_refused(repo: Path) -> None:
    edit(repo, *HOTFIX)
    assert invoke(repo, "plan", "dev", "--auto-apply").code == 0  # dev is free

    ran = invoke(repo, "promote", "dev", "prod")

    refused(ran, "dev's version 1 was built from uncommitted changes", "tidegate deploy --branch production")
    assert len(versions(repo, "prod")) == 1


def test_a_commit_not_on_the_branch_is_refused(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, *HOTFIX)
    feature = commit(repo, "a change not merged yet")

    for ran in (
        invoke(repo, "plan", "staging", "--auto-apply"),
        invoke(repo, "plan", "prod", "--auto-apply", "--ref", feature),
        invoke(repo, "deploy", "--env", "prod", "--ref", feature),
    ):
        refused(ran, f"commit {feature[:10]} is not on branch")
    assert invoke(repo, "plan", "dev", "--auto-apply").code == 0
    refused(invoke(repo, "promote", "dev", "staging"), "is not on branch main")
    assert len(versions(repo, "staging")) == len(versions(repo, "prod")) == 1


def test_a_saved_plan_of_a_dirty_tree_is_refused_and_a_clean_one_of_the_branch_applies(repo: Path) -> None:
    edit(repo, *HOTFIX)
    saved = repo / ".tidegate" / "plan.json"
    assert invoke(repo, "plan", "staging", "--out", str(saved)).code == 0  # a plan only reads

    refused(invoke(repo, "apply", str(saved)), "the plan was made from uncommitted changes")

    commit(repo, "the change, on main")
    assert invoke(repo, "plan", "staging", "--out", str(saved)).code == 0
    ran = invoke(repo, "apply", str(saved))
    assert ran.code == 0, ran.all
    assert versions(repo, "staging")[-1]["git_commit"] == git(repo, "rev-parse", "HEAD")


def test_a_clean_commit_of_the_branch_goes_through_the_gates(repo: Path) -> None:
    """prod takes only what staging ran, from plan --auto-apply as from deploy."""
    git(repo, "checkout", "-q", "production")
    edit(repo, *HOTFIX)
    commit(repo, "hotfix straight to production")

    refused(invoke(repo, "plan", "prod", "--auto-apply"), "only takes what passed staging", "order_count")
    assert len(versions(repo, "prod")) == 1

    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "production")
    assert invoke(repo, "plan", "staging", "--auto-apply").code == 0  # main's clean head: allowed
    git(repo, "checkout", "-q", "production")
    ran = invoke(repo, "plan", "prod", "--auto-apply", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["apply"]["built"] == []  # staging built it


def test_break_glass_overrides_and_is_recorded_and_shown(repo: Path) -> None:
    edit(repo, *HOTFIX)

    ran = invoke(repo, "plan", "prod", "--auto-apply", "--break-glass", "orders page is down")

    assert ran.code == 0, ran.all
    assert "break glass" in ran.stdout
    latest = versions(repo, "prod")[-1]
    assert latest["break_glass"] == "orders page is down"
    assert latest["git_commit"] is None and latest["author"]
    assert "break glass: orders page is down" in table(repo, "history", "prod")
    assert "break glass: orders page is down" in table(repo, "envs")
    prod = next(e for e in invoke(repo, "envs", "--json").json() if e["environment"] == "prod")
    assert prod["break_glass"] == "orders page is down"
    assert invoke(repo, "promote", "prod", "dev", "--break-glass", "anything").code == 0  # dev: free
    assert versions(repo, "dev")[-1]["break_glass"] is None
    assert invoke(repo, "plan", "prod", "--auto-apply", "--break-glass", " ").code == 2  # a reason


def test_break_glass_on_promote_and_the_next_ci_report_says_so(repo: Path) -> None:
    edit(repo, *HOTFIX)
    assert invoke(repo, "plan", "dev", "--auto-apply").code == 0
    ran = invoke(repo, "promote", "dev", "prod", "--break-glass", "hotfix before the board meeting", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["break_glass"] == "hotfix before the board meeting"
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "models/big_customers.sql", "total > 8", "total > 9")
    commit(repo, "a pull request")

    report = invoke(repo, "ci", "--base", "main", "--pr", "4", "--report", "md")

    assert report.code == 0, report.all
    assert "prod was changed with --break-glass" in report.stdout
    assert "hotfix before the board meeting" in report.stdout


def release(root: Path, old: str, new: str) -> str:
    """A change of big_customers merged to main and deployed to staging, then released to
    production and deployed to prod: production's head."""
    git(root, "checkout", "-q", "main")
    edit(root, "models/big_customers.sql", old, new)
    commit(root, "big customers from " + new)
    assert invoke(root, "deploy", "--branch", "main").code == 0
    git(root, "checkout", "-q", "production")
    git(root, "merge", "-q", "main")
    ran = invoke(root, "deploy", "--branch", "production")
    assert ran.code == 0, ran.all
    return git(root, "rev-parse", "production")


def big_customers(root: Path) -> int:
    return invoke(root, "query", "prod", "select count(*) from big_customers", "--json").json()["rows"][0][0]


def test_rollback_pins_and_a_deploy_of_the_same_commit_does_nothing(repo: Path) -> None:
    head = release(repo, "total > 8", "total > 5")
    assert big_customers(repo) == 2

    ran = invoke(repo, "rollback", "prod", "--json")

    assert ran.code == 0, ran.all
    pin = ran.json()["pinned"]
    assert (pin["environment"], pin["version"], pin["commit"]) == ("prod", 3, head)
    assert big_customers(repo) == 1
    assert "pinned at v3" in table(repo, "history", "prod")
    assert "pinned at v3" in table(repo, "envs")
    assert invoke(repo, "history", "prod", "--json").json()[-1]["pinned"]["version"] == 3
    deployed = invoke(repo, "deploy", "--branch", "production", "--json")
    assert deployed.code == 0, deployed.all
    assert deployed.json()["pinned"]["version"] == 3 and deployed.json()["version"] is None
    assert "is pinned at version 3" in invoke(repo, "deploy", "--branch", "production").stdout
    assert len(versions(repo, "prod")) == 3
    assert big_customers(repo) == 1


def test_a_new_commit_on_the_branch_unpins_and_deploys(repo: Path) -> None:
    release(repo, "total > 8", "total > 5")
    assert invoke(repo, "rollback", "prod").code == 0

    head = release(repo, "total > 5", "total > 6")

    prod = versions(repo, "prod")[-1]
    assert (prod["version"], prod["action"], prod["git_commit"], prod["pinned"]) == (4, "deploy", head, None)
    assert big_customers(repo) == 2
    assert "was not pinned" in invoke(repo, "unpin", "prod").stdout


def test_unpin_lets_the_same_commit_deploy_again(repo: Path) -> None:
    release(repo, "total > 8", "total > 5")
    assert invoke(repo, "rollback", "prod").code == 0

    ran = invoke(repo, "unpin", "prod", "--json")

    assert ran.code == 0, ran.all
    assert ran.json()["unpinned"] is True and ran.json()["pin"]["version"] == 3
    again = invoke(repo, "unpin", "prod", "--json")
    assert again.code == 0 and again.json()["unpinned"] is False
    deployed = invoke(repo, "deploy", "--branch", "production", "--json")
    assert deployed.code == 0 and deployed.json()["pinned"] is None
    assert versions(repo, "prod")[-1]["action"] == "deploy"
    assert big_customers(repo) == 2


def test_free_environments_stay_free(repo: Path) -> None:
    """dev, a user's dev_<name>, a pull request's: a dirty tree applies, promotes, rolls back
    without a pin."""
    edit(repo, *HOTFIX)
    assert invoke(repo, "plan", "dev", "--auto-apply").code == 0
    assert invoke(repo, "apply", "pr_9").code == 0
    assert invoke(repo, "promote", "dev", "pr_9").code == 0
    ran = invoke(repo, "rollback", "pr_9", "--json")
    assert ran.code == 0 and ran.json()["pinned"] is None


def test_the_controller_pins_with_the_head_it_knows(repo: Path) -> None:
    """`Context.rollback(..., branch_head=)`: the pin records the head the caller gives."""
    from tidegate.context import Context

    release(repo, "total > 8", "total > 5")
    with Context(repo) as ctx:
        version = ctx.rollback("prod", branch_head="f" * 40)
        pin = ctx.pin_of("prod")
        assert pin is not None and (pin.version, pin.commit) == (version, "f" * 40)
        assert ctx.unpin("prod") is True and ctx.pin_of("prod") is None
