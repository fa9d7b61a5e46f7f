"""How one query resolves, column by column, down to the columns of the models it reads.

Each output column gets the expression that computes it (with every column it uses replaced by
that column's own expression, through CTEs and subqueries), the clauses that decide its rows
(joins, filters, grouping, and those of the CTEs and subqueries it selects from), and the set of
model columns it reads. A `Side` is the project as one side of a comparison has it (the base or
the head of a pull request): each model's SQL, output columns and resolved query, computed once.
Whatever cannot be resolved (a `*` over a relation of unknown columns, SQL sqlglot cannot read)
reads every column (`ALL`). `tidegate.graph.lineage` compares two sides.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp, parse_one
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, find_all_in_scope

from tidegate.graph.lineage_cache import LineageCache, key
from tidegate.project.model import REF_PREFIX, Kind, Language, ref_placeholder

if TYPE_CHECKING:
    from tidegate.project import Project

ALL = "*"
"""The column name that stands for every column of a model."""

Columns = Callable[[str], Sequence[str] | None]
"""A model's output columns when SQL cannot say (seeds, Python models): from the warehouse."""


@dataclass(frozen=True, order=True)
class ColumnRef:
    model: str
    column: str
    """A column name, or `ALL` for every column of the model."""

    def __str__(self) -> str:
        return f"{self.model}.{self.column}"


@dataclass(frozen=True)
class ColumnInfo:
    """What one output column is made of."""

    expression: str
    rows: str
    reads: frozenset[ColumnRef]

    def same_as(self, other: ColumnInfo) -> bool:
        return self.expression == other.expression and self.rows == other.rows


@dataclass(frozen=True)
class QueryColumns:
    columns: dict[str, ColumnInfo] | None
    """Output columns in order; None when a `*` could not be expanded."""
    reads: frozenset[ColumnRef] = field(default_factory=frozenset)
    """Every model column the query reads, anywhere."""

    def to_cache(self) -> tuple[Any, ...]:
        return (
            tuple(
                (name, info.expression, info.rows, _pairs(info.reads)) for name, info in self.columns.items()
            )
            if self.columns is not None
            else None,
            _pairs(self.reads),
        )

    @classmethod
    def from_cache(cls, data: tuple[Any, ...]) -> QueryColumns:
        columns, reads = data
        return cls(
            {name: ColumnInfo(expression, rows, _refs_of(found)) for name, expression, rows, found in columns}
            if columns is not None
            else None,
            _refs_of(reads),
        )


@dataclass(frozen=True)
class Facts:
    """What lineage reads of a query without resolving it, from its text alone."""

    refs: frozenset[str]
    """The models it reads."""
    star: bool
    """Its own columns come from a `*`: they are those of the models it reads."""
    names: tuple[str, ...] | None
    """Its output columns (lowercased), when it names every one."""
    any_star: bool
    """A `*` anywhere in it: it may read any column of what it selects from."""
    columns: frozenset[str]
    """Every column name it mentions, lowercased."""

    @classmethod
    def of(cls, tree: exp.Expr) -> Facts:
        star = _selects_star(tree)
        names = tree.named_selects if isinstance(tree, exp.Query) and not star else []
        return cls(
            refs=frozenset(_refs(tree)),
            star=star,
            names=tuple(name.lower() for name in names) if names and all(names) else None,
            any_star=tree.find(exp.Star) is not None,
            columns=frozenset(column.name.lower() for column in tree.find_all(exp.Column)),
        )

    def to_cache(self) -> tuple[Any, ...]:
        return (tuple(sorted(self.refs)), self.star, self.names, self.any_star, tuple(sorted(self.columns)))

    @classmethod
    def from_cache(cls, data: tuple[Any, ...]) -> Facts:
        refs, star, names, any_star, columns = data
        return cls(frozenset(refs), star, names, any_star, frozenset(columns))


class Parser:
    """Parsed queries by text, shared by both sides (each use gets a copy to qualify), and
    what lineage learns of each, kept in `cache` (when given) for the next lineage."""

    def __init__(self, dialect: str, cache: LineageCache | None = None) -> None:
        self.dialect = dialect
        self.cache = cache
        self._trees: dict[str, exp.Expr | None] = {}
        self._facts: dict[str, Facts | None] = {}

    def parse(self, sql: str, *, copy: bool = True) -> exp.Expr | None:
        """The tree of `sql`: a copy to change, or the shared one to read (`copy=False`)."""
        if sql not in self._trees:
            try:
                self._trees[sql] = parse_one(sql, read=self.dialect)
            except Exception:  # any SQL sqlglot cannot read: the lineage is unknown
                self._trees[sql] = None
        tree = self._trees[sql]
        return tree.copy() if tree is not None and copy else tree

    def facts(self, sql: str) -> Facts | None:
        """What lineage reads of `sql` without resolving it; None when sqlglot cannot read it."""
        if sql not in self._facts:
            entry = key("facts", sql)
            cached = self.cache.get(entry) if self.cache is not None else None
            if cached is not None:
                self._facts[sql] = Facts.from_cache(cached[0]) if cached[0] is not None else None
            else:
                tree = self.parse(sql, copy=False)
                self._facts[sql] = Facts.of(tree) if tree is not None else None
                if self.cache is not None:
                    found = self._facts[sql]
                    self.cache.put(entry, found.to_cache() if found is not None else None)
        return self._facts[sql]


class Side:
    """The project as one side has it: each model's SQL, columns and column lineage."""

    def __init__(
        self,
        project: Project,
        parser: Parser,
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
        self._queries: dict[str, QueryColumns | None] = {}

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

    def query(self, model: str) -> QueryColumns | None:
        if model not in self._queries:
            sql = self.sql(model)
            self._queries[model] = self.analyze(sql) if sql else None
        return self._queries[model]

    def analyze(self, sql: str) -> QueryColumns | None:
        """Resolve each output column of `sql` to the model columns it reads: as the cache
        has it when the same text was resolved over the same columns before."""
        facts = self.parser.facts(sql)
        if facts is None:
            return None
        schema: dict[str, dict[str, str]] = {}
        for ref in sorted(facts.refs):
            columns = self.columns(ref)
            if columns is not None:
                extra = [c for c in self.extra.get(ref, ()) if c not in columns]
                schema[ref_placeholder(ref)] = {c: "unknown" for c in [*columns, *extra]}
        cache = self.parser.cache
        if cache is None:
            return self._resolve(sql, schema)
        entry = key("analysis", sql, json.dumps([[name, list(columns)] for name, columns in schema.items()]))
        cached = cache.get(entry)
        if cached is not None:
            return QueryColumns.from_cache(cached[0]) if cached[0] is not None else None
        query = self._resolve(sql, schema)
        cache.put(entry, query.to_cache() if query is not None else None)
        return query

    def _resolve(self, sql: str, schema: dict[str, dict[str, str]]) -> QueryColumns | None:
        tree = self.parser.parse(sql)
        if tree is None:
            return None
        try:
            qualified = qualify(
                tree,
                dialect=self.parser.dialect,
                schema=dict[str, object](schema),
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
        facts = self.parser.facts(sql) if sql else None
        if facts is None or not facts.star:
            return []
        return sorted(facts.refs)

    def _own_columns(self, model: str) -> tuple[str, ...] | None:
        sql = self.sql(model)
        if sql:
            facts = self.parser.facts(sql)
            if facts is not None and facts.names is not None:
                return facts.names
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


def _pairs(refs: frozenset[ColumnRef]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((ref.model, ref.column) for ref in refs))


def _refs_of(pairs: tuple[tuple[str, str], ...]) -> frozenset[ColumnRef]:
    return frozenset(ColumnRef(model, column) for model, column in pairs)


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

    def query(self) -> QueryColumns:
        top = self.root.expression
        if not isinstance(top, exp.Query):
            raise ValueError("not a query")
        rows, row_reads = self.rows(self.root)
        if _unexpanded(top):
            return QueryColumns(None, row_reads | self._everything(self.root))
        columns = {}
        for index, name in enumerate(top.named_selects):
            expression, reads = self.column(self.root, index)
            columns[name.lower()] = ColumnInfo(expression, rows, reads | row_reads)
        everything = frozenset().union(*(info.reads for info in columns.values()), row_reads)
        return QueryColumns(columns, everything)

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
