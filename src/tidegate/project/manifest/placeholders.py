"""Compiled SQL of a dbt manifest turned back into tidegate's placeholder SQL.

Every table that is the relation of a model, seed or snapshot of the manifest becomes
`ref_placeholder(name)` (matched on sqlglot table nodes, with or without the database and
quotes), a source's relation becomes the source's `schema.identifier`, and the CTEs dbt inlines
for ephemeral models (`__dbt__cte__<name>`) become refs again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from tidegate.project.dbt_context import ephemeral_cte
from tidegate.project.manifest.document import RELATION_TYPES, Manifest, node_name
from tidegate.project.model import THIS_PLACEHOLDER, Location, Source, ref_placeholder

RelationKey = tuple[str, ...]
"""A relation's parts, lower-case and unquoted: (database, schema, identifier)."""


@dataclass
class Relations:
    """What each relation named in compiled SQL stands for."""

    models: dict[RelationKey, str] = field(default_factory=dict)
    """(database, schema, identifier) -> model, seed or snapshot name."""
    sources: dict[RelationKey, tuple[str, str]] = field(default_factory=dict)
    """(database, schema, identifier) -> (`source.table`, the relation tidegate writes)."""
    ephemerals: dict[str, str] = field(default_factory=dict)
    """CTE name dbt inlines (`__dbt__cte__<alias>`, lower-case) -> ephemeral model name."""

    def add_model(self, relation: str, name: str, dialect: str) -> None:
        self.models[relation_key(relation, dialect)] = name

    def _find(self, table: exp.Table, mapping: Mapping[RelationKey, Any]) -> Any:
        parts = tuple(part.lower() for part in (table.catalog, table.db, table.name))
        if parts[0]:
            return mapping.get(parts)
        if parts[1]:  # schema.identifier: only when one database has it
            found = [value for key, value in mapping.items() if key[1:] == parts[1:]]
            return found[0] if len(found) == 1 else None
        return None


def relation_key(relation: str, dialect: str) -> RelationKey:
    table = exp.to_table(relation, dialect=dialect)
    return tuple(part.lower() for part in (table.catalog, table.db, table.name))


@dataclass(frozen=True)
class Rewritten:
    query: exp.Query
    refs: tuple[str, ...]
    sources: tuple[str, ...]


def to_placeholders(query: exp.Query, relations: Relations, *, this: RelationKey | None = None) -> Rewritten:
    """`query` (compiled by dbt) with the relations of models as ref placeholders, sources as
    tidegate writes them and the ephemeral models dbt inlined as refs. A table that is not a
    relation of the manifest (a CTE, a table outside the project) stays as it is. A table without
    an alias gets its old name as alias, so columns qualified with it still resolve."""
    refs: list[str] = []
    sources: list[str] = []
    _drop_ephemeral_ctes(query, relations)

    def replace(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Table) or not node.name:
            return node
        name = node.name.lower()
        if not node.args.get("db") and name in relations.ephemerals:
            model = relations.ephemerals[name]
            refs.append(model)
            return _renamed(node, ref_placeholder(model))
        if this is not None and node.args.get("db"):
            parts = tuple(p.lower() for p in (node.catalog, node.db, node.name))
            if parts == this or (not parts[0] and parts[1:] == this[1:]):
                return _renamed(node, THIS_PLACEHOLDER)
        model = relations._find(node, relations.models)
        if model is not None:
            refs.append(model)
            return _renamed(node, ref_placeholder(model))
        source = relations._find(node, relations.sources)
        if source is not None:
            sources.append(source[0])
            return _renamed(node, source[1])
        return node

    rewritten = query.transform(replace, copy=False)
    assert isinstance(rewritten, exp.Query)
    return Rewritten(rewritten, tuple(dict.fromkeys(refs)), tuple(dict.fromkeys(sources)))


def _renamed(table: exp.Table, relation: str) -> exp.Table:
    new = exp.to_table(relation)
    alias = table.args.get("alias")
    new.set("alias", alias.copy() if alias is not None else exp.TableAlias(this=table.this.copy()))
    return new


def _drop_ephemeral_ctes(query: exp.Query, relations: Relations) -> None:
    """Remove the `__dbt__cte__<name>` CTEs dbt inlined: their tables become refs."""
    for with_ in list(query.find_all(exp.With)):
        kept = [cte for cte in with_.expressions if cte.alias.lower() not in relations.ephemerals]
        if len(kept) == len(with_.expressions):
            continue
        if kept:
            with_.set("expressions", kept)
        else:
            with_.pop()


def read_relations(manifest: Manifest, dialect: str) -> tuple[Relations, dict[str, Source], dict[str, str]]:
    """What each relation of the manifest stands for, its sources, and the name of every
    model, seed, snapshot and source by unique id."""
    relations = Relations()
    names: dict[str, str] = {}
    for unique_id, node in manifest.enabled(RELATION_TYPES):
        name = node_name(node)
        names[unique_id] = name
        if node.get("relation_name"):
            relations.add_model(str(node["relation_name"]), name, dialect)
        elif (node.get("config") or {}).get("materialized") == "ephemeral":
            relations.ephemerals[ephemeral_cte(str(node.get("alias") or node["name"])).lower()] = name
    databases = {str(node.get("database") or "").lower() for _, node in manifest.enabled(RELATION_TYPES)}
    sources: dict[str, Source] = {}
    for unique_id, node in sorted((manifest.data.get("sources") or {}).items()):
        key = f"{node['source_name']}.{node['name']}"
        names[unique_id] = key
        database = str(node.get("database") or "")
        identifier = str(node.get("identifier") or node["name"])
        parts = [node.get("schema"), identifier]
        if database.lower() not in databases:  # another database than the target's
            parts.insert(0, database)
        relation = ".".join(str(part) for part in parts if part)
        path = str(node.get("original_file_path") or manifest.rel)
        sources[key] = Source(
            str(node["source_name"]),
            str(node["name"]),
            relation,
            str(node.get("description") or ""),
            Location(path),
        )
        if node.get("relation_name"):
            relations.sources[relation_key(str(node["relation_name"]), dialect)] = (key, relation)
    return relations, sources, names
