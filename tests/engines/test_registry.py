"""The engine registry (`tidegate.project.engines`): each engine is declared once, and what
reads it (the config, dbt profiles, the adapters) agrees with the declaration."""

from __future__ import annotations

import pytest

from tidegate.engines import adapter_class
from tidegate.errors import ConfigError
from tidegate.project.config import ConnectionConfig
from tidegate.project.engines import ENGINES, engine, for_dbt_adapter


@pytest.mark.parametrize("name", list(ENGINES))
def test_each_engine_names_an_adapter_that_declares_it(name: str) -> None:
    assert adapter_class(name).spec is ENGINES[name]


@pytest.mark.parametrize(
    ("adapter_type", "expected"), [("duckdb", "duckdb"), ("postgres", "postgres"), ("spark", "spark")]
)
def test_a_dbt_adapter_type_means_its_engine(adapter_type: str, expected: str) -> None:
    found = for_dbt_adapter(adapter_type)
    assert found is not None and found.name == expected and found.dialect == expected


def test_a_dbt_adapter_without_an_engine_means_none() -> None:
    assert for_dbt_adapter("bigquery") is None


def test_an_unknown_engine_is_a_configuration_error_listing_the_engines() -> None:
    with pytest.raises(ConfigError) as error:
        engine("oracle")
    assert error.value.exit_code == 2 and error.value.hint == f"one of {', '.join(ENGINES)}"


def test_a_connection_knows_its_engine_and_what_it_can_do() -> None:
    assert ConnectionConfig().spec is ENGINES["duckdb"]
    postgres = ConnectionConfig(engine="postgres", dsn="${DSN}")
    assert postgres.spec.roles and postgres.spec.advisory_locks and postgres.spec.extra == "postgres"
    spark = ConnectionConfig(engine="spark")
    assert not (spark.spec.transactional_ddl or spark.spec.constraints or spark.spec.scd2_merge)
