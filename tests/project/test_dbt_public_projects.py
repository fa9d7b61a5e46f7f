"""dbt projects as public ones are written: dbt's cross-database macros and the idioms of packages
such as dbt_utils and dbt_date (private macros, dispatch search orders, Relation checks, date
spines computed by a statement), raw data loaded with `dbt seed` and read back with source(),
dbt-duckdb's external files, Jinja in dbt_project.yml, and the defaults dbt applies. Each case
comes from a public project that did not load, or loaded differently from dbt."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DBT_PROJECT as PROJECT
from tidegate.context import Context
from tidegate.errors import ConfigError, ProjectError
from tidegate.project import load_project
from tidegate.project.model import Kind, ref_placeholder


def sql_of(root: Path, model: str) -> str:
    return load_project(root).models[model].sql.lower()


# dbt's own macros ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("dbt.dateadd('day', 3, 'd')", "(d + cast(3 as bigint) * interval 1 day)"),
        ("dbt.dateadd('quarter', 1, 'd')", "(d + (cast(1 as bigint) * 3) * interval 1 month)"),
        (
            "dbt.datediff('a', 'b', 'month')",
            "(date_diff('month', cast(a as timestamp), cast(b as timestamp)))",
        ),
        ("dbt.date_trunc('week', 'd')", "date_trunc('week', d)"),
        (
            "\"'\" ~ dbt.type_string() ~ ' ' ~ dbt.type_timestamp() ~ ' ' ~ dbt.type_numeric() ~ \"'\"",
            "'TEXT timestamp numeric(28,6)'",
        ),
        ("dbt.current_timestamp()", "now()"),
        ("dbt.any_value('x')", "arbitrary(x)"),
        ("dbt.split_part('s', \"','\", 2)", "string_split(s, ',')[2]"),
        ("dbt.hash('x')", "md5(cast(x as text))"),
        ("dbt.concat(['a', 'b'])", "a || b"),
        ("dbt.safe_cast('x', dbt.type_int())", "cast(x as integer)"),
        ("dateadd('month', -1, 'd')", "(d + cast(-1 as bigint) * interval 1 month)"),  # global, like dbt
    ],
)
def test_dbts_cross_database_macros_render_as_dbt_duckdb_renders_them(
    make_dbt: Callable[..., Path], call: str, expected: str
) -> None:
    root = make_dbt({"models/m.sql": f"select {{{{ {call} }}}} as x from t"})
    from tidegate.project.sql import normalize, parse_query

    query = parse_query(f"select {expected} as x from t", "duckdb", path="expected")
    assert sql_of(root, "m") == normalize(query, "duckdb").lower()


def test_postgres_targets_get_dbt_postgres_forms(make_dbt: Callable[..., Path]) -> None:
    profiles = """\
        shop:
          target: dev
          outputs:
            dev: {type: postgres, host: localhost, user: me, dbname: shop, schema: public}
    """
    root = make_dbt(
        {
            "tidegate.yml": "name: shop\ndialect: postgres\nenvironments:\n  prod: {engine: duckdb, path: w.duckdb}\n",
            "models/m.sql": "select {{ dbt.any_value('x') }} as a, {{ dbt.dateadd('day', 2, 'd') }} as b from t",
        },
        profiles,
    )
    sql = sql_of(root, "m")
    assert "min(x) as a" in sql and "interval '1 day'" in sql


def test_a_projects_own_adapter_macro_wins_over_dbts(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "macros/dates.sql": "{% macro duckdb__date_trunc(datepart, date) %}my_trunc({{ date }}){% endmacro %}",
            "models/m.sql": "select {{ dbt.date_trunc('day', 'd') }} as x from t",
        }
    )
    assert "my_trunc(d)" in sql_of(root, "m")


def test_a_date_spine_runs_its_constant_statement(make_dbt: Callable[..., Path]) -> None:
    """dbt_utils' and dbt_date's date spines count their periods with a statement that reads no
    table: tidegate answers it at load time, so the spine is the same as dbt's."""
    root = make_dbt(
        {
            "models/spine.sql": """
                {{ dbt.date_spine('day', "cast('2024-01-01' as date)", "cast('2024-01-11' as date)") }}
            """,
            "models/months.sql": """
                {%- call statement('n', fetch_result=True) -%}
                    select {{ dbt.datediff("cast('2024-01-15' as date)", "cast('2024-04-01' as date)", 'month') }} as n
                {%- endcall -%}
                {%- set result = load_result('n') -%}
                select {{ result['data'][0][0] }} as months, {{ result['table'].columns['n'].values()[0] }} as again,
                    {{ run_query('select 41 + 1 as answer').rows[0]['answer'] }} as answer
            """,
        }
    )
    with Context(root) as context:
        context.plan_and_apply("prod")
        spine = context.query("prod", "select count(*), min(date_day), max(date_day) from main.spine").rows
        assert spine == [(10, datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 10))]
        assert context.query("prod", "select * from main.months").rows == [(3, 3, 42)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{{ dbt_utils_like.get_column_values(ref('base'), 'kind') }}",
            "load_relation (adapter.get_relation) is not supported",
        ),
        (
            "{% set r = run_query('select * from main.base') %}",
            "run_query reading main.base is not supported",
        ),
        ("{% set r = run_query('select 1 +') %}", "run_query running `select 1 +` is not supported"),
        ("select {{ ref('base').nope }}", "ref('base').nope is not supported"),
        ("{% set r = run_query('select 1/0 as x, cast(\\'x\\' as int) as y') %}", "the query failed"),
    ],
)
def test_what_a_package_asks_of_the_warehouse_is_refused_with_the_feature(
    make_dbt: Callable[..., Path], text: str, message: str
) -> None:
    root = make_dbt(
        {
            "dbt_packages/dbt_utils_like/dbt_project.yml": "name: dbt_utils_like\n",
            "dbt_packages/dbt_utils_like/macros/values.sql": """
                {% macro get_column_values(table, column) %}
                  {%- if load_relation(table) is none -%}{{ return([]) }}{%- endif -%}
                {% endmacro %}
            """,
            "models/base.sql": "select 1 as kind",
            "models/m.sql": "-- line 1\n" + text + "\nselect 1 as x",
        }
    )
    with pytest.raises(ProjectError) as raised:
        load_project(root)
    assert message in raised.value.message
    assert (raised.value.path, raised.value.line) == ("models/m.sql", 2)


PACKAGE = {
    "dbt_packages/utils/dbt_project.yml": "name: utils\n",
    "dbt_packages/utils/macros/keys.sql": """
        {% macro _is_relation(obj, macro) %}
            {%- if not (obj is mapping and obj.get('metadata', {}).get('type', '').endswith('Relation')) -%}
                {%- do exceptions.raise_compiler_error(macro ~ " expected a Relation, got " ~ obj) -%}
            {%- endif -%}
        {% endmacro %}
        {% macro _is_ephemeral(obj, macro) %}
            {%- if obj.is_cte -%}{{ exceptions.raise_compiler_error("ephemeral") }}{%- endif -%}
        {% endmacro %}
        {% macro key(relation, column) %}
            {%- do utils._is_relation(relation, 'key') -%}
            {%- do utils._is_ephemeral(relation, 'key') -%}
            {{ return(adapter.dispatch('key', 'utils')(relation, column)) }}
        {% endmacro %}
        {% macro default__key(relation, column) %}md5(cast({{ column }} as {{ dbt.type_string() }})){% endmacro %}
    """,
}


def test_package_idioms_private_macros_relations_and_dispatch_search_order(
    make_dbt: Callable[..., Path],
) -> None:
    """dbt_utils checks its arguments with `_private` macros (which Jinja does not export) and
    that they are Relations; dbt_project.yml's `dispatch:` decides whose implementation runs."""
    files = {
        **PACKAGE,
        "models/base.sql": "select 1 as id",
        "models/m.sql": "select {{ utils.key(ref('base'), 'id') }} as k, '{{ ref('base').identifier }}' as i, "
        "'{{ ref('base').schema }}' as s, '{{ adapter.type() }}' as a from {{ ref('base') }}",
    }
    sql = sql_of(make_dbt(files), "m")
    assert "md5(cast(id as text)) as k, 'base' as i, 'main' as s, 'duckdb' as a" in sql

    override = {
        "macros/key.sql": "{% macro default__key(relation, column) %}mine({{ column }}){% endmacro %}"
    }
    assert "mine(id) as k" in sql_of(make_dbt({**files, **override}), "m")  # the root project first, as dbt
    ordered = {
        **files,
        **override,
        "dbt_project.yml": PROJECT + "dispatch:\n  - macro_namespace: utils\n    search_order: [utils]\n",
    }
    assert "md5(cast(id as text)) as k" in sql_of(make_dbt(ordered), "m")
    with pytest.raises(ProjectError, match="key expected a Relation"):
        load_project(make_dbt({**files, "models/m.sql": "select {{ utils.key('base', 'id') }} as k"}))


def test_a_bad_dispatch_entry_names_dbt_project_yml(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt({"dbt_project.yml": PROJECT + "dispatch:\n  - macro_namespace: utils\n"})
    with pytest.raises(ConfigError, match="search_order") as raised:
        load_project(root)
    assert raised.value.line == 7


def test_package_generic_tests_ask_whether_to_store_failures(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "dbt_packages/utils/dbt_project.yml": "name: utils\n",
            "dbt_packages/utils/macros/positive.sql": """
                {% test positive(model, column_name) %}
                {% set columns = '*' if should_store_failures() else '1' %}
                select {{ columns }} from {{ model }} where {{ column_name }} <= 0
                {% endtest %}
            """,
            "models/m.sql": "select 1 as id",
            "models/schema.yml": "models:\n  - name: m\n    columns:\n      - name: id\n"
            "        data_tests: [utils.positive]\n",
        }
    )
    (test,) = load_project(root).tests
    assert test.sql.lower().startswith("select 1 from")


# raw data: seeds read with source(), external files ---------------------------------------------

RAW = {
    "dbt_project.yml": PROJECT + "seeds:\n  shop:\n    +schema: raw\n",
    "macros/schemas.sql": """
        {% macro generate_schema_name(custom_schema_name, node) %}
            {%- if node.resource_type == 'seed' -%}{{ custom_schema_name | trim }}
            {%- else -%}{{ target.schema }}{%- endif -%}
        {% endmacro %}
    """,
    "seeds/raw_orders.csv": "id,amount\n1,10\n2,20\n",
    "models/sources.yml": """
        sources:
          - name: ecom
            schema: raw
            tables:
              - name: raw_orders
                columns:
                  - name: id
                    data_tests: [unique]
              - name: raw_refunds
        unit_tests:
          - name: doubles
            model: stg_orders
            given:
              - input: source('ecom', 'raw_orders')
                rows: [{id: 1, amount: 2}]
            expect:
              rows: [{id: 1, amount: 4}]
    """,
    "models/stg_orders.sql": "select id, amount * 2 as amount from {{ source('ecom', 'raw_orders') }}",
}


def test_a_source_that_is_a_seed_of_the_project_reads_the_seed(make_dbt: Callable[..., Path]) -> None:
    """Public projects load their raw data with `dbt seed` and read it with source(): in one
    apply, the model is built after the seed, from the seed of the environment being built."""
    root = make_dbt(RAW)
    project = load_project(root)
    stg = project.models["stg_orders"]
    assert stg.refs == ("raw_orders",) and stg.sources == ()
    assert ref_placeholder("raw_orders") in stg.sql
    (test,) = project.tests
    assert test.models == ("raw_orders",) and ref_placeholder("raw_orders") in test.sql
    (unit,) = project.unit_tests
    assert [(item.target, item.is_source) for item in unit.given] == [("raw_orders", False)]
    with Context(root) as context:
        result = context.plan_and_apply("prod")[1]
        assert result is not None and all(test.passed for test in result.tests)
        assert all(test.failures == 0 for test in result.unit_tests)
        assert context.query("prod", "select sum(amount) from main.stg_orders").rows == [(60,)]


def test_external_location_sources_read_their_files_on_duckdb(make_dbt: Callable[..., Path]) -> None:
    """dbt-duckdb reads a source with `external_location` from that file (relative to the
    working directory, as dbt does), formatted with the table's name."""
    root = make_dbt(
        {
            "data/orders.csv": "id,amount\n1,5\n2,7\n",
            "models/sources.yml": """
                sources:
                  - name: files
                    meta: {external_location: "data/{name}.csv"}
                    tables:
                      - name: orders
                      - name: lines
                        config: {external_location: "read_csv('data/orders.csv', header=true)"}
                  - name: plain
                    tables: [{name: orders}]
            """,
            "models/orders.sql": "select * from {{ source('files', 'orders') }}",
            "models/lines.sql": "select * from {{ source('files', 'lines') }}",
        }
    )
    project = load_project(root)
    assert project.sources["files.orders"].relation == "'data/orders.csv'"
    assert project.sources["files.lines"].relation == "read_csv('data/orders.csv', header=true)"
    assert project.sources["plain.orders"].relation == "plain.orders"
    import os

    cwd = Path.cwd()
    os.chdir(root)
    try:
        with Context(root) as context:
            context.plan_and_apply("prod")
            assert context.query("prod", "select sum(amount) from main.orders").rows == [(12,)]
            assert context.query("prod", "select count(*) from main.lines").rows == [(2,)]
    finally:
        os.chdir(cwd)


def test_external_location_that_cannot_be_formatted_names_its_table(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "models/sources.yml": "sources:\n  - name: files\n    tables:\n"
            "      - name: orders\n        meta: {external_location: 'data/{nope}.csv'}\n",
        }
    )
    with pytest.raises(
        ConfigError, match=r"external_location 'data/\{nope\}\.csv' cannot be formatted"
    ) as raised:
        load_project(root)
    assert (raised.value.path, raised.value.line) == ("models/sources.yml", 4)


# dbt_project.yml and dbt's defaults --------------------------------------------------------------


def test_jinja_in_dbt_project_configs_is_rendered_with_vars(make_dbt: Callable[..., Path]) -> None:
    files = {
        "dbt_project.yml": PROJECT
        + '    +tags: ["{{ target.name }}"]\nseeds:\n  shop:\n    +enabled: "{{ var(\'load_raw\', false) }}"\n',
        "seeds/raw.csv": "id\n1\n",
        "models/m.sql": "select 1 as id",
    }
    root = make_dbt(files)
    project = load_project(root)
    assert "raw" not in project.models and project.models["m"].tags == ("dev",)
    assert "raw" in load_project(root, variables={"load_raw": True}).models


def test_an_incremental_model_without_unique_key_appends_as_in_dbt(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt({"models/events.sql": "{{ config(materialized='incremental') }}\nselect 1 as id"})
    events = load_project(root).models["events"]
    assert (events.kind, events.incremental_strategy) == (Kind.INCREMENTAL, "append")


def test_properties_of_a_node_the_project_lacks_are_ignored_as_dbt_does(
    make_dbt: Callable[..., Path],
) -> None:
    root = make_dbt(
        {
            "models/m.sql": "select 1 as id",
            "models/schema.yml": "models:\n  - name: gone\n    columns:\n      - name: id\n"
            "        data_tests: [unique]\n",
        }
    )
    project = load_project(root)
    assert set(project.models) == {"m"} and project.tests == ()


def test_seed_whole_numbers_are_integers_as_dbt_types_them(make_dbt: Callable[..., Path]) -> None:
    """dbt's CSV reader makes whole numbers 32-bit integers: the contracts and types of models
    built on seeds then match dbt's. Numbers too big, and configured types, stay as they are."""
    root = make_dbt(
        {
            "seeds/accounts.csv": "id,balance,big,code\n1,2.5,9000000000,7\n2,3.0,1,8\n",
            "seeds/properties.yml": "seeds:\n  - name: accounts\n    config: {column_types: {code: bigint}}\n",
        }
    )
    with Context(root) as context:
        context.plan_and_apply("prod")
        types = dict(context.engine("prod").columns("main.accounts"))
    assert types == {"id": "INTEGER", "balance": "DOUBLE", "big": "BIGINT", "code": "BIGINT"}
