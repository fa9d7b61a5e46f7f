"""The story of DESIGN section 2: snapshots, environments as views, promotion and rollback."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADD_BIGGEST, COUNT_REFUNDS, TIMES_TEN, build_prod, internal_relations, write_files


def test_first_plan_builds_every_model_and_creates_prod_views(layered: Path, open_context) -> None:
    ctx = build_prod(layered, open_context)
    assert ctx.query("prod", "select * from customer_totals order by 1").rows == [(1, 30, 2), (3, 7, 1)]
    rows = ctx.engine("prod").fetch('select customer_id from "analytics"."big_customers" order by 1').rows
    assert rows == [(1,)]


def test_formatting_and_description_changes_plan_nothing(layered: Path, open_context) -> None:
    build_prod(layered, open_context).close()
    write_files(
        layered,
        {
            "models/customer_totals.sql": """
                -- reformatted, with a comment
                SELECT   customer_id,
                         SUM(amount) AS total,
                         COUNT(*)    AS orders
                FROM {{ ref('stg_orders') }}
                WHERE status = 'paid'
                GROUP BY customer_id
            """,
            "models/schema.yml": """
                version: 2
                models:
                  - name: customer_totals
                    description: A new description.
                    columns:
                      - name: customer_id
                        data_tests: [unique, not_null]
            """,
        },
    )
    plan = open_context(layered).plan("prod")
    assert not plan.has_changes
    assert plan.builds == []


def test_breaking_change_in_dev_rebuilds_the_model_and_its_downstream_only(
    layered: Path, open_context
) -> None:
    build_prod(layered, open_context).close()
    write_files(layered, COUNT_REFUNDS)
    ctx = open_context(layered)
    plan = ctx.plan("dev")
    built = {build.model for build in plan.builds if build.reused_from is None}
    assert built == {"customer_totals", "big_customers"}
    changes = {change.model: change for change in plan.changes}
    assert changes["customer_totals"].change == "directly_modified" and changes["customer_totals"].breaking
    assert changes["big_customers"].change == "indirectly_modified"
    ctx.apply(plan)
    assert ctx.query("dev", "select total from customer_totals where customer_id = 2").rows == [(5,)]
    assert ctx.query("prod", "select count(*) from customer_totals where customer_id = 2").rows == [(0,)]


def test_adding_a_column_does_not_rebuild_children_that_do_not_read_it(layered: Path, open_context) -> None:
    build_prod(layered, open_context).close()
    write_files(layered, ADD_BIGGEST)
    plan = open_context(layered).plan("dev")
    built = {build.model for build in plan.builds if build.reused_from is None}
    assert built == {"customer_totals"}
    change = next(c for c in plan.changes if c.model == "customer_totals")
    assert change.breaking is False and change.added_columns == ["biggest"]


def test_promote_copies_no_data_and_rollback_restores(layered: Path, open_context) -> None:
    build_prod(layered, open_context).close()
    write_files(layered, TIMES_TEN)
    ctx = open_context(layered)
    ctx.plan_and_apply("dev")
    tables_before = internal_relations(ctx)
    version = ctx.promote("dev", "prod")
    assert version == 2
    assert internal_relations(ctx) == tables_before
    assert ctx.query("prod", "select n from order_count").rows == [(40,)]
    assert ctx.rollback("prod") == 3
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    assert [v.action for v in ctx.history("prod")] == ["apply", "promote", "rollback"]
