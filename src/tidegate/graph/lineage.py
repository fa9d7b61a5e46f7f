"""Column-level lineage: which columns a change alters, and who reads them downstream.

A changed model's query at the base (the SQL its snapshot was built from, which the state
keeps) and at the head are both resolved column by column (`tidegate.graph.resolver`): each
output column to the expression that computes it, the clauses that decide its rows and the model
columns it reads. Comparing the two sides names the columns added, removed, renamed (same
expression, new name) and modified (another expression or other rows).

The changes are then followed downstream through the head's queries, in graph order, to the
columns of other models, to the dashboards' queries that read them and to the dbt exposures
that depend on a model they reach. Only models a change
reaches are parsed, and what was resolved once is kept for the next lineage
(`tidegate.graph.lineage_cache`). Whatever cannot be resolved (a Python model, a `*` over a relation of
unknown columns, SQL sqlglot cannot read) counts as reading, or changing, every column
(`ALL`): lineage may over-report, never miss.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from tidegate.graph.resolver import ALL, ColumnRef, Columns, Parser, QueryColumns, Side
from tidegate.project.model import Language

if TYPE_CHECKING:
    from tidegate.graph import Graph
    from tidegate.graph.lineage_cache import LineageCache
    from tidegate.project import Project
    from tidegate.project.model import Exposure, Model

__all__ = [
    "ALL",
    "ColumnChange",
    "ColumnRef",
    "Columns",
    "ExposureImpact",
    "Lineage",
    "ModelColumns",
    "QueryImpact",
    "QueryRef",
    "column_lineage",
]

ColumnChangeType = Literal["added", "removed", "modified", "renamed"]


@dataclass(frozen=True, order=True)
class QueryRef:
    """One query of a dashboard."""

    dashboard: str
    query: str

    def __str__(self) -> str:
        return f"{self.dashboard}.{self.query}"


@dataclass(frozen=True)
class ColumnChange:
    """One column of a changed model, and everything downstream that reads it."""

    model: str
    column: str
    """The column's name at the head (at the base for a removed one); `ALL` when the model's
    columns cannot be told apart."""
    change: ColumnChangeType
    previous: str | None = None
    """A renamed column's name at the base."""
    reason: str = ""
    downstream: tuple[ColumnRef, ...] = ()
    """Columns of other models that read this one, directly or not."""
    queries: tuple[QueryRef, ...] = ()
    """Dashboard queries that read this column, or a column downstream of it."""
    exposures: tuple[str, ...] = ()
    """Exposures that depend on this column's model, or a model downstream it reaches."""

    @property
    def ref(self) -> ColumnRef:
        return ColumnRef(self.model, self.column)


@dataclass(frozen=True)
class ModelColumns:
    """The column changes of one changed model."""

    model: str
    change: Literal["added", "removed", "modified"]
    columns: tuple[ColumnChange, ...] = ()
    whole: bool = False
    """The lineage is unknown: every column counts as changed."""
    reason: str = ""


@dataclass(frozen=True)
class QueryImpact:
    """A dashboard query that reads a changed column, directly or downstream of a change."""

    dashboard: str
    query: str
    path: str
    line: int | None
    reads: tuple[ColumnRef, ...]
    """The changed or impacted columns the query reads."""
    changes: tuple[ColumnRef, ...]
    """The column changes that reach it."""

    @property
    def ref(self) -> QueryRef:
        return QueryRef(self.dashboard, self.query)


@dataclass(frozen=True)
class ExposureImpact:
    """A dbt exposure that depends on a model a change reaches: a downstream node of lineage,
    with who to tell (its owner) and where it is (its URL)."""

    exposure: str
    type: str
    owner: str
    url: str | None
    path: str
    line: int | None
    models: tuple[str, ...]
    """The models it depends on that the change reaches."""
    changes: tuple[ColumnRef, ...] = ()
    """The column changes that reach it (none when lineage was not resolved)."""

    @classmethod
    def of(
        cls, exposure: Exposure, models: Iterable[str], changes: Iterable[ColumnRef] = ()
    ) -> ExposureImpact:
        return cls(
            exposure=exposure.name,
            type=exposure.type,
            owner=exposure.owner,
            url=exposure.url,
            path=exposure.location.path,
            line=exposure.location.line,
            models=tuple(sorted(models)),
            changes=tuple(sorted(changes)),
        )


@dataclass(frozen=True)
class Lineage:
    changed: tuple[ModelColumns, ...] = ()
    impacted: tuple[ColumnRef, ...] = ()
    """Columns of models downstream of a change (not the changed models' own)."""
    queries: tuple[QueryImpact, ...] = ()
    exposures: tuple[ExposureImpact, ...] = ()

    @property
    def changes(self) -> tuple[ColumnChange, ...]:
        return tuple(change for model in self.changed for change in model.columns)

    @property
    def dashboards(self) -> tuple[str, ...]:
        return tuple(sorted({query.dashboard for query in self.queries}))

    @property
    def impacted_models(self) -> tuple[str, ...]:
        return tuple(sorted({ref.model for ref in self.impacted}))

    def change(self, model: str, column: str) -> ColumnChange | None:
        """The change of one column of a changed model (by its head name, or its base name)."""
        return next((c for c in self.changes if c.model == model and column in (c.column, c.previous)), None)


# --- entry points --------------------------------------------------------------------------


def column_lineage(
    project: Project,
    changed: Mapping[str, str | None],
    *,
    added: Iterable[str] = (),
    graph: Graph | None = None,
    base_columns: Columns | None = None,
    head_columns: Columns | None = None,
    cache: LineageCache | None = None,
) -> Lineage:
    """The column changes of the changed models and what they reach downstream.

    `changed` maps each model the base has and whose definition changed to its SQL at the base
    (refs as placeholders, as `SnapshotRecord.query` keeps it; None when it is not SQL); a key
    that is no model of `project` was removed. `added` are the project's models the base does
    not have. `base_columns` and `head_columns` give a model's columns when SQL cannot (the
    warehouse's views of either side). `cache` keeps what was resolved for the next lineage.
    """
    if graph is None:
        from tidegate.graph.dag import Graph

        graph = Graph(project.models)
    lineage = _Lineage(project, graph, dict(changed), set(added), base_columns, head_columns, cache).run()
    if cache is not None:
        cache.save()
    return lineage


# --- propagation ---------------------------------------------------------------------------


class _Lineage:
    def __init__(
        self,
        project: Project,
        graph: Graph,
        changed: dict[str, str | None],
        added: set[str],
        base_columns: Columns | None,
        head_columns: Columns | None,
        cache: LineageCache | None = None,
    ) -> None:
        self.project = project
        self.graph = graph
        self.changed = changed
        self.added = added & set(project.models)
        parser = Parser(project.dialect, cache)
        self.base = Side(project, parser, changed, base_columns, present=set(project.models) - self.added)
        self.head = Side(project, parser, {}, head_columns)
        self.reading = Side(project, parser, {}, head_columns)
        """The head as downstream queries read it: changed models keep the columns they lost
        resolvable, so a query that still reads one is found."""
        self.taint: dict[str, dict[str, set[ColumnRef]]] = {}
        """model -> column (or ALL) -> the changes (origins) that reach it."""

    def run(self) -> Lineage:
        models: list[ModelColumns] = []
        present = [n for n in {*self.changed, *self.added} if n in self.project.models]
        for name in sorted(n for n in self.changed if n not in self.project.models):
            models.append(self._removed(name))
        order = self.graph.sort({*present, *self.graph.downstream(present)})
        own: dict[str, ModelColumns] = {}
        impacted: list[ColumnRef] = []
        for name in order:
            if name in self.added:
                own[name] = self._added(name)
            elif name in self.changed:
                own[name] = self._modified(name)
                lost = [
                    c.previous or c.column for c in own[name].columns if c.change in ("removed", "renamed")
                ]
                self.reading.extra[name] = tuple(c for c in lost if c != ALL)
            else:
                impacted += self._downstream(name)
        queries = self._queries()
        exposures = self._exposures()
        changes = [*models, *(own[name] for name in order if name in own)]
        reached = self._reached(impacted)
        return Lineage(
            changed=tuple(self._annotate(m, reached, queries, exposures) for m in changes),
            impacted=tuple(sorted(impacted)),
            queries=tuple(queries),
            exposures=exposures,
        )

    # changed models -------------------------------------------------------------------

    def _removed(self, name: str) -> ModelColumns:
        columns = self.base.columns(name)
        if columns is None:
            return ModelColumns(name, "removed", (ColumnChange(name, ALL, "removed"),), whole=True)
        return ModelColumns(name, "removed", tuple(ColumnChange(name, c, "removed") for c in columns))

    def _added(self, name: str) -> ModelColumns:
        columns = self.head.columns(name)
        if columns is None:
            self._mark(ColumnRef(name, ALL), {ColumnRef(name, ALL)})
            return ModelColumns(name, "added", (ColumnChange(name, ALL, "added"),), whole=True)
        changes = tuple(ColumnChange(name, c, "added") for c in columns)
        for change in changes:
            self._mark(change.ref, {change.ref})
        return ModelColumns(name, "added", changes)

    def _modified(self, name: str) -> ModelColumns:
        before, after = self.base.query(name), self.head.query(name)
        model = self.project.models[name]
        if before is None or after is None or before.columns is None or after.columns is None:
            return self._whole(name, _why_unknown(model, self.changed[name]))
        upstream = self._hits_by_column(after)
        changes: list[ColumnChange] = []
        removed = [c for c in before.columns if c not in after.columns]
        added = [c for c in after.columns if c not in before.columns]
        for old in list(removed):
            new = next((a for a in added if after.columns[a].same_as(before.columns[old])), None)
            if new is not None:
                removed.remove(old)
                added.remove(new)
                changes.append(ColumnChange(name, new, "renamed", previous=old, reason=f"renamed from {old}"))
        changes += [ColumnChange(name, c, "removed") for c in removed]
        for column, info in after.columns.items():
            if column in added:
                changes.append(ColumnChange(name, column, "added"))
                continue
            if column not in before.columns:
                continue  # renamed
            previous = before.columns[column]
            if info.expression != previous.expression:
                reason = "expression changed"
            elif info.rows != previous.rows:
                reason = "its rows changed (joins, filters or grouping)"
            elif upstream.get(column):
                reason = (
                    "reads " + ", ".join(str(o) for o in sorted(upstream[column])[:3]) + ", which changed"
                )
            else:
                continue
            changes.append(ColumnChange(name, column, "modified", reason=reason))
        for change in changes:
            origins = {change.ref} | upstream.get(change.column, set())
            self._mark(change.ref, origins)
            if change.previous:
                self._mark(ColumnRef(name, change.previous), origins)
        for column, origins in upstream.items():  # the unchanged columns still carry upstream changes
            if not any(c.column == column for c in changes):
                self._mark(ColumnRef(name, column), origins)
        order: dict[str, int] = {}
        for column in [*after.columns, *before.columns]:
            order.setdefault(column, len(order))
        changes.sort(key=lambda c: order.get(c.column, 0))
        reason = (
            "" if changes or self.changed[name] != model.sql else "same query: only its configuration changed"
        )
        return ModelColumns(name, "modified", tuple(changes), reason=reason)

    def _whole(self, name: str, reason: str) -> ModelColumns:
        """A change whose columns cannot be resolved: added and removed columns where both
        sides' columns are known, and every column as modified."""
        before, after = self.base.columns(name), self.head.columns(name)
        changes = [ColumnChange(name, ALL, "modified", reason=reason)]
        if before is not None and after is not None:
            changes += [ColumnChange(name, c, "added") for c in after if c not in before]
            changes += [ColumnChange(name, c, "removed") for c in before if c not in after]
        upstream = self._hits(ColumnRef(parent, ALL) for parent in self.project.models[name].refs)
        for change in changes:
            self._mark(change.ref, {change.ref} | upstream)
        return ModelColumns(name, "modified", tuple(changes), whole=True, reason=reason)

    # downstream -------------------------------------------------------------------------

    def _downstream(self, name: str) -> list[ColumnRef]:
        """Mark the columns of an unchanged model that read a marked column."""
        model = self.project.models[name]
        if not self._may_read(self.reading.sql(name), model.refs):
            return []  # no change reaches it: not resolved
        query = self.reading.query(name)
        if query is None or query.columns is None:
            origins = self._hits(query.reads if query else {ColumnRef(p, ALL) for p in model.refs})
            if not origins:
                return []
            self._mark(ColumnRef(name, ALL), origins)
            return [ColumnRef(name, ALL)]
        found = []
        for column, origins in self._hits_by_column(query).items():
            self._mark(ColumnRef(name, column), origins)
            found.append(ColumnRef(name, column))
        return found

    def _queries(self) -> list[QueryImpact]:
        impacts = []
        for dashboard in self.project.dashboards:
            for query in dashboard.queries:
                if not self._may_read(query.sql, query.refs):
                    continue
                analysis = self.reading.analyze(query.sql)
                reads = analysis.reads if analysis else {ColumnRef(r, ALL) for r in query.refs}
                hit = sorted(ref for ref in reads if self._hits({ref}))
                origins = self._hits(reads)
                if origins:
                    impacts.append(
                        QueryImpact(
                            dashboard=dashboard.name,
                            query=query.name,
                            path=dashboard.location.path,
                            line=query.line or dashboard.location.line,
                            reads=tuple(hit),
                            changes=tuple(sorted(origins)),
                        )
                    )
        return impacts

    def _exposures(self) -> tuple[ExposureImpact, ...]:
        """Exposures depending on a model with a marked column: an exposure reads all of it."""
        impacts = []
        for exposure in self.project.exposures:
            models = [name for name in exposure.refs if self.taint.get(name)]
            origins = self._hits(ColumnRef(name, ALL) for name in models)
            if origins:
                impacts.append(ExposureImpact.of(exposure, models, origins))
        return tuple(impacts)

    def _reached(self, impacted: list[ColumnRef]) -> dict[ColumnRef, list[ColumnRef]]:
        """change -> the columns of other models it reaches (changed ones too)."""
        reached: dict[ColumnRef, list[ColumnRef]] = {}
        for ref in impacted:
            for origin in self.taint.get(ref.model, {}).get(ref.column, ()):
                reached.setdefault(origin, []).append(ref)
        for name, marked in self.taint.items():  # changed models downstream of other changes
            if name in self.changed or name in self.added:
                for column, origins in marked.items():
                    for origin in origins:
                        if origin.model != name:
                            reached.setdefault(origin, []).append(ColumnRef(name, column))
        return reached

    def _annotate(
        self,
        model: ModelColumns,
        reached: dict[ColumnRef, list[ColumnRef]],
        queries: list[QueryImpact],
        exposures: tuple[ExposureImpact, ...],
    ) -> ModelColumns:
        """Each change with the downstream columns, queries and exposures it reaches."""
        columns = tuple(
            replace(
                change,
                downstream=tuple(sorted(set(reached.get(change.ref, ())))),
                queries=tuple(sorted({q.ref for q in queries if change.ref in q.changes})),
                exposures=tuple(sorted({e.exposure for e in exposures if change.ref in e.changes})),
            )
            for change in model.columns
        )
        return ModelColumns(model.model, model.change, columns, model.whole, model.reason)

    def _may_read(self, sql: str | None, parents: Iterable[str]) -> bool:
        """Whether a model could read a marked column: a cheap look at its parsed SQL (no `*`
        and no column of a marked name means it cannot) before resolving it."""
        marked = [self.taint[p] for p in parents if p in self.taint]
        if not marked:
            return False
        names = {column for columns in marked for column in columns}
        facts = self.reading.parser.facts(sql) if sql else None
        if ALL in names or facts is None or facts.any_star:
            return True
        return not facts.columns.isdisjoint(names)

    # marks ------------------------------------------------------------------------------

    def _mark(self, ref: ColumnRef, origins: Collection[ColumnRef]) -> None:
        self.taint.setdefault(ref.model, {}).setdefault(ref.column, set()).update(origins)

    def _hits(self, reads: Iterable[ColumnRef]) -> set[ColumnRef]:
        """The changes that reach a set of columns read."""
        found: set[ColumnRef] = set()
        for ref in reads:
            marked = self.taint.get(ref.model)
            if not marked:
                continue
            if ref.column == ALL:
                for origins in marked.values():
                    found |= origins
            else:
                found |= marked.get(ref.column, set()) | marked.get(ALL, set())
        return found

    def _hits_by_column(self, query: QueryColumns) -> dict[str, set[ColumnRef]]:
        assert query.columns is not None
        result = {}
        for column, info in query.columns.items():
            origins = self._hits(info.reads)
            if origins:
                result[column] = origins
        return result


def _why_unknown(model: Model, base_sql: str | None) -> str:
    if model.language is Language.PYTHON:
        return "a Python model: its columns' lineage is unknown"
    if model.language is Language.CSV:
        return "a seed's data changed"
    if base_sql is None:
        return "the base's SQL is unknown"
    return "the query could not be resolved column by column"
