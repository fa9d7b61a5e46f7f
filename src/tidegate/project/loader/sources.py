"""dbt sources that are more than a declared table: a dbt-duckdb `external_location` (a file or
a table function), and a seed of the project read back with `source()`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tidegate.project.config import ProjectConfig
from tidegate.project.engines import for_dbt_adapter
from tidegate.project.model import Kind, Model, UnitTest
from tidegate.project.properties import Properties


def read_external_sources(properties: Properties, config: ProjectConfig) -> None:
    """On DuckDB, a source with dbt-duckdb's `external_location` reads that file or table
    function: it is the source's relation (and that of its tests)."""
    dbt = config.dbt
    if dbt is None:
        return
    engine = for_dbt_adapter(dbt.target.type) if dbt.target else config.connection_for("prod").spec
    if engine is None or not engine.dbt_external_location:
        return
    for key, source in list(properties.sources.items()):
        if source.external_location is not None:
            properties.sources[key] = dataclasses.replace(source, relation=source.external_location)
    properties.source_tests = [
        dataclasses.replace(spec, relation=properties.sources[(source, table)].relation)
        for spec in properties.source_tests
        for source, _, table in [spec.model.partition(".")]
    ]


def seed_sources(properties: Properties, models: Mapping[str, Model], database: str) -> dict[str, str]:
    """Sources (`source.table`) whose relation is one of this project's seeds as dbt names it
    in prod (in the target's `database`): a project that loads its raw data with `dbt seed` and
    reads it back with source(). Those sources read the seed, in whichever environment is built."""
    seeds = {
        (model.schema.lower(), (model.alias or model.name).lower()): model.name
        for model in models.values()
        if model.kind is Kind.SEED
    }
    found = {}
    for (source, table), declared in properties.sources.items():
        *catalog, schema, identifier = declared.relation.lower().split(".")
        if catalog and catalog[0] != database.lower():
            continue
        seed = seeds.get((schema, identifier))
        if seed is not None:
            found[f"{source}.{table}"] = seed
    return found


def given_seeds(test: UnitTest, seed_sources: Mapping[str, str]) -> UnitTest:
    """A unit test whose given rows stand for a source that is a seed (see `seed_sources`)
    gives them for the seed, which the model reads."""
    given = tuple(
        dataclasses.replace(item, target=seed_sources[item.target], is_source=False)
        if item.is_source and item.target in seed_sources
        else item
        for item in test.given
    )
    return dataclasses.replace(test, given=given)
