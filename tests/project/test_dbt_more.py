"""dbt projects: package models, sources' tests and freshness, `this` attributes, model versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DBT_PROJECT as PROJECT
from tidegate.context import Context
from tidegate.errors import ProjectError
from tidegate.project import load_project

SOURCES = """\
sources:
  - name: raw
    schema: raw
    loaded_at_field: loaded_at
    freshness: {warn_after: {count: 12, period: hour}}
    tables:
      - name: orders
        columns:
          - name: id
            data_tests: [not_null, {unique: {config: {severity: warn}}}]
      - name: customers
        freshness: null
        loaded_at_field: synced_at
"""


def test_source_freshness_is_stored_and_source_tests_read_the_source(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "models/sources.yml": SOURCES,
            "models/orders.sql": "select id from {{ source('raw', 'orders') }}",
            "models/other.sql": "select 1 as id",
        }
    )
    project = load_project(root)
    orders, customers = project.sources["raw.orders"], project.sources["raw.customers"]
    assert (orders.loaded_at_field, orders.freshness) == (
        "loaded_at",
        {"warn_after": {"count": 12, "period": "hour"}},
    )
    assert (customers.loaded_at_field, customers.freshness) == ("synced_at", None)
    tests = {test.name: test for test in project.tests}
    assert set(tests) == {"source_not_null_raw_orders_id", "source_unique_raw_orders_id"}
    assert tests["source_not_null_raw_orders_id"].models == ("orders",)  # planned with its readers
    assert "raw.orders" in tests["source_not_null_raw_orders_id"].sql.lower()

    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        connection.execute("create schema raw")
        connection.execute("create table raw.orders as select * from (values (1), (1), (2)) t(id)")
    with Context(root) as context:
        plan = context.plan("prod")
        assert {test.name for test in plan.tests} == set(tests)
        failed = {test.name: test.failures for test in context.apply(plan).tests}
    assert failed == {"source_not_null_raw_orders_id": 0, "source_unique_raw_orders_id": 1}


THIS_MODEL = """\
{{ config(schema='staging', alias='stg_alias',
          post_hook="create table main.hooklog as select '{{ this.schema }}.{{ this.identifier }}' as i") }}
select '{{ this.schema }}' as s, '{{ this.identifier }}' as i, '{{ this.name }}' as n, '{{ this.database }}' as d
"""


def test_this_attributes_are_the_prod_names_dbt_gives(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt({"models/staging/stg.sql": THIS_MODEL})
    with Context(root) as context:
        context.plan_and_apply("prod")
        rows = context.query("prod", "select * from main_staging.stg_alias").rows
        assert rows == [("main_staging", "stg_alias", "stg_alias", "warehouse")]  # as dbt build gives
        assert context.query("prod", "select i from main.hooklog").rows == [("main_staging.stg_alias",)]


VERSIONS = """\
models:
  - name: dim
    latest_version: 2
    columns:
      - name: id
        data_tests: [not_null]
    versions:
      - v: 1
        defined_in: dim
      - v: 2
      - v: 3
        defined_in: dim_three
"""


def test_model_versions_resolve_as_dbt_does(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(
        {
            "models/versions.yml": VERSIONS,
            "models/dim.sql": "select 1 as id",
            "models/dim_v2.sql": "select 2 as id",
            "models/dim_three.sql": "select 3 as id",
            "models/uses.sql": "select (select id from {{ ref('dim') }}) as latest, "
            "(select id from {{ ref('dim', v=1) }}) as one, (select id from {{ ref('dim', v=3) }}) as three",
        }
    )
    project = load_project(root)
    assert project.models["uses"].refs == ("dim_v2", "dim", "dim_three")
    assert {name: project.models[name].view_name for name in ("dim", "dim_v2", "dim_three")} == {
        "dim": "dim_v1",
        "dim_v2": "dim_v2",
        "dim_three": "dim_v3",
    }
    assert {test.name for test in project.tests} == {
        "not_null_dim_id",
        "not_null_dim_v2_id",
        "not_null_dim_three_id",
    }
    with Context(root) as context:
        context.plan_and_apply("prod")
        assert context.query("prod", "select * from main.uses").rows == [(2, 1, 3)]  # as dbt build gives
        assert context.query("prod", "select id from main.dim_v3").rows == [(3,)]
    with pytest.raises(ProjectError, match=r"dim has versions 1, 2, 3"):
        load_project(make_dbt({"models/uses.sql": "select * from {{ ref('dim', v=4) }}"}))


PACKAGE = {
    "dbt_project.yml": PROJECT + "  pkgx:\n    inner:\n      +materialized: view\n",
    "dbt_packages/pkgx/dbt_project.yml": "name: pkgx\nmodels:\n  pkgx:\n    +materialized: table\n    +schema: pkgschema\n",
    "dbt_packages/pkgx/models/base.sql": "select 1 as id",
    "dbt_packages/pkgx/models/inner/derived.sql": "select id + 1 as id from {{ ref('base') }}",
    "dbt_packages/pkgx/models/schema.yml": "models:\n  - name: base\n    columns:\n      - name: id\n        data_tests: [unique]\n",
    "models/uses.sql": "select (select id from {{ ref('pkgx', 'derived') }}) as a, (select id from {{ ref('base') }}) as b",
}


def test_package_models_load_with_the_packages_configs(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt(PACKAGE)
    project = load_project(root)
    base, derived = project.models["base"], project.models["derived"]
    # the package's dbt_project.yml, then the root's `pkgx:` configs, as dbt build makes them
    assert (base.kind.value, base.schema, derived.kind.value, derived.schema) == (
        "table",
        "main_pkgschema",
        "view",
        "main_pkgschema",
    )
    assert {test.name for test in project.tests} == {"unique_base_id"}
    with Context(root) as context:
        context.plan_and_apply("prod")
        assert context.query("prod", "select * from main.uses").rows == [(2, 1)]  # as dbt build gives
    with pytest.raises(ProjectError, match=r"derived is a model of pkgx, not of shop"):
        load_project(make_dbt({"models/uses.sql": "select * from {{ ref('shop', 'derived') }}"}))


def test_a_model_name_in_two_packages_is_an_error_naming_both_files(make_dbt: Callable[..., Path]) -> None:
    root = make_dbt({**PACKAGE, "models/base.sql": "select 2 as id"})
    with pytest.raises(ProjectError, match=r"two models are named 'base'") as raised:
        load_project(root)
    assert "models/base.sql" in str(raised.value) and "dbt_packages/pkgx/models/base.sql" in str(raised.value)
