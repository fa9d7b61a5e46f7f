"""Property files in dbt's format: models, seeds, sources, generic data tests and unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidegate.errors import ConfigError, TidegateError
from tidegate.project import Project
from tidegate.project.model import Severity

Load = Callable[..., Project]
LoadError = Callable[..., TidegateError]

MODELS = {
    "models/orders.sql": "select 1 as id, 2 as customer_id, 'paid' as status",
    "models/customers.sql": "select 2 as id",
}


def test_descriptions_columns_and_config_reach_the_model(load: Load) -> None:
    project = load(
        {
            **MODELS,
            "models/schema.yml": """
                version: 2
                models:
                  - name: orders
                    description: One row per order.
                    config: {schema: sales, tags: [finance], meta: {owner: ana@example.com}}
                    columns:
                      - name: id
                        description: The key.
                        data_type: integer
                      - name: status
            """,
        }
    )
    orders = project.model("orders")
    assert orders.description == "One row per order."
    assert [(c.name, c.description, c.data_type) for c in orders.columns] == [
        ("id", "The key.", "integer"),
        ("status", "", None),
    ]
    assert (orders.schema, orders.tags, orders.owner) == ("sales", ("finance",), "ana@example.com")
    assert project.model("customers").schema == "analytics"


def test_generic_tests_under_both_keys_with_their_lines(load: Load) -> None:
    project = load(
        {
            **MODELS,
            "models/schema.yml": """
                models:
                  - name: orders
                    data_tests:
                      - unique:
                          column_name: id
                    columns:
                      - name: id
                        tests: [not_null]
                      - name: status
                        data_tests:
                          - accepted_values:
                              values: [paid, "it's refunded"]
                          - not_null:
                              config: {severity: warn}
            """,
        }
    )
    tests = {test.name: test for test in project.tests}
    assert set(tests) == {
        "unique_orders_id",
        "not_null_orders_id",
        "accepted_values_orders_status",
        "not_null_orders_status",
    }
    assert (tests["unique_orders_id"].column, tests["unique_orders_id"].location.line) == ("id", 4)
    assert tests["not_null_orders_id"].location.line == 8
    accepted = tests["accepted_values_orders_status"]
    assert "'paid', 'it''s refunded'" in accepted.sql
    assert accepted.models == ("orders",) and accepted.severity is Severity.ERROR
    assert tests["not_null_orders_status"].severity is Severity.WARN


def test_accepted_values_without_quote_are_written_as_they_are(load: Load) -> None:
    project = load(
        {
            **MODELS,
            "models/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: customer_id
                        tests:
                          - accepted_values: {values: [1, 2], quote: false}
                      - name: status
                        tests:
                          - accepted_values: {values: ["1"], quote: true}
            """,
        }
    )
    sql = {test.column: test.sql for test in project.tests}  # normalized, as every query
    assert "NOT customer_id IN (1, 2)" in sql["customer_id"]
    assert "NOT status IN ('1')" in sql["status"]


def test_relationships_to_a_model_and_to_a_source_in_both_argument_styles(load: Load) -> None:
    """dbt 1.10 moved test arguments under `arguments:`; both styles mean the same test."""
    project = load(
        {
            **MODELS,
            "models/schema.yml": """
                sources:
                  - name: raw
                    schema: landing
                    tables:
                      - name: customers
                        identifier: customers_v2
                models:
                  - name: orders
                    columns:
                      - name: customer_id
                        tests:
                          - relationships:
                              to: ref('customers')
                              field: id
                              where: "status = 'paid'"
                          - relationships:
                              name: customer_in_raw
                              arguments:
                                to: source('raw', 'customers')
                                field: id
                              config:
                                where: id > 0
                                severity: warn
            """,
        }
    )
    tests = {test.name: test for test in project.tests}
    to_model = tests["relationships_orders_customer_id_customers_id"]
    assert to_model.models == ("orders", "customers")
    assert "WHERE status = 'paid'" in to_model.sql and "__tgref__customers AS parent" in to_model.sql
    to_source = tests["customer_in_raw"]
    assert to_source.models == ("orders",)
    assert "landing.customers_v2 AS parent" in to_source.sql and "WHERE id > 0" in to_source.sql
    assert to_source.severity is Severity.WARN


def test_sources_and_seed_properties(load: Load) -> None:
    project = load(
        {
            "seeds/countries.csv": "code,name\nfr,France\n",
            "seeds/_seeds.yml": """
                seeds:
                  - name: countries
                    description: ISO countries.
                    config:
                      column_types: {code: varchar}
            """,
            "models/sources.yml": """
                sources:
                  - name: raw
                    database: lake
                    tables:
                      - name: events
                        description: Clicks.
            """,
        }
    )
    seed = project.model("countries")
    assert (seed.description, seed.column_types) == ("ISO countries.", (("code", "varchar"),))
    source = project.sources["raw.events"]
    assert (source.relation, source.description, str(source.location)) == (
        "lake.raw.events",
        "Clicks.",
        "models/sources.yml:5",
    )


def test_unit_tests_in_dict_csv_and_sql_formats(load: Load) -> None:
    project = load(
        {
            **MODELS,
            "models/unit.yml": """
                sources:
                  - name: raw
                    tables: [{name: payments}]
                unit_tests:
                  - name: paid_orders
                    model: orders
                    given:
                      - input: ref('customers')
                        rows:
                          - {id: 1}
                      - input: source('raw', 'payments')
                        format: csv
                        rows: |
                          id,amount
                          1,2.5
                          2,null
                      - input: ref('my_package', 'customers')
                        format: sql
                        rows: select 1 as id
                    expect:
                      rows: [{id: 1, status: paid}]
            """,
        }
    )
    (unit,) = project.unit_tests
    assert (unit.name, unit.model, str(unit.location)) == ("paid_orders", "orders", "models/unit.yml:5")
    dict_input, csv_input, sql_input = unit.given
    assert (dict_input.target, dict_input.is_source, dict_input.rows) == ("customers", False, ({"id": 1},))
    assert (csv_input.target, csv_input.is_source) == ("raw.payments", True)
    assert csv_input.rows == ({"id": 1, "amount": 2.5}, {"id": 2, "amount": None})
    assert (sql_input.target, sql_input.sql) == ("customers", "select 1 as id")
    assert unit.expect_rows == ({"id": 1, "status": "paid"},)


def test_csv_rows_keep_words_that_look_like_special_floats(load: Load) -> None:
    """NaN or Infinity in a CSV cell is text (a name, a code); only finite numbers convert."""
    project = load(
        {
            **MODELS,
            "models/unit.yml": """
                unit_tests:
                  - name: words
                    model: orders
                    given:
                      - input: ref('customers')
                        format: csv
                        rows: |
                          id,name,score
                          1,NaN,1e3
                          2,Infinity,-4
                    expect:
                      rows: [{id: 1}]
            """,
        }
    )
    (given,) = project.unit_tests[0].given
    assert given.rows == (
        {"id": 1, "name": "NaN", "score": 1000.0},
        {"id": 2, "name": "Infinity", "score": -4},
    )


@pytest.mark.parametrize(
    ("schema", "line", "words"),
    [
        ("models:\n  - name: orders\n  - name: nope\n", 3, ["'nope'", "no model or seed"]),
        ("models:\n  - name: orders\n  - name: orders\n", 3, ["declared twice", "models/schema.yml:2"]),
        ("models:\n  - description: x\n", 2, ["needs a name"]),
        ("models: {name: orders}\n", 1, ["must be a list"]),
        ("models:\n  - name: orders\n    config: [view]\n", 3, ["config: must be a mapping"]),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests: not_null\n",
            5,
            ["must be a list"],
        ),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests:\n          - not_null\n          - is_even\n",
            7,
            ["unknown test 'is_even'"],
        ),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests:\n          - accepted_values: [1, 2]\n",
            6,
            ["must be a mapping"],
        ),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests:\n          - accepted_values: {values: []}\n",
            6,
            ["needs values"],
        ),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests:\n          - unique: {severity: fatal}\n",
            6,
            ["severity"],
        ),
        ("models:\n  - name: orders\n    tests: [not_null]\n", 3, ["not_null needs a column"]),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests:\n          - relationships: {to: customers, field: id}\n",
            6,
            ["expected ref('model')"],
        ),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests:\n          - relationships: {to: \"source('raw', 'x')\", field: id}\n",
            6,
            ["unknown source raw.x"],
        ),
        (
            "models:\n  - name: orders\n    columns:\n      - name: id\n        tests: [unique]\n      - name: id\n        tests: [unique]\n",
            7,
            ["two tests are named 'unique_orders_id'"],
        ),
        (
            "sources:\n  - name: raw\n    tables:\n      - name: a\n      - name: a\n",
            5,
            ["raw.a is declared twice"],
        ),
        ("unit_tests:\n  - name: u\n    model: nope\n    expect: {rows: []}\n", 2, ["unknown model 'nope'"]),
        ("unit_tests:\n  - name: u\n    expect: {rows: []}\n", 2, ["needs a model"]),
        ("unit_tests:\n  - name: u\n    model: orders\n", 2, ["needs expect"]),
        (
            "unit_tests:\n  - name: u\n    model: orders\n    expect: {rows: []}\n  - name: u\n    model: orders\n    expect: {rows: []}\n",
            5,
            ["declared twice"],
        ),
        (
            "unit_tests:\n  - name: u\n    model: orders\n    given:\n      - input: orders\n    expect: {rows: []}\n",
            5,
            ["expected ref('model')"],
        ),
        (
            "unit_tests:\n  - name: u\n    model: orders\n    expect:\n      format: xml\n      rows: []\n",
            4,
            ["unknown rows format"],
        ),
    ],
)
def test_invalid_properties_are_reported_at_their_line(
    load_error: LoadError, schema: str, line: int, words: list[str]
) -> None:
    error = load_error({**MODELS, "models/schema.yml": schema}, expected=ConfigError)
    assert (error.path, error.line) == ("models/schema.yml", line)
    for word in words:
        assert word in error.message


def test_a_test_on_an_unknown_model_names_the_line(load_error: LoadError) -> None:
    error = load_error(
        {
            **MODELS,
            "models/schema.yml": """
                models:
                  - name: orders
                    columns:
                      - name: customer_id
                        tests:
                          - relationships: {to: "ref('clients')", field: id}
            """,
        }
    )
    assert (error.path, error.line) == ("models/schema.yml", 6)
    assert "'clients'" in error.message
