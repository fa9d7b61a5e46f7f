"""Keep the failing rows of data tests that store them (dbt's `store_failures`).

Each run of such a test replaces its relation, also when the test passes (the relation is then
empty), as dbt does, so what the relation holds is always the last run's answer. Relations are
recorded in the state before they are created: dropping an environment drops them all, and the
janitor drops a view of failing rows before the snapshots it reads (see `tidegate.state.janitor`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError
from tidegate.state.records import FailuresRecord
from tidegate.state.store import StateStore


def prepare(engine: EngineAdapter, state: StateStore, stored: Iterable[FailuresRecord]) -> dict[str, str]:
    """Record the relations, create their schemas, and return the kind ("table" or "view") of
    those that already exist, by relation: a relation is dropped as what it is before it is
    created again, maybe as the other kind. Runs on one connection before tests run in parallel."""
    stored = list(stored)
    for failures in stored:
        state.record_failures(failures)
    existing: dict[str, str] = {}
    for schema in sorted({failures.schema for failures in stored}):
        try:
            engine.create_schema(schema)
        except EngineError as error:
            raise type(error)(f"cannot create {schema} for tests' failing rows: {error.message}") from None
        for found_schema, name, kind in engine.relations(schema):
            if found_schema.lower() == schema.lower():
                existing[engine.relation(found_schema, name).lower()] = kind
    return existing


def store(
    engine: EngineAdapter, failures: FailuresRecord, sql: str, existing: str | None, *, nested: bool = False
) -> None:
    """Replace the relation with the rows of the test's query `sql`, in one transaction where the
    engine has them (readers see the last run's rows or this one's), or in the caller's
    (`nested`) when the rows must commit or roll back with what the caller writes."""
    relation = failures.relation
    with nullcontext() if nested else engine.transaction():
        if existing == "view":
            engine.drop_view(relation)
        elif existing is not None:
            engine.drop_table(relation)
        if failures.kind == "view":
            engine.create_view(relation, sql)
        else:
            engine.create_table_as(relation, sql)
