"""Load a dbt project from the `target/manifest.json` dbt wrote (`tidegate plan --manifest`).

tidegate renders a dbt project's Jinja itself and refuses what it cannot render (`run_query`,
`statement` blocks, `graph`...). A project that needs those can be compiled by dbt instead
(`dbt compile`, or any `dbt build`): the manifest holds every enabled node's compiled SQL, its
configs, its parents and the relation dbt named for it. Here each compiled query is turned back
into tidegate's placeholder SQL: every table that is the relation of a model, seed or snapshot
of the manifest becomes `ref_placeholder(name)` (matched on sqlglot table nodes, with or without
the database and quotes), a source's relation becomes the source's `schema.identifier`, and the
CTEs dbt inlines for ephemeral models (`__dbt__cte__<name>`) become refs again. From there the
project is the same as one tidegate rendered: fingerprints are of the normalized SQL.

A manifest that does not match the files is an error, never a silently older build: the
checksum dbt recorded for every model, seed and singular test must be the one of its file
today, every model and seed file must be in the manifest, the text of every project macro must
still be in its file, and no YAML file of the project (`dbt_project.yml`, properties) may be
newer than the manifest. The hint says to rerun `dbt compile`.

What the manifest cannot give is refused with the file: incremental models that call
`is_incremental()` (the manifest holds one rendering, tidegate needs both), snapshots, Python
models, hooks, tests with a custom `fail_calc`/`warn_if`/`error_if`, and `--vars` (variables are
compiled into the manifest: pass them to `dbt compile`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlglot import exp

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.config import ProjectConfig, load_config
from tidegate.project.datatests import check_audit_schema, store_failures_as
from tidegate.project.exposures import check_exposures
from tidegate.project.files import project_files, read_text
from tidegate.project.model import (
    THIS_PLACEHOLDER,
    Column,
    DataTest,
    Kind,
    Language,
    Location,
    Model,
    Severity,
    Source,
    ref_placeholder,
)
from tidegate.project.project import Project
from tidegate.project.properties import Properties, read_constraints, read_contract
from tidegate.project.seeds import check_column_types, read_seed

MANIFEST_ENV = "TIDEGATE_DBT_MANIFEST"
EPHEMERAL_PREFIX = "__dbt__cte__"
_KINDS = {kind.value: kind for kind in (Kind.VIEW, Kind.TABLE, Kind.INCREMENTAL, Kind.EPHEMERAL)}
_HINT = "rerun `dbt compile` (or `dbt build`) to write a new target/manifest.json"
_RELATION_TYPES = ("model", "seed", "snapshot")
_DEFAULT_FAIL = {"fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0"}

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


# loading --------------------------------------------------------------------------------------


def load_manifest_project(
    root: Path, manifest: Path | str, *, variables: Mapping[str, Any] | None = None
) -> Project:
    """The project in `root` as the dbt manifest `manifest` (relative to `root`) describes it."""
    return _ManifestLoader(root.resolve(), root.resolve() / Path(manifest), dict(variables or {})).load()


class _ManifestLoader:
    def __init__(self, root: Path, path: Path, variables: dict[str, Any]) -> None:
        self.root = root
        self.path = path
        self.config: ProjectConfig = load_config(root)
        self.dialect = self.config.dialect
        self.rel = self._display(path)
        if variables:
            raise ConfigError(
                "--vars cannot change a project loaded from a dbt manifest: dbt compiled the variables in",
                path=self.rel,
                hint="pass the variables to `dbt compile --vars ...` instead",
            )
        if not path.is_file():
            raise ConfigError(
                f"no dbt manifest at {path}", hint="run `dbt compile` to write target/manifest.json"
            )
        try:
            self.data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read the dbt manifest: {error}", path=self.rel) from None
        if not isinstance(self.data, dict) or not isinstance(self.data.get("nodes"), dict):
            raise ConfigError("not a dbt manifest.json (no nodes)", path=self.rel)
        metadata = self.data.get("metadata") or {}
        self.project_name = str(metadata.get("project_name") or "")
        version = str(metadata.get("dbt_schema_version") or "")
        number = version.rsplit("/v", 1)[-1].removesuffix(".json")
        if not number.isdigit() or int(number) < 9:
            raise ConfigError(
                f"the manifest has schema {version or 'unknown'}; tidegate reads manifests of dbt 1.5 "
                "and later (v9+)",
                path=self.rel,
                hint=_HINT,
            )
        self.nodes: dict[str, dict[str, Any]] = self.data["nodes"]

    def _display(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def load(self) -> Project:
        self._check_fresh()
        relations, sources, names = self._relations()
        self.names = names
        models: dict[str, Model] = {}
        for unique_id, node in self._nodes(_RELATION_TYPES):
            model = self._model(unique_id, node, relations)
            models[model.name] = model
        tests = tuple(self._tests(relations))
        properties = self._properties()
        return Project(
            root=self.root,
            config=self.config,
            models=models,
            sources=sources,
            tests=tests,
            unit_tests=self._unit_tests(properties, models),
            dashboards=(),
            exposures=check_exposures(
                properties.exposures, models, {}, sources, properties.versions, properties.disabled_sources
            ),
            on_run_start=self._run_hooks("on-run-start"),
            on_run_end=self._run_hooks("on-run-end"),
        )

    def _run_hooks(self, key: str) -> tuple[str, ...]:
        """`on-run-start`/`on-run-end`: operation nodes of the manifest, in their order."""
        operations = [
            node
            for node in self.nodes.values()
            if node.get("resource_type") == "operation" and key in (node.get("tags") or [])
        ]
        operations.sort(key=lambda node: int(str(node.get("index") or 0)))
        return tuple(
            hook
            for node in operations
            for hook in _hooks([node.get("raw_code") or ""], key, self._location(node), None)
        )

    def _nodes(self, types: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
        for unique_id, node in sorted(self.nodes.items()):
            if node.get("resource_type") in types and (node.get("config") or {}).get("enabled", True):
                yield unique_id, node

    def _name(self, node: dict[str, Any]) -> str:
        name = str(node["name"])
        if node.get("version") is not None:  # dbt's versioned models are tidegate's `<name>_v<version>`
            name = f"{name}_v{str(node['version']).replace('.', '_')}"
        return name

    def _relations(self) -> tuple[Relations, dict[str, Source], dict[str, str]]:
        relations = Relations()
        names: dict[str, str] = {}
        for unique_id, node in self._nodes(_RELATION_TYPES):
            name = self._name(node)
            names[unique_id] = name
            if node.get("relation_name"):
                relations.add_model(str(node["relation_name"]), name, self.dialect)
            elif (node.get("config") or {}).get("materialized") == "ephemeral":
                relations.ephemerals[f"{EPHEMERAL_PREFIX}{node.get('alias') or node['name']}".lower()] = name
        databases = {str(node.get("database") or "").lower() for _, node in self._nodes(_RELATION_TYPES)}
        sources: dict[str, Source] = {}
        for unique_id, node in sorted((self.data.get("sources") or {}).items()):
            key = f"{node['source_name']}.{node['name']}"
            names[unique_id] = key
            database = str(node.get("database") or "")
            identifier = str(node.get("identifier") or node["name"])
            parts = [node.get("schema"), identifier]
            if database.lower() not in databases:  # another database than the target's
                parts.insert(0, database)
            relation = ".".join(str(part) for part in parts if part)
            path = str(node.get("original_file_path") or self.rel)
            sources[key] = Source(
                str(node["source_name"]),
                str(node["name"]),
                relation,
                str(node.get("description") or ""),
                Location(path),
            )
            if node.get("relation_name"):
                relations.sources[relation_key(str(node["relation_name"]), self.dialect)] = (key, relation)
        return relations, sources, names

    def _location(self, node: dict[str, Any]) -> str:
        path = str(node.get("original_file_path") or self.rel)
        package = node.get("package_name")
        if package and self.project_name and package != self.project_name:
            return f"dbt_packages/{package}/{path}"
        return path

    def _query(self, node: dict[str, Any], name: str, path: str, relations: Relations) -> Rewritten:
        from tidegate.project.sql import parse_query

        code = node.get("compiled_code")
        if code is None:
            raise ProjectError(
                "the manifest holds no compiled SQL for this node: `dbt parse` does not compile",
                path=path,
                model=name,
                hint=_HINT,
            )
        this = relation_key(str(node["relation_name"]), self.dialect) if node.get("relation_name") else None
        return to_placeholders(
            parse_query(str(code), self.dialect, path=path, model=name), relations, this=this
        )

    def _model(self, unique_id: str, node: dict[str, Any], relations: Relations) -> Model:
        name = self._name(node)
        path = self._location(node)
        config = node.get("config") or {}
        resource = node["resource_type"]
        common: dict[str, Any] = {
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
            "tags": tuple(str(tag) for tag in _list(config.get("tags"))),
            "owner": (config.get("meta") or {}).get("owner"),
        }
        if resource == "seed":
            return self._seed(name, path, config, common)
        if resource == "snapshot":
            return self._snapshot(node, name, path, config, relations, common)
        if node.get("language", "sql") != "sql":
            raise ProjectError("Python models are not loaded from a dbt manifest", path=path, model=name)
        materialized = str(config.get("materialized") or "view")
        if materialized not in _KINDS:
            raise ProjectError(
                f"unknown materialization {materialized!r} (one of {', '.join(_KINDS)})",
                path=path,
                model=name,
            )
        kind = _KINDS[materialized]
        rewritten = self._query(node, name, path, relations)
        from tidegate.project.sql import normalize

        sql = normalize(rewritten.query, self.dialect)
        strategy = str(config.get("incremental_strategy") or "merge")
        unique_key = _list(config.get("unique_key"))
        if kind is Kind.INCREMENTAL:
            if "is_incremental" in str(node.get("raw_code") or ""):
                raise ProjectError(
                    "an incremental model that calls is_incremental() cannot be loaded from a dbt "
                    "manifest: it holds one rendering of the model, tidegate needs both",
                    path=path,
                    model=name,
                    hint="load the project without --manifest",
                )
            from tidegate.project.loader import INCREMENTAL_STRATEGIES

            if strategy not in INCREMENTAL_STRATEGIES:
                raise ProjectError(
                    f"incremental_strategy must be one of {', '.join(INCREMENTAL_STRATEGIES)}, not {strategy!r}",
                    path=path,
                    model=name,
                )
            if strategy != "append" and not unique_key:
                raise ProjectError(
                    f"an incremental model with the {strategy} strategy needs a unique_key",
                    path=path,
                    model=name,
                )
        return Model(
            name=name,
            kind=kind,
            language=Language.SQL,
            location=Location(path),
            sql=sql,
            incremental_sql=sql if kind is Kind.INCREMENTAL else None,
            refs=rewritten.refs,
            sources=rewritten.sources,
            unique_key=tuple(unique_key),
            incremental_strategy=strategy,
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

    def _snapshot(
        self,
        node: dict[str, Any],
        name: str,
        path: str,
        config: dict[str, Any],
        relations: Relations,
        common: dict[str, Any],
    ) -> Model:
        """A dbt snapshot: the query dbt compiled from its block, with its strategy (see
        `tidegate.project.scd2`); its schema is the one dbt gave it (`target_schema` or
        `generate_schema_name`)."""
        from tidegate.project.scd2 import scd2_config
        from tidegate.project.sql import normalize

        if config.get("pre-hook") or config.get("post-hook"):
            raise ProjectError("hooks on snapshots are not supported", path=path, model=name)
        strategy = scd2_config(config, name, path, None)
        rewritten = self._query(node, name, path, relations)
        return Model(
            name=name,
            kind=Kind.SCD2,
            language=Language.SQL,
            location=Location(path),
            sql=normalize(rewritten.query, self.dialect),
            refs=rewritten.refs,
            sources=rewritten.sources,
            unique_key=strategy.unique_key,
            scd2=strategy,
            **common,
        )

    def _seed(self, name: str, path: str, config: dict[str, Any], common: dict[str, Any]) -> Model:
        file = self.root / path
        if not file.is_file():
            raise ProjectError(f"the seed's file {path} is missing", path=self.rel, model=name, hint=_HINT)
        column_types = config.get("column_types") or {}
        delimiter = str(config.get("delimiter") or ",")
        data = file.read_bytes()
        typed = check_column_types(
            column_types,
            read_seed(data, path, delimiter),
            name,
            self.dialect,
            lambda _: (path, None),
            ignore_unknown=True,
        )
        return Model(
            name=name,
            kind=Kind.SEED,
            language=Language.CSV,
            location=Location(path),
            seed_hash=hashlib.sha256(data).hexdigest(),
            column_types=typed,
            delimiter=delimiter,
            **common,
        )

    def _tests(self, relations: Relations) -> Iterator[DataTest]:
        from tidegate.project.sql import normalize

        seen: set[str] = set()
        for unique_id, node in self._nodes(("test",)):
            config = node.get("config") or {}
            path = self._location(node)
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
            if not models:  # a test of sources only: tidegate runs tests of models
                continue
            rewritten = self._query(node, test_name, path, relations)
            name = test_name if test_name not in seen else unique_id.rsplit(".", 1)[-1]
            seen.add(name)
            metadata = node.get("test_metadata") or {}
            test = DataTest(
                name=name,
                kind=str(metadata.get("name") or "singular"),
                sql=normalize(rewritten.query, self.dialect),
                models=models,
                location=Location(path),
                column=node.get("column_name"),
                severity=Severity.WARN
                if str(config.get("severity", "error")).lower() == "warn"
                else Severity.ERROR,
            )
            yield _stored_failures(test, node, config)

    def _properties(self) -> Properties:
        """The properties files, read as without a manifest: for unit tests and exposures."""
        from tidegate.project.properties import read_properties
        from tidegate.project.yamlio import load_yaml_text

        files = [
            (
                path.relative_to(self.root).as_posix(),
                load_yaml_text(read_text(path, error=ConfigError), str(path)),
            )
            for path in self._files(self.config.model_paths, (".yml", ".yaml"))
        ]
        return read_properties(files)

    def _unit_tests(self, properties: Properties, models: dict[str, Model]) -> tuple[Any, ...]:
        """dbt unit tests, as the properties files declare them."""
        unit_tests = tuple(properties.unit_tests)
        for unit_test in unit_tests:
            if unit_test.model not in models:
                raise ConfigError(
                    f"unit test {unit_test.name!r} tests unknown model {unit_test.model!r}",
                    path=unit_test.location.path,
                    line=unit_test.location.line,
                )
        return unit_tests

    # a manifest of these files ---------------------------------------------------------------

    def _files(self, folders: list[str], suffixes: tuple[str, ...]) -> Iterator[Path]:
        return project_files(self.root, folders, *suffixes)

    def _stale(self, message: str, path: str) -> ProjectError:
        return ProjectError(f"{self.rel} is older than the project: {message}", path=path, hint=_HINT)

    def _check_fresh(self) -> None:
        own = [
            node
            for node in self.nodes.values()
            if not self.project_name or node.get("package_name") == self.project_name
        ]
        listed = set()
        for node in own:
            path = str(node.get("original_file_path") or "")
            checksum = node.get("checksum") or {}
            if checksum.get("name") != "sha256" or not path:
                continue  # generic tests (the properties file) and big seeds (their path)
            listed.add(path)
            file = self.root / path
            if not file.is_file():
                raise self._stale(f"{path} is in the manifest but no longer exists", self.rel)
            text = read_text(file, path, universal_newlines=False).strip()
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != checksum.get("checksum"):
                raise self._stale(f"{path} changed since dbt compiled it", path)
        disabled = {
            str(node.get("original_file_path"))
            for nodes in (self.data.get("disabled") or {}).values()
            for node in (nodes if isinstance(nodes, list) else [nodes])
        }
        for folders, suffixes in (
            (self.config.model_paths, (".sql", ".py")),
            (self.config.seed_paths, (".csv",)),
        ):
            for file in self._files(folders, suffixes):
                rel = file.relative_to(self.root).as_posix()
                if rel not in listed and rel not in disabled and not _big_seed(self.nodes, rel):
                    raise self._stale(f"{rel} is not in the manifest", rel)
        macros: dict[str, list[str]] = {}
        for macro in (self.data.get("macros") or {}).values():
            if macro.get("package_name") == self.project_name:
                macros.setdefault(str(macro.get("original_file_path")), []).append(
                    str(macro.get("macro_sql"))
                )
        for doc in (self.data.get("docs") or {}).values():
            if doc.get("package_name") == self.project_name:
                macros.setdefault(str(doc.get("original_file_path")), []).append(
                    str(doc.get("block_contents", ""))
                )
        for file in self._files([*self.config.macro_paths, *self.config.test_paths], (".sql", ".md")):
            rel = file.relative_to(self.root).as_posix()
            if rel in listed:
                continue  # a singular test, checked above
            text = read_text(file, rel)
            if rel not in macros:
                if "{%" in text:
                    raise self._stale(f"{rel} is not in the manifest", rel)
                continue
            for macro_sql in macros[rel]:
                if macro_sql not in text:
                    raise self._stale(f"{rel} changed since dbt compiled it", rel)
        written = self.path.stat().st_mtime
        yaml_files = [self.root / "dbt_project.yml"]
        yaml_files += self._files([*self.config.model_paths, *self.config.seed_paths], (".yml", ".yaml"))
        for file in yaml_files:
            if file.is_file() and file.stat().st_mtime > written:
                rel = file.relative_to(self.root).as_posix()
                raise self._stale(f"{rel} was changed after the manifest was written", rel)


_THIS = re.compile(r"\{\{\s*this\s*\}\}")


def _hooks(hooks: Any, what: str, path: str, model: str | None) -> tuple[str, ...]:
    """Hooks as the manifest keeps them, unrendered: plain SQL, where `{{ this }}` is the only
    Jinja tidegate can fill in (as the placeholder of the model's relation)."""
    result = []
    for hook in _list_of(hooks):
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


def _list_of(value: Any) -> list[Any]:
    if not value:
        return []
    return [value] if isinstance(value, str | dict) else list(value)


def _big_seed(nodes: Mapping[str, dict[str, Any]], path: str) -> bool:
    return any(
        node.get("original_file_path") == path and (node.get("checksum") or {}).get("name") == "path"
        for node in nodes.values()
    )


def _list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _stored_failures(test: DataTest, node: dict[str, Any], config: dict[str, Any]) -> DataTest:
    """`test` keeping its failing rows where dbt would: the manifest has the test's schema and
    alias as dbt made them (through the project's `generate_schema_name` and friends)."""
    kind = store_failures_as(config, test.location.path, test.location.line)
    if kind is None:
        return test
    schema = check_audit_schema(str(node["schema"]), test.name, test.location.path, test.location.line)
    name = str(node.get("alias") or node["name"])
    return replace(test, store_failures=True, store_failures_as=kind, audit_schema=schema, audit_name=name)
