"""dbt's Jinja context as public dbt projects use it: `modules.pytz`, `config.get`/`require`,
the root project's name as a macro namespace, package vars, test arguments with Jinja, ephemeral
models nothing reads, and what tidegate refuses by name (with the file and line) instead of
rendering it differently. Each expected value is what dbt-core 1.11 compiles for the same files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DBT_PROJECT as PROJECT
from tidegate.context import Context
from tidegate.errors import CheckFailed, ProjectError
from tidegate.project import load_project
from tidegate.project.model import Kind


def sql_of(root: Path, model: str = "m") -> str:
    return load_project(root).models[model].sql


def error_of(root: Path) -> ProjectError:
    with pytest.raises(ProjectError) as raised:
        load_project(root)
    return raised.value


# modules ------------------------------------------------------------------------------------


def test_modules_has_pytz_as_dbt_date_uses_it(make_dbt: Callable[..., Path]) -> None:
    """dbt_date's `datetime` and `is_before` macros localize with `modules.pytz`."""
    model = """\
        {%- set tz = modules.pytz.timezone('America/Los_Angeles') -%}
        {%- set local = tz.localize(modules.datetime.datetime(2026, 9, 1)) -%}
        select '{{ local.isoformat() }}' as local_midnight, {{ local.timestamp() | int }} as epoch,
               '{{ modules.pytz.utc.zone }}' as utc
        """
    root = make_dbt({"models/m.sql": model})
    assert (
        sql_of(root)
        == "SELECT '2026-09-01T00:00:00-07:00' AS local_midnight, 1788246000 AS epoch, 'UTC' AS utc"
    )


# config.get and config.require ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # configs set by config(), with get's default for one the model does not have
        (
            "{{ config(materialized='table', my_key='x') }} select '{{ config.get(\"my_key\") }}' as a, "
            '\'{{ config.get("materialized") }}\' as b, \'{{ config.get("nope", "dflt") }}\' as c',
            "SELECT 'x' AS a, 'table' AS b, 'dflt' AS c",
        ),
        # the final configs, also those set after the call; a config every model has reads as
        # its default whatever default get is given (dbt: unique_key is None)
        (
            'select \'{{ config.get("materialized") }}\' as b, \'{{ config.get("unique_key", "id") }}\' as u\n'
            "{{ config(materialized='view') }}",
            "SELECT 'view' AS b, 'None' AS u",
        ),
        ("select '{{ config.require(\"materialized\") }}' as m", "SELECT 'table' AS m"),  # dbt_project.yml's
        ("{{ config({'tags': ['a']}) }} select '{{ config.get('tags') | join }}' as t", "SELECT 'a' AS t"),
        ("select '{{ config.meta_get('owner', 'nobody') }}' as o", "SELECT 'nobody' AS o"),
    ],
)
def test_config_get_reads_the_models_final_configs(
    make_dbt: Callable[..., Path], model: str, expected: str
) -> None:
    assert sql_of(make_dbt({"models/m.sql": model})) == expected


def test_config_in_a_macro_is_the_calling_models(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "macros/k.sql": "{% macro k() %}{{ return(config.get('my_key', 'none')) }}{% endmacro %}",
            "models/m.sql": "{{ config(my_key='from_model') }} select '{{ k() }}' as k",
            "models/n.sql": "select '{{ k() }}' as k",
            "models/props.yml": "models:\n  - name: n\n    config: {my_key: from_props}\n",
        }
    )
    project = load_project(root)
    assert project.models["m"].sql == "SELECT 'from_model' AS k"
    assert project.models["n"].sql == "SELECT 'from_props' AS k"


def test_config_require_of_a_missing_config_is_dbts_compilation_error(make_dbt: Callable[..., Path]) -> None:
    error = error_of(make_dbt({"models/m.sql": "select 1 as a,\n'{{ config.require('partition') }}' as b"}))
    assert (error.path, error.line) == ("models/m.sql", 2)
    assert error.message == (
        "compilation error: model.shop.m does not define a required config parameter 'partition'"
    )


def test_this_renders_as_dbts_relations_do(make_dbt: Callable[..., Path]) -> None:
    assert sql_of(make_dbt({"models/m.sql": "select '{{ this.render() == this | string }}' as same"})) == (
        "SELECT 'True' AS same"
    )


# macro namespaces, vars ----------------------------------------------------------------------------


def test_the_root_projects_name_calls_its_own_macros(make_dbt: Callable[..., Path]) -> None:
    """dbt_date's integration tests call `{{ dbt_date_integration_tests.get_test_dates() }}`."""
    root = make_dbt(
        {
            "macros/hi.sql": "{% macro hi() %}1{% endmacro %}",
            "models/m.sql": "select {{ shop.hi() }} as a, {{ hi() }} as b",
        }
    )
    assert sql_of(root) == "SELECT 1 AS a, 1 AS b"


SHOW_VARS = (
    "{% macro show_vars() %}'{{ var('pkg_only', 'unset') }}' as pkg_only, '{{ var('shared', 'unset') }}' "
    "as shared, '{{ var('scoped', 'unset') }}' as scoped, '{{ var('own_scoped', 'unset') }}' as own_scoped"
    "{% endmacro %}"
)
PACKAGE_VARS = {
    "dbt_project.yml": PROJECT + "vars:\n  shared: from_root\n  pkg:\n    scoped: from_root_scoped\n",
    "dbt_packages/pkg/dbt_project.yml": """\
        name: pkg
        vars:
          pkg_only: p
          shared: from_pkg
          scoped: from_pkg
          pkg:
            own_scoped: from_pkg_scoped
        """,
    "dbt_packages/pkg/macros/show.sql": SHOW_VARS,
    "dbt_packages/pkg/models/pkg_model.sql": "select {{ pkg.show_vars() }}",
    "models/root_model.sql": "select {{ pkg.show_vars() }}",
}


@pytest.mark.parametrize(
    ("variables", "shared"),
    [({}, "from_root"), ({"shared": "cli"}, "cli")],
)
def test_a_packages_vars_apply_to_its_own_nodes(
    make_dbt: Callable[..., Path], variables: dict[str, str], shared: str
) -> None:
    """As dbt: a package's `vars:` are seen by the package's models (also in the macros they
    call), the root project's vars win over them (its vars scoped to the package over its
    global ones), and the command line's win over all; a root model sees none of the package's."""
    project = load_project(make_dbt(PACKAGE_VARS), variables=variables)
    assert project.models["pkg_model"].sql == (
        f"SELECT 'p' AS pkg_only, '{shared}' AS shared, 'from_root_scoped' AS scoped, "
        "'from_pkg_scoped' AS own_scoped"
    )
    assert project.models["root_model"].sql == (
        f"SELECT 'unset' AS pkg_only, '{shared}' AS shared, 'unset' AS scoped, 'unset' AS own_scoped"
    )


# test arguments, source() ----------------------------------------------------------------------------


def test_a_tests_arguments_are_rendered_before_its_macro_runs(make_dbt: Callable[..., Path]) -> None:
    """dbt_date's tests: `expression: "d = {{ dbt_date.yesterday('x') }}"`."""
    root = make_dbt(
        {
            "macros/tests.sql": """\
                {% test expression_is_true(model, expression) %}
                select * from {{ model }} where not ({{ expression }})
                {% endtest %}
                {% macro yesterday(column) %}({{ column }} - interval 1 day){% endmacro %}
                """,
            "models/m.sql": "select date '2024-01-02' as d, date '2024-01-01' as prior_d",
            "models/props.yml": """\
                models:
                  - name: m
                    data_tests:
                      - expression_is_true:
                          arguments:
                            expression: "prior_d = {{ yesterday('d') }}"
                """,
        }
    )
    (test,) = load_project(root).tests
    assert "d - INTERVAL '1' DAY" in test.sql and "{{" not in test.sql
    with Context(root) as context:
        _, result = context.plan_and_apply("prod")
    assert result is not None and [t.failures for t in result.tests] == [0]


def test_source_gives_a_relation_with_dbts_names(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "models/sources.yml": "sources:\n  - name: raw\n    schema: landing\n    tables: [{name: orders}]\n",
            "models/m.sql": "{% set s = source('raw', 'orders') %}"
            "select '{{ s.schema }}.{{ s.identifier }}' as n, '{{ s.database }}' as d from {{ s }}",
        }
    )
    assert sql_of(root) == "SELECT 'landing.orders' AS n, 'warehouse' AS d FROM landing.orders"


def test_a_custom_tests_relations_are_those_ref_gives(make_dbt: Callable[..., Path]) -> None:
    """A custom generic test receives `model` (and `ref(...)` arguments) as dbt's Relation:
    with the model's schema and identifier, and a mapping to dbt_utils' `_is_relation`."""
    root = make_dbt(
        {
            "macros/tests.sql": """\
                {% test same_place(model, other) %}
                {%- if not (model is mapping and model.get('metadata', {}).get('type') == 'Relation') -%}
                {{ exceptions.raise_compiler_error('not a relation') }}
                {%- endif -%}
                select * from {{ model }}
                where '{{ model.schema }}.{{ model.identifier }}' = '{{ other.schema }}.{{ other.name }}'
                {% endtest %}
                """,
            "models/m.sql": "select 1 as id",
            "models/n.sql": "{{ config(alias='n_alias') }} select 1 as id",
            "models/props.yml": """\
                models:
                  - name: m
                    data_tests:
                      - same_place:
                          arguments:
                            other: ref('n')
                """,
        }
    )
    (test,) = load_project(root).tests
    assert "'main.m' = 'main.n_alias'" in test.sql


# ephemeral models nothing reads -----------------------------------------------------------------


UNREAD_EPHEMERALS = {
    "models/empty.sql": "{{ config(materialized='ephemeral') }}\n-- to do\n",
    "models/unparsed.sql": "{{ config(materialized='ephemeral') }}\nselect a, from t where",
    "models/queries.sql": "{{ config(materialized='ephemeral') }}\n"
    "{% set columns = adapter.get_columns_in_relation(ref('m')) %}select 1 as a",
    "models/m.sql": "select 1 as a",
}


def test_an_ephemeral_model_nothing_reads_loads_and_is_never_built(make_dbt: Callable[..., Path]) -> None:
    """dbt never runs an ephemeral model, only inlines it where it is read: one that is empty,
    does not parse, or needs the warehouse to render builds with dbt, and with tidegate."""
    root = make_dbt(UNREAD_EPHEMERALS)
    project = load_project(root)
    assert {name: model.kind for name, model in project.models.items()} == {
        "empty": Kind.EPHEMERAL,
        "unparsed": Kind.EPHEMERAL,
        "queries": Kind.EPHEMERAL,
        "m": Kind.TABLE,
    }
    with Context(root) as context:
        context.plan_and_apply("prod")
        assert context.query("prod", "select a from main.m").rows == [(1,)]


@pytest.mark.parametrize(
    ("reader", "message", "line"),
    [
        ({"models/r.sql": "select * from {{ ref('unparsed') }}"}, "SQL syntax error", 2),
        ({"models/r.sql": "select * from {{ ref('queries') }}"}, "adapter.get_columns_in_relation", 2),
        (
            {
                "models/p.yml": "models:\n  - name: empty\n    columns:\n      - name: a\n        data_tests: [not_null]\n"
            },
            "exactly one SQL statement",
            None,
        ),
    ],
)
def test_an_ephemeral_model_that_is_read_must_render(
    make_dbt: Callable[..., Path], reader: dict[str, str], message: str, line: int | None
) -> None:
    error = error_of(make_dbt({**UNREAD_EPHEMERALS, **reader}))
    assert message in error.message
    assert (error.path, error.line) == (f"models/{error.model}.sql", line)
    assert error.hint is not None and "reads this ephemeral model" in error.hint


# refused by name, with the file and line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("graph.nodes.values() | list", "graph.nodes is not supported"),
        ("results | length", "results is not supported"),
        ("schema", "schema is not supported"),
        ("config.partition_by", "config.partition_by is not supported"),
        ("target.extensions", "target.extensions is not supported"),
        ("api.Relation.create(schema='a', identifier='b')", "api.Relation.create is not supported"),
        ("flags.FAIL_FAST", "flags.FAIL_FAST is not supported"),
        ("modules.os", "modules.os is not supported"),
        ("exceptions.nope()", "exceptions.nope is not supported"),
        ("dbt.get_columns_in_relation(ref('x'))", "dbt.get_columns_in_relation is not supported"),
        (
            "adapter.get_relation(database=none, schema='a', identifier='b')",
            "adapter.get_relation is not supported",
        ),
        ("ref('x').render_limited()", "ref('x').render_limited is not supported"),
        ("shop.nope()", "compilation error: shop.nope: package shop has no macro 'nope'"),
        ("nope()", "compilation error: 'nope' is undefined"),
    ],
)
def test_what_tidegate_cannot_render_is_refused_by_name(
    make_dbt: Callable[..., Path], expression: str, message: str
) -> None:
    root = make_dbt(
        {"models/x.sql": "select 1 as a", "models/m.sql": f"select 1 as a,\n'{{{{ {expression} }}}}' as b"}
    )
    error = error_of(root)
    assert (error.path, error.line) == ("models/m.sql", 2)
    assert error.message.startswith(message), error.message
    assert "Jinja error" not in error.message and "has no attribute" not in error.message


MATERIALIZATION = """\
{% macro helper() %}1{% endmacro %}
{% materialization parquet_file, adapter='duckdb' %}
  {{ return({'relations': [this]}) }}
{% endmaterialization %}
{% materialization table, default %}
  {{ return({'relations': [this]}) }}
{% endmaterialization %}
"""


def test_materialization_blocks_load_and_models_using_them_are_refused(make_dbt: Callable[..., Path]) -> None:
    """A materialization nothing uses is no error (its file's macros still load); a model
    that uses one, or a kind of model the project redefines, is refused with its line."""
    unused = make_dbt(
        {
            "macros/m.sql": MATERIALIZATION,
            "models/m.sql": "{{ config(materialized='view') }} select {{ helper() }} as a",
        }
    )
    assert load_project(unused).models["m"].sql == "SELECT 1 AS a"

    used = make_dbt({"models/m.sql": "select 1 as a\n{{ config(materialized='parquet_file') }}"})
    error = error_of(used)
    assert (error.path, error.line, error.model) == ("models/m.sql", 2, "m")
    assert error.message.startswith("custom materialization 'parquet_file' (defined in macros/m.sql:2)")

    redefined = make_dbt({"models/m.sql": "select 1 as a"})  # a table, by dbt_project.yml
    error = error_of(redefined)
    assert (error.path, error.line) == ("dbt_project.yml", 5)
    assert error.message.startswith(
        "materialized='table' is redefined by the materialization in macros/m.sql:5"
    )


def test_a_materialization_of_another_adapter_changes_nothing(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "macros/m.sql": "{% materialization table, adapter='snowflake' %}{% endmaterialization %}",
            "models/m.sql": "select 1 as a",
        }
    )
    assert load_project(root).models["m"].kind is Kind.TABLE


def test_a_macros_missing_argument_is_undefined_as_in_dbt(make_dbt: Callable[..., Path]) -> None:
    """dbt renders with Jinja's lenient undefined: dbt_expectations' tests leave out arguments
    their macros test with `{% if compare_column_name %}`."""
    root = make_dbt(
        {
            "macros/pick.sql": "{% macro pick(a, b) %}{% if b %}{{ b }}{% else %}{{ a }}{% endif %}{% endmacro %}",
            "models/m.sql": "select {{ pick(1) }} as a, '{{ nothing_here }}' as b",
        }
    )
    assert sql_of(root) == "SELECT 1 AS a, '' AS b"


# data tests' configs -----------------------------------------------------------------------------


THRESHOLDS = """\
models:
  - name: m
    columns:
      - name: a
        data_tests:
          - accepted_values:
              arguments: {values: [1]}
              config: {error_if: "<1", warn_if: "<0"}   # passes only when it finds failing rows
          - not_null:
              config:
                severity: "{{ 'warn' if target.type == 'duckdb' else 'error' }}"
                warn_if: ">= 1"
          - unique:
              config: {enabled: "{{ target.type != 'duckdb' }}"}
"""


def test_tests_configs_are_rendered_and_judged_as_dbt_does(make_dbt: Callable[..., Path]) -> None:
    """Jinja in a test's configs is rendered (`enabled: false` leaves the test out), and
    `fail_calc`, `warn_if` and `error_if` decide whether it passes, warns or fails."""
    root = make_dbt(
        {
            "models/m.sql": "select * from (values (1), (2), (null), (3), (3)) t(a)",
            "models/props.yml": THRESHOLDS,
            "tests/threes.sql": "{{ config(fail_calc='sum(a)', error_if='> 5') }}\n"
            "select a from {{ ref('m') }} where a = 3",
        }
    )
    assert len(load_project(root).tests) == 3  # the unique test is disabled on DuckDB
    with Context(root) as context, pytest.raises(CheckFailed) as raised:
        context.plan_and_apply("prod")
    outcomes = {(r.kind, r.failures, r.outcome, r.blocking) for r in raised.value.results}  # type: ignore[attr-defined]
    assert outcomes == {
        ("accepted_values", 2, "pass", False),  # 2 failing values, and error_if is < 1
        ("not_null", 1, "warn", False),
        ("singular", 6, "error", True),  # sum(a) of 3, 3 is 6 > 5
    }


def test_a_contract_on_an_ephemeral_model_is_ignored_as_dbt_does(make_dbt: Callable[..., Path]) -> None:
    """A folder's `+contract: {enforced: true}` reaches its ephemeral models too: dbt builds
    nothing for them, so it checks nothing."""
    root = make_dbt(
        {
            "models/e.sql": "{{ config(materialized='ephemeral', contract={'enforced': true}) }} select 1 as a",
            "models/p.yml": "models:\n  - name: e\n    columns:\n      - name: a\n        data_type: integer\n",
            "models/m.sql": "select a from {{ ref('e') }}",
        }
    )
    assert load_project(root).models["e"].contract is None
