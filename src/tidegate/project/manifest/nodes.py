"""The models, seeds, snapshots, data tests and hooks of a dbt manifest, as tidegate's objects.

What the manifest cannot give is refused with the file: incremental models that call
`is_incremental()` (the manifest holds one rendering, tidegate needs both), Python models, hooks
with Jinja other than `{{ this }}`, and tests with a custom `fail_calc`/`warn_if`/`error_if`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project import materializations
from tidegate.project.config import ProjectConfig
from tidegate.project.contracts import read_constraints, read_contract
from tidegate.project.datatests import check_audit_schema, store_failures_as
from tidegate.project.dbt import hook_list, string_list
from tidegate.project.manifest.document import HINT, RELATION_TYPES, Manifest, node_name
from tidegate.project.manifest.placeholders import Relations, Rewritten, relation_key, to_placeholders
from tidegate.project.model import (
    THIS_PLACEHOLDER,
    Column,
    DataTest,
    Kind,
    Language,
    Location,
    Model,
    Severity,
)
from tidegate.project.seeds import seed_fields

_DEFAULT_FAIL = {"fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0"}
_THIS = re.compile(r"\{\{\s*this\s*\}\}")


class ManifestNodes:
    """Builds the project's objects from the nodes of one manifest."""

    def __init__(
        self,
        manifest: Manifest,
        root: Path,
        config: ProjectConfig,
        relations: Relations,
        names: dict[str, str],
    ) -> None:
        self.manifest = manifest
        self.root = root
        self.config = config
        self.dialect = config.dialect
        self.relations = relations
        self.names = names
        """Unique id -> the name of a model, seed, snapshot or source (`source.table`)."""

    def models(self) -> dict[str, Model]:
        models: dict[str, Model] = {}
        for _, node in self.manifest.enabled(RELATION_TYPES):
            model = self._model(node)
            models[model.name] = model
        return models

    def run_hooks(self, key: str) -> tuple[str, ...]:
        """`on-run-start`/`on-run-end`: operation nodes of the manifest, in their order."""
        operations = [
            node
            for node in self.manifest.nodes.values()
            if node.get("resource_type") == "operation" and key in (node.get("tags") or [])
        ]
        operations.sort(key=lambda node: int(str(node.get("index") or 0)))
        return tuple(
            hook
            for node in operations
            for hook in _hooks([node.get("raw_code") or ""], key, self.manifest.location(node), None)
        )

    def _query(self, node: dict[str, Any], name: str, path: str) -> Rewritten:
        from tidegate.project.sql import parse_query

        code = node.get("compiled_code")
        if code is None:
            raise ProjectError(
                "the manifest holds no compiled SQL for this node: `dbt parse` does not compile",
                path=path,
                model=name,
                hint=HINT,
            )
        this = relation_key(str(node["relation_name"]), self.dialect) if node.get("relation_name") else None
        return to_placeholders(
            parse_query(str(code), self.dialect, path=path, model=name), self.relations, this=this
        )

    def _normalized(self, rewritten: Rewritten) -> str:
        from tidegate.project.sql import normalize

        return normalize(rewritten.query, self.dialect)

    def _model(self, node: dict[str, Any]) -> Model:
        name = node_name(node)
        path = self.manifest.location(node)
        config = node.get("config") or {}
        common = self._common(node, name, path, config)
        if node["resource_type"] == "seed":
            return self._seed(name, path, config, common)
        if node["resource_type"] == "snapshot":
            return self._snapshot(node, name, path, config, common)
        if node.get("language", "sql") != "sql":
            raise ProjectError("Python models are not loaded from a dbt manifest", path=path, model=name)
        kind = materializations.kind(str(config.get("materialized") or "view"), {}, path, None, name)
        rewritten = self._query(node, name, path)
        sql = self._normalized(rewritten)
        if kind is Kind.INCREMENTAL:
            if "is_incremental" in str(node.get("raw_code") or ""):
                raise ProjectError(
                    "an incremental model that calls is_incremental() cannot be loaded from a dbt "
                    "manifest: it holds one rendering of the model, tidegate needs both",
                    path=path,
                    model=name,
                    hint="load the project without --manifest",
                )
            materializations.check_incremental(config, path, name, dbt=True)
        return Model(
            name=name,
            kind=kind,
            language=Language.SQL,
            location=Location(path),
            sql=sql,
            incremental_sql=sql if kind is Kind.INCREMENTAL else None,
            refs=rewritten.refs,
            sources=rewritten.sources,
            unique_key=string_list(config.get("unique_key")),
            incremental_strategy=materializations.strategy(config, dbt=True),
            pre_hooks=_hooks(config.get("pre-hook"), "pre-hook", path, name),
            post_hooks=_hooks(config.get("post-hook"), "post-hook", path, name),
            contract=read_contract(
                config,
                common["columns"],
                read_constraints(node, path, None),
                kind,
                Location(path),
                name,
                self.dialect,
            ),
            **common,
        )

    def _common(self, node: dict[str, Any], name: str, path: str, config: dict[str, Any]) -> dict[str, Any]:
        """The fields every node has: its relation's names, description, columns, tags, owner."""
        return {
            "schema": str(node.get("schema") or self.config.default_schema),
            "alias": str(node["alias"]) if node.get("alias") and node["alias"] != name else None,
            "description": str(node.get("description") or ""),
            "columns": tuple(
                Column(
                    str(c.get("name") or key),
                    str(c.get("description") or ""),
                    None if c.get("data_type") is None else str(c["data_type"]),
                    read_constraints(c, path, None),
                )
                for key, c in (node.get("columns") or {}).items()
            ),
            "tags": string_list(config.get("tags")),
            "owner": (config.get("meta") or {}).get("owner"),
        }

    def _snapshot(
        self, node: dict[str, Any], name: str, path: str, config: dict[str, Any], common: dict[str, Any]
    ) -> Model:
        """A dbt snapshot: the query dbt compiled from its block, with its strategy (see
        `tidegate.project.scd2`); its schema is the one dbt gave it (`target_schema` or
        `generate_schema_name`)."""
        from tidegate.project.scd2 import scd2_config

        if config.get("pre-hook") or config.get("post-hook"):
            raise ProjectError("hooks on snapshots are not supported", path=path, model=name)
        strategy = scd2_config(config, name, path, None)
        rewritten = self._query(node, name, path)
        return Model(
            name=name,
            kind=Kind.SCD2,
            language=Language.SQL,
            location=Location(path),
            sql=self._normalized(rewritten),
            refs=rewritten.refs,
            sources=rewritten.sources,
            unique_key=strategy.unique_key,
            scd2=strategy,
            **common,
        )

    def _seed(self, name: str, path: str, config: dict[str, Any], common: dict[str, Any]) -> Model:
        file = self.root / path
        if not file.is_file():
            raise ProjectError(
                f"the seed's file {path} is missing", path=self.manifest.rel, model=name, hint=HINT
            )
        column_types = config.get("column_types") or {}
        data = file.read_bytes()
        fields = seed_fields(
            data, path, name, config, column_types, self.dialect, lambda _: (path, None), dbt=True
        )
        return Model(name=name, **fields, **common)

    def tests(self) -> Iterator[DataTest]:
        """The data tests of models (a test of sources only is not run: tidegate runs tests of
        models), each with its query rewritten to placeholders."""
        seen: set[str] = set()
        for unique_id, node in self.manifest.enabled(("test",)):
            config = node.get("config") or {}
            path = self.manifest.location(node)
            test_name = str(node["name"])
            for key, default in _DEFAULT_FAIL.items():
                if str(config.get(key, default)).replace(" ", "") != default.replace(" ", ""):
                    raise ProjectError(
                        f"test {test_name!r}: {key} {config[key]!r} is not supported (only {default!r})",
                        path=path,
                    )
            parents = [
                self.names[parent]
                for parent in [node.get("attached_node"), *(node.get("depends_on") or {}).get("nodes", [])]
                if parent in self.names and not parent.startswith("source.")
            ]
            models = tuple(dict.fromkeys(parents))
            if not models:
                continue
            rewritten = self._query(node, test_name, path)
            name = test_name if test_name not in seen else unique_id.rsplit(".", 1)[-1]
            seen.add(name)
            metadata = node.get("test_metadata") or {}
            test = DataTest(
                name=name,
                kind=str(metadata.get("name") or "singular"),
                sql=self._normalized(rewritten),
                models=models,
                location=Location(path),
                column=node.get("column_name"),
                severity=Severity.WARN
                if str(config.get("severity", "error")).lower() == "warn"
                else Severity.ERROR,
            )
            yield _stored_failures(test, node, config)


def _hooks(hooks: Any, what: str, path: str, model: str | None) -> tuple[str, ...]:
    """Hooks as the manifest keeps them, unrendered: plain SQL, where `{{ this }}` is the only
    Jinja tidegate can fill in (as the placeholder of the model's relation)."""
    result = []
    for hook in hook_list(hooks):
        sql = str(hook.get("sql") or "") if isinstance(hook, dict) else str(hook)
        if isinstance(hook, dict) and hook.get("transaction") is False:
            raise ProjectError(f"a {what} with transaction: false is not supported", path=path, model=model)
        sql = _THIS.sub(THIS_PLACEHOLDER, sql).strip()
        if "{{" in sql or "{%" in sql:
            raise ProjectError(
                f"a {what} with Jinja other than {{{{ this }}}} cannot be loaded from a dbt manifest "
                "(dbt keeps hooks unrendered)",
                path=path,
                model=model,
                hint="load the project without --manifest",
            )
        if sql:
            result.append(sql)
    return tuple(result)


def _stored_failures(test: DataTest, node: dict[str, Any], config: dict[str, Any]) -> DataTest:
    """`test` keeping its failing rows where dbt would: the manifest has the test's schema and
    alias as dbt made them (through the project's `generate_schema_name` and friends)."""
    kind = store_failures_as(config, test.location.path, test.location.line)
    if kind is None:
        return test
    schema = check_audit_schema(str(node["schema"]), test.name, test.location.path, test.location.line)
    name = str(node.get("alias") or node["name"])
    return replace(test, store_failures=True, store_failures_as=kind, audit_schema=schema, audit_name=name)
