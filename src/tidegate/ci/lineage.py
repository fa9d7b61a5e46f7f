"""Column-level lineage: which columns a change alters, and who reads them downstream.

A changed model's query at the base (the SQL its snapshot was built from, which the state
keeps) and at the head are both resolved, column by column, down to the columns of the models
they read: each output column gets the expression that computes it (with every column it uses
replaced by that column's own expression, through CTEs and subqueries), the clauses that decide
its rows (joins, filters, grouping, and those of the CTEs and subqueries it selects from), and
the set of model columns it reads. Comparing the two sides names the columns added, removed,
renamed (same expression, new name) and modified (another expression or other rows).

The changes are then followed downstream through the head's queries, in graph order, to the
columns of other models, to the dashboards' queries that read them and to the dbt exposures
that depend on a model they reach. Only models a change
reaches are parsed. Whatever cannot be resolved (a Python model, a `*` over a relation of
unknown columns, SQL sqlglot cannot read) counts as reading, or changing, every column
(`ALL`): lineage may over-report, never miss.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from sqlglot import exp, parse_one
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, find_all_in_scope

from tidegate.project.model import REF_PREFIX, Kind, Language, ref_placeholder

if TYPE_CHECKING:
    from tidegate.context import Context
    from tidegate.graph import Graph
    from tidegate.project import Project
    from tidegate.project.model import Exposure, Model
    from tidegate.state import SnapshotRecord

ALL = "*"
"""The column name that stands for every column of a model."""

ColumnChangeType = Literal["added", "removed", "modified", "renamed"]
Columns = Callable[[str], Sequence[str] | None]
"""A model's output columns when SQL cannot say (seeds, Python models): from the warehouse."""


@dataclass(frozen=True, order=True)
class ColumnRef:
    model: str
    column: str
    """A column name, or `ALL` for every column of the model."""

    def __str__(self) -> str:
        return f"{self.model}.{self.column}"


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
) -> Lineage:
    """The column changes of the changed models and what they reach downstream.

    `changed` maps each model the base has and whose definition changed to its SQL at the base
    (refs as placeholders, as `SnapshotRecord.query` keeps it; None when it is not SQL); a key
    that is no model of `project` was removed. `added` are the project's models the base does
    not have. `base_columns` and `head_columns` give a model's columns when SQL cannot (the
    warehouse's views of either side).
    """
    if graph is None:
        from tidegate.graph.dag import Graph

        graph = Graph(project.models)
    return _Lineage(project, graph, dict(changed), set(added), base_columns, head_columns).run()


def compare(context: Context, base: str = "prod", head: str | None = None) -> Lineage:
    """Lineage of the project's changes against environment `base` (production by default).

    The base SQL of each changed model is the query its snapshot in `base` was built from. The
    warehouse is asked for columns SQL cannot tell: `base`'s views, and `head`'s (the pull
    request's environment) once it is applied.
    """
    from tidegate.graph.fingerprint import query_hash
    from tidegate.state.views import record_view

    version = context.current(base)
    project = context.project
    records = version.models
    added = [name for name in project.models if name not in records]
    moved = {
        name: record
        for name, record in records.items()
        if name not in project.models or record.query_hash != query_hash(project.models[name])
    }
    stored = context.state(version.environment).snapshots([(n, r.fingerprint) for n, r in moved.items()])
    changed = {name: _stored_query(stored, name, record.fingerprint) for name, record in moved.items()}

    def reader(environment: str | None) -> Columns | None:
        if environment is None:
            return None
        environment = context.environment(environment)
        current = context.state(environment).current(environment)
        if current is None:
            return None
        engine = context.engine(current.environment)

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
        graph=context.graph,
        base_columns=reader(version.environment),
        head_columns=reader(head),
    )


def _stored_query(
    stored: Mapping[tuple[str, str], SnapshotRecord], name: str, fingerprint: str
) -> str | None:
    record = stored.get((name, fingerprint))
    return (record.query or None) if record is not None else None


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
    ) -> None:
        self.project = project
        self.graph = graph
        self.changed = changed
        self.added = added & set(project.models)
        parser = _Parser(project.dialect)
        self.base = _Side(project, parser, changed, base_columns, present=set(project.models) - self.added)
        self.head = _Side(project, parser, {}, head_columns)
        self.reading = _Side(project, parser, {}, head_columns)
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
        tree = self.reading.parser.parse(sql, copy=False) if sql else None
        if ALL in names or tree is None or tree.find(exp.Star) is not None:
            return True
        return any(column.name.lower() in names for column in tree.find_all(exp.Column))

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

    def _hits_by_column(self, query: _Query) -> dict[str, set[ColumnRef]]:
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


# --- one side of the comparison ------------------------------------------------------------


@dataclass(frozen=True)
class _Info:
    """What one output column is made of."""

    expression: str
    rows: str
    reads: frozenset[ColumnRef]

    def same_as(self, other: _Info) -> bool:
        return self.expression == other.expression and self.rows == other.rows


@dataclass(frozen=True)
class _Query:
    columns: dict[str, _Info] | None
    """Output columns in order; None when a `*` could not be expanded."""
    reads: frozenset[ColumnRef] = field(default_factory=frozenset)
    """Every model column the query reads, anywhere."""


class _Parser:
    """Parsed queries by text, shared by both sides (each use gets a copy to qualify)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._trees: dict[str, exp.Expr | None] = {}

    def parse(self, sql: str, *, copy: bool = True) -> exp.Expr | None:
        """The tree of `sql`: a copy to change, or the shared one to read (`copy=False`)."""
        if sql not in self._trees:
            try:
                self._trees[sql] = parse_one(sql, read=self.dialect)
            except Exception:  # any SQL sqlglot cannot read: the lineage is unknown
                self._trees[sql] = None
        tree = self._trees[sql]
        return tree.copy() if tree is not None and copy else tree


class _Side:
    """The project as one side has it: each model's SQL, columns and column lineage."""

    def __init__(
        self,
        project: Project,
        parser: _Parser,
        overrides: Mapping[str, str | None],
        known: Columns | None,
        present: set[str] | None = None,
    ) -> None:
        self.project = project
        self.parser = parser
        self.overrides = overrides
        self.known = known
        self.present = present
        """Project models this side has (all, unless given)."""
        self.extra: dict[str, tuple[str, ...]] = {}
        """Columns to resolve besides a model's own (the head keeps removed ones resolvable)."""
        self._columns: dict[str, tuple[str, ...] | None] = {}
        self._queries: dict[str, _Query | None] = {}

    def sql(self, model: str) -> str | None:
        if model in self.overrides:
            return self.overrides[model]
        node = self.project.models.get(model)
        if node is None or node.language is not Language.SQL or node.kind is Kind.SEED:
            return None
        return node.sql

    def columns(self, model: str) -> tuple[str, ...] | None:
        """The model's output columns, computing those of its ancestors first (no recursion)."""
        stack, visiting = [model], set()
        while stack:
            current = stack[-1]
            if current in self._columns:
                stack.pop()
                continue
            visiting.add(current)
            missing = [p for p in self._star_parents(current) if p not in self._columns and p not in visiting]
            if missing:
                stack.extend(missing)
                continue
            self._columns[current] = self._own_columns(current)
            stack.pop()
        return self._columns[model]

    def query(self, model: str) -> _Query | None:
        if model not in self._queries:
            sql = self.sql(model)
            self._queries[model] = self.analyze(sql) if sql else None
        return self._queries[model]

    def analyze(self, sql: str) -> _Query | None:
        """Resolve each output column of `sql` to the model columns it reads."""
        tree = self.parser.parse(sql)
        if tree is None:
            return None
        schema: dict[str, object] = {}
        for ref in _refs(tree):
            columns = self.columns(ref)
            if columns is not None:
                extra = [c for c in self.extra.get(ref, ()) if c not in columns]
                schema[ref_placeholder(ref)] = {c: "unknown" for c in [*columns, *extra]}
        try:
            qualified = qualify(
                tree,
                dialect=self.parser.dialect,
                schema=schema,
                validate_qualify_columns=False,
                quote_identifiers=False,
                identify=False,
            )
            root = build_scope(qualified)
            if root is None:
                return None
            return _Resolver(root, set(schema)).query()
        except Exception:  # sqlglot could not resolve it: the caller is conservative
            return None

    def _star_parents(self, model: str) -> list[str]:
        """The models whose columns `model`'s own columns depend on: those it selects `*` from."""
        sql = self.sql(model)
        tree = self.parser.parse(sql, copy=False) if sql else None
        if tree is None or not _selects_star(tree):
            return []
        return sorted(_refs(tree))

    def _own_columns(self, model: str) -> tuple[str, ...] | None:
        sql = self.sql(model)
        if sql:
            tree = self.parser.parse(sql, copy=False)
            if tree is not None and not _selects_star(tree):
                names = tree.named_selects if isinstance(tree, exp.Query) else []
                if names and all(names):
                    return tuple(name.lower() for name in names)
            query = self.analyze(sql)
            if query is not None and query.columns is not None:
                return tuple(query.columns)
        elif model in self.project.models and model not in self.overrides:
            seed = self._seed_columns(model)
            if seed is not None:
                return seed
        if self.known is not None and (
            self.present is None or model in self.present or model in self.overrides
        ):
            columns = self.known(model)
            if columns is not None:
                return tuple(c.lower() for c in columns)
        return None

    def _seed_columns(self, model: str) -> tuple[str, ...] | None:
        node = self.project.models[model]
        if node.language is not Language.CSV:
            return None
        try:
            with (self.project.root / node.location.path).open(newline="", encoding="utf-8") as file:
                header = next(csv.reader(file, delimiter=node.delimiter), None)
        except (OSError, UnicodeDecodeError):
            return None
        return tuple(name.strip().lower() for name in header) if header else None


def _refs(tree: exp.Expr) -> set[str]:
    return {
        table.name.lower()[len(REF_PREFIX) :]
        for table in tree.find_all(exp.Table)
        if not table.args.get("db") and table.name.lower().startswith(REF_PREFIX)
    }


def _selects_star(tree: exp.Expr) -> bool:
    """Whether the query's own columns come from a `*` (then they depend on its sources')."""
    return not isinstance(tree, exp.Query) or _unexpanded(tree)


def _model(table: exp.Table) -> str | None:
    name = table.name.lower()
    if table.args.get("db") or not name.startswith(REF_PREFIX):
        return None
    return name[len(REF_PREFIX) :]


def _table_name(table: exp.Table) -> str:
    """A relation's name without its alias, which a query may change without changing anything."""
    return ".".join(part for part in (table.catalog, table.db, table.name) if part).lower()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- resolving one qualified query ---------------------------------------------------------


_Resolved = tuple[str, frozenset[ColumnRef]]
_ROW_CLAUSES = ("where", "group", "having", "qualify", "distinct", "limit", "offset")


class _Resolver:
    """Walks the scopes of a qualified query: each column becomes an expression over model
    columns, each scope's rows a text over its clauses and sources."""

    def __init__(self, root: Scope, known: set[str]) -> None:
        self.root = root
        self.known = known
        """Placeholders of the models whose columns were given to qualify."""
        self._columns: dict[tuple[int, str | int], _Resolved] = {}
        self._rows: dict[int, _Resolved] = {}

    def query(self) -> _Query:
        top = self.root.expression
        if not isinstance(top, exp.Query):
            raise ValueError("not a query")
        rows, row_reads = self.rows(self.root)
        if _unexpanded(top):
            return _Query(None, row_reads | self._everything(self.root))
        columns = {}
        for index, name in enumerate(top.named_selects):
            expression, reads = self.column(self.root, index)
            columns[name.lower()] = _Info(expression, rows, reads | row_reads)
        everything = frozenset().union(*(info.reads for info in columns.values()), row_reads)
        return _Query(columns, everything)

    def column(self, scope: Scope, key: str | int) -> _Resolved:
        """A column of a scope, by name or position."""
        memo = (id(scope), key)
        if memo not in self._columns:
            self._columns[memo] = self._column(scope, key)
        return self._columns[memo]

    def _column(self, scope: Scope, key: str | int) -> _Resolved:
        query = scope.expression
        if isinstance(query, exp.SetOperation):
            index = key if isinstance(key, int) else _position(query, key)
            if index is None:
                return self._unknown(scope, str(key))
            parts = [self.column(branch, index) for branch in scope.set_operation_scopes]
            text = type(query).__name__ + "(" + ",".join(part[0] for part in parts) + ")"
            return text, frozenset().union(*(part[1] for part in parts))
        if not isinstance(query, exp.Select):
            return self._unknown(scope, str(key))
        projections = query.expressions
        if isinstance(key, int):
            projection = projections[key] if key < len(projections) else None
        else:
            projection = next((p for p in projections if p.alias_or_name.lower() == key.lower()), None)
        if projection is None or _is_star(projection):
            return self._unknown(scope, str(key))
        return self.expression(scope, projection.unalias())

    def expression(self, scope: Scope, node: exp.Expr) -> _Resolved:
        """`node`'s text with each column replaced by what it reads, and the model columns read."""
        reads: set[ColumnRef] = set()
        found_nodes: list[tuple[exp.Expr, str]] = []
        subqueries = {id(s.expression): s for s in scope.subquery_scopes}
        for inner in find_all_in_scope(node, exp.Column, exp.Select, exp.SetOperation):
            if inner is node and not isinstance(inner, exp.Column):
                continue
            if isinstance(inner, exp.Column):
                token, found = self._reference(scope, inner)
            elif id(inner) in subqueries:
                token, found = self._whole(subqueries[id(inner)])
            else:
                token, found = inner.sql(), self._everything(scope)
            found_nodes.append((inner, token))
            reads |= found
        if len(found_nodes) == 1 and found_nodes[0][0] is node:
            return found_nodes[0][1], frozenset(reads)
        # the tree is our own: put stand-ins in place to print it, then put the nodes back
        placed: list[tuple[exp.Expr, exp.Expr]] = []
        try:
            for original, token in found_nodes:
                var = exp.var(f"({token})" if " " in token else token)
                original.replace(var)
                placed.append((var, original))
            text = node.sql()
        finally:
            for put, original in reversed(placed):
                put.replace(original)
        return text, frozenset(reads)

    def _reference(self, scope: Scope, column: exp.Column) -> _Resolved:
        if isinstance(column.this, exp.Star):
            source = self._source(scope, column.table)
            return f"{column.table}.*", self._all_of(source) if source is not None else self._everything(
                scope
            )
        source = self._source(scope, column.table) if column.table else None
        if source is None:
            return f"?{column.name}", self._unresolved(scope)
        if isinstance(source, Scope):
            expression, reads = self.column(source, column.name)
            return (expression if len(expression) <= 300 else "{" + _digest(expression) + "}"), reads
        model = _model(source)
        if model is None:
            return f"{_table_name(source)}.{column.name.lower()}", frozenset()
        return f"{model}.{column.name.lower()}", frozenset({ColumnRef(model, column.name.lower())})

    def rows(self, scope: Scope) -> _Resolved:
        """What decides the rows of a scope: its sources (and their rows), joins and clauses."""
        if id(scope) not in self._rows:
            self._rows[id(scope)] = self._scope_rows(scope)
        return self._rows[id(scope)]

    def _scope_rows(self, scope: Scope) -> _Resolved:
        query = scope.expression
        parts: list[str] = []
        reads: set[ColumnRef] = set()
        if isinstance(query, exp.SetOperation):
            parts.append(f"{type(query).__name__}:{bool(query.args.get('distinct'))}")
            for branch in scope.set_operation_scopes:
                text, found = self.rows(branch)
                parts.append(f"[{text}]")
                reads |= found
            for key in ("order", "limit", "offset"):
                if query.args.get(key) is not None:
                    parts.append(query.args[key].sql())
            return "|".join(parts), frozenset(reads)
        if not isinstance(query, exp.Select):
            return query.sql(), self._everything(scope)
        for _, source in scope.selected_sources.values():
            if isinstance(source, Scope):
                text, found = self.rows(source)
                parts.append(text)  # flat: a CTE or subquery that only selects is transparent
                reads |= found
            else:
                parts.append(_model(source) or _table_name(source))
        for join in query.args.get("joins") or []:
            parts.append(f"join:{join.side}:{join.kind}")
            for key in ("on", "using"):
                value = join.args.get(key)
                for item in value if isinstance(value, list) else [value] if value is not None else []:
                    text, found = self.expression(scope, item)
                    parts.append(text)
                    reads |= found
        keys = (
            [*_ROW_CLAUSES, "order"] if query.args.get("limit") or query.args.get("offset") else _ROW_CLAUSES
        )
        for key in keys:
            value = query.args.get(key)
            if value is None:
                continue
            text, found = self.expression(scope, value)
            parts.append(f"{key}:{text}")
            reads |= found
        if query.args.get("distinct") is not None:  # every column decides the rows
            for projection in query.expressions:
                text, found = self.expression(scope, projection.unalias())
                parts.append(text)
                reads |= found
        if query.args.get("group") is None and _aggregates(query):
            parts.append("aggregate")  # one row
        return "|".join(parts), frozenset(reads)

    # conservative answers ---------------------------------------------------------------

    def _source(self, scope: Scope, name: str) -> exp.Table | Scope | None:
        """The source a column's table name refers to, looking outwards (correlation)."""
        current: Scope | None = scope
        while current is not None:
            if name in current.sources:
                return current.sources[name]
            current = current.parent
        return None

    def _whole(self, scope: Scope) -> _Resolved:
        """A subquery in an expression: all its columns and rows."""
        texts: list[str] = []
        reads: set[ColumnRef] = set()
        query = scope.expression
        names = query.named_selects if isinstance(query, exp.Query) else []
        for index in range(len(names)):
            text, found = self.column(scope, index)
            texts.append(text)
            reads |= found
        text, found = self.rows(scope)
        return "(" + ",".join(texts) + "|" + text + ")", frozenset(reads | found)

    def _unknown(self, scope: Scope, name: str) -> _Resolved:
        return f"?{name}", self._everything(scope)

    def _unresolved(self, scope: Scope) -> frozenset[ColumnRef]:
        """A column qualify could not place: it comes from a source of unknown columns."""
        sources = list(scope.sources.values())
        unknown = [s for s in sources if not self._known(s)]
        found: set[ColumnRef] = set()
        for source in unknown or sources:
            found |= self._all_of(source)
        return frozenset(found)

    def _known(self, source: exp.Table | Scope) -> bool:
        if isinstance(source, Scope):
            return isinstance(source.expression, exp.Query) and not _unexpanded(source.expression)
        return source.name.lower() in self.known

    def _all_of(self, source: exp.Table | Scope) -> frozenset[ColumnRef]:
        if isinstance(source, Scope):
            return self._everything(source)
        model = _model(source)
        return frozenset({ColumnRef(model, ALL)}) if model else frozenset()

    def _everything(self, scope: Scope) -> frozenset[ColumnRef]:
        """Every model column a scope and the scopes under it could read."""
        found: set[ColumnRef] = set()
        for inner in scope.traverse():
            for source in inner.sources.values():
                if not isinstance(source, Scope):
                    found |= self._all_of(source)
        return frozenset(found)


def _aggregates(select: exp.Select) -> bool:
    """Whether a select aggregates its rows (an aggregate outside a window)."""
    return any(
        not isinstance(function.parent, exp.Window)
        for projection in select.expressions
        for function in find_all_in_scope(projection, exp.AggFunc)
    )


def _unexpanded(query: exp.Query) -> bool:
    """Whether a query's projections still hold a `*` (qualify could not expand it)."""
    if isinstance(query, exp.Subquery):
        inner = query.unnest()
        return _unexpanded(inner) if isinstance(inner, exp.Query) and inner is not query else True
    if isinstance(query, exp.SetOperation):
        return _unexpanded(query.left) if isinstance(query.left, exp.Query) else True
    return isinstance(query, exp.Select) and any(_is_star(p) for p in query.expressions)


def _is_star(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.Star) or (
        isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
    )


def _position(query: exp.Query, name: str) -> int | None:
    names = [n.lower() for n in query.named_selects]
    return names.index(name.lower()) if name.lower() in names else None
