"""Drift: how an environment's live warehouse differs from the version the state records.

A version says which snapshot each model's view reads. Someone may have dropped a view, its
schema or a snapshot table by hand, or redefined a view with other SQL. A view is judged by the
relations its definition reads (`EngineAdapter.views_read`), never by its text, which every
engine normalizes its own way. Infrastructure drift is `tidegate.infra`'s, and Terraform drift
(what a refresh-only plan of an environment's roots finds changed outside Terraform) is
`tidegate.infra.terraform`'s; both are reported with the same `Drift` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tidegate.engines.base import EngineAdapter
from tidegate.state.records import EnvironmentVersion, SnapshotRecord
from tidegate.state.views import environment_schema, internal_relations, record_view


class DriftKind(StrEnum):
    VIEW = "view"
    SNAPSHOT = "snapshot"
    SCHEMA = "schema"
    INFRA = "infra"
    TERRAFORM = "terraform"
    """A resource of a Terraform root changed outside Terraform: reported, never healed."""
    DATABRICKS = "databricks"
    """A Databricks job tidegate manages changed in the workspace: reported, never healed (the
    next deploy resets it)."""


@dataclass(frozen=True)
class Drift:
    """One difference between an environment's warehouse and its recorded version."""

    environment: str
    object: str
    """A relation (`schema.name`), a schema, an infrastructure resource's label, or a Terraform
    resource's address."""
    problem: str
    """What is wrong, in a short sentence."""
    kind: DriftKind
    model: str | None = field(default=None, compare=False)
    """The model whose view or snapshot it is (for healing it; not part of the report)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "object": self.object,
            "problem": self.problem,
            "kind": self.kind.value,
        }


def plain(relation: str) -> str:
    """A relation as people write it (`schema.name`), without the engine's quotes."""
    return relation.replace('"', "").replace("`", "")


def warehouse_drift(engine: EngineAdapter, version: EnvironmentVersion) -> list[Drift]:
    """Schemas, views and snapshots of `version` that its warehouse no longer has as recorded.
    A dropped schema is one drift, not one per view it held."""
    environment = version.environment
    records = [record for _, record in sorted(version.models.items()) if record.physical]
    schemas = sorted({environment_schema(record.schema, environment) for record in records})
    dropped = [schema for schema in schemas if not engine.has_schema(schema)]
    found = [Drift(environment, schema, "the schema was dropped", DriftKind.SCHEMA) for schema in dropped]
    kept = [schema for schema in schemas if schema not in dropped]
    live = _relations(engine, kept)
    reads = {schema: engine.views_read(schema) for schema in kept}
    snapshots = internal_relations(engine)
    for record in records:
        schema = environment_schema(record.schema, environment)
        if schema not in dropped:
            found += _view_drift(engine, environment, record, live, reads[schema])
        if record.physical not in snapshots:
            found.append(
                Drift(
                    environment,
                    plain(str(record.physical)),
                    f"the snapshot of {record.model} is missing",
                    DriftKind.SNAPSHOT,
                    record.model,
                )
            )
    return found


def _relations(engine: EngineAdapter, schemas: list[str]) -> dict[str, tuple[str, str, str]]:
    """(schema, name, kind) of every relation of `schemas`, by its relation as `relation()` spells it."""
    found = {}
    for schema in schemas:
        for space, name, kind in engine.relations(schema):
            relation = engine.relation(space, name)
            if relation == engine.relation(schema, name):  # not a schema that only starts so
                found[relation] = (space, name, kind)
    return found


def _view_drift(
    engine: EngineAdapter,
    environment: str,
    record: SnapshotRecord,
    live: dict[str, tuple[str, str, str]],
    views_read: dict[str, set[str] | None],
) -> list[Drift]:
    relation = record_view(engine, environment, record)
    shown = f"{environment_schema(record.schema, environment)}.{record.view_name}"
    if relation not in live:
        return [Drift(environment, shown, "the view is missing", DriftKind.VIEW, record.model)]
    _, name, kind = live[relation]
    if kind != "view":
        problem = f"a {kind} stands where the view should be"
        return [Drift(environment, shown, problem, DriftKind.VIEW, record.model)]
    reads = views_read.get(name)
    if reads is None or reads == {record.physical}:
        return []
    instead = ", ".join(sorted(plain(read) for read in reads)) or "no table"
    return [
        Drift(
            environment,
            shown,
            f"the view was redefined by hand: it reads {instead}, not {plain(str(record.physical))}",
            DriftKind.VIEW,
            record.model,
        )
    ]


def restore_views(
    engine: EngineAdapter, version: EnvironmentVersion, drift: list[Drift]
) -> tuple[list[str], dict[str, str]]:
    """Put back the schemas and views `drift` found missing or redefined, over the snapshots
    `version` records, in one transaction: no data copied, no new version. (the schemas and
    views restored, {each view that was not: why}): a relation that is not a view is never
    dropped, and a view is not made over a snapshot that is missing."""
    environment = version.environment
    schemas = [item.object for item in drift if item.kind is DriftKind.SCHEMA]
    names = {item.model for item in drift if item.kind is DriftKind.VIEW and item.model}
    names |= {
        name
        for name, record in version.models.items()
        if record.physical and environment_schema(record.schema, environment) in schemas
    }
    live = _relations(
        engine, sorted({environment_schema(version.models[n].schema, environment) for n in names})
    )
    snapshots = internal_relations(engine)
    restored: list[str] = [*schemas]
    refused: dict[str, str] = {}
    with engine.transaction():
        for schema in schemas:
            engine.create_schema(schema)
        for name in sorted(names):
            record = version.models[name]
            relation = record_view(engine, environment, record)
            shown = f"{environment_schema(record.schema, environment)}.{record.view_name}"
            found = live.get(relation)
            if found is not None and found[2] != "view":
                refused[shown] = f"a {found[2]} stands there, which healing never drops: move it away by hand"
            elif record.physical not in snapshots:
                refused[shown] = f"its snapshot {plain(str(record.physical))} is missing"
            else:
                engine.create_view(relation, f"SELECT * FROM {record.physical}")
                restored.append(shown)
    return restored, refused
