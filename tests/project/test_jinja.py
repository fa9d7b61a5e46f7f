"""Jinja in models: dbt's functions, macros, and errors that point at the template line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidegate.errors import ProjectError, TidegateError
from tidegate.project import Project
from tidegate.project.model import Kind

Load = Callable[..., Project]
LoadError = Callable[..., TidegateError]

BASE = {"models/orders.sql": "select 1 as id, 10 as amount"}
SOURCES = """
sources:
  - name: raw
    schema: landing
    tables: [{name: events}]
"""


def test_ref_with_one_or_two_arguments_becomes_a_placeholder(load: Load) -> None:
    project = load(
        {
            **BASE,
            "models/a.sql": "select * from {{ ref('orders') }} join {{ ref('shop', 'orders') }} using (id)",
        }
    )
    model = project.model("a")
    assert model.refs == ("orders",)
    assert model.sql == "SELECT * FROM __tgref__orders JOIN __tgref__orders USING (id)"


def test_ref_with_three_arguments_is_an_error(load_error: LoadError) -> None:
    error = load_error(
        {**BASE, "models/a.sql": "select * from {{ ref('a', 'b', 'c') }}"}, expected=ProjectError
    )
    assert error.path == "models/a.sql" and "ref()" in error.message


def test_declared_source_renders_its_relation(load: Load) -> None:
    project = load(
        {"models/sources.yml": SOURCES, "models/a.sql": "select * from {{ source('raw', 'events') }}"}
    )
    model = project.model("a")
    assert (model.sources, model.refs) == (("raw.events",), ())
    assert "FROM landing.events" in model.sql


def test_undeclared_source_names_the_line(load_error: LoadError) -> None:
    error = load_error(
        {"models/sources.yml": SOURCES, "models/a.sql": "select *\nfrom\n  {{ source('raw', 'clicks') }}"},
        expected=ProjectError,
    )
    assert (error.path, error.line) == ("models/a.sql", 3)
    assert "source('raw', 'clicks')" in error.message


def test_config_sets_kind_schema_unique_key_and_tags(load: Load) -> None:
    project = load(
        {
            **BASE,
            "models/a.sql": """
                {{ config(materialized='incremental', schema='marts', unique_key=['id', 'day'], tags='daily') }}
                select id, current_date as day from {{ ref('orders') }}
            """,
            "models/b.sql": "{{ config(materialized='view') }} select 1 as x",
            "models/c.sql": "{{ config(materialized='ephemeral') }} select 1 as x",
            "models/d.sql": "{{ config(materialized='incremental', incremental_strategy='append') }} select 1 as x",
        }
    )
    a = project.model("a")
    assert (a.kind, a.schema, a.unique_key, a.tags) == (Kind.INCREMENTAL, "marts", ("id", "day"), ("daily",))
    assert project.model("b").kind is Kind.VIEW
    assert project.model("c").kind is Kind.EPHEMERAL
    assert project.model("d").incremental_strategy == "append"
    assert project.model("orders").kind is Kind.TABLE


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("{{ config(materialized='snapshot') }} select 1", ["unknown materialization 'snapshot'"]),
        ("{{ config(materialized='incremental') }} select 1", ["needs a unique_key"]),
        (
            "{{ config(materialized='incremental', unique_key='id', incremental_strategy='swap') }} select 1",
            ["one of merge, delete+insert, append", "not 'swap'"],
        ),
        ("{{ config('table') }} select 1", ["keyword arguments"]),
    ],
)
def test_invalid_config_is_an_error_of_the_model(load_error: LoadError, sql: str, words: list[str]) -> None:
    error = load_error({"models/a.sql": sql}, expected=ProjectError)
    assert error.path == "models/a.sql"
    for word in words:
        assert word in error.message


def test_vars_come_from_tidegate_yml_and_load_project_overrides_them(load: Load) -> None:
    config = "name: t\nvars:\n  threshold: 100\n  region: eu\n"
    files = {
        "models/a.sql": "select {{ var('threshold') }} as t, '{{ var('region') }}' as r, {{ var('x', 7) }} as x"
    }
    assert load(files, config).model("a").sql == "SELECT 100 AS t, 'eu' AS r, 7 AS x"
    overridden = load(files, config, variables={"threshold": 5, "x": 1}).model("a").sql
    assert overridden == "SELECT 5 AS t, 'eu' AS r, 1 AS x"


def test_missing_var_without_default_names_the_line(load_error: LoadError) -> None:
    error = load_error({"models/a.sql": "select\n  {{ var('threshold') }} as t"}, expected=ProjectError)
    assert (error.path, error.line) == ("models/a.sql", 2)
    assert error.hint is not None and "vars:" in error.hint


def test_env_var_set_default_and_missing(
    load: Load, load_error: LoadError, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TG_TEST_REGION", "eu")
    monkeypatch.delenv("TG_TEST_MISSING", raising=False)
    sql = "select '{{ env_var('TG_TEST_REGION') }}' as r, '{{ env_var('TG_TEST_MISSING', 'none') }}' as m"
    assert load({"models/a.sql": sql}).model("a").sql == "SELECT 'eu' AS r, 'none' AS m"
    error = load_error(
        {"models/a.sql": "select 1\n\n{{ env_var('TG_TEST_MISSING') }}"}, expected=ProjectError
    )
    assert (error.path, error.line) == ("models/a.sql", 3)
    assert "TG_TEST_MISSING" in error.message


def test_is_incremental_and_this_give_a_second_query(load: Load) -> None:
    project = load(
        {
            **BASE,
            "models/a.sql": """
                {{ config(materialized='incremental', unique_key='id') }}
                select * from {{ ref('orders') }}
                {% if is_incremental() %}
                where id > (select max(id) from {{ this }})
                {% endif %}
            """,
            "models/b.sql": "select 1 as x {% if is_incremental() %} where false {% endif %}",
        }
    )
    a = project.model("a")
    assert a.sql == "SELECT * FROM __tgref__orders"
    assert a.incremental_sql == "SELECT * FROM __tgref__orders WHERE id > (SELECT MAX(id) FROM __tgthis__)"
    assert project.model("b").incremental_sql is None
    assert project.model("b").sql == "SELECT 1 AS x"


def test_macros_are_shared_and_may_call_ref(load: Load) -> None:
    project = load(
        {
            **BASE,
            "macros/money.sql": "{% macro cents(col) %}({{ col }} / 100.0){% endmacro %}",
            "macros/orders.sql": "{% macro all_orders() %}{{ ref('orders') }}{% endmacro %}",
            "models/a.sql": "select {{ cents('amount') }} as dollars from {{ all_orders() }}",
        }
    )
    assert project.model("a").refs == ("orders",)
    assert project.model("a").sql == "SELECT (amount / 100.0) AS dollars FROM __tgref__orders"


def test_a_bad_ref_inside_a_macro_points_at_the_call_in_the_model(load_error: LoadError) -> None:
    """The line must be the model's, not the macro's line read against the model's template."""
    padding = "".join(f"{{% set v{i} = {i} %}}\n" for i in range(12))
    error = load_error(
        {
            "macros/m.sql": "\n" * 15 + "{% macro m() %}\n" + padding + "{{ ref('nope') }}{% endmacro %}",
            "models/a.sql": "select 1 as x\nfrom {{ m() }}\n" + padding,
        },
        expected=ProjectError,
    )
    assert (error.path, error.line) == ("models/a.sql", 2)
    assert "ref('nope')" in error.message


def test_a_runtime_error_in_a_macro_names_the_model_line_and_the_macro_line(load_error: LoadError) -> None:
    error = load_error(
        {
            "macros/m.sql": "{% macro m() %}\n\n\n{{ 1 / 0 }}{% endmacro %}",
            "models/a.sql": "select 1 as x\n\n{{ m() }}",
        },
        expected=ProjectError,
    )
    assert (error.path, error.line) == ("models/a.sql", 3)
    assert "ZeroDivisionError" in error.message and "macros/m.sql:4" in error.message


def test_two_macros_with_one_name_is_an_error(load_error: LoadError) -> None:
    error = load_error(
        {
            "macros/a.sql": "{% macro money(x) %}{{ x }}{% endmacro %}",
            "macros/b.sql": "{% macro money(x) %}{{ x }} / 100{% endmacro %}",
            "models/a.sql": "select 1",
        },
        expected=ProjectError,
    )
    assert error.path == "macros/b.sql" and "macros/a.sql" in error.message


@pytest.mark.parametrize(
    ("files", "path", "line", "words"),
    [
        ({"models/a.sql": "select 1\n{% if %}\n"}, "models/a.sql", 2, ["Jinja syntax error"]),
        ({"models/a.sql": "select 1\n\n{{ 1 +\n"}, "models/a.sql", 3, ["Jinja syntax error"]),
        (
            {"models/a.sql": "select 1\n\n\n{{ undefined_thing }}"},
            "models/a.sql",
            4,
            ["'undefined_thing' is undefined"],
        ),
        ({"models/a.sql": "select 1,\n{{ 'a' + 1 }}"}, "models/a.sql", 2, ["TypeError"]),
        ({"macros/m.sql": "{% macro m() %}\n{% endfor %}"}, "macros/m.sql", 2, ["Jinja syntax error"]),
        ({"tests/t.sql": "select 1\n\n{{ ref('nope') }}"}, "tests/t.sql", 3, ["ref('nope')"]),
    ],
)
def test_jinja_errors_name_file_and_line(
    load_error: LoadError, files: dict[str, str], path: str, line: int, words: list[str]
) -> None:
    error = load_error(files, expected=ProjectError)
    assert (error.path, error.line) == (path, line)
    for word in words:
        assert word in error.message


def test_singular_tests_are_rendered_like_models(load: Load) -> None:
    project = load(
        {
            **BASE,
            "tests/no_negative.sql": "{{ config(severity='warn') }}\nselect * from {{ ref('orders') }} where amount < 0",
        }
    )
    (test,) = project.tests
    assert (test.name, test.kind, test.models, test.severity.value) == (
        "no_negative",
        "singular",
        ("orders",),
        "warn",
    )
    assert test.sql == "SELECT * FROM __tgref__orders WHERE amount < 0"
