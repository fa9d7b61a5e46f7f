"""The column lineage of a project's changes against an environment of its warehouse.

The base SQL of each changed model is the query its snapshot in the environment was built
from (the state keeps it); the warehouse is asked for the columns SQL cannot tell. The lineage
itself is `tidegate.graph.lineage`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from tidegate.graph.lineage import Columns, Lineage, column_lineage

if TYPE_CHECKING:
    from tidegate.plan.session import Session
    from tidegate.state import SnapshotRecord


def compare(session: Session, base: str = "prod", head: str | None = None) -> Lineage:
    """Lineage of the project's changes against environment `base` (production by default).

    The base SQL of each changed model is the query its snapshot in `base` was built from. The
    warehouse is asked for columns SQL cannot tell: `base`'s views, and `head`'s (the pull
    request's environment) once it is applied.
    """
    from tidegate.graph.fingerprint import query_hash
    from tidegate.graph.lineage_cache import LineageCache
    from tidegate.state.views import record_view

    version = session.current(base)
    project = session.project
    records = version.models
    added = [name for name in project.models if name not in records]
    moved = {
        name: record
        for name, record in records.items()
        if name not in project.models or record.query_hash != query_hash(project.models[name])
    }
    stored = session.state(version.environment).snapshots([(n, r.fingerprint) for n, r in moved.items()])
    changed = {name: _stored_query(stored, name, record.fingerprint) for name, record in moved.items()}

    def reader(environment: str | None) -> Columns | None:
        if environment is None:
            return None
        environment = session.environment(environment)
        current = session.state(environment).current(environment)
        if current is None:
            return None
        engine = session.engine(current.environment)

        def columns(model: str) -> Sequence[str] | None:
            from tidegate.errors import TidegateError

            record = current.models.get(model)
            if record is None or not record.physical:
                return None
            try:
                return [name for name, _ in engine.columns(record_view(engine, current.environment, record))]
            except TidegateError:
                return None

        return columns

    return column_lineage(
        project,
        changed,
        added=added,
        graph=session.graph,
        base_columns=reader(version.environment),
        head_columns=reader(head),
        cache=LineageCache(session.root, project.dialect),
    )


def _stored_query(
    stored: Mapping[tuple[str, str], SnapshotRecord], name: str, fingerprint: str
) -> str | None:
    record = stored.get((name, fingerprint))
    return (record.query or None) if record is not None else None
