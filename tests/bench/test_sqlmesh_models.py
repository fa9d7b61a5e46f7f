"""dbt models become native SQLMesh models with the same query, kind and tests."""

import pytest

from measure import BenchError
from peers.sqlmesh import ModelSpec, native_model


def test_a_dbt_model_becomes_a_native_model_with_its_tests_as_audits() -> None:
    dbt_sql = "{{ config(materialized='table') }}\nselect o.id from {{ ref('stg_orders_1') }} as o\n"
    native = native_model("int_7", dbt_sql, ModelSpec(unique=("id",), not_null=("id",)))
    header, body = native.split(");\n\n", 1)
    assert "name bench.int_7" in header
    assert "kind FULL" in header
    assert "unique_values(columns := (id))" in header
    assert "not_null(columns := (id))" in header
    assert body == "select o.id from bench.stg_orders_1 as o\n"


def test_the_folder_default_applies_without_a_config_block() -> None:
    native = native_model("stg_x", "select 1 as id\n", ModelSpec(default_kind="view"))
    assert "kind VIEW" in native
    assert "audits" not in native


def test_jinja_that_cannot_be_translated_is_refused() -> None:
    with pytest.raises(BenchError, match="incremental"):
        native_model("m", "{{ config(materialized='incremental') }}\nselect 1\n", ModelSpec())
    with pytest.raises(BenchError, match="Jinja"):
        native_model("m", "select 1 {% if is_incremental() %}where x{% endif %}\n", ModelSpec())
