"""Dashboard queries written as BI tools run them: plain names resolved to the project's nodes.

A query that names `analytics.customer_revenue` instead of `{{ ref('customer_revenue') }}` reads
the model all the same: its plain names of models and seeds become ref placeholders (aliased by
the name written, so `customer_revenue.name` still reads it), and everything that follows refs
(the planner, lineage, the CI's impact step, compiling for an environment) sees it as a ref.
Names of sources are recorded and stay as written; names that match nothing, or several
relations, stay as written and are kept on the query to be reported.

Each query is resolved once per content and project shape: the result is kept in the load's SQL
cache, so that loading an unchanged project neither parses dashboards nor imports sqlglot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tidegate.project.engines import Location
from tidegate.project.model import Model, Source, Unresolved, ref_placeholder

if TYPE_CHECKING:
    from sqlglot import exp

    from tidegate.project.cache import SqlCache
    from tidegate.project.config import ProjectConfig
    from tidegate.project.names import Names

_CACHE_MARK = "\0tidegate-plain-names\0"
"""Keys of resolved queries in the SQL cache: never a query's text (which has no NUL)."""


@dataclass(frozen=True)
class Node:
    """What a plain name is: a model (or a seed, or a snapshot), or a source."""

    kind: Literal["model", "source"]
    name: str
    """The model's name, or the source's `source.table`."""


@dataclass(frozen=True)
class PlainNames:
    """A rendered dashboard query with its plain names of models and seeds as ref placeholders."""

    sql: str
    refs: tuple[str, ...]
    sources: tuple[str, ...]
    unresolved: tuple[Unresolved, ...]


class DashboardNames:
    """Resolves the plain names of dashboard queries against a project's production names."""

    def __init__(
        self,
        cache: SqlCache,
        models: Iterable[Model],
        sources: Mapping[str, Source],
        seed_sources: Mapping[str, str],
        config: ProjectConfig,
    ) -> None:
        self._cache = cache
        self._dialect = config.dialect
        self._database = production_database(config)
        self._models = [(m.name, m.view_name, m.schema) for m in models if m.kind.has_relation]
        self._sources = sorted((key, s.relation) for key, s in sources.items() if key not in seed_sources)
        shape = [self._dialect, self._database, self._models, self._sources]
        self._stamp = hashlib.sha1(json.dumps(shape).encode(), usedforsecurity=False).hexdigest()
        self._names: Names[Node] | None = None

    def resolve(self, sql: str, *, path: str, model: str | None = None) -> PlainNames:
        """`sql` with the plain names of models and seeds replaced; parse errors are raised
        as `tidegate.project.sql.parse_query` raises them (with the line in `sql`)."""
        key = f"{_CACHE_MARK}{self._stamp}\0{sql}"
        cached = self._cache.get(key)
        if cached is not None:
            return _from_json(cached)
        from tidegate.project.sql import parse_query

        tree = parse_query(sql, self._dialect, path=path, model=model)
        resolution = self.names.resolve(tree, _placeholder)
        refs = tuple(node.name for node in resolution.found if node.kind == "model")
        result = PlainNames(
            tree.sql(dialect=self._dialect) if refs else sql,
            refs,
            tuple(node.name for node in resolution.found if node.kind == "source"),
            resolution.unresolved,
        )
        self._cache.put(key, json.dumps(asdict(result)))
        return result

    @property
    def names(self) -> Names[Node]:
        """Each model and seed as `<schema>.<its view's name>` (dbt's schema and alias), each
        source as declared; a source that is one of the project's seeds is that seed."""
        if self._names is None:
            from tidegate.project.names import Names

            names: Names[Node] = Names(self._dialect, self._database)
            for name, view, schema in self._models:
                names.add(Node("model", name), view, schema)
            for key, relation in self._sources:
                names.add_relation(Node("source", key), relation)
            self._names = names
        return self._names


def production_database(config: ProjectConfig) -> str | None:
    """The database (catalog) production's relations are in, when it is known offline: a dbt
    target's, or a DuckDB file's name (DuckDB names a database after its file)."""
    if config.dbt is not None and config.dbt.target is not None and config.dbt.target.database:
        return config.dbt.target.database
    from tidegate.project.config import PROD

    connection = config.connection_for(PROD)
    if connection.spec.location is not Location.FILE:
        return None
    return "memory" if connection.path == ":memory:" else Path(connection.path).stem


def _placeholder(node: Node, table: exp.Table) -> exp.Expr:
    from sqlglot import exp

    if node.kind == "source":
        return table
    alias = table.args.get("alias") or exp.TableAlias(this=table.this.copy())
    return exp.Table(this=exp.to_identifier(ref_placeholder(node.name)), alias=alias)


def _from_json(text: str) -> PlainNames:
    data = json.loads(text)
    return PlainNames(
        data["sql"],
        tuple(data["refs"]),
        tuple(data["sources"]),
        tuple(Unresolved(item["name"], tuple(item["candidates"])) for item in data["unresolved"]),
    )
