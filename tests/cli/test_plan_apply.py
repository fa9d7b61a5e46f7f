"""`tidegate plan` and `tidegate apply`: review first, apply exactly what was reviewed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import LAYERED, edit


def test_plan_without_auto_apply_only_shows_the_plan(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED)
    ran = invoke(root, "plan", "prod")
    assert ran.code == 0, ran.all
    for model in ("raw_orders", "stg_orders", "customer_totals", "big_customers", "order_count"):
        assert model in ran.stdout
    assert "5 snapshot(s) to build" in ran.stdout
    assert "Not applied" in ran.stdout
    assert "--auto-apply" in ran.stdout
    assert invoke(root, "envs", "--json").json() == []
    assert invoke(root, "query", "prod", "select 1").code == 2  # prod does not exist


def test_plan_json_is_one_document_with_changes_and_summary(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED)
    ran = invoke(root, "plan", "prod", "--json")
    assert ran.code == 0, ran.all
    document = ran.json()
    assert document["environment"] == "prod"
    assert document["apply"] is None
    assert {c["model"]: c["change"] for c in document["changes"]} == dict.fromkeys(
        ["raw_orders", "stg_orders", "customer_totals", "big_customers", "order_count"], "added"
    )
    assert document["summary"]["changes"] == {"added": 5}
    assert document["summary"]["builds"] == 5
    assert document["summary"]["tests"] == 2
    assert "Plan for prod" in ran.stderr  # the human rendering goes to stderr
    assert invoke(root, "envs", "--json").json() == []


def test_auto_apply_json_has_the_plan_and_the_apply(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED)
    document = invoke(root, "plan", "prod", "--auto-apply", "--json").json()
    assert document["summary"]["builds"] == 5
    assert document["apply"]["version"] == 1
    assert sorted(document["apply"]["built"]) == sorted(
        ["raw_orders", "stg_orders", "customer_totals", "big_customers", "order_count"]
    )
    assert [t["passed"] for t in document["apply"]["tests"]] == [True, True]

    again = invoke(root, "plan", "prod", "--auto-apply", "--json")
    assert again.code == 0
    assert again.json()["summary"]["has_changes"] is False
    assert again.json()["apply"] is None
    assert "No changes" in again.stderr


def test_saved_plan_is_applied_later(make_project: Callable[..., Path], tmp_path: Path) -> None:
    root = make_project(LAYERED)
    saved = tmp_path / "plan.json"
    ran = invoke(root, "plan", "prod", "--out", str(saved))
    assert ran.code == 0, ran.all
    assert "tidegate apply" in ran.stdout
    assert "Not applied" not in ran.stdout
    plan_id = json.loads(saved.read_text())["id"]
    assert invoke(root, "envs", "--json").json() == []

    ran = invoke(root, "apply", str(saved), "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["version"] == 1
    assert ran.json()["changed"] is True
    assert ran.json()["plan"] == plan_id
    history = invoke(root, "history", "prod").stdout
    assert f"plan {plan_id}" in history


def test_saved_plan_is_refused_after_the_environment_moved(built: Path, tmp_path: Path) -> None:
    edit(built, "models/order_count.sql", "count(*) as n", "count(*) as n, 1 as one")
    saved = tmp_path / "plan.json"
    assert invoke(built, "plan", "prod", "--out", str(saved)).code == 0
    assert invoke(built, "plan", "prod", "--auto-apply").code == 0  # prod moves to version 2
    ran = invoke(built, "apply", str(saved))
    assert ran.code == 2
    assert "moved since the plan was made" in ran.stderr
    assert "version 1 then, 2 now" in ran.stderr
    assert "Traceback" not in ran.all
    assert [v["version"] for v in invoke(built, "history", "prod", "--json").json()] == [1, 2]


def test_apply_of_a_missing_plan_file_exits_2(built: Path, tmp_path: Path) -> None:
    ran = invoke(built, "apply", str(tmp_path / "nope.json"))
    assert ran.code == 2
    assert "nope.json" in ran.stderr


def test_apply_environment_plans_and_applies(built: Path) -> None:
    ran = invoke(built, "apply", "dev", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["environment"] == "dev"
    assert ran.json()["changed"] is True
    assert ran.json()["built"] == []  # everything reuses prod's snapshots
    ran = invoke(built, "apply", "dev", "--json")
    assert ran.json()["changed"] is False
    assert ran.json()["version"] == 1


def test_auto_apply_with_out_saves_and_applies_with_one_json_document(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(LAYERED)
    saved = tmp_path / "plan.json"
    ran = invoke(root, "plan", "prod", "--auto-apply", "--out", str(saved), "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["apply"]["version"] == 1
    assert saved.exists()
    ran = invoke(root, "plan", "prod", "--auto-apply", "--out", str(saved), "--json")
    assert ran.json()["summary"]["has_changes"] is False  # still exactly one document


def test_a_change_rebuilds_only_what_it_breaks(built: Path) -> None:
    edit(built, "models/customer_totals.sql", "count(*) as orders", "count(*) as orders, max(amount) as top")
    ran = invoke(built, "plan", "dev", "--auto-apply")
    assert ran.code == 0, ran.all
    lines = {line.split()[1]: line for line in ran.stdout.splitlines() if line[:1] in "+-~"}
    assert "directly modified" in lines["customer_totals"]
    assert "non-breaking" in lines["customer_totals"]
    assert "reuse snapshot" in lines["big_customers"]
    assert "stg_orders" not in lines
    assert "1 snapshot(s) to build" in ran.stdout
    assert "reused from prod" in ran.stdout
    assert "Applied dev version 1: built 1 snapshot(s)" in ran.stdout
    columns = invoke(built, "query", "dev", "select * from customer_totals", "--json").json()["columns"]
    assert "top" in columns
    assert (
        "top"
        not in invoke(built, "query", "prod", "select * from customer_totals", "--json").json()["columns"]
    )


def test_a_failing_data_test_blocks_the_apply(built: Path) -> None:
    (built / "tests").mkdir()
    (built / "tests" / "no_big_orders.sql").write_text(
        "select * from {{ ref('stg_orders') }} where amount > 15\n"
    )
    edit(built, "models/stg_orders.sql", "status from", "status, 1 as x from")
    ran = invoke(built, "plan", "prod", "--auto-apply")
    assert ran.code == 1
    assert "FAIL" in ran.stderr
    assert "no_big_orders" in ran.stderr
    assert "'amount': 20" in ran.stderr  # the failing row is shown
    assert "the environment was not changed" in ran.stderr
    assert "Traceback" not in ran.all
    assert [v["version"] for v in invoke(built, "history", "prod", "--json").json()] == [1]


def test_a_failing_apply_with_json_prints_the_error_document(built: Path) -> None:
    (built / "tests").mkdir()
    (built / "tests" / "always_fails.sql").write_text("select * from {{ ref('order_count') }}\n")
    edit(built, "models/order_count.sql", "count(*) as n", "count(*) as n, 2 as two")
    ran = invoke(built, "plan", "prod", "--auto-apply", "--json")
    assert ran.code == 1
    document = ran.json()
    assert document["error"] == "CheckFailed"
    assert [t["name"] for t in document["tests"] if not t["passed"]] == ["always_fails"]


def test_plan_on_a_terminal_asks_before_applying(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tidegate.cli.commands._stdin_is_terminal", lambda: True)
    root = make_project(LAYERED)
    ran = invoke(root, "plan", "prod", input="n\n")
    assert ran.code == 0, ran.all
    assert "Apply this plan?" in ran.stderr
    assert "Not applied" in ran.stdout
    assert invoke(root, "envs", "--json").json() == []

    ran = invoke(root, "plan", "prod", input="y\n")
    assert ran.code == 0, ran.all
    assert "Applied prod version 1" in ran.stdout
    assert [e["environment"] for e in invoke(root, "envs", "--json").json()] == ["prod"]


def test_vars_must_be_a_yaml_mapping(built: Path) -> None:
    ran = invoke(built, "plan", "prod", "--vars", "[1, 2]")
    assert ran.code == 2
    assert "--vars must be a mapping" in ran.stderr


def test_full_refresh_of_an_unknown_model_exits_2(built: Path) -> None:
    ran = invoke(built, "plan", "prod", "--full-refresh", "nope")
    assert ran.code == 2, ran.all
    assert "nope" in ran.stderr
