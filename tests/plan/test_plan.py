"""Saved plans: reviewed once, applied exactly as reviewed, refused when stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_files
from tests.plan.conftest import built_prod
from tidegate.errors import PlanError
from tidegate.plan import Plan
from tidegate.project.model import Kind


def test_save_and_load_round_trip(layered: Path, open_context, tmp_path: Path) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, {"models/order_count.sql": "select count(*) * 2 as n from {{ ref('stg_orders') }}"})
    plan = open_context(layered).plan("prod", git_commit="abc123")
    path = tmp_path / "plan.json"
    plan.save(path)
    loaded = Plan.load(path)
    assert loaded == plan
    assert loaded.builds[0].sql and loaded.git_commit == "abc123" and loaded.base_version == 1


def test_loading_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"format": 99}')
    with pytest.raises(PlanError, match="format"):
        Plan.load(path)
    path.write_text("not json")
    with pytest.raises(PlanError, match="cannot read"):
        Plan.load(path)
    path.write_text('{"format": 1, "id": "x"}')
    with pytest.raises(PlanError, match="invalid saved plan"):
        Plan.load(path)


def test_a_plan_is_refused_once_the_environment_moved(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, {"models/order_count.sql": "select count(*) * 2 as n from {{ ref('stg_orders') }}"})
    ctx = open_context(layered)
    first, second = ctx.plan("prod"), ctx.plan("prod")
    ctx.apply(first)
    with pytest.raises(PlanError, match="moved since the plan"):
        ctx.apply(second)
    assert ctx.current("prod").version == 2


def test_a_saved_plan_is_applied_as_reviewed_even_if_files_changed(
    layered: Path, open_context, tmp_path: Path
) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, {"models/order_count.sql": "select count(*) * 2 as n from {{ ref('stg_orders') }}"})
    path = tmp_path / "plan.json"
    open_context(layered).plan("prod").save(path)
    write_files(
        layered, {"models/order_count.sql": "select count(*) * 1000 as n from {{ ref('stg_orders') }}"}
    )
    ctx = open_context(layered)
    ctx.apply(Plan.load(path))
    assert ctx.query("prod", "select n from order_count").rows == [(8,)]


def test_a_seed_changed_after_the_plan_is_refused(layered: Path, open_context, tmp_path: Path) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    seed = layered / "seeds/raw_orders.csv"
    seed.write_text(seed.read_text() + "5,4,1,paid\n")
    path = tmp_path / "plan.json"
    open_context(layered).plan("prod").save(path)
    seed.write_text(seed.read_text() + "6,4,1,paid\n")
    ctx = open_context(layered)
    with pytest.raises(PlanError, match="changed since the plan"):
        ctx.apply(Plan.load(path))
    assert ctx.current("prod").version == 1
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]


def test_a_plan_for_another_warehouse_is_refused(layered: Path, open_context, tmp_path: Path) -> None:
    plan = open_context(layered).plan("prod")
    moved = plan.model_copy(update={"warehouse": "duckdb:/elsewhere.duckdb"})
    with pytest.raises(PlanError, match="made for"):
        open_context(layered).apply(moved)


SNAPSHOT = {
    "fingerprint": "f1",
    "version": "f1",
    "kind": "view",
    "schema": "analytics",
    "physical": '"tidegate__analytics"."orders__f1"',
    "query_hash": "q1",
    "parents": ['"tidegate__analytics"."raw__f0"'],
    "metadata": "m1",
    "alias": None,
}
FAILURES = {
    "environment": "dev",
    "kind": "view",
    "schema": "analytics_dbt_test__audit__dev",
    "name": "not_null_orders_id",
    "relation": '"analytics_dbt_test__audit__dev"."not_null_orders_id"',
    "parents": ['"tidegate__analytics"."orders__f1"'],
}
EARLIER = {  # as tidegate wrote plans before snapshots and stored failures had one type each
    "format": 1,
    "id": "0123456789ab",
    "project": "test",
    "environment": "dev",
    "base_environment": "prod",
    "base_version": None,
    "created_at": "2025-01-01T00:00:00Z",
    "engine": "DuckDBAdapter",
    "warehouse": "duckdb:warehouse.duckdb",
    "mapping": {"orders": SNAPSHOT},
    "tests": [
        {
            "name": "not_null_orders_id",
            "kind": "not_null",
            "sql": "select * from x where id is null",
            "severity": "error",
            "models": ["orders"],
            "failures": FAILURES,
        }
    ],
}


def test_a_plan_saved_by_an_earlier_version_loads_and_saves_in_the_same_format(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(EARLIER))
    plan = Plan.load(path)
    record = plan.mapping["orders"]
    assert (record.model, record.kind, record.parents) == ("orders", Kind.VIEW, tuple(SNAPSHOT["parents"]))
    assert plan.tests[0].failures is not None and plan.tests[0].failures.kind == "view"
    plan.save(path)
    saved = json.loads(path.read_text())
    assert list(saved["mapping"]["orders"].items()) == list(SNAPSHOT.items())  # keys in the same order
    assert list(saved["tests"][0]["failures"].items()) == list(FAILURES.items())


def test_a_saved_plan_with_an_unknown_snapshot_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(EARLIER | {"mapping": {"orders": SNAPSHOT | {"owner": "x"}}}))
    with pytest.raises(PlanError, match="invalid saved plan"):
        Plan.load(path)
