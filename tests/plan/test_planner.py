"""The planner: what a change to the project means for an environment, on real DuckDB."""

from __future__ import annotations

import random
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CONFIG, LAYERED, TIMES_TEN, write_files
from tests.plan.conftest import built_prod, changes, rebuilt
from tidegate.context import Context
from tidegate.errors import PlanError
from tidegate.graph import Graph


def test_a_new_environment_from_prod_reuses_every_snapshot(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    plan = ctx.plan("dev")
    assert plan.base_environment == "prod" and plan.base_version is None
    assert plan.builds == [] and plan.changes == []
    assert plan.views_changed == sorted(ctx.project.models)
    result = ctx.apply(plan)
    assert result.built == [] and result.version == 1
    prod = ctx.current("prod").models
    dev = ctx.current("dev").models
    assert {n: r.physical for n, r in dev.items()} == {n: r.physical for n, r in prod.items()}
    assert ctx.query("dev", "select n from order_count").rows == [(4,)]


def test_breaking_change_rebuilds_the_model_and_exactly_its_downstream(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(
        layered,
        {
            "models/stg_orders.sql": LAYERED["models/stg_orders.sql"].replace(
                "amount,", "amount * 2 as amount,"
            )
        },
    )
    plan = open_context(layered).plan("prod")
    downstream = {"customer_totals", "big_customers", "order_count"}
    assert rebuilt(plan) == {"stg_orders"} | downstream
    assert changes(plan) == {"stg_orders": "directly_modified"} | dict.fromkeys(
        downstream, "indirectly_modified"
    )
    assert all(change.breaking for change in plan.changes)


BASE = "select id, amount from (values (1, 10), (2, 20)) as v(id, amount)"
NON_BREAKING_PROJECT = {
    "models/base.sql": BASE,
    "models/other.sql": "select 1 as id, 'o' as doubled",
    "models/named.sql": "select id, amount from {{ ref('base') }}",
    "models/counted.sql": "select count(*) as n from {{ ref('base') }}",
    "models/starred.sql": "select * from {{ ref('base') }}",
    "models/qualified_star.sql": "select b.* from {{ ref('base') }} as b",
    "models/grandchild.sql": "select * from {{ ref('named') }}",
    # names a column called `doubled` (from another model): it could read the new one, so rebuilt
    "models/same_name.sql": "select b.id, o.doubled from {{ ref('base') }} as b join {{ ref('other') }} as o using (id)",
    "models/as_view.sql": "{{ config(materialized='view') }} select id from {{ ref('base') }}",
}


def test_non_breaking_change_keeps_children_that_do_not_read_the_new_column(
    make_project, open_context
) -> None:
    root = make_project(NON_BREAKING_PROJECT)
    ctx = built_prod(root, open_context)
    before = ctx.current("prod").models
    ctx.close()
    write_files(root, {"models/base.sql": BASE.replace("amount from", "amount, amount * 2 as doubled from")})
    ctx = open_context(root)
    plan = ctx.plan("prod")
    assert rebuilt(plan) == {"base", "starred", "qualified_star", "same_name"}
    kept = {"named", "counted", "grandchild", "as_view"}
    assert changes(plan) == {"base": "directly_modified"} | dict.fromkeys(
        kept | {"starred", "qualified_star", "same_name"}, "indirectly_modified"
    )
    base_change = next(c for c in plan.changes if c.model == "base")
    assert base_change.breaking is False and base_change.added_columns == ["doubled"]
    assert {c.model for c in plan.changes if c.breaking is False} == {"base"} | kept
    ctx.apply(plan)
    after = ctx.current("prod").models
    for name in kept:
        assert after[name].physical == before[name].physical
        assert after[name].fingerprint != before[name].fingerprint
    assert after["starred"].physical != before["starred"].physical
    assert ctx.query("prod", "select doubled from starred order by id").rows == [(20,), (40,)]
    assert ctx.query("prod", "select id from as_view order by id").rows == [(1,), (2,)]
    # a second plan sees nothing to do: the kept children are recorded under their new fingerprint
    assert not open_context(root).plan("prod").has_changes


def test_removed_model_drops_its_view(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    (layered / "models/order_count.sql").unlink()
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert changes(plan) == {"order_count": "removed"}
    assert plan.views_removed == ["order_count"] and plan.builds == []
    ctx.apply(plan)
    views = {name for schema, name, _ in ctx.engine("prod").relations("analytics")}
    assert "order_count" not in views and "big_customers" in views
    assert "order_count" not in ctx.current("prod").models


def test_table_to_view_rebuilds_it_as_a_view(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    text = "{{ config(materialized='view') }}\n" + LAYERED["models/customer_totals.sql"]
    write_files(layered, {"models/customer_totals.sql": text})
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert rebuilt(plan) == {"customer_totals", "big_customers"}
    assert plan.mapping["customer_totals"].kind == "view"
    ctx.apply(plan)
    physical = ctx.current("prod").models["customer_totals"].physical
    kinds = {ctx.engine("prod").relation(s, n): k for s, n, k in ctx.engine("prod").relations("tidegate__")}
    assert kinds[physical] == "view"
    assert ctx.query("prod", "select total from customer_totals order by 1").rows == [(7,), (30,)]


def test_table_to_ephemeral_removes_its_view_and_inlines_it(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    text = "{{ config(materialized='ephemeral') }}\n" + LAYERED["models/customer_totals.sql"]
    write_files(layered, {"models/customer_totals.sql": text})
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert plan.mapping["customer_totals"].physical is None
    assert plan.views_removed == ["customer_totals"]
    assert rebuilt(plan) == {"big_customers"}
    assert "__tgref__" not in next(b.sql for b in plan.builds if b.model == "big_customers")
    ctx.apply(plan)
    assert ctx.query("prod", "select customer_id from big_customers").rows == [(1,)]
    views = {name for _, name, _ in ctx.engine("prod").relations("analytics")}
    assert "customer_totals" not in views


def test_snapshots_built_in_dev_are_reused_by_prod(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, TIMES_TEN)
    ctx = open_context(layered)
    dev = ctx.plan("dev")
    assert rebuilt(dev) == {"order_count"}
    ctx.apply(dev)
    prod = ctx.plan("prod")
    assert prod.builds == []
    assert prod.views_changed == ["order_count"]
    assert prod.mapping["order_count"].physical == dev.mapping["order_count"].physical
    result = ctx.apply(prod)
    assert result.built == [] and result.views_changed == 1
    assert result.reused == ["order_count"]  # found already built when planned
    assert ctx.query("prod", "select n from order_count").rows == [(40,)]


def test_metadata_only_change_plans_nothing(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    yml = LAYERED["models/schema.yml"].replace("Paid totals per customer.", "Something else entirely.")
    write_files(layered, {"models/schema.yml": yml})
    plan = open_context(layered).plan("prod")
    assert changes(plan) == {"customer_totals": "metadata"}
    assert not plan.has_changes and plan.builds == [] and plan.tests == []


def test_dashboards_and_exposures_affected_are_those_reading_changed_models(
    layered: Path, open_context
) -> None:
    write_files(
        layered,
        {
            "dashboards/finance.yml": """
                dashboards:
                  - name: revenue
                    queries:
                      - name: top
                        sql: select * from {{ ref('big_customers') }}
                  - name: volume
                    queries:
                      - sql: select n from {{ ref('order_count') }}
                  - name: plain
                    queries:
                      - sql: select total from Analytics.Big_Customers
            """,
            "models/exposures.yml": """
                exposures:
                  - name: board_pack
                    type: dashboard
                    owner: {name: Ada}
                    depends_on: ["ref('big_customers')"]
                  - name: volume_app
                    type: application
                    owner: {name: Ada}
                    depends_on: ["ref('order_count')"]
            """,
        },
    )
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(
        layered,
        {
            "models/big_customers.sql": "select customer_id, total from {{ ref('customer_totals') }} where total > 1"
        },
    )
    plan = open_context(layered).plan("prod")
    assert plan.dashboards_affected == ["plain", "revenue"]
    assert plan.exposures_affected == ["board_pack"]


def test_schema_change_moves_the_view(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    text = "{{ config(schema='marts') }}\n" + LAYERED["models/order_count.sql"]
    write_files(layered, {"models/order_count.sql": text})
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert plan.mapping["order_count"].schema == "marts"
    ctx.apply(plan)
    views = {(schema, name) for schema, name, _ in ctx.engine("prod").relations("")}
    assert ("marts", "order_count") in views
    assert ("analytics", "order_count") not in views
    assert ctx.engine("prod").fetch("select n from marts.order_count").rows == [(4,)]


def test_full_refresh_of_an_unknown_model_is_refused(layered: Path, open_context) -> None:
    with pytest.raises(PlanError, match="nope"):
        open_context(layered).plan("prod", full_refresh=["nope"])


# property: random layered DAGs ---------------------------------------------------------


@st.composite
def layered_dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Models m0..mN in layers; each model past the first layer refs one to three earlier ones."""
    count = draw(st.integers(min_value=6, max_value=12))
    parents: dict[str, list[str]] = {}
    for index in range(count):
        name = f"m{index}"
        if index < 2:
            parents[name] = []
            continue
        earlier = [f"m{i}" for i in range(index)]
        parents[name] = sorted(set(draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=3))))
    return parents


def _model_sql(name: str, parents: list[str], salt: int = 0) -> str:
    if not parents:
        return f"select {name[1:]} + {salt} as v from range(3)"
    joined = " + ".join(f"(select max(v) from {{{{ ref('{p}') }}}})" for p in parents)
    return f"select {joined} + {salt} as v"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dag=layered_dags(), seed=st.integers(min_value=0, max_value=10_000))
def test_property_breaking_change_rebuilds_exactly_the_downstream_closure(
    tmp_path_factory: pytest.TempPathFactory, dag: dict[str, list[str]], seed: int
) -> None:
    root = tmp_path_factory.mktemp("dag")
    (root / "tidegate.yml").write_text(CONFIG)
    write_files(root, {f"models/{name}.sql": _model_sql(name, parents) for name, parents in dag.items()})
    with Context(root) as ctx:
        ctx.plan_and_apply("prod")
        graph = Graph(ctx.project.models)
    target = random.Random(seed).choice(sorted(dag))
    path = root / f"models/{target}.sql"

    # formatting only: nothing to build
    original = path.read_text()
    keywords = re.sub(r"\b(select|from|as|max)\b", lambda m: m.group(1).upper(), original)
    path.write_text("-- reformatted\n" + textwrap.indent(keywords.replace(" ", "\n  "), "   "))
    with Context(root) as ctx:
        plan = ctx.plan("prod")
        assert plan.builds == [] and not plan.has_changes

    # a breaking change: the model and everything downstream of it, nothing else
    path.write_text(_model_sql(target, dag[target], salt=1))
    with Context(root) as ctx:
        plan = ctx.plan("prod")
        expected = {target} | graph.downstream([target])
        assert rebuilt(plan) == expected
        assert {c.model for c in plan.changes} == expected


def test_added_and_removed_models_have_no_breaking_category(layered: Path, open_context) -> None:
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert {c.change for c in plan.changes} == {"added"}
    assert all(c.breaking is None for c in plan.changes)
    assert '"breaking": null' in plan.model_dump_json(indent=1)
    ctx.apply(plan)
    ctx.close()
    (layered / "models/big_customers.sql").unlink()
    removed = open_context(layered).plan("prod")
    assert [(c.model, c.change, c.breaking) for c in removed.changes] == [("big_customers", "removed", None)]


def test_an_environment_in_another_warehouse_rebuilds_everything_and_says_why(
    make_project, open_context
) -> None:
    """Snapshots live in one warehouse: dev on another database cannot point views at prod's."""
    from tests.conftest import LAYERED

    config = (
        "name: test\nenvironments:\n"
        "  prod: {engine: duckdb, path: prod.duckdb}\n"
        "  dev: {engine: duckdb, path: dev.duckdb}\n"
    )
    root = make_project(LAYERED, config=config)
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    plan = ctx.plan("dev")
    assert plan.base_environment is None
    assert {b.model for b in plan.builds} == set(ctx.project.models)
    assert any("another warehouse" in note and "builds every model" in note for note in plan.notes)
    ctx.apply(plan)
    assert ctx.query("dev", "select count(*) from customer_totals").rows == [(2,)]
