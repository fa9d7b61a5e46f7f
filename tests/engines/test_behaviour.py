"""One behavioural suite, the same expectations on every engine (DuckDB, PostgreSQL, Spark).

Each test is a short story through the public API (`Context`) on a real engine: load, plan,
apply, breaking and non-breaking changes, tests, unit tests, seeds, incremental merges,
promotion, rollback, build threads (workers), locking and the janitor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import (
    ADD_BIGGEST,
    COUNT_REFUNDS,
    DATED_LAYERED,
    TIMES_TEN,
    Row,
    build_prod,
    internal_relations,
    plain_numbers,
    rows,
    write_files,
)
from tidegate.context import Context
from tidegate.errors import CheckFailed, InvalidSQL, LockError

PROJECT = {
    **DATED_LAYERED,
    "seeds/raw_orders.yml": """
        version: 2
        seeds:
          - name: raw_orders
            config: {column_types: {ordered_on: date}}
    """,
    "models/unit_tests.yml": """
        unit_tests:
          - name: totals_count_only_paid_orders
            model: customer_totals
            given:
              - input: ref('stg_orders')
                rows:
                  - {customer_id: 1, amount: 10, status: paid}
                  - {customer_id: 1, amount: 99, status: refunded}
            expect:
              rows:
                - {customer_id: 1, total: 10, orders: 1}
    """,
    "models/passthrough.py": "def model(customer_totals):\n    return customer_totals\n",
}


def values(ctx: Context, sql: str, environment: str = "prod") -> list[Row]:
    """The rows of `sql` with plain numbers, so that one expectation holds on every engine."""
    return plain_numbers(rows(ctx, sql, environment))


@pytest.fixture
def built(
    engine_project: Callable[..., Path], open_context: Callable[..., Context]
) -> Callable[..., tuple[Path, Context]]:
    """Write the project, build prod, and hand back the root and an open context."""

    def build(extra: dict[str, str] | None = None) -> tuple[Path, Context]:
        root = engine_project({**PROJECT, **(extra or {})})
        return root, build_prod(root, open_context)

    return build


def reopen(root: Path, ctx: Context) -> Context:
    ctx.close()
    return Context(root)


def test_build_prod_then_a_second_plan_has_nothing_to_do(built) -> None:
    root, ctx = built()
    assert values(ctx, "select customer_id, total, orders from customer_totals order by 1") == [
        (1, 30, 2),
        (3, 7, 1),
    ]
    assert values(ctx, "select count(*) from passthrough") == [(2,)]
    assert values(ctx, "select count(*) from stg_orders where ordered_on >= date '2024-02-01'") == [(2,)]
    ctx = reopen(root, ctx)
    assert not ctx.plan("prod").has_changes
    ctx.close()


def test_formatting_only_change_plans_nothing(built) -> None:
    root, ctx = built()
    write_files(
        root,
        {
            "models/customer_totals.sql": """
                -- formatted differently
                SELECT customer_id,
                       SUM(amount) AS total,
                       COUNT(*) AS orders
                FROM {{ ref('stg_orders') }}
                WHERE status = 'paid'
                GROUP BY customer_id
            """
        },
    )
    ctx = reopen(root, ctx)
    assert not ctx.plan("prod").has_changes
    ctx.close()


def test_breaking_change_in_dev_rebuilds_it_and_downstream_and_leaves_prod(built) -> None:
    root, ctx = built()
    write_files(
        root,
        {
            "models/customer_totals.sql": """
                select customer_id, sum(amount) as total, count(*) as orders
                from {{ ref('stg_orders') }} where status = 'paid' and amount >= 10 group by customer_id
            """
        },
    )
    ctx = reopen(root, ctx)
    plan = ctx.plan("dev")
    assert {b.model for b in plan.builds if b.reused_from is None} == {
        "customer_totals",
        "big_customers",
        "passthrough",
    }
    ctx.apply(plan)
    assert values(ctx, "select count(*) from customer_totals where customer_id = 3", "dev") == [(0,)]
    assert values(ctx, "select count(*) from customer_totals where customer_id = 3") == [(1,)]
    ctx.close()


def test_adding_a_column_keeps_children_that_do_not_read_it(built) -> None:
    root, ctx = built()
    write_files(root, ADD_BIGGEST)
    ctx = reopen(root, ctx)
    plan = ctx.plan("dev")
    # big_customers names its columns: it keeps its table; passthrough returns everything: rebuilt
    assert {b.model for b in plan.builds if b.reused_from is None} == {"customer_totals", "passthrough"}
    ctx.apply(plan)
    assert values(ctx, "select biggest from customer_totals where customer_id = 1", "dev") == [(20,)]
    ctx.close()


def test_promote_copies_nothing_and_rollback_restores(built) -> None:
    root, ctx = built()
    write_files(root, TIMES_TEN)
    ctx = reopen(root, ctx)
    ctx.plan_and_apply("dev")
    before = internal_relations(ctx)
    assert ctx.promote("dev", "prod") == 2
    assert internal_relations(ctx) == before
    assert values(ctx, "select n from order_count") == [(40,)]
    assert ctx.rollback("prod") == 3
    assert values(ctx, "select n from order_count") == [(4,)]
    assert [v.action for v in ctx.history("prod")] == ["apply", "promote", "rollback"]
    ctx.close()


def test_a_failing_data_test_leaves_the_environment_as_it_was(built) -> None:
    root, ctx = built()
    write_files(root, {"seeds/raw_orders.csv": PROJECT["seeds/raw_orders.csv"] + "5,4,1,lost,2024-03-01\n"})
    ctx = reopen(root, ctx)
    with pytest.raises(CheckFailed, match="accepted_values"):
        ctx.plan_and_apply("prod")
    assert ctx.current("prod").version == 1
    assert values(ctx, "select count(*) from stg_orders") == [(4,)]
    ctx.close()


def test_a_failing_unit_test_blocks_before_building(built) -> None:
    root, ctx = built()
    write_files(root, COUNT_REFUNDS)
    ctx = reopen(root, ctx)
    plan = ctx.plan("prod")
    with pytest.raises(CheckFailed, match="unit test"):
        ctx.apply(plan)
    assert ctx.current("prod").version == 1
    assert ("customer_totals", plan.mapping["customer_totals"].fingerprint) not in ctx.state(
        "prod"
    ).snapshots()
    ctx.close()


def test_incremental_model_merges_new_source_rows(engine_project: Callable[..., Path]) -> None:
    root = engine_project(
        {
            "models/sources.yml": "sources:\n  - name: raw\n    tables: [{name: events}]\n",
            "models/events.sql": """
                {{ config(materialized='incremental', unique_key='id') }}
                select id, value from {{ source('raw', 'events') }}
                {% if is_incremental() %} where id >= (select max(id) from {{ this }}) {% endif %}
            """,
        }
    )
    with Context(root) as ctx:
        engine = ctx.engine("prod")
        engine.create_schema("raw")
        engine.execute("CREATE TABLE raw.events (id INT, value INT)")
        engine.execute("INSERT INTO raw.events VALUES (1, 10), (2, 20)")
        ctx.plan_and_apply("prod")
        engine.execute("INSERT INTO raw.events VALUES (3, 30)")
        assert ctx.run("prod") == ["events"]
        # the run re-reads id 2 (>= the max): a merge on id keeps one row of it, an append two
        assert values(ctx, "select id, value from events order by id") == [(1, 10), (2, 20), (3, 30)]


def test_an_enforced_contract_is_checked_and_orders_the_table(engine_project: Callable[..., Path]) -> None:
    contract = """
        models:
          - name: totals
            config: {contract: {enforced: true}}
            columns:
              - {name: id, data_type: integer, constraints: [{type: not_null}]}
              - {name: total, data_type: bigint}
    """
    root = engine_project(
        {
            "models/totals.sql": "select cast(sum(1) as bigint) as total, 1 as id",
            "models/totals.yml": contract,
        }
    )
    with Context(root) as ctx:
        ctx.plan_and_apply("prod")
        assert ctx.query("prod", "select * from totals").columns == ["id", "total"]
        assert values(ctx, "select id, total from totals") == [(1, 1)]
    write_files(root, {"models/totals.sql": "select 1 as total, 1 as id"})  # an integer, not a bigint
    with Context(root) as ctx, pytest.raises(InvalidSQL, match="total: data type mismatch"):
        ctx.plan_and_apply("prod")


def test_run_refreshes_the_table_downstream_in_place(engine_project: Callable[..., Path]) -> None:
    root = engine_project(
        {
            "models/sources.yml": "sources:\n  - name: raw\n    tables: [{name: events}]\n",
            "models/events.sql": """
                {{ config(materialized='incremental', unique_key='id') }}
                select id, value from {{ source('raw', 'events') }}
                {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
            """,
            "models/total.sql": "select count(*) as n, sum(value) as value from {{ ref('events') }}",
            "models/report.sql": "{{ config(materialized='view') }} select n from {{ ref('total') }}",
        }
    )
    with Context(root) as ctx:
        engine = ctx.engine("prod")
        engine.create_schema("raw")
        engine.execute("CREATE TABLE raw.events (id INT, value INT)")
        engine.execute("INSERT INTO raw.events VALUES (1, 10), (2, 20)")
        ctx.plan_and_apply("prod")
        before = ctx.current("prod")
        engine.execute("INSERT INTO raw.events VALUES (3, 30)")
        assert ctx.run("prod") == ["events"]
        assert values(ctx, "select n, value from total") == [(3, 60)]
        assert values(ctx, "select n from report") == [(3,)]  # the view over the table stays
        assert ctx.current("prod") == before  # the same table, the same version


def test_a_second_apply_on_a_locked_environment_waits_then_fails_clearly(built) -> None:
    root, ctx = built()
    state = ctx.state("prod")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with state.lock("prod", timeout=5):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        other = Context(root)
        with pytest.raises(LockError, match="prod"), other.state("prod").lock("prod", timeout=0.5):
            pass
        other.close()
    finally:
        release.set()
        holder.join()
    with ctx.state("prod").lock("prod", timeout=2):
        pass
    ctx.close()


def test_workers_build_in_threads_and_the_main_connection_sees_what_they_committed(
    engine_project: Callable[..., Path],
) -> None:
    with Context(engine_project(PROJECT)) as ctx:
        engine = ctx.engine("prod")
        engine.create_schema("t_workers")
        errors: list[BaseException] = []

        def build(i: int) -> None:
            worker = engine.worker()
            try:
                with worker.transaction():
                    query = " UNION ALL ".join(f"SELECT {n} AS x" for n in range(i + 1))
                    worker.create_table_as(worker.relation("t_workers", f"t{i}"), query)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                worker.close()

        threads = [threading.Thread(target=build, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(name for _, name, _ in engine.relations("t_workers")) == [f"t{i}" for i in range(6)]
        assert engine.fetch(f"SELECT count(*) FROM {engine.relation('t_workers', 't5')}").rows == [(6,)]
        assert engine.fetch("SELECT 1").rows == [(1,)]  # closing workers left the main connection open


def test_a_workers_transaction_is_invisible_to_the_main_connection_until_it_commits(
    engine_project: Callable[..., Path],
) -> None:
    with Context(engine_project(PROJECT)) as ctx:
        engine = ctx.engine("prod")
        if not engine.spec.transactional_ddl:
            pytest.skip(f"{engine.spec.title} has no transactions")
        engine.create_schema("t_workers")
        pending = ("t_workers", "pending", "table")
        worker = engine.worker()
        try:
            with worker.transaction():
                worker.create_table_as(worker.relation(*pending[:2]), "SELECT 1 AS x")
                assert pending not in engine.relations("t_workers")
            assert pending in engine.relations("t_workers")
        finally:
            worker.close()


def test_janitor_drops_what_no_environment_needs(built) -> None:
    root, ctx = built()
    write_files(root, {"models/order_count.sql": "select count(*) + 1 as n from {{ ref('stg_orders') }}"})
    ctx = reopen(root, ctx)
    ctx.plan_and_apply("prod")
    old = {name for _, name in internal_relations(ctx) if name.startswith("order_count__")}
    assert len(old) == 2
    report = ctx.janitor(retention="0s")
    assert len(report.dropped_snapshots) == 1
    assert len({name for _, name in internal_relations(ctx) if name.startswith("order_count__")}) == 1
    assert values(ctx, "select n from order_count") == [(5,)]
    ctx.close()


STORING_FAILURES = {
    # dbt's store_failures: a table of the failing rows, and a view of the test's query
    "tests/refunded_orders.sql": """
        {{ config(store_failures=true, severity='warn') }}
        select order_id, customer_id, amount from {{ ref('stg_orders') }} where status = 'refunded'
    """,
    "tests/small_orders.sql": """
        {{ config(store_failures_as='view', severity='warn') }}
        select order_id from {{ ref('stg_orders') }} where amount < 8
    """,
}


def failing_rows(ctx: Context, relation: str) -> list[Row]:
    return plain_numbers(rows(ctx, f"select * from {relation} order by 1", as_written=True))


def test_stored_failures_stay_in_each_environment_until_it_is_dropped(built) -> None:
    root, ctx = built(STORING_FAILURES)
    engine = ctx.engine("prod")
    results = {result.name: result for result in ctx.test("prod")}
    refunded, small = results["refunded_orders"], results["small_orders"]
    assert refunded.failures_relation == engine.relation("analytics_dbt_test__audit", "refunded_orders")
    assert refunded.details[0] == f"failing rows stored in {refunded.failures_relation}"
    assert failing_rows(ctx, refunded.failures_relation) == [(3, 2, 5)]
    assert failing_rows(ctx, str(small.failures_relation)) == [(3,), (4,)]

    # dev drops the small orders: its failures are its own, empty where its tests pass
    write_files(
        root,
        {
            "models/stg_orders.sql": """
                {{ config(materialized='view') }}
                select id as order_id, customer_id, amount, status, ordered_on
                from {{ ref('raw_orders') }} where amount >= 6
            """
        },
    )
    ctx = reopen(root, ctx)
    _, applied = ctx.plan_and_apply("dev")
    assert applied is not None
    dev = {result.name: result for result in applied.tests}
    dev_schema = "analytics_dbt_test__audit__dev"
    assert dev["refunded_orders"].failures_relation == engine.relation(dev_schema, "refunded_orders")
    assert dev["refunded_orders"].passed and failing_rows(ctx, dev["refunded_orders"].failures_relation) == []
    assert failing_rows(ctx, str(dev["small_orders"].failures_relation)) == [(4,)]
    assert failing_rows(ctx, refunded.failures_relation) == [(3, 2, 5)]  # prod's are untouched

    # promoted, prod no longer reads the snapshot its view of failures reads: the janitor drops
    # that view before the snapshot (PostgreSQL would refuse to drop a snapshot a view reads)
    ctx.promote("dev", "prod")
    report = ctx.janitor(retention="0s")
    assert report.dropped_failures == [small.failures_relation]
    assert failing_rows(ctx, refunded.failures_relation) == [(3, 2, 5)]  # a table: kept

    ctx.drop_environment("dev")
    schemas = {schema.lower() for schema, _, _ in ctx.engine("prod").relations("analytics_dbt_test__audit")}
    assert schemas == {"analytics_dbt_test__audit"}
    assert [record.environment for record in ctx.state("prod").stored_failures()] == ["prod"]
    ctx.close()


# seeds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "line", "words"),
    [
        (b"id,customer_id,amount,status,ordered_on\n1,1,10,caf\xe9,2024-01-05\n", 2, "not UTF-8"),
        (b"id,customer_id,amount,status,ordered_on\n1,1,10,paid,2024-01-05\n2,1,20\n", 3, "3 field(s)"),
        (b"id,id,amount,status,ordered_on\n1,1,10,paid,2024-01-05\n", 1, "column 'id' twice"),
    ],
)
def test_a_bad_seed_file_exits_2_naming_its_line_before_the_engine_reads_it(
    engine_project: Callable[..., Path], seed: bytes, line: int, words: str
) -> None:
    root = engine_project(PROJECT)
    (root / "seeds/raw_orders.csv").write_bytes(seed)
    ran = invoke(root, "plan", "prod", "--auto-apply")
    assert ran.code == 2, ran.all
    assert f"seeds/raw_orders.csv:{line}" in ran.stderr and words in ran.stderr
    assert "internal error" not in ran.all and "Traceback" not in ran.all


def test_seed_column_types_are_written_in_the_projects_dialect(engine_project: Callable[..., Path]) -> None:
    """DuckDB's `double` and `varchar` (the project's dialect) are spelled as each engine spells
    them, and a typed column is read as the text of the file (a code keeps its leading zeros)."""
    root = engine_project(
        {
            "seeds/prices.csv": "id,price,code\n1,1.5,007\n",
            "seeds/prices.yml": "seeds:\n  - name: prices\n    config: {column_types: {price: double, code: varchar}}\n",
        }
    )
    with Context(root) as ctx:
        ctx.plan_and_apply("prod")
        assert ctx.query("prod", "select price, code from prices").rows == [(1.5, "007")]


def test_a_seed_column_type_that_is_more_than_a_type_runs_no_ddl(engine_project: Callable[..., Path]) -> None:
    kind = "integer, x text); create table injected (y int); create table z (id integer"
    root = engine_project(
        {
            "seeds/prices.csv": "id,price\n1,1.5\n",
            "seeds/prices.yml": f"seeds:\n  - name: prices\n    config:\n      column_types: {{id: '{kind}'}}\n",
        }
    )
    ran = invoke(root, "plan", "prod", "--auto-apply")
    assert ran.code == 2, ran.all
    assert "seeds/prices.yml:4" in ran.stderr and "is not one SQL type" in ran.stderr
    with Context(root) as ctx:
        assert not [name for _, name, _ in ctx.engine("prod").relations("") if name in ("injected", "z")]
