"""The plan: everything an apply will do, reviewable and serializable.

A saved plan carries the compiled SQL of every build and test, so `apply plan.json` does exactly
what was reviewed, even if the project files changed since; it refuses if the environment moved.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from tidegate.errors import PlanError
from tidegate.project.model import Kind, Language, Severity
from tidegate.state.records import FailuresRecord, SnapshotRecord

PLAN_FORMAT = 1


class ChangeType(enum.StrEnum):
    """How a model differs from the environment's base."""

    ADDED = "added"
    REMOVED = "removed"
    DIRECTLY_MODIFIED = "directly_modified"
    """Its own definition changed (query, kind, schema, alias), or a full refresh was asked."""
    INDIRECTLY_MODIFIED = "indirectly_modified"
    """Only what it reads changed."""
    METADATA = "metadata"
    """Only its description or docs changed: nothing to build."""

    @property
    def direct(self) -> bool:
        """The model itself was added or changed, rather than what it reads."""
        return self in (ChangeType.ADDED, ChangeType.DIRECTLY_MODIFIED)

    @property
    def new_snapshot(self) -> bool:
        """The model's view points to a snapshot of a new fingerprint, which the apply builds or
        finds built; a metadata change keeps the model's snapshot, a removed model has none."""
        return self.direct or self is ChangeType.INDIRECTLY_MODIFIED


@dataclass(frozen=True)
class Category:
    """Whether a change alters the rows children read; adding columns at the top level does not."""

    breaking: bool
    added_columns: tuple[str, ...] = ()
    reason: str = ""


BREAKING = Category(breaking=True, reason="the query changed")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ModelChange(_Frozen):
    model: str
    change: ChangeType
    breaking: bool | None = None
    reason: str = ""
    added_columns: list[str] = Field(default_factory=list)
    rebuild: bool = False
    path: str | None = None


class ContractSpec(_Frozen):
    """A model's enforced contract, for the engine (see `tidegate.plan.contract`)."""

    columns: list[tuple[str, str]]
    """(name, declared type), in the contract's order."""
    definitions: list[str] = Field(default_factory=list)
    """Each column's definition in a CREATE TABLE, constraints included."""
    table_constraints: list[str] = Field(default_factory=list)


class Build(_Frozen):
    """One snapshot to build: compiled for the engine, with everything the apply needs."""

    model: str
    fingerprint: str
    version: str
    kind: Kind
    language: Language
    physical: str
    path: str | None = None
    """The model's file, for errors while building."""
    sql: str = ""
    query: str = ""
    python_source: str = ""
    inputs: dict[str, str] = Field(default_factory=dict)
    dbt_python: dict[str, Any] | None = None
    """A dbt Python model's refs, sources and configs (see `tidegate.plan.dbt_python`)."""
    seed_path: str = ""
    seed_hash: str = ""
    column_types: dict[str, str] = Field(default_factory=dict)
    """A seed's column types, as the engine spells them."""
    delimiter: str = ","
    narrow_integers: bool = False
    depends_on: list[str] = Field(default_factory=list)
    reused_from: str | None = None
    pre_hooks: list[str] = Field(default_factory=list)
    """dbt's pre-hooks, compiled (`this` is `physical`): run before the build, in its transaction."""
    post_hooks: list[str] = Field(default_factory=list)
    contract: ContractSpec | None = None
    history_from: str | None = None
    """The previous table of a dbt snapshot or of an incremental model whose inputs changed:
    the build copies it and merges `merge_sql` into the copy, as a dbt run would."""
    merge_sql: str = ""
    merge_strategy: str = "scd2"
    """How `merge_sql` goes in: `scd2`, or an incremental strategy (`merge`, `delete+insert`, `append`)."""
    merge_keys: list[str] = Field(default_factory=list)

    @property
    def materializes(self) -> bool:
        """Whether the build writes a relation: not when it keeps its parent's physical table
        (`reused_from`) or its model is ephemeral (inlined into its children)."""
        return self.reused_from is None and self.kind.has_relation


class TestRun(_Frozen):
    name: str
    kind: str
    sql: str
    severity: Severity
    models: list[str]
    path: str | None = None
    line: int | None = None
    failures: FailuresRecord | None = None
    """Where the test keeps its failing rows (dbt's `store_failures`), in the environment's own
    schema of failures."""
    thresholds: list[str] | None = None
    """dbt's `fail_calc`, `warn_if`, `error_if`, when a test sets them (see `DataTest`)."""

    @field_serializer("failures")
    def _failures_data(self, failures: FailuresRecord | None) -> dict[str, object] | None:
        """A saved plan's keys, in the order plans have always written them."""
        if failures is None:
            return None
        return {
            "environment": failures.environment,
            "kind": failures.kind,
            "schema": failures.schema,
            "name": failures.name,
            "relation": failures.relation,
            "parents": list(failures.parents),
        }


class GivenLater(_Frozen):
    """Given rows standing for an upstream this plan builds: as in dbt, the columns they leave
    out are NULLs of the upstream's types, which are known once it is built."""

    name: str
    """The relation name the unit test's query reads them from."""
    relation: str
    """The upstream's physical relation, whose column types the rows take."""
    rows: list[dict[str, Any]] = Field(default_factory=list)


class UnitTestRun(_Frozen):
    name: str
    model: str
    sql: str
    """The model's query over the given rows, compiled for the engine."""
    expected_rows: list[dict[str, Any]] = Field(default_factory=list)
    expected_sql: str | None = None
    path: str | None = None
    line: int | None = None
    given_later: list[GivenLater] = Field(default_factory=list)
    """Inputs typed by upstreams this plan builds: the test runs after the builds."""


class Plan(_Frozen):
    format: int = PLAN_FORMAT
    id: str
    project: str
    environment: str
    base_environment: str | None
    base_version: int | None
    """The environment's version when planned; an apply refuses if it moved since."""
    created_at: datetime
    engine: str
    warehouse: str
    git_commit: str | None = None
    mapping: dict[str, SnapshotRecord]
    """The snapshot each model's view points to after the apply."""
    changes: list[ModelChange] = Field(default_factory=list)
    builds: list[Build] = Field(default_factory=list)
    tests: list[TestRun] = Field(default_factory=list)
    unit_tests: list[UnitTestRun] = Field(default_factory=list)
    views_changed: list[str] = Field(default_factory=list)
    views_removed: list[str] = Field(default_factory=list)
    dashboards_affected: list[str] = Field(default_factory=list)
    exposures_affected: list[str] = Field(default_factory=list)
    """dbt exposures depending on a model whose data the plan changes."""
    full_refresh: list[str] = Field(default_factory=list)
    on_run_start: list[str] = Field(default_factory=list)
    """dbt's `on-run-start` hooks: run first, each in its own transaction."""
    on_run_end: list[str] = Field(default_factory=list)
    """dbt's `on-run-end` hooks: run once the views are swapped."""
    notes: list[str] = Field(default_factory=list)
    """What a reviewer should know that the changes do not say (e.g. nothing could be reused)."""

    @field_validator("mapping", mode="before")
    @classmethod
    def _named(cls, mapping: object) -> object:
        """A saved plan lists each snapshot under its model's name, without repeating it."""
        if not isinstance(mapping, dict):
            return mapping
        return {
            name: {"model": name, **data} if isinstance(data, dict) else data
            for name, data in mapping.items()
        }

    @field_serializer("mapping")
    def _mapping_data(self, mapping: dict[str, SnapshotRecord]) -> dict[str, dict[str, Any]]:
        """Each snapshot as an environment version lists it, less the model's name (the key)
        and with its alias even when it has none, as plans have always written them."""
        data = {}
        for name, record in mapping.items():
            entry = record.entry()
            del entry["model"]
            data[name] = entry | {"alias": record.alias}
        return data

    @property
    def has_changes(self) -> bool:
        """Whether applying would change the environment at all."""
        return bool(self.builds or self.views_changed or self.views_removed or self.base_version is None)

    def summary(self) -> dict[str, Any]:
        """What the plan does, counted: changes by type, snapshots to build, views to swap, tests."""
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.change.value] = counts.get(change.change.value, 0) + 1
        return {
            "environment": self.environment,
            "has_changes": self.has_changes,
            "changes": counts,
            "builds": sum(build.materializes for build in self.builds),
            "views": len(self.views_changed) + len(self.views_removed),
            "tests": len(self.tests),
            "unit_tests": len(self.unit_tests),
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole plan as plain data, as `save` writes it."""
        return self.model_dump(mode="json")

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise PlanError(f"cannot read the saved plan: {error}", path=path) from None
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise PlanError("not a tidegate plan of a format this version applies", path=path)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise PlanError(f"invalid saved plan: {error.errors()[0]['msg']}", path=path) from None
