"""Applying plans: unit tests, parallel builds, data tests, then one atomic swap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import COUNTS_ORDERS, LAYERED, write_files
from tests.plan.conftest import built_prod, rebuilt
from tidegate.context import Context
from tidegate.errors import CheckFailed, EngineError, StateError
from tidegate.state.views import INTERNAL_PREFIX

DUPLICATING = """
    select customer_id, sum(amount) as total, count(*) as orders
    from {{ ref('stg_orders') }} where status = 'paid' group by customer_id
    union all select 1, 0, 0
"""


def relations(ctx: Context) -> set[str]:
    engine = ctx.engine("prod")
    return {engine.relation(schema, name) for schema, name, _ in engine.relations(INTERNAL_PREFIX)}


def test_failing_data_test_leaves_the_environment_as_it_was_and_keeps_snapshots(
    layered: Path, open_context: Callable[..., Context]
) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, {"models/customer_totals.sql": DUPLICATING})
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert rebuilt(plan) == {"customer_totals", "big_customers"}
    with pytest.raises(CheckFailed, match="unique_customer_totals_customer_id") as failure:
        ctx.apply(plan)
    assert failure.value.exit_code == 1
    assert failure.value.path == "models/schema.yml"
    assert ctx.current("prod").version == 1
    assert ctx.query("prod", "select count(*) from customer_totals").rows == [(2,)]
    built = {plan.mapping[name].physical for name in ("customer_totals", "big_customers")}
    assert built <= relations(ctx)

    # the test becomes a warning: the rerun reuses both snapshots and applies
    yml = LAYERED["models/schema.yml"].replace(
        "data_tests: [unique, not_null]", "data_tests: [{unique: {config: {severity: warn}}}, not_null]"
    )
    write_files(layered, {"models/schema.yml": yml})
    ctx = open_context(layered)
    rerun = ctx.plan("prod")
    assert rerun.builds == [] and rerun.views_changed == ["big_customers", "customer_totals"]
    assert {name: rerun.mapping[name].physical for name in ("customer_totals", "big_customers")} == {
        name: plan.mapping[name].physical for name in ("customer_totals", "big_customers")
    }
    result = ctx.apply(rerun)
    assert result.built == []
    warned = next(test for test in result.tests if test.kind == "unique")
    assert warned.failures == 1 and warned.severity == "warn" and not warned.blocking
    assert "unique_field" in warned.details[0]
    assert result.version == 2
    assert ctx.query("prod", "select count(*) from customer_totals").rows == [(3,)]


def test_unit_test_failure_blocks_before_building(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(
        layered,
        {
            "models/order_count.sql": "select count(*) + 1 as n from {{ ref('stg_orders') }}",
            **COUNTS_ORDERS,
        },
    )
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    before = relations(ctx)
    with pytest.raises(CheckFailed, match="counts_orders") as failure:
        ctx.apply(plan)
    assert failure.value.path == "models/unit.yml"
    results = failure.value.results  # type: ignore[attr-defined]
    assert results[0].failures > 0 and any("expected but missing" in d for d in results[0].details)
    assert relations(ctx) == before
    assert plan.mapping["order_count"].physical not in relations(ctx)
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]


LABELS_UNIT_TEST = """
    unit_tests:
      - name: unknown_status
        model: labels
        given:
          - input: ref('stg_orders')
            rows: [{order_id: 1}]
        expect:
          rows: [{order_id: 1, label: %s}]
"""


@pytest.mark.parametrize("expected", ["none", "paid"])
def test_unit_test_typed_by_an_upstream_the_plan_builds_runs_after_the_builds(
    layered: Path, open_context, expected: str
) -> None:
    """On a fresh environment the upstream has no table yet when the plan is made: the given
    rows take its column types after the builds, still before anything is swapped."""
    write_files(
        layered,
        {
            "models/labels.sql": "select order_id, coalesce(status, 'none') as label from {{ ref('stg_orders') }}",
            "models/unit.yml": LABELS_UNIT_TEST % expected,
        },
    )
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    assert [test.given_later[0].relation for test in plan.unit_tests] == [plan.mapping["stg_orders"].physical]
    if expected == "none":
        result = ctx.apply(plan)
        assert [(r.name, r.failures) for r in result.unit_tests] == [("unknown_status", 0)]
        assert result.version == 1
        return
    with pytest.raises(CheckFailed, match="unknown_status"):
        ctx.apply(plan)
    with pytest.raises(StateError, match="does not exist"):
        ctx.current("prod")
    assert plan.mapping["labels"].physical in relations(ctx)  # built: a fixed rerun reuses it


@pytest.mark.parametrize(
    ("sql", "exit_code"),
    [
        # the engine refuses the query as written: the project is wrong, exit 2
        ("select sum(amount / status) as n from {{ ref('stg_orders') }}", 2),
        # the query is valid but fails on the data: the run failed, exit 1
        ("select sum(cast(status as integer)) as n from {{ ref('stg_orders') }}", 1),
    ],
)
def test_build_failure_names_the_model_and_changes_nothing(
    layered: Path, open_context, sql: str, exit_code: int
) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, {"models/order_count.sql": sql})
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    with pytest.raises(EngineError, match="building failed") as failure:
        ctx.apply(plan)
    assert failure.value.model == "order_count" and failure.value.exit_code == exit_code
    assert failure.value.path == "models/order_count.sql"
    assert ctx.current("prod").version == 1
    assert ctx.query("prod", "select n from order_count").rows == [(4,)]
    assert plan.mapping["order_count"].physical not in relations(ctx)
    assert ("order_count", plan.mapping["order_count"].fingerprint) not in ctx.state("prod").snapshots()


WIDE = {
    "models/base.sql": "select i as id, i % 7 as bucket from range(200) as r(i)",
    **{
        f"models/leaf_{n}.sql": f"select bucket, sum(id) + {n} as total from {{{{ ref('base') }}}} group by bucket"
        for n in range(10)
    },
    "models/combined.sql": " union all ".join(
        f"select {n} as leaf, bucket, total from {{{{ ref('leaf_{n}') }}}}" for n in range(10)
    ),
    "models/summary.sql": "select leaf, sum(total) as total from {{ ref('combined') }} group by leaf",
}


def test_parallel_builds_give_the_same_result_as_serial_ones(
    make_project, open_context, tmp_path: Path
) -> None:
    outcomes = []
    for threads in (1, 4):
        root = make_project(WIDE)
        (root / "warehouse.duckdb").unlink(missing_ok=True)
        ctx = open_context(root, threads=threads)
        plan, result = ctx.plan_and_apply("prod")
        assert result is not None
        assert sorted(result.built) == sorted(ctx.project.models)
        built_order = result.built
        assert built_order.index("combined") > max(built_order.index(f"leaf_{n}") for n in range(10))
        assert built_order.index("summary") > built_order.index("combined")
        data = {
            name: ctx.query("prod", f"select * from {name} order by all").rows
            for name in sorted(ctx.project.models)
        }
        outcomes.append((sorted(plan.views_changed), data))
        ctx.close()
    assert outcomes[0] == outcomes[1]


def test_python_models_returning_a_relation_or_a_dataframe(make_project, open_context) -> None:
    root = make_project(
        {
            "models/base.sql": "select * from (values (1, 'a'), (2, 'b'), (3, 'c')) as v(id, name)",
            "models/py_relation.py": '''
                def model(base):
                    """Doubles the ids above one."""
                    return base.filter("id > 1").project("id, id * 2 as doubled")
            ''',
            "models/py_pandas.py": """
                config = {"schema": "marts"}

                def model(base, py_relation):
                    frame = base.df().merge(py_relation.df(), on="id")
                    frame["label"] = frame["name"].str.upper()
                    return frame[["id", "doubled", "label"]]
            """,
            "models/after.sql": "select sum(doubled) as s from {{ ref('py_pandas') }}",
        }
    )
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("prod")
    assert result is not None and {"py_relation", "py_pandas"} <= set(result.built)
    assert ctx.query("prod", "select id, doubled from py_relation order by id").rows == [(2, 4), (3, 6)]
    rows = ctx.engine("prod").fetch("select id, doubled, label from marts.py_pandas order by id").rows
    assert rows == [(2, 4, "B"), (3, 6, "C")]
    assert ctx.query("prod", "select s from after").rows == [(10,)]


def test_python_model_errors_name_the_model(make_project, open_context) -> None:
    root = make_project(
        {
            "models/base.sql": "select 1 as id",
            "models/broken.py": "def model(base):\n    return 1 / 0\n",
        }
    )
    with pytest.raises(EngineError, match="ZeroDivisionError") as failure:
        open_context(root).plan_and_apply("prod")
    assert failure.value.model == "broken"


def test_reapplying_after_a_failure_reuses_what_was_built(layered: Path, open_context) -> None:
    ctx = built_prod(layered, open_context)
    ctx.close()
    write_files(layered, {"models/customer_totals.sql": DUPLICATING})
    ctx = open_context(layered)
    plan = ctx.plan("prod")
    with pytest.raises(CheckFailed):
        ctx.apply(plan)
    result = ctx.apply(plan.model_copy(update={"tests": []}))
    assert result.built == [] and sorted(result.reused) == ["big_customers", "customer_totals"]
    assert result.version == 2
