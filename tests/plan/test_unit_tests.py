"""dbt-style unit tests: a model's query over given rows, compared with the expected rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tidegate.context import Context
from tidegate.errors import ConfigError, EngineError
from tidegate.plan.plan import UnitTestRun
from tidegate.plan.unit_tests import run_unit_test

MODELS = {
    "models/sources.yml": """
        version: 2
        sources:
          - name: raw
            schema: landing
            tables:
              - name: payments
    """,
    "models/orders.sql": "select 1 as id, 1 as customer_id, 10 as amount, 'paid' as status",
    "models/customers.sql": "select 1 as id, 'Ann' as name",
    "models/totals.sql": """
        select c.name, sum(o.amount) as total, count(*) as orders
        from {{ ref('orders') }} as o join {{ ref('customers') }} as c on o.customer_id = c.id
        where o.status = 'paid'
        group by c.name
    """,
    "models/paid.sql": "select order_id, amount / 100.0 as dollars from {{ source('raw', 'payments') }}",
}


def unit_results(
    make_project: Callable[..., Path], open_context: Callable[..., Context], tests: str
) -> dict[str, list[str]]:
    root = make_project({**MODELS, "models/unit.yml": tests})
    return {result.name: result.details for result in open_context(root).test(None) if result.kind == "unit"}


GIVEN = """
      - input: ref('orders')
        format: csv
        rows: |
          id,customer_id,amount,status
          1,1,10,paid
          2,1,5,refunded
          3,2,7,paid
      - input: ref('customers')
        rows:
          - {id: 1, name: Ann}
          - {id: 2, name: NaN}
"""


def test_dict_csv_and_sql_rows(make_project, open_context) -> None:
    tests = f"""
unit_tests:
  - name: totals_dict
    model: totals
    given:{GIVEN}
    expect:
      rows:
        - {{name: Ann, total: 10}}
        - {{name: NaN, total: 7.0}}
  - name: totals_sql
    model: totals
    given:
      - input: ref('orders')
        format: sql
        rows: select 1 as id, 1 as customer_id, 4 as amount, 'paid' as status
      - input: ref('customers')
        rows: [{{id: 1, name: Bo}}]
    expect:
      format: sql
      rows: select 'Bo' as name, 4 as total, 1 as orders
"""
    assert unit_results(make_project, open_context, tests) == {"totals_dict": [], "totals_sql": []}


def test_source_inputs(make_project, open_context) -> None:
    tests = """
unit_tests:
  - name: dollars
    model: paid
    given:
      - input: source('raw', 'payments')
        rows: [{order_id: 1, amount: 250}]
    expect:
      rows: [{order_id: 1, dollars: 2.5}]
"""
    assert unit_results(make_project, open_context, tests) == {"dollars": []}


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("[{input: \"ref('orders')\", rows: [{id: 1}]}]", "ref('customers')"),
        ("[]", "ref('orders')"),
    ],
)
def test_a_ref_without_given_rows_is_a_config_error(
    make_project, open_context, given: str, missing: str
) -> None:
    tests = f"""
unit_tests:
  - name: incomplete
    model: totals
    given: {given}
    expect:
      rows: []
"""
    with pytest.raises(ConfigError, match=re.escape(f"gives no rows for {missing}")) as error:
        unit_results(make_project, open_context, tests)
    assert error.value.path == "models/unit.yml" and error.value.line == 2


def test_a_source_without_given_rows_is_a_config_error(make_project, open_context) -> None:
    tests = """
unit_tests:
  - name: no_payments
    model: paid
    given: []
    expect:
      rows: []
"""
    with pytest.raises(ConfigError, match=r"gives no rows for source\('raw', 'payments'\)"):
        unit_results(make_project, open_context, tests)


def test_mismatches_report_the_differences(make_project, open_context) -> None:
    tests = f"""
unit_tests:
  - name: wrong
    model: totals
    given:{GIVEN}
    expect:
      rows:
        - {{name: Ann, total: 11}}
        - {{name: NaN, total: 7}}
  - name: wrong_column
    model: totals
    given:{GIVEN}
    expect:
      rows: [{{name: Ann, revenue: 10}}]
"""
    results = unit_results(make_project, open_context, tests)
    assert results["wrong"] == [
        "columns: name, total",
        "expected but missing: ('Ann', 11.0)",
        "returned but not expected: ('Ann', 10.0)",
    ]
    assert results["wrong_column"] == ["the model returns no column revenue (it returns name, total, orders)"]


class _Engine:
    """Just enough of an engine to hand `run_unit_test` fixed rows."""

    def __init__(self, columns: list[str], rows: list[tuple[object, ...]]) -> None:
        from tidegate.engines.base import QueryResult

        self.result = QueryResult(columns, rows)

    def fetch(self, sql: str) -> object:
        return self.result

    def query_columns(self, sql: str) -> object:
        raise EngineError("no types here: the expected rows are compared as written")


@pytest.mark.parametrize(
    ("actual", "expected", "passes"),
    [
        (10, 10.0, True),
        (Decimal("10.00"), 10, True),
        (10.0, Decimal("10"), True),
        (1 / 3, 0.333333, True),
        (10, 11, False),
        ("2024-01-02", "2024-01-02", True),
        ("NaN", "NaN", True),
        ("Inf", "Inf", True),
        ("NaN", "nan", False),
        (None, None, True),
        (None, 0, False),
        ("10", "10", True),
    ],
)
def test_values_compare_by_meaning(actual: object, expected: object, passes: bool) -> None:
    test = UnitTestRun(name="t", model="m", sql="select", expected_rows=[{"v": expected}])
    problems = run_unit_test(_Engine(["v"], [(actual,)]), test)  # type: ignore[arg-type]
    assert (problems == []) is passes


def test_dates_compare_with_their_text() -> None:
    import datetime as dt

    test = UnitTestRun(
        name="t", model="m", sql="select", expected_rows=[{"d": "2024-01-02", "ts": "2024-01-02T03:04:05"}]
    )
    engine = _Engine(["d", "ts"], [(dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5))])
    assert run_unit_test(engine, test) == []  # type: ignore[arg-type]


def test_expected_rows_take_the_types_of_the_models_columns(make_project, open_context) -> None:
    """As in dbt: a date expected of a timestamp column is that day's midnight, and a number
    written as text is a number."""
    tests = """
        unit_tests:
          - name: truncates_to_the_day
            model: days
            given:
              - input: ref('customers')
                rows: [{id: 1, name: Ann}]
            expect:
              rows: [{id: '1', day: '2024-05-01'}]
    """
    days = "select id, cast(date_trunc('day', timestamp '2024-05-01 10:30:00') as timestamp) as day from {{ ref('customers') }}"
    models = {name: text for name, text in MODELS.items() if name != "models/paid.sql"}
    root = make_project({**models, "models/days.sql": days, "models/unit.yml": tests})
    results = [r for r in open_context(root).test(None) if r.kind == "unit"]
    assert [(r.name, r.failures, r.details) for r in results] == [("truncates_to_the_day", 0, [])]


def test_given_rows_may_leave_out_columns_of_a_built_upstream(make_project, open_context) -> None:
    """As in dbt: the columns a test does not give are NULLs of the upstream's types."""
    tests = """
        unit_tests:
          - name: unnamed_customers
            model: labels
            given:
              - input: ref('customers')
                rows:
                  - {id: 7}
            expect:
              rows:
                - {id: 7, label: unknown}
    """
    models = {name: text for name, text in MODELS.items() if name != "models/paid.sql"}  # no source data
    labels = "select id, coalesce(name, 'unknown') as label from {{ ref('customers') }}"
    root = make_project({**models, "models/labels.sql": labels, "models/unit.yml": tests})
    context = open_context(root)
    context.plan_and_apply("prod", skip_unit_tests=True)

    results = [r for r in context.test("prod") if r.kind == "unit"]

    assert [(r.name, r.details) for r in results] == [("unnamed_customers", [])]
