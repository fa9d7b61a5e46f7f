"""dbt projects as they are: dbt_project.yml, profiles.yml, folder configs, dbt's names and
macros, custom generic tests, and the features tidegate refuses to render."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_files
from tidegate.context import Context
from tidegate.errors import ConfigError, ProjectError
from tidegate.project import Project, load_project
from tidegate.project.config import load_config

DBT_PROJECT = """\
name: jaffle
profile: jaffle
model-paths: ["models"]
vars:
  min_amount: 0
models:
  jaffle:
    +materialized: view
    staging:
      +schema: staging
      +tags: [staging]
    marts:
      +materialized: table
      legacy:
        +enabled: false
seeds:
  jaffle:
    +column_types: {amount: integer}
    raw_payments:
      +delimiter: ";"
"""

PROFILES = """\
jaffle:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      schema: main
      threads: 2
"""

LAYERED = {
    "dbt_project.yml": DBT_PROJECT,
    "profiles.yml": PROFILES,
    "seeds/raw_orders.csv": "id,customer_id,amount,status\n1,1,10,paid\n2,1,20,paid\n3,2,5,refunded\n",
    "seeds/raw_payments.csv": "id;order_id;amount\n1;1;10\n2;2;20\n",
    "models/staging/stg_orders.sql": """
        {{ config(alias='orders') }}
        select id as order_id, customer_id, amount, status from {{ ref('raw_orders') }}
        where amount > {{ var('min_amount') }}
    """,
    "models/marts/customers.sql": """
        select customer_id, sum(amount) as total from {{ ref('stg_orders') }} group by customer_id
    """,
    "models/marts/legacy/old_report.sql": "select * from {{ ref('stg_orders') }}",
    "models/schema.yml": """
        version: 2
        models:
          - name: customers
            config: {tags: [finance]}
            columns:
              - name: customer_id
                data_tests:
                  - unique
                  - is_positive:
                      config: {severity: warn}
          - name: old_report
            columns:
              - name: order_id
                tests: [not_null]
    """,
    "macros/tests.sql": """
        {% test is_positive(model, column_name) %}
            select * from {{ model }} where {{ column_name }} <= 0
        {% endtest %}
    """,
}


@pytest.fixture
def dbt_project(make_dbt: Callable[..., Path]) -> Callable[..., Path]:
    """`dbt_project(files, **{path: text})`: files, those changed (None: left out)."""
    return lambda files, **changes: make_dbt({**files, **changes})


def load(root: Path, **options: object) -> Project:
    return load_project(root, **options)  # type: ignore[arg-type]


def test_a_layered_dbt_project_loads_with_dbts_configs_and_names(dbt_project: Callable[..., Path]) -> None:
    project = load(dbt_project(LAYERED))
    config = project.config
    assert (config.name, config.dialect, config.default_schema) == ("jaffle", "duckdb", "main")
    assert set(config.environments) == {"prod", "dev"}
    assert config.environments["prod"].path == "warehouse.duckdb"
    assert config.environments["prod"].threads == 2

    orders = project.models["stg_orders"]
    assert (orders.kind.value, orders.schema, orders.alias, orders.tags) == (
        "view",
        "main_staging",
        "orders",
        ("staging",),
    )
    customers = project.models["customers"]
    assert (customers.kind.value, customers.schema, customers.alias) == ("table", "main", None)
    assert customers.tags == ("finance",)
    assert "old_report" not in project.models  # disabled folder: its tests are skipped too
    assert project.models["raw_payments"].delimiter == ";"
    assert dict(project.models["raw_orders"].column_types) == {"amount": "integer"}
    tests = {test.name: test for test in project.tests}
    assert set(tests) == {"unique_customers_customer_id", "is_positive_customers_customer_id"}
    positive = tests["is_positive_customers_customer_id"]
    assert positive.severity.value == "warn"
    assert "__tgref__customers" in positive.sql and "<= 0" in positive.sql


def test_sql_config_wins_over_properties_which_win_over_folders(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED,
        **{
            "models/marts/customers.sql": """
                {{ config(materialized='view') }}
                select customer_id from {{ ref('stg_orders') }}
            """,
            "models/props.yml": """
                models:
                  - name: stg_orders
                    config: {schema: clean, materialized: table}
            """,
        },
    )
    project = load(root)
    assert project.models["customers"].kind.value == "view"  # SQL over the marts folder's table
    assert (project.models["stg_orders"].schema, project.models["stg_orders"].kind.value) == (
        "main_clean",
        "table",
    )


def test_vars_come_from_dbt_project_and_vars_override_them(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(LAYERED)
    assert "> 0" in load(root).models["stg_orders"].sql
    assert "> 7" in load(root, variables={"min_amount": 7}).models["stg_orders"].sql


def test_a_ref_to_a_disabled_model_says_so(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(LAYERED, **{"models/report.sql": "select 1 as x\nfrom {{ ref('old_report') }}"})
    with pytest.raises(ProjectError) as info:
        load(root)
    assert "disabled" in info.value.message and "old_report" in info.value.message
    assert (info.value.path, info.value.line) == ("models/report.sql", 2)


def test_a_project_generate_schema_name_macro_replaces_dbts(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED,
        **{
            "macros/naming.sql": """
                {% macro generate_schema_name(custom_schema_name, node) -%}
                    {%- if custom_schema_name is none -%}{{ target.schema }}
                    {%- else -%}{{ custom_schema_name | trim }}_{{ node.resource_type }}{%- endif -%}
                {%- endmacro %}
                {% macro generate_alias_name(custom_alias_name=none, node=none) -%}
                    {{ return((custom_alias_name or node.name) ~ '_x') }}
                {%- endmacro %}
            """
        },
    )
    project = load(root)
    assert (project.models["stg_orders"].schema, project.models["stg_orders"].alias) == (
        "staging_model",
        "orders_x",
    )
    assert project.models["customers"].schema == "main"


def test_package_macros_dispatch_and_dbt_context(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED,
        **{
            "dbt_packages/utils/dbt_project.yml": "name: my_utils\n",
            "dbt_packages/utils/macros/cents.sql": """
                {% macro cents(column) %}{{ return(adapter.dispatch('cents', 'my_utils')(column)) }}{% endmacro %}
                {% macro default__cents(column) %}({{ column }} * 100){% endmacro %}
                {% macro duckdb__cents(column) %}({{ helper(column) }} * 100)::bigint{% endmacro %}
                {% macro helper(column) %}{{ column }}{% endmacro %}
            """,
            "models/marts/customers.sql": """
                {%- if target.name != 'dev' or target.type != 'duckdb' -%}
                    {{ exceptions.raise_compiler_error('wrong target ' ~ target.name) }}
                {%- endif -%}
                select customer_id, {{ my_utils.cents('amount') }} as cents,
                    '{{ model.name }}' as model_name, {{ modules.datetime.date(2024, 1, 2).year }} as y
                from {{ ref('jaffle', 'stg_orders') }}
            """,
        },
    )
    sql = load(root).models["customers"].sql
    assert "* 100" in sql and "BIGINT" in sql.upper() and "'customers'" in sql and "2024" in sql


def test_raise_compiler_error_names_file_and_line(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED, **{"models/bad.sql": "select 1\n{{ exceptions.raise_compiler_error('no way') }}\n"}
    )
    with pytest.raises(ProjectError) as info:
        load(root)
    assert "no way" in info.value.message and (info.value.path, info.value.line) == ("models/bad.sql", 2)


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        (
            "{% set rows = run_query('select max(id) from raw.orders') %}select 1",
            "run_query reading raw.orders",
        ),
        (
            "{% call statement('x', fetch_result=True) %}select * from {{ ref('stg_orders') }}{% endcall %}select 1",
            "statement blocks ({% call statement(...) %}) reading ref('stg_orders')",
        ),
        ("{% call statement('x') %}create table t (x int){% endcall %}select 1", "running `create table"),
        ("{% if load_relation(ref('stg_orders')) %}select 1{% endif %}", "load_relation"),
        (
            "select {{ adapter.get_columns_in_relation(ref('stg_orders')) }}",
            "adapter.get_columns_in_relation",
        ),
        ("{% for node in graph.nodes.values() %}{% endfor %}select 1", "graph"),
    ],
)
def test_what_needs_the_warehouse_is_refused_with_file_and_line(
    dbt_project: Callable[..., Path], text: str, feature: str
) -> None:
    root = dbt_project(LAYERED, **{"models/bad.sql": "-- first line\n" + text})
    with pytest.raises(ProjectError) as info:
        load(root)
    assert feature in info.value.message and "not supported" in info.value.message
    assert (info.value.path, info.value.line) == ("models/bad.sql", 2)


def test_unsupported_feature_in_a_macro_names_the_macro(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED,
        **{
            "macros/cols.sql": "{% macro cols() %}\n{{ return(run_query('select * from raw.t')) }}\n{% endmacro %}\n",
            "models/bad.sql": "select 1\n{{ cols() }}",
        },
    )
    with pytest.raises(ProjectError) as info:
        load(root)
    assert "run_query" in info.value.message and "macros/cols.sql:2" in info.value.message
    assert (info.value.path, info.value.line) == ("models/bad.sql", 2)


def test_custom_generic_test_in_tests_generic_with_arguments(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED,
        **{
            "tests/generic/at_least.sql": """
                {% test at_least(model, column_name, minimum, other) %}
                select * from {{ model }} where {{ column_name }} < {{ minimum }}
                  and customer_id in (select customer_id from {{ other }})
                {% endtest %}
            """,
            "tests/no_negative.sql": "select * from {{ ref('customers') }} where total < 0",
            "models/schema.yml": """
                models:
                  - name: customers
                    columns:
                      - name: total
                        data_tests:
                          - at_least:
                              arguments: {minimum: 1, other: "ref('stg_orders')"}
                              config: {where: "customer_id > 0"}
            """,
        },
    )
    tests = {test.name: test for test in load(root).tests}
    assert set(tests) >= {"no_negative"} and len(tests) == 2
    custom = next(test for test in tests.values() if test.kind == "at_least")
    assert custom.models == ("customers", "stg_orders")
    assert "customer_id > 0" in custom.sql and "< 1" in custom.sql


def test_an_unknown_test_names_its_line(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(
        LAYERED,
        **{
            "models/schema.yml": "models:\n  - name: customers\n    columns:\n      - name: x\n        tests: [nope]\n"
        },
    )
    with pytest.raises(ConfigError) as info:
        load(root)
    assert "nope" in info.value.message and info.value.line == 5


# profiles.yml ---------------------------------------------------------------------------


def test_profiles_are_found_in_dbt_profiles_dir_then_beside_the_project_then_home(
    dbt_project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def profile(path: str) -> str:
        return PROFILES.replace("warehouse.duckdb", path)

    root = dbt_project(LAYERED, **{"profiles.yml": None})
    write_files(tmp_path / "home" / ".dbt", {"profiles.yml": profile("home.duckdb")})
    assert load_config(root).environments["prod"].path == "home.duckdb"
    write_files(root, {"profiles.yml": profile("beside.duckdb")})
    assert load_config(root).environments["prod"].path == "beside.duckdb"
    write_files(tmp_path / "elsewhere", {"profiles.yml": profile("env.duckdb")})
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path / "elsewhere"))
    assert load_config(root).environments["prod"].path == "env.duckdb"


def test_without_profiles_the_error_names_dbt_project_yml(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(LAYERED, **{"profiles.yml": None})
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert (
        "profiles.yml" in info.value.message
        and info.value.path
        and info.value.path.endswith("dbt_project.yml")
    )
    assert info.value.line == 2


POSTGRES = """\
jaffle:
  target: "{{ env_var('DBT_TARGET', 'prod') }}"
  outputs:
    prod:
      type: postgres
      host: db.example.com
      port: 5433
      user: "{{ env_var('DBT_USER') }}"
      password: "{{ env_var('DBT_PASSWORD') }}"
      dbname: analytics
      schema: marts
      threads: 8
"""


def test_a_postgres_target_keeps_the_password_in_the_environment(
    dbt_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_USER", "loader")
    monkeypatch.setenv("DBT_PASSWORD", "s3cret")
    config = load_config(dbt_project(LAYERED, **{"profiles.yml": POSTGRES}))
    prod = config.environments["prod"]
    assert (config.dialect, config.default_schema, prod.engine, prod.threads) == (
        "postgres",
        "marts",
        "postgres",
        8,
    )
    assert prod.dsn == "host=db.example.com port=5433 user=loader dbname=analytics password=${DBT_PASSWORD}"
    assert "s3cret" not in repr(config) and prod.key(Path(".")) == "postgres:db.example.com:5433/analytics"


def test_a_literal_password_in_profiles_is_refused_with_its_line(dbt_project: Callable[..., Path]) -> None:
    profiles = POSTGRES.replace("\"{{ env_var('DBT_PASSWORD') }}\"", "hunter2").replace(
        "\"{{ env_var('DBT_USER') }}\"", "loader"
    )
    with pytest.raises(ConfigError) as info:
        load_config(dbt_project(LAYERED, **{"profiles.yml": profiles}))
    assert "password" in info.value.message and info.value.line == 9
    assert "hunter2" not in str(info.value)


def test_tidegate_yml_beside_dbt_project_decides_environments(dbt_project: Callable[..., Path]) -> None:
    tidegate = """\
        environments:
          prod: {engine: duckdb, path: prod.duckdb}
          staging: {engine: duckdb, path: prod.duckdb}
        promotion: [staging, prod]
    """
    project = load(dbt_project(LAYERED, **{"tidegate.yml": tidegate}))
    assert (project.name, set(project.config.environments)) == ("jaffle", {"prod", "staging"})
    assert project.models["stg_orders"].schema == "main_staging"  # the profile's target schema
    assert project.config.vars["min_amount"] == 0


# end to end -----------------------------------------------------------------------------


def test_plan_prod_builds_dbts_relations(dbt_project: Callable[..., Path]) -> None:
    root = dbt_project(LAYERED)
    with Context(root) as context:
        _, result = context.plan_and_apply("prod")
        assert result is not None and result.version == 1
        assert all(test.passed for test in result.tests) and len(result.tests) == 2
        assert context.query("prod", "select count(*) from stg_orders").rows == [(3,)]
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as connection:
        assert connection.sql("select count(*) from main_staging.orders").fetchall() == [(3,)]
        totals = connection.sql("select customer_id, total from main.customers order by 1").fetchall()
        assert totals == [(1, 30), (2, 5)]
        assert connection.sql("select sum(amount) from main.raw_payments").fetchall() == [(30,)]


def test_column_types_of_columns_a_seed_does_not_have_are_ignored_as_dbt_ignores_them(
    dbt_project: Callable[..., Path],
) -> None:
    stale = DBT_PROJECT.replace("{amount: integer}", "{amount: integer, dropped_column: varchar}")
    project = load(dbt_project(LAYERED, **{"dbt_project.yml": stale}))
    assert dict(project.models["raw_orders"].column_types) == {"amount": "integer"}
    assert dict(project.models["raw_payments"].column_types) == {"amount": "integer"}


def test_column_types_of_properties_merge_with_those_of_dbt_project_yml(
    dbt_project: Callable[..., Path],
) -> None:
    properties = """\
        version: 2
        seeds:
          - name: raw_orders
            config:
              column_types: {status: varchar, customer_id: bigint}
    """
    project = load(dbt_project(LAYERED, **{"seeds/properties.yml": properties}))
    assert dict(project.models["raw_orders"].column_types) == {
        "amount": "integer",
        "customer_id": "bigint",
        "status": "varchar",
    }
