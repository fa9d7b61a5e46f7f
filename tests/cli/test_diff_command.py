"""`tidegate diff ENV_A ENV_B [--model M]...`: what changes in the rows from one to the other."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import edit


@pytest.fixture
def pr(built: Path) -> Path:
    """prod built; pr_5 keeps big customers from a total of 5 instead of 8."""
    edit(built, "models/big_customers.sql", "total > 8", "total > 5")
    ran = invoke(built, "plan", "pr_5", "--auto-apply")
    assert ran.code == 0, ran.all
    return built


def test_json_diffs_the_models_whose_snapshots_differ(pr: Path) -> None:
    ran = invoke(pr, "diff", "prod", "pr_5", "--json")
    assert ran.code == 0, ran.all
    document = ran.json()
    assert (document["before"], document["after"]) == ("prod", "pr_5")
    (diff,) = document["models"]
    assert diff["model"] == "big_customers"
    assert (diff["rows_before"], diff["rows_after"], diff["added"], diff["removed"]) == (1, 2, 1, 0)
    assert diff["samples_added"]["rows"] == [[3, 7]]
    assert sorted(document["identical"]) == ["customer_totals", "order_count", "raw_orders", "stg_orders"]


def test_human_output(pr: Path) -> None:
    ran = invoke(pr, "diff", "prod", "pr_5")
    assert ran.code == 0, ran.all
    assert "Data diff from prod to pr_5" in ran.stdout
    assert "big_customers" in ran.stdout and "(whole rows)" in ran.stdout
    assert "4 model(s) identical, not queried" in ran.stdout
    assert "\x1b[" not in ran.stdout  # no colour in a pipe


def test_one_model_by_key(pr: Path) -> None:
    edit(pr, "seeds/raw_orders.csv", "4,3,7,paid", "4,3,70,paid")
    assert invoke(pr, "plan", "pr_5", "--auto-apply").code == 0
    ran = invoke(pr, "diff", "prod", "pr_5", "--model", "customer_totals", "--json")
    assert ran.code == 0, ran.all
    (diff,) = ran.json()["models"]
    assert diff["key"] == ["customer_id"] and diff["changed"] == 1
    assert {c["column"]: c["changed"] for c in diff["columns"]} == {"total": 1, "orders": 0}
    assert diff["samples_changed"]["rows"] == [[3, 7, 70]]
    human = invoke(pr, "diff", "prod", "pr_5", "-m", "customer_totals")
    assert "total (1)" in human.stdout and "changed rows (sample)" in human.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("prod", "pr_404"), "environment 'pr_404' does not exist"),
        (("prod", "pr_5", "--model", "nope"), "neither prod nor pr_5 has model(s) nope"),
        (("prod", "bad-name"), "must be letters, digits and _"),
    ],
)
def test_bad_input_exits_2(pr: Path, args: tuple[str, ...], message: str) -> None:
    ran = invoke(pr, "diff", *args)
    assert ran.code == 2
    assert message in ran.stderr


def test_help() -> None:
    ran = invoke(None, "diff", "--help")
    assert ran.code == 0
    assert "ENV_A ENV_B" in ran.stdout and "--model" in ran.stdout and "--samples" in ran.stdout
