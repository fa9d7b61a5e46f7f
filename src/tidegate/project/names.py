"""Plain relation names in SQL (`analytics.customer_revenue`), resolved to what they name.

BI tools run SQL against the warehouse's names, not `{{ ref() }}`. To find what such SQL reads,
each table it names is looked up by the name it has in production: bare, schema-qualified or
database-qualified, with identifiers folded as the dialect folds them (DuckDB ignores case,
PostgreSQL folds unquoted names to lowercase, Snowflake to uppercase). A name that matches
nothing is left as written; a bare name that matches relations in several schemas is
ambiguous, and left as written too rather than guessed.

`tidegate query` resolves model names to an environment's views with the same lookup, and the
loader resolves dashboard queries to models, seeds and sources with it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import SqlglotError

from tidegate.project.model import REF_PREFIX, THIS_PLACEHOLDER, Unresolved

T = TypeVar("T", bound=Hashable)
_Key = tuple[str | None, str | None, str]
"""A relation's folded (catalog, schema, name)."""


@dataclass(frozen=True)
class Resolution(Generic[T]):
    """What a query's tables resolved to, in the order it names them."""

    found: tuple[T, ...]
    unresolved: tuple[Unresolved, ...]


class Names(Generic[T]):
    """Relations by their names, looked up as a dialect folds identifiers.

    `database` is the warehouse's database (catalog): a name qualified with another one is not
    a relation of the project. None accepts any (a database the loader cannot know offline).
    """

    def __init__(self, dialect: str, database: str | None = None) -> None:
        self._dialect = Dialect.get_or_raise(dialect)
        self._database = self._fold(database) if database else None
        self._created_quoted = self._dialect.normalization_strategy is not NormalizationStrategy.UPPERCASE
        """Whether the names relations were created with are exact (tidegate, and dbt on most
        warehouses, quote them) or fold like unquoted SQL (dbt-snowflake does not quote)."""
        self._by_name: dict[str, list[tuple[_Key, T, str]]] = {}

    def add(self, target: T, name: str, schema: str | None, catalog: str | None = None) -> None:
        """`target` is the relation `catalog.schema.name` (as created in the warehouse)."""
        quoted = self._created_quoted
        key = (
            self._fold(catalog, quoted) if catalog else None,
            self._fold(schema, quoted) if schema else None,
            self._fold(name, quoted),
        )
        label = ".".join(part for part in (catalog, schema, name) if part)
        self._by_name.setdefault(key[2], []).append((key, target, label))

    def add_relation(self, target: T, relation: str) -> None:
        """`target` is `relation`, a name as SQL writes it (`raw.orders`, `"db"."raw"."orders"`)."""
        try:
            table = exp.to_table(relation, dialect=self._dialect)
        except SqlglotError:  # a file or a table function (dbt-duckdb's external sources)
            return
        if isinstance(table.this, exp.Identifier):
            key = self._key(table)
            label = ".".join(part for part in (table.catalog, table.db, table.name) if part)
            self._by_name.setdefault(key[2], []).append((key, target, label))

    def lookup(self, table: exp.Table) -> tuple[list[T], list[str]]:
        """The targets a table of a query names (several when it is ambiguous), with their names."""
        catalog, schema, name = self._key(table)
        found: dict[T, str] = {}
        for (their_catalog, their_schema, _), target, label in self._by_name.get(name, ()):
            if schema is not None and their_schema != schema:
                continue
            if catalog is not None and (their_catalog or self._database) not in (catalog, None):
                continue
            found.setdefault(target, label)
        return list(found), list(found.values())

    def resolve(
        self,
        tree: exp.Expr,
        replace: Callable[[T, exp.Table], exp.Expr],
        *,
        bare_only: bool = False,
    ) -> Resolution[T]:
        """Replace each table of `tree` that names one relation by `replace(target, table)`;
        CTE names, ref placeholders and table functions are not relations. With `bare_only`,
        only unqualified names are looked up (qualified ones are left as written)."""
        found: list[T] = []
        unresolved: dict[str, Unresolved] = {}
        renamed: set[_Key] = set()
        for table in list(relation_tables(tree)):
            if bare_only and table.args.get("db"):
                continue
            targets, labels = self.lookup(table)
            if len(targets) == 1:
                found.append(targets[0])
                if table.args.get("db"):
                    renamed.add(self._key(table))
                replacement = replace(targets[0], table)
                if replacement is not table:
                    table.replace(replacement)
                continue
            written = table.copy()
            written.set("alias", None)
            text = written.sql(dialect=self._dialect)
            unresolved.setdefault(text, Unresolved(text, tuple(sorted(labels)) if targets else ()))
        self._unqualify_columns(tree, renamed)
        return Resolution(tuple(dict.fromkeys(found)), tuple(unresolved.values()))

    def _unqualify_columns(self, tree: exp.Expr, renamed: set[_Key]) -> None:
        """`analytics.orders.id` reads the table `analytics.orders`, now named `orders` (its
        alias): the column keeps only the table's name."""
        if not renamed:
            return
        for column in tree.find_all(exp.Column):
            if column.args.get("db") is None:
                continue
            key = self._key(
                exp.Table(this=column.args["table"], db=column.args["db"], catalog=column.args.get("catalog"))
            )
            if key in renamed:
                column.set("db", None)
                column.set("catalog", None)

    def _key(self, table: exp.Table) -> _Key:
        def part(name: str) -> str | None:
            identifier = table.args.get(name)
            if not isinstance(identifier, exp.Identifier):
                return None
            return self._dialect.normalize_identifier(identifier.copy()).name

        return part("catalog"), part("db"), part("this") or ""

    def _fold(self, name: str, quoted: bool = False) -> str:
        return self._dialect.normalize_identifier(exp.to_identifier(name, quoted=quoted)).name


def relation_tables(tree: exp.Expr) -> Iterator[exp.Table]:
    """The tables a query reads by name: not its CTEs, table functions or ref placeholders."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        name = table.name.lower()
        if name.startswith(REF_PREFIX) or name == THIS_PLACEHOLDER:
            continue
        if not table.args.get("db") and name in ctes:
            continue
        yield table
