"""`promote`, `rollback`, `envs` and `history`: views swapped, never data copied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import invoke
from tests.conftest import LAYERED, edit


def _columns(root: Path, environment: str) -> list[str]:
    return invoke(root, "query", environment, "select * from order_count", "--json").json()["columns"]


def _changed_in_dev(built: Path) -> None:
    edit(built, "models/order_count.sql", "count(*) as n", "count(*) as n, sum(amount) as total")
    assert invoke(built, "plan", "dev", "--auto-apply").code == 0


def test_promote_then_rollback(built: Path) -> None:
    _changed_in_dev(built)
    ran = invoke(built, "promote", "dev", "prod")
    assert ran.code == 0, ran.all
    assert "Promoted dev to prod (version 2)" in ran.stdout
    assert _columns(built, "prod") == ["n", "total"]

    ran = invoke(built, "rollback", "prod", "--json")
    assert ran.code == 0, ran.all
    assert ran.json() == {"environment": "prod", "version": 3, "pinned": None}  # prod is free here
    assert _columns(built, "prod") == ["n"]

    ran = invoke(built, "rollback", "prod", "--to", "2")
    assert ran.code == 0, ran.all
    assert "Rolled back prod (now version 4)" in ran.stdout
    assert _columns(built, "prod") == ["n", "total"]


def test_promote_json_and_errors(built: Path) -> None:
    _changed_in_dev(built)
    assert invoke(built, "promote", "dev", "prod", "--json").json() == {
        "source": "dev",
        "target": "prod",
        "version": 2,
        "break_glass": None,
    }
    ran = invoke(built, "promote", "prod", "prod")
    assert ran.code == 2
    assert "itself" in ran.stderr
    ran = invoke(built, "promote", "nope", "prod")
    assert ran.code == 2
    assert "'nope' does not exist" in ran.stderr
    assert "tidegate plan nope" in ran.stderr  # the hint


def test_rollback_errors_exit_2_with_a_hint(built: Path) -> None:
    ran = invoke(built, "rollback", "prod")
    assert ran.code == 2
    assert "no version 0" in ran.stderr
    assert "tidegate history prod" in ran.stderr
    ran = invoke(built, "rollback", "prod", "--to", "1")
    assert ran.code == 2
    assert "already at version 1" in ran.stderr
    assert invoke(built, "rollback", "dev").code == 2
    assert invoke(built, "rollback", "prod", "--to", "x").code == 2  # not a number


def test_envs_human_and_json(built: Path) -> None:
    _changed_in_dev(built)
    ran = invoke(built, "envs")
    assert ran.code == 0, ran.all
    lines = ran.stdout.splitlines()
    assert lines[0].split()[:3] == ["environment", "version", "models"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
    assert rows["prod"][1:3] == ["1", "5"]
    assert rows["dev"][1:3] == ["1", "5"]

    documents = invoke(built, "envs", "--json").json()
    by_name = {d["environment"]: d for d in documents}
    assert set(by_name) == {"dev", "prod"}
    assert by_name["prod"]["models"] == 5
    assert by_name["dev"]["action"] == "apply"


def test_envs_without_environments(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED)
    ran = invoke(root, "envs")
    assert ran.code == 0
    assert "No environments yet" in ran.stdout


def test_history_human_and_json(built: Path) -> None:
    _changed_in_dev(built)
    invoke(built, "promote", "dev", "prod")
    invoke(built, "rollback", "prod")
    ran = invoke(built, "history", "prod")
    assert ran.code == 0, ran.all
    # A narrow terminal may wrap the note column onto a continuation line.
    rows = [
        line.split()
        for line in ran.stdout.splitlines()[1:]
        if line.split()[:1] != [] and line.split()[0].isdigit()
    ]
    assert [(row[0], row[3]) for row in rows] == [("1", "apply"), ("2", "promote"), ("3", "rollback")]
    assert "from dev v1" in ran.stdout
    assert "to v1" in ran.stdout

    versions = invoke(built, "history", "prod", "--json").json()
    assert [v["action"] for v in versions] == ["apply", "promote", "rollback"]
    assert versions[0]["models"] == versions[2]["models"]
    assert versions[1]["models"]["order_count"] != versions[0]["models"]["order_count"]
    assert versions[1]["models"]["stg_orders"] == versions[0]["models"]["stg_orders"]


def test_history_of_an_unknown_environment_exits_2(built: Path) -> None:
    ran = invoke(built, "history", "nope")
    assert ran.code == 2
    assert "nope" in ran.stderr
