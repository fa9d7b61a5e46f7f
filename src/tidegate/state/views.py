"""Environments as views: where snapshots and environment views live, and the atomic swap.

Creating, promoting and rolling back an environment all end here: one transaction that points
the environment's views at other snapshots and records the new version. Nothing is copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError
from tidegate.state.records import FailuresRecord, SnapshotRecord
from tidegate.state.store import StateStore

INTERNAL_PREFIX = "tidegate__"


def physical_schema(schema: str) -> str:
    return f"{INTERNAL_PREFIX}{schema}"


def environment_schema(schema: str, environment: str) -> str:
    """Where an environment's views live: the schema itself in prod, `<schema>__<env>` elsewhere."""
    return schema if environment == "prod" else f"{schema}__{environment}"


def failures_schema(audit_schema: str, environment: str) -> str:
    """Where an environment keeps the failing rows of tests that store them: dbt's schema
    (`<schema>_dbt_test__audit` by default) in prod, `<that>__<env>` elsewhere, like views.
    Such a schema has no `__` but dbt's own (see `tidegate.project.datatests`), so
    `..._dbt_test__audit__<env>` is neither another environment's schema of views (one `__`)
    nor another environment's schema of failures, and never starts with `tidegate__`."""
    return environment_schema(audit_schema, environment)


def drop_failures(
    engine: EngineAdapter, state: StateStore, records: list[FailuresRecord], *, schemas: bool
) -> None:
    """Drop relations of failing rows and forget them; with `schemas`, their whole schemas,
    which an environment other than prod owns (prod's are dbt's, maybe shared with dbt runs)."""
    if schemas:
        for schema in sorted({record.schema for record in records}):
            engine.drop_schema(schema)
    else:
        for record in records:
            if record.kind == "view":
                engine.drop_view(record.relation)
            else:
                engine.drop_table(record.relation)
    state.forget_failures(records)


def environment_view(engine: EngineAdapter, environment: str, model: str, schema: str) -> str:
    """The relation of `model`'s view in `environment`; `model` is the view's name, which is
    the alias of a model that has one (see :attr:`SnapshotRecord.view_name`)."""
    return engine.relation(environment_schema(schema, environment), model)


def record_view(engine: EngineAdapter, environment: str, record: SnapshotRecord) -> str:
    """The relation of the view an environment has for a snapshot record."""
    return environment_view(engine, environment, record.view_name, record.schema)


def internal_relations(engine: EngineAdapter) -> dict[str, str]:
    """Every relation in tidegate's internal schemas, with its kind ("table" or "view")."""
    return {engine.relation(schema, name): kind for schema, name, kind in engine.relations(INTERNAL_PREFIX)}


def relations_read(record: SnapshotRecord) -> list[str]:
    """The relations an environment using `record` reads: its own table or view, and the tables
    that view reads (`parents`), which may belong to other snapshot records."""
    return [relation for relation in (record.physical, *record.parents) if relation]


class _Pointer(Protocol):
    @property
    def physical(self) -> str | None: ...


def view_changes(
    before: Mapping[str, _Pointer], after: Mapping[str, _Pointer]
) -> tuple[list[str], list[str]]:
    """The views to (re)point and the views to drop when an environment goes from `before` to
    `after` (model name -> snapshot); models without a relation (ephemeral) have no view."""
    changed = sorted(
        name
        for name, snapshot in after.items()
        if snapshot.physical and (name not in before or before[name].physical != snapshot.physical)
    )
    removed = sorted(
        name
        for name, snapshot in before.items()
        if snapshot.physical and (name not in after or not after[name].physical)
    )
    return changed, removed


def swap_views(
    engine: EngineAdapter,
    state: StateStore,
    environment: str,
    models: dict[str, SnapshotRecord],
    previous: dict[str, SnapshotRecord],
    *,
    action: str,
    source: str | None = None,
    git_commit: str | None = None,
    author: str | None = None,
    message: str | None = None,
    break_glass: str | None = None,
) -> int:
    """Point the environment's views at `models` (from `previous`) and record the new version.

    Call it inside the caller's transaction: with the data written in the same transaction (a
    `run`) or alone (apply, promote, rollback), readers see all of the change or none of it.
    """
    changed, removed = view_changes(previous, models)
    try:
        _take_over(engine, state, environment, models)
        _point_views(engine, environment, models, previous, changed, removed)
        return state.write_version(
            environment,
            models,
            action=action,
            source=source,
            git_commit=git_commit,
            author=author,
            message=message,
            break_glass=break_glass,
        )
    except BaseException:
        if not engine.spec.transactional_ddl:  # no rollback (Spark): undo what we can
            _restore_views(engine, environment, models, previous, changed, removed)
        raise


def _take_over(
    engine: EngineAdapter, state: StateStore, environment: str, models: dict[str, SnapshotRecord]
) -> None:
    """What an environment other than a pull request's uses becomes the deploy role's: the
    snapshots pull requests built, and the schemas they made (see `tidegate.state.access`)."""
    access = state.access
    if access is None or access.is_pull_request(environment):
        return
    relations = [relation for record in models.values() for relation in relations_read(record)]
    internal = {relation.split(".", 1)[0].strip('"') for relation in relations}
    access.share_snapshot_schemas(
        engine, [schema for schema in internal if schema.startswith(INTERNAL_PREFIX)]
    )
    views = {environment_schema(record.schema, environment) for record in models.values() if record.physical}
    access.take_over(engine, views, relations)


def _point_views(
    engine: EngineAdapter,
    environment: str,
    models: dict[str, SnapshotRecord],
    previous: dict[str, SnapshotRecord],
    changed: list[str],
    removed: list[str],
) -> None:
    """Create or replace every changed view first, so that on an engine without transactional
    DDL the state is recorded only once all of them point at their new snapshots."""
    for schema in sorted({models[name].schema for name in changed}):
        engine.create_schema(environment_schema(schema, environment))
    moved = [
        name
        for name in changed
        if name in previous and _moved(engine, environment, previous[name], models[name])
    ]
    engine.lock_relations(
        [record_view(engine, environment, previous[name]) for name in [*removed, *moved]]
        + [record_view(engine, environment, models[name]) for name in changed]
    )
    for name in [*removed, *moved]:
        engine.drop_view(record_view(engine, environment, previous[name]))
    for name in changed:
        record = models[name]
        engine.create_view(record_view(engine, environment, record), f"SELECT * FROM {record.physical}")


def _moved(engine: EngineAdapter, environment: str, before: SnapshotRecord, after: SnapshotRecord) -> bool:
    """Whether a model's view changes place (schema or alias), so the old one must be dropped."""
    return record_view(engine, environment, before) != record_view(engine, environment, after)


def _restore_views(
    engine: EngineAdapter,
    environment: str,
    models: dict[str, SnapshotRecord],
    previous: dict[str, SnapshotRecord],
    changed: list[str],
    removed: list[str],
) -> None:
    """Best effort: point the views of a failed swap back where `previous` had them."""
    for name in sorted({*changed, *removed}):
        try:
            if (
                name in models
                and models[name].physical
                and (name not in previous or _moved(engine, environment, previous[name], models[name]))
            ):
                engine.drop_view(record_view(engine, environment, models[name]))
            before = previous.get(name)
            if before is not None and before.physical:
                engine.create_view(
                    record_view(engine, environment, before), f"SELECT * FROM {before.physical}"
                )
        except EngineError:
            continue
