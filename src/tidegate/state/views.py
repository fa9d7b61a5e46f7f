"""Environments as views: where snapshots and environment views live, and the atomic swap.

Creating, promoting and rolling back an environment all end here: one transaction that points
the environment's views at other snapshots and records the new version. Nothing is copied.
"""

from __future__ import annotations

from tidegate.engines.base import EngineAdapter
from tidegate.state.store import SnapshotRecord, StateStore

INTERNAL_PREFIX = "tidegate__"


def physical_schema(schema: str) -> str:
    return f"{INTERNAL_PREFIX}{schema}"


def environment_schema(schema: str, environment: str) -> str:
    """Where an environment's views live: the schema itself in prod, `<schema>__<env>` elsewhere."""
    return schema if environment == "prod" else f"{schema}__{environment}"


def swap_views(
    engine: EngineAdapter,
    state: StateStore,
    environment: str,
    models: dict[str, SnapshotRecord],
    *,
    changed: list[str],
    removed: list[str],
    previous: dict[str, SnapshotRecord] | None = None,
    action: str,
    source: str | None = None,
    git_commit: str | None = None,
    author: str | None = None,
    message: str | None = None,
) -> int:
    """Point the environment's views at `models` and record the new version, in one transaction."""
    with engine.transaction():
        return point_views(
            engine,
            state,
            environment,
            models,
            changed=changed,
            removed=removed,
            previous=previous,
            action=action,
            source=source,
            git_commit=git_commit,
            author=author,
            message=message,
        )


def point_views(
    engine: EngineAdapter,
    state: StateStore,
    environment: str,
    models: dict[str, SnapshotRecord],
    *,
    changed: list[str],
    removed: list[str],
    previous: dict[str, SnapshotRecord] | None = None,
    action: str,
    source: str | None = None,
    git_commit: str | None = None,
    author: str | None = None,
    message: str | None = None,
) -> int:
    """`swap_views` inside a transaction the caller holds (a `run` also writes data in it)."""
    previous = previous or {}
    for schema in sorted({models[name].schema for name in changed}):
        engine.create_schema(environment_schema(schema, environment))
    moved = [name for name in changed if name in previous and previous[name].schema != models[name].schema]
    for name in [*removed, *moved]:
        record = previous.get(name) or models.get(name)
        if record is not None:
            engine.drop_view(engine.relation(environment_schema(record.schema, environment), name))
    for name in changed:
        record = models[name]
        engine.create_view(
            engine.relation(environment_schema(record.schema, environment), name),
            f"SELECT * FROM {record.physical}",
        )
    return state.write_version(
        environment,
        models,
        action=action,
        source=source,
        git_commit=git_commit,
        author=author,
        message=message,
    )
