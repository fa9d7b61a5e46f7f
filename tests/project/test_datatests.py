"""dbt's configs of where a data test keeps its failing rows, as behaviour tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DBT_PROJECT
from tidegate.errors import ConfigError
from tidegate.project import load_project, properties
from tidegate.project.datatests import check_audit_schema, dbt_test_names, store_failures_as
from tidegate.project.model import Location


@pytest.mark.parametrize(
    ("config", "stored_as"),
    [
        ({}, None),
        ({"store_failures": True}, "table"),
        ({"store_failures": "true"}, "table"),
        ({"store_failures": False}, None),
        ({"store_failures_as": "view"}, "view"),
        ({"store_failures_as": "TABLE"}, "table"),
        # store_failures_as wins over store_failures, whichever says what
        ({"store_failures": False, "store_failures_as": "table"}, "table"),
        ({"store_failures": True, "store_failures_as": "ephemeral"}, None),
    ],
)
def test_store_failures_as(config: dict[str, Any], stored_as: str | None) -> None:
    assert store_failures_as(config, "models/x.yml", 3) == stored_as


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"store_failures_as": "materialized_view"},
            "store_failures_as must be one of table, view, ephemeral",
        ),
        ({"store_failures": "sometimes"}, "store_failures must be true or false"),
    ],
)
def test_bad_store_failures_name_the_file_and_line(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        store_failures_as(config, "models/x.yml", 3)
    assert (raised.value.path, raised.value.line, raised.value.exit_code) == ("models/x.yml", 3, 2)


def spec(test: str, column: str | None = "status", **fields: Any) -> properties.TestSpec:
    fields.setdefault("model", "orders")
    fields.setdefault("arguments", {})
    return properties.TestSpec(test=test, column=column, location=Location("m.yml"), **fields)


@pytest.mark.parametrize(
    ("given", "names"),
    [
        (spec("not_null"), ("not_null_orders_status", "not_null_orders_status")),
        (spec("not_null", arguments={"description": "Always set."}), ("not_null_orders_status",) * 2),
        (spec("unique", name="my_test"), ("my_test", "my_test")),
        (
            spec("relationships", "customer_id", arguments={"to": "ref('customers')", "field": "id"}),
            ("relationships_orders_customer_id__id__ref_customers_",) * 2,
        ),
        (
            spec("not_null", "id", model="raw.orders", relation='"raw"."orders"'),
            ("source_not_null_raw_orders_id",) * 2,
        ),
        (
            spec("dbt_utils.expression_is_true", None, arguments={"expression": "a > 0"}),
            ("dbt_utils_expression_is_true_orders_a_0",) * 2,
        ),
        # 64 characters or more: dbt's alias is the first 30 and a hash of the whole name
        (
            spec(
                "accepted_values",
                arguments={"values": ["placed", "shipped", "completed", "returned", "return_pending"]},
            ),
            (
                "accepted_values_orders_status__placed__shipped__completed__returned__return_pending",
                "accepted_values_orders_b85d3aa7fa0bd1435f99b561c544c6fe",
            ),
        ),
    ],
)
def test_dbt_names_the_relation_of_a_generic_test(given: properties.TestSpec, names: tuple[str, str]) -> None:
    assert dbt_test_names(given) == names


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("analytics_dbt_test__audit", None),
        ("dbt_test__audit", None),
        ("analytics_quality", None),
        ("analytics__dbt_test__audit", "contains '__'"),  # which environment would it be?
        ("quality__pr_1", "contains '__'"),
        ("tidegate_dbt_test__audit", "reserved for tidegate's own schemas"),
        ("analytics_dbt_test", "ends with 'dbt_test'"),  # its `__audit` is dbt's audit schema
        ("analytics-audit", "not a valid name"),
    ],
)
def test_which_schemas_may_keep_failing_rows(schema: str, problem: str | None) -> None:
    if problem is None:
        assert check_audit_schema(schema, "t", "m.yml", 1) == schema
    else:
        with pytest.raises(ConfigError, match=problem):
            check_audit_schema(schema, "t", "m.yml", 1)


# names and enabled, as dbt loads them ----------------------------------------------------------

TESTED_MODEL = {
    "models/m.sql": "select 'x' as a",
    "macros/tests.sql": """
        {% test matches(model, column_name, pattern) %}
            select * from {{ model }} where not regexp_matches({{ column_name }}, '{{ pattern }}')
        {% endtest %}
    """,
    "models/m.yml": """
        version: 2
        models:
          - name: m
            columns:
              - name: a
                data_tests:
                  - accepted_values: {values: [x, y]}
                  - accepted_values: {values: [x]}
                  - matches: {pattern: '^x+$'}
                  - matches: {pattern: '^x*$'}
    """,
}


def test_generic_tests_of_a_dbt_project_have_dbts_names_and_never_collide(
    make_dbt: Callable[..., Path],
) -> None:
    names = sorted(test.name for test in load_project(make_dbt(TESTED_MODEL)).tests)
    assert names[:2] == ["accepted_values_m_a__x", "accepted_values_m_a__x__y"]
    # dbt names both `matches_m_a___x_` (it keeps only letters, digits and _): a hash tells them apart
    assert names[2] == "matches_m_a___x_" and names[3].startswith("matches_m_a___x__")
    assert len(names) == 4


def test_tests_disabled_by_a_folder_config_or_their_own_config_are_left_out(
    make_dbt: Callable[..., Path],
) -> None:
    files = {
        **TESTED_MODEL,
        "dbt_project.yml": DBT_PROJECT + "data_tests:\n  shop:\n    +enabled: false\n",
        "tests/singular.sql": "{{ config(enabled=false) }}\nselect * from {{ ref('m') }} where a is null",
    }
    assert load_project(make_dbt(files)).tests == ()
    files["dbt_project.yml"] = DBT_PROJECT
    names = {test.name for test in load_project(make_dbt(files)).tests}
    assert "singular" not in names and len(names) == 4


def test_jinja_in_the_arguments_of_dbts_own_tests_is_rendered(make_dbt: Callable[..., Path]) -> None:
    files = {
        "dbt_project.yml": DBT_PROJECT + "vars:\n  letters: [x, y]\n",
        "models/m.sql": "select 'x' as a",
        "models/m.yml": """
            version: 2
            models:
              - name: m
                columns:
                  - name: a
                    data_tests:
                      - accepted_values: {values: "{{ var('letters') }}"}
        """,
    }
    (test,) = load_project(make_dbt(files)).tests
    assert "'x', 'y'" in test.sql and "{{" not in test.sql
