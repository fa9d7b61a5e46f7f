"""Load a project directory into a :class:`Project`.

Loading renders every model once with placeholders for refs, parses it with sqlglot and keeps the
normalized text: everything later (fingerprints, plans, builds) works from that.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import ConfigError, ProjectError
from tidegate.project import dbt_python, materializations, scd2
from tidegate.project.cache import CACHE_DIR, SqlCache, YamlCache
from tidegate.project.config import ProjectConfig, load_config, name_clash
from tidegate.project.dashboards import DashboardNames
from tidegate.project.datatests import (
    AUDIT_SCHEMA,
    check_audit_schema,
    dbt_test_names,
    store_failures_as,
    test_digest,
    thresholds,
)
from tidegate.project.dbt import (
    DBT_PROJECT,
    DbtProject,
    FolderConfig,
    hook_list,
    merge_configs,
    read_dbt_project,
)
from tidegate.project.ephemerals import Unbuildable
from tidegate.project.exposures import check_exposures
from tidegate.project.files import read_text
from tidegate.project.generic_tests import build_custom_test, build_generic_test
from tidegate.project.jinja import DbtSettings, Rendered, Renderer, ref_names
from tidegate.project.model import (
    THIS_PLACEHOLDER,
    Dashboard,
    DashboardQuery,
    DataTest,
    Kind,
    Language,
    Location,
    Model,
    Severity,
    UnitTest,
    ref_placeholder,
)
from tidegate.project.project import Project
from tidegate.project.properties import (
    GENERIC_TESTS,
    NodeProperties,
    Properties,
    TestSpec,
    read_contract,
    read_properties,
)
from tidegate.project.queries import OnError, Queries
from tidegate.project.seeds import Where, check_column_types, read_seed
from tidegate.project.yamlio import LineDict, LineList

if TYPE_CHECKING:
    from tidegate.project.model import Source

_MODEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_project(
    root: Path | str, *, variables: dict[str, Any] | None = None, manifest: Path | str | None = None
) -> Project:
    """Read, render and validate the project in `root`; every error names its file and line.
    With `manifest` (a dbt `target/manifest.json`, relative to `root`), the SQL dbt compiled is
    used instead of rendering Jinja (see `tidegate.project.manifest`)."""
    if manifest is not None:
        from tidegate.project.manifest import load_manifest_project

        return load_manifest_project(Path(root), manifest, variables=variables)
    return _Loader(Path(root).resolve(), variables or {}).load()


@dataclasses.dataclass(frozen=True)
class _Package:
    """A dbt package under `dbt_packages/` (as `dbt deps` leaves it) with its own project."""

    name: str
    root: Path
    dbt: DbtProject


class _Loader:
    def __init__(self, root: Path, variables: dict[str, Any]) -> None:
        self.root = root
        self._root_prefix = os.path.join(str(root), "")
        self._folder_prefixes: dict[str, str] = {}
        self._listings: dict[str, list[Path]] = {}
        """Folder -> every file below it, sorted: see `_files`."""
        self.config: ProjectConfig = load_config(root)
        self.variables = {**self.config.vars, **variables}
        self.command_line_variables = dict(variables)
        self.models: dict[str, Model] = {}
        self._by_lower_name: dict[str, Model] = {}
        """The models by lower-cased name, to find two that differ only in case at once."""
        self.sql_cache = SqlCache(root, self.config.dialect)
        self.yaml_cache = YamlCache(root)
        self.queries = Queries(self.sql_cache, self.config.dialect)
        self._pending_refs: list[tuple[str, str, str, int | None]] = []
        """(user, ref, file, line) of every ref seen, checked once all models are known."""
        self.dbt = self.config.dbt
        self.disabled: dict[str, str] = {}
        """Models and seeds switched off with `enabled: false`, and where they are."""
        self.unbuildable = Unbuildable()
        """Ephemeral models whose SQL could not be rendered or parsed (see `ephemerals`)."""
        self.packages = self._find_packages() if self.dbt is not None else []
        self._configs_have_jinja = any(
            _has_jinja(project.data) for project in [self.dbt, *(p.dbt for p in self.packages)] if project
        )
        """Whether any dbt_project.yml has Jinja (in a config, or a hook), to render configs only then."""

    def load(self) -> Project:
        try:
            try:
                project = self._load()
            except Exception:
                # Queries are parsed after rendering: one read before this error that fails is
                # the error to report, as when each query was parsed as soon as it was read.
                self.queries.resolve()
                raise
            project = _with_queries(project, self.queries.resolve())
            self.unbuildable.check(self._pending_refs, project)
        finally:
            self.queries.close()
        self.renderer.close()
        self.sql_cache.save()
        self.yaml_cache.save()
        if self.dbt is not None:
            project = dataclasses.replace(
                project,
                on_run_start=self._run_hooks("on-run-start"),
                on_run_end=self._run_hooks("on-run-end"),
            )
        return project

    def _load(self) -> Project:
        documents = [
            (self._rel(path), self._yaml(path))
            for folders in (self.config.model_paths, self.config.seed_paths, self.config.snapshot_paths)
            for path in dict.fromkeys(self._files(folders, ".yml", ".yaml"))
        ]
        documents += [
            (self._rel(path), self._yaml(path))
            for path in dict.fromkeys(
                [
                    *self._package_files("models", ".yml", ".yaml"),
                    *self._package_files("seeds", ".yml", ".yaml"),
                ]
            )
        ]
        properties = read_properties(documents)
        self._read_external_sources(properties)
        sources = {f"{key[0]}.{key[1]}": source for key, source in properties.sources.items()}
        macro_files = [*self._files(self.config.macro_paths, ".sql"), *self._generic_test_files()]
        macros = {self._rel(path): self._read(path) for path in macro_files}
        self.versions = {
            stem: (name, number)
            for name, (_, stems) in properties.versions.items()
            for number, stem in stems.items()
        }
        """File stem of a versioned model -> (its model's name, its version)."""
        self.source_relations = {f"{key[0]}.{key[1]}": s.relation for key, s in properties.sources.items()}
        """`source.table` -> the relation a dbt Python model's `dbt.source(...)` reads."""
        self.renderer = Renderer(
            macros,
            self.variables,
            {key: s.relation for key, s in properties.sources.items()},
            cache_dir=self.root / CACHE_DIR,
            dbt=self._dbt_settings(properties.versions),
        )
        for path in [*self._files(self.config.seed_paths, ".csv"), *self._package_files("seeds", ".csv")]:
            self._add(self._seed(path, properties.nodes.get(path.stem)))
        self.seed_sources = self._seed_sources(properties)
        self.renderer.read_sources_from(self.seed_sources)
        for path in [*self._files(self.config.model_paths, ".sql"), *self._package_files("models", ".sql")]:
            self._add(self._sql_model(path, properties.nodes.get(path.stem)))
        for path in [*self._files(self.config.model_paths, ".py"), *self._package_files("models", ".py")]:
            self._add(self._python_model(path, properties.nodes.get(path.stem)))
        for definition in self._snapshot_definitions(documents):
            self._add(self._snapshot(definition, properties.nodes.get(definition.name)))
        self._check_properties(properties)
        tests = self._data_tests(
            properties,
            {
                key: ref_placeholder(self.seed_sources[key]) if key in self.seed_sources else s.relation
                for key, s in sources.items()
            },
        )
        dashboards = tuple(self._dashboards(sources))
        exposures = check_exposures(
            properties.exposures,
            self.models,
            self.disabled,
            sources,
            properties.versions,
            properties.disabled_sources,
        )
        project = Project(
            root=self.root,
            config=self.config,
            models=self.models,
            sources=sources,
            tests=tests,
            unit_tests=tuple(self._unit_test(test) for test in properties.unit_tests),
            dashboards=dashboards,
            exposures=exposures,
        )
        self._check_references(project)
        return project

    def _read_external_sources(self, properties: Properties) -> None:
        """On DuckDB, a source with dbt-duckdb's `external_location` reads that file or table
        function: it is the source's relation (and that of its tests)."""
        if self.dbt is None:
            return
        engine = self.dbt.target.type if self.dbt.target else self.config.connection_for("prod").engine
        if engine != "duckdb":
            return
        for key, source in list(properties.sources.items()):
            if source.external_location is not None:
                properties.sources[key] = dataclasses.replace(source, relation=source.external_location)
        properties.source_tests = [
            dataclasses.replace(spec, relation=properties.sources[(source, table)].relation)
            for spec in properties.source_tests
            for source, _, table in [spec.model.partition(".")]
        ]

    def _seed_sources(self, properties: Properties) -> dict[str, str]:
        """Sources (`source.table`) whose relation is one of this project's seeds as dbt names it
        in prod: a project that loads its raw data with `dbt seed` and reads it back with
        source(). Those sources read the seed, in whichever environment is built."""
        if self.dbt is None:
            return {}
        seeds = {
            (model.schema.lower(), (model.alias or model.name).lower()): model.name
            for model in self.models.values()
            if model.kind is Kind.SEED
        }
        database = str((self.renderer.target or {}).get("database") or "").lower()
        found = {}
        for (source, table), declared in properties.sources.items():
            *catalog, schema, identifier = declared.relation.lower().split(".")
            if catalog and catalog[0] != database:
                continue
            seed = seeds.get((schema, identifier))
            if seed is not None:
                found[f"{source}.{table}"] = seed
        return found

    def _unit_test(self, test: UnitTest) -> UnitTest:
        """A unit test whose given rows stand for a source that is a seed (see `_seed_sources`)
        gives them for the seed, which the model reads."""
        given = tuple(
            dataclasses.replace(item, target=self.seed_sources[item.target], is_source=False)
            if item.is_source and item.target in self.seed_sources
            else item
            for item in test.given
        )
        return dataclasses.replace(test, given=given)

    # files ----------------------------------------------------------------------------------

    def _files(self, folders: list[str], *suffixes: str) -> Iterator[Path]:
        """As `project_files`; each folder is listed once per load (the models' folder is read
        for properties, SQL and Python models, and dbt's model names)."""
        for folder in folders:
            listing = self._listings.get(folder)
            if listing is None:
                base = self.root / folder
                found = (path for path in base.rglob("*") if path.is_file()) if base.is_dir() else ()
                listing = self._listings[folder] = sorted(found)
            yield from (path for path in listing if path.suffix in suffixes)

    def _find_packages(self) -> list[_Package]:
        """The packages under `dbt_packages/` that are dbt projects (with a dbt_project.yml)."""
        base = self.root / "dbt_packages"
        packages = []
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            if (folder / DBT_PROJECT).is_file():
                dbt = read_dbt_project(folder, require_profile=False, profile=False)
                packages.append(_Package(dbt.name, folder, dbt))
        return packages

    def _package_files(self, resource: str, *suffixes: str) -> Iterator[Path]:
        """The files of every package's `model-paths` (resource `models`) or `seed-paths`."""
        for package in self.packages:
            for folder in package.dbt.model_paths if resource == "models" else package.dbt.seed_paths:
                base = package.root / folder
                if base.is_dir():
                    yield from sorted(
                        path for path in base.rglob("*") if path.suffix in suffixes and path.is_file()
                    )

    def _package_of(self, path: Path) -> _Package | None:
        return next((package for package in self.packages if path.is_relative_to(package.root)), None)

    def _package_of_rel(self, rel: str) -> _Package | None:
        return self._package_of(self.root / rel) if self.packages else None

    def _rel(self, path: Path) -> str:
        text = str(path)
        if text.startswith(self._root_prefix):  # what relative_to gives, without its cost
            return text[len(self._root_prefix) :].replace(os.sep, "/")
        return path.relative_to(self.root).as_posix()

    def _yaml(self, path: Path) -> Any:
        """A project YAML file; errors name it relative to the root, like every other error."""
        rel = self._rel(path)
        return self.yaml_cache.load(read_text(path, rel, error=ConfigError), rel)

    def _read(self, path: Path) -> str:
        """A project file's text; one that is not UTF-8 is a ProjectError naming it."""
        return read_text(path, self._rel(path))

    def _generic_test_files(self) -> list[Path]:
        """dbt's custom generic tests in `tests/generic/`: macros, not singular tests."""
        return [path for path in self._files(self.config.test_paths, ".sql") if self._is_generic_test(path)]

    def _is_generic_test(self, path: Path) -> bool:
        return any(path.is_relative_to(self.root / folder / "generic") for folder in self.config.test_paths)

    def _dbt_settings(self, versions: dict[str, tuple[str, dict[str, str]]]) -> DbtSettings | None:
        if self.dbt is None:
            return None
        if self.dbt.target is not None:
            target = self.dbt.target.context()
        else:  # tidegate.yml decides the warehouse; dbt_project.yml found no profile
            connection = self.config.connection_for("prod")
            target = {
                "name": "prod",
                "target_name": "prod",
                "type": connection.engine,
                "schema": self.config.default_schema,
                "threads": connection.threads,
                "database": "",
                "profile_name": self.dbt.name,
            }
        packages: dict[str, dict[str, str]] = {}
        base = self.root / "dbt_packages"
        for folder in sorted(base.iterdir()) if base.is_dir() else []:
            if not (folder / "macros").is_dir():
                continue
            name = folder.name
            if (folder / DBT_PROJECT).is_file():
                data = self._yaml(folder / DBT_PROJECT)
                if isinstance(data, dict) and isinstance(data.get("name"), str):
                    name = data["name"]
            packages[name] = {
                self._rel(path): self._read(path) for path in sorted((folder / "macros").rglob("*.sql"))
            }
        stems = {path.stem for path in self._files(self.config.model_paths, ".sql", ".py")}
        owners = {path.stem: self.dbt.name for path in self._files(self.config.model_paths, ".sql", ".py")}
        for path in self._package_files("models", ".sql", ".py"):
            package = self._package_of(path)
            stems.add(path.stem)
            owners[path.stem] = package.name if package else self.dbt.name
        return DbtSettings(
            target=target,
            packages=packages,
            models=frozenset(stems),
            versions=versions,
            model_packages=owners,
            project=self.dbt.name,
            dispatch=self.dbt.dispatch,
            package_variables={
                self._rel(package.root): {
                    **package.dbt.vars,
                    **self.config.vars,
                    **self.dbt.vars_scoped_to(package.name),
                    **self.command_line_variables,
                }
                for package in self.packages
            },
        )

    def _folder_config(self, resource: str, path: Path, folders: list[str]) -> FolderConfig:
        """`dbt_project.yml`'s configs for the node in `path` (none without dbt_project.yml)."""
        return self._rendered(self._project_folder_config(resource, path, folders))

    def _rendered(self, config: FolderConfig) -> FolderConfig:
        """Folder configs with their Jinja rendered, as dbt renders `dbt_project.yml`
        (`+enabled: "{{ var('load_raw', false) }}"`): a value that renders to a Python literal
        (`False`, `3`) becomes that value. `var()` sees the command line's variables only (those
        of `vars:` are not defined yet). Hooks are rendered later, per node."""
        if not self._configs_have_jinja or not any(
            _has_jinja(value) for key, value in config.values.items() if key not in _HOOKS
        ):
            return config
        values = {
            key: value if key in _HOOKS else self._render_value(value, config.lines.get(key))
            for key, value in config.values.items()
        }
        return FolderConfig(values, config.lines)

    def _render_value(self, value: Any, line: int | None, path: str = DBT_PROJECT) -> Any:
        """A config value with its Jinja rendered: in dbt_project.yml with the command line's
        vars only, in a properties file (`path`) with the project's."""
        if isinstance(value, list):
            return [self._render_value(item, line, path) for item in value]
        if isinstance(value, dict):
            return {key: self._render_value(item, line, path) for key, item in value.items()}
        if not _has_jinja(value):
            return value
        variables = self.command_line_variables if path == DBT_PROJECT else None
        try:
            text = self.renderer.render(value, path, variables=variables, mask=False).text
        except ProjectError as error:
            raise ProjectError(error.message, path=path, line=line, hint=error.hint) from None
        try:
            return ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            return text

    def _project_folder_config(self, resource: str, path: Path, folders: list[str]) -> FolderConfig:
        if self.dbt is None:
            return FolderConfig()
        package = self._package_of(path)
        if package is not None:  # the package's dbt_project.yml, then the root's `<package>:` configs
            own = package.dbt.model_paths if resource == "models" else package.dbt.seed_paths
            for folder in own:
                if path.is_relative_to(package.root / folder):
                    parts = list(path.relative_to(package.root / folder).with_suffix("").parts)
                    root = dataclasses.replace(self.dbt, name=package.name)
                    return merge_configs(
                        package.dbt.folder_config(resource, parts), root.folder_config(resource, parts)
                    )
            return FolderConfig()
        for folder in folders:
            below = self._parts_below(path, folder)
            if below is not None:
                return self.dbt.folder_config(resource, below)
        return FolderConfig()

    def _parts_below(self, path: Path, folder: str) -> list[str] | None:
        """The folders and stem of `path` below the project's `folder`; None if not below it."""
        base = self._folder_prefixes.get(folder)
        if base is None:
            base = self._folder_prefixes[folder] = os.path.join(str(self.root / folder), "")
        text = str(path)
        if text.startswith(base):  # what relative_to gives, without its cost
            *folders, name = text[len(base) :].split(os.sep)
            return [*folders, _without_suffix(name)]
        if path.is_relative_to(self.root / folder):
            return list(path.relative_to(self.root / folder).with_suffix("").parts)
        return None

    def _node(self, name: str, rel: str, resource: str, config: dict[str, Any]) -> dict[str, Any]:
        """What dbt's `model` / `node` shows of a node: its name, file and configs."""
        project = self.dbt.name if self.dbt else self.config.name
        package = self._package_of_rel(rel)
        if package is not None:
            project = package.name
        version = None
        if name in self.versions and resource == "model":  # dbt: the model's name and version
            name, version = self.versions[name]
        return {
            "name": name,
            "resource_type": resource,
            "package_name": project,
            "original_file_path": rel,
            "path": rel,
            "unique_id": f"{resource}.{project}.{name}",
            "fqn": [project, *_fqn_parts(rel)],
            "config": dict(config),
            "tags": list(config.get("tags") or []),
            "version": version,
        }

    def _with_relation(
        self, node: dict[str, Any], name: str, config: dict[str, Any], rel: str, resource: str
    ) -> dict[str, Any]:
        """`node` with the names dbt gives the node's relation in prod, for `this.schema`,
        `this.identifier` and `this.database` (and `model.schema`, `model.alias`)."""
        schema, alias = self._relation_names(name, config, rel, resource)
        database = str((self.renderer.target or {}).get("database") or "")
        relation = {"schema": schema, "alias": alias or name, "database": database}
        return {**node, "relation": relation, "schema": schema, "alias": alias or name, "database": database}

    def _enabled(self, name: str, rel: str, config: dict[str, Any]) -> bool:
        if config.get("enabled", True) is False:
            self.disabled[name] = rel
            return False
        return True

    def _add(self, model: Model | None) -> None:
        if model is None:  # disabled
            return
        if not _MODEL_NAME.match(model.name):
            raise ProjectError(
                f"{model.name!r} is not a valid model name: use letters, digits and _",
                path=model.location.path,
                hint="the file name is the model name; rename the file",
            )
        for what, value in (("schema", model.schema), ("alias", model.alias)):
            if value is not None and not _MODEL_NAME.match(value):  # as `schema:` of tidegate.yml
                raise ProjectError(
                    f"{what} {value!r} is not a valid name: use letters, digits and _",
                    path=model.location.path,
                    line=model.location.line,
                    model=model.name,
                )
        if problem := name_clash(model.schema, "schema"):
            raise ProjectError(problem, path=model.location.path, model=model.name)
        # Refs become lower-case placeholders and relation names are case-insensitive, so two
        # names that differ only in case would be the same relation.
        other = self._by_lower_name.get(model.name.lower())
        if other is not None:
            raise ProjectError(
                f"two models are named {model.name!r} (also {other.location})",
                path=model.location.path,
                model=model.name,
            )
        self.models[model.name] = model
        self._by_lower_name[model.name.lower()] = model
        if self.dbt is not None:  # for `ref('m').schema` in the models loaded after it
            database = str((self.renderer.target or {}).get("database") or "")
            self.renderer.relations[model.name] = {
                "database": database,
                "schema": model.schema,
                "alias": model.alias or model.name,
            }

    # models ---------------------------------------------------------------------------------

    def _common(
        self, name: str, props: NodeProperties | None, config: dict[str, Any], rel: str, resource: str
    ) -> dict[str, Any]:
        tags = config.get("tags") or []
        schema, alias = self._relation_names(name, config, rel, resource)
        return {
            "schema": schema,
            "alias": alias,
            "description": props.description if props else "",
            "columns": tuple(props.columns) if props else (),
            "tags": tuple([tags] if isinstance(tags, str) else tags),
            "owner": config.get("owner") or (config.get("meta") or {}).get("owner"),
        }

    def _relation_names(
        self, name: str, config: dict[str, Any], rel: str, resource: str
    ) -> tuple[str, str | None]:
        """The schema and the alias of a node's view: `schema` and `alias` configs as they are
        in a tidegate project; in a dbt project, what `generate_schema_name` and
        `generate_alias_name` (dbt's, or the project's own) make of them."""
        custom_alias = config.get("alias")
        if self.dbt is None:
            alias = str(custom_alias) if custom_alias else None
            return str(config.get("schema") or self.config.default_schema), alias
        node = self._node(name, rel, resource, config)
        names = []
        for macro, custom in (
            ("generate_schema_name", config.get("schema")),
            ("generate_alias_name", custom_alias),
        ):
            if self.renderer.is_dbts(macro):  # dbt's own: the same names, without Jinja
                value = _dbt_name(macro, custom, node, self.renderer.target or {})
            else:
                rendered = self.renderer.call_macro(
                    self.renderer.find_macro(macro), rel, None, custom, node, node=node
                )
                value = rendered.text.strip()
            if not _MODEL_NAME.match(value):
                raise ProjectError(
                    f"{macro} made {value!r}, which is not a valid name (letters, digits and _)",
                    path=rel,
                    model=name,
                )
            names.append(value)
        return names[0], (names[1] if names[1] != name else None)

    def _seed(self, path: Path, props: NodeProperties | None) -> Model | None:
        folder = self._folder_config("seeds", path, self.config.seed_paths)
        config = {**folder.values, **(props.config if props else {})}
        if not self._enabled(path.stem, self._rel(path), config):
            return None
        declared = [
            (folder.values.get("column_types"), DBT_PROJECT, folder.lines.get("column_types")),
            (props.config.get("column_types") if props else None, *_at(props, self._rel(path))),
        ]
        for types, where_path, where_line in declared:
            if types is not None and not isinstance(types, dict):
                raise ConfigError(
                    "column_types must map column names to types", path=where_path, line=where_line
                )
        column_types = {**(declared[0][0] or {}), **(declared[1][0] or {})}  # merged, as dbt merges them
        delimiter = str(config.get("delimiter") or ",")
        if len(delimiter) != 1:
            raise ConfigError(f"delimiter must be one character, not {delimiter!r}", path=self._rel(path))
        data = path.read_bytes()
        table = read_seed(data, self._rel(path), delimiter)
        where = _declared(declared, self._rel(path))
        typed = check_column_types(
            column_types, table, path.stem, self.config.dialect, where, ignore_unknown=self.dbt is not None
        )
        return Model(
            name=path.stem,
            kind=Kind.SEED,
            language=Language.CSV,
            location=Location(self._rel(path)),
            seed_hash=hashlib.sha256(data).hexdigest(),
            column_types=typed,
            delimiter=delimiter,
            narrow_integers=self.dbt is not None,
            **self._hooks(
                [folder.values, props.config if props else {}],
                self._rel(path),
                path.stem,
                self._with_relation(
                    self._node(path.stem, self._rel(path), "seed", config),
                    path.stem,
                    config,
                    self._rel(path),
                    "seed",
                ),
            ),
            **self._common(path.stem, props, config, self._rel(path), "seed"),
        )

    def _sql_model(self, path: Path, props: NodeProperties | None) -> Model | None:
        rel, name = self._rel(path), path.stem
        text = self._read(path)
        folder = self._folder_config("models", path, self.config.model_paths)
        defined = {**folder.values, **(props.config if props else {})}
        node = self._node(name, rel, "model", defined)
        so_far = Rendered("")
        try:
            rendered = self.renderer.render(text, rel, node=node, collected=so_far)
        except ProjectError as error:
            return self._unbuildable_ephemeral(name, rel, props, {**defined, **so_far.config}, text, error)
        config = {**defined, **rendered.config}
        if "tags" in rendered.config and "tags" in defined:  # dbt adds tags up
            tags = [*_tags(defined["tags"]), *_tags(rendered.config["tags"])]
            config["tags"] = list(dict.fromkeys(tags))
        if not self._enabled(name, rel, config):
            return None
        node = self._with_relation({**node, "config": config}, name, config, rel, "model")
        if rendered.uses_this_names or rendered.reads_config:
            # `this.schema`, `config.get(...)`: render again with the names and the final configs
            rendered = self.renderer.render(text, rel, node=node)
        origin = self._origin(folder, "materialized", config, defined, rendered.config)
        if "materialized" in rendered.config:
            origin = (rel, rendered.config_lines.get("materialized"))
        kind = self._kind(config, rel, name, origin)
        sql = self._query(
            rendered.text,
            rel,
            name,
            self.unbuildable.keep_unparsed(name) if kind is Kind.EPHEMERAL else None,
            source=text,
        )
        incremental_sql = None
        env_digests = rendered.env_digests
        if kind is Kind.INCREMENTAL:
            incremental = self.renderer.render(text, rel, incremental=True, node=node)
            incremental_sql = self._query(incremental.text, rel, name, source=text)
            env_digests = tuple(sorted({*env_digests, *incremental.env_digests}))
        for ref, line in rendered.refs:
            self._pending_refs.append((name, ref, rel, line))
        configs = [folder.values, props.config if props else {}, rendered.config]
        hooks = self._hooks(configs, rel, name, node)
        if kind is Kind.INCREMENTAL:
            run = self._hooks(configs, rel, name, node, incremental=True)
            hooks["incremental_hooks"] = (run["pre_hooks"], run["post_hooks"])
        return Model(
            name=name,
            kind=kind,
            language=Language.SQL,
            location=Location(rel),
            sql=sql,
            incremental_sql=incremental_sql,
            env_digests=env_digests,
            refs=ref_names(rendered),
            sources=tuple(dict.fromkeys(rendered.sources)),
            unique_key=_keys(config.get("unique_key")),
            incremental_strategy=self._strategy(config),
            contract=read_contract(
                {} if self.dbt is not None and kind is Kind.EPHEMERAL else config,  # dbt ignores it
                tuple(props.columns) if props else (),
                tuple(props.constraints) if props else (),
                kind,
                props.location if props else Location(rel),
                name,
                self.config.dialect,
            ),
            **hooks,
            **self._common(name, props, config, rel, "model"),
        )

    def _unbuildable_ephemeral(
        self,
        name: str,
        rel: str,
        props: NodeProperties | None,
        config: dict[str, Any],
        text: str,
        error: ProjectError,
    ) -> Model | None:
        """An ephemeral model whose Jinja tidegate cannot render: dbt never runs an ephemeral
        model, only inlines it where it is read, so it loads (as its template) and is an error
        only if something reads it (see `ephemerals`). Any other model's error is raised."""
        if config.get("materialized") != "ephemeral":
            raise error
        if not self._enabled(name, rel, config):
            return None
        self.unbuildable.add(name, error)
        return Model(
            name=name,
            kind=Kind.EPHEMERAL,
            language=Language.SQL,
            location=Location(rel),
            sql=text,
            **self._common(name, props, config, rel, "model"),
        )

    def _hooks(
        self,
        configs: list[dict[str, Any]],
        path: str,
        name: str,
        node: dict[str, Any],
        *,
        incremental: bool = False,
    ) -> dict[str, Any]:
        """`pre_hooks` and `post_hooks` of a node: the hooks of each config level add up, the
        most general first (dbt_project.yml's folders, properties, then `config()`), each
        rendered with `{{ this }}` as a placeholder."""
        if all(config.get(key) is None for config in configs for key in _HOOK_KEYS):
            return {"pre_hooks": (), "post_hooks": ()}  # most nodes: nothing to render
        found: dict[str, Any] = {}
        for which in ("pre_hook", "post_hook"):
            texts: list[str] = []
            for config in configs:
                for key in dict.fromkeys([which, which.replace("_", "-")]):
                    for hook in hook_list(config.get(key)):
                        texts.append(self._hook_text(hook, path, name, which))
            rendered = [self._render_hook(text, path, node, incremental=incremental) for text in texts]
            found[f"{which}s"] = tuple(sql for sql in rendered if sql)
        return found

    def _hook_text(self, hook: Any, path: str, name: str | None, which: str) -> str:
        what = which.replace("_", "-")
        if isinstance(hook, dict):
            if hook.get("transaction", True) is False:
                raise ProjectError(
                    f"{what} with transaction: false is not supported: tidegate runs hooks in the "
                    "transaction of the build, so that a failed hook leaves nothing",
                    path=path,
                    model=name,
                )
            hook = hook.get("sql")
        if not isinstance(hook, str):
            raise ProjectError(f"a {what} is SQL text (or {{sql: ...}})", path=path, model=name)
        return hook

    def _render_hook(
        self, text: str, path: str, node: dict[str, Any] | None, *, incremental: bool = False
    ) -> str:
        rendered = self.renderer.render(text, path, node=node, incremental=incremental)
        if rendered.refs:
            raise ProjectError(
                f"ref('{rendered.refs[0][0]}') in a hook is not supported: hooks may use "
                "{{ this }}, source(), var() and macros",
                path=path,
            )
        return rendered.text.strip().rstrip(";").strip()

    def _run_hooks(self, key: str) -> tuple[str, ...]:
        """dbt_project.yml's `on-run-start` or `on-run-end`, rendered with the project's context."""
        assert self.dbt is not None
        data = self.dbt.data
        line = data.line_of(key) if key in data else None
        hooks = []
        for hook in hook_list(data.get(key)):
            try:
                text = self._hook_text(hook, DBT_PROJECT, None, key)
                sql = self._render_hook(text, DBT_PROJECT, None)
            except ProjectError as error:
                raise ProjectError(error.message, path=DBT_PROJECT, line=line, hint=error.hint) from None
            if THIS_PLACEHOLDER in sql.lower():
                raise ProjectError(f"{key}: {{{{ this }}}} has no meaning here", path=DBT_PROJECT, line=line)
            if sql:
                hooks.append(sql)
        return tuple(hooks)

    def _origin(
        self,
        folder: FolderConfig,
        key: str,
        config: dict[str, Any],
        defined: dict[str, Any],
        rendered: dict[str, Any],
    ) -> tuple[str, int | None] | None:
        """dbt_project.yml and the line, when `key` of `config` comes from a folder config."""
        if key in folder.lines and key not in rendered and defined.get(key) == folder.values.get(key):
            return DBT_PROJECT, folder.lines[key]
        return None

    def _query(
        self,
        text: str,
        path: str,
        model: str | None,
        on_error: OnError | None = None,
        source: str | None = None,
    ) -> str:
        """The normalized form of one rendered query: a placeholder until the load resolves
        its queries (see `tidegate.project.queries`); `source` is the file's text it was rendered
        from, for the line of a syntax error."""
        return self.queries.normalized(text, path, model, on_error, source)

    def _test_query(self, test: DataTest) -> str:
        """The normalized query of a generic test; errors name the line that declares it, as
        its SQL comes from the properties file (a column, an argument, a `where`)."""
        path, line = test.location.path, test.location.line

        def on_error(error: ProjectError) -> ProjectError:
            return ProjectError(f"test {test.name!r}: {error.message}", path=path, line=line, hint=error.hint)

        return self._query(test.sql, path, None, on_error)

    def _kind(
        self, config: dict[str, Any], path: str, name: str, origin: tuple[str, int | None] | None = None
    ) -> Kind:
        # dbt's models are views unless configured otherwise; tidegate's are tables
        materialized = str(config.get("materialized") or ("view" if self.dbt else "table"))
        where_path, where_line = origin if origin else (path, None)
        kind = materializations.kind(
            materialized, self.renderer.materializations, where_path, where_line, name
        )
        if kind is Kind.INCREMENTAL:
            materializations.check_incremental(config, path, name, dbt=self.dbt is not None)
        return kind

    def _strategy(self, config: dict[str, Any]) -> str:
        return materializations.strategy(config, dbt=self.dbt is not None)

    def _python_model(self, path: Path, props: NodeProperties | None) -> Model | None:
        rel, name = self._rel(path), path.stem
        source = self._read(path)
        try:
            tree = ast.parse(source, filename=rel)
        except SyntaxError as error:
            raise ProjectError(
                f"Python syntax error: {error.msg}", path=rel, line=error.lineno, model=name
            ) from None
        function = next(
            (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "model"), None
        )
        if function is None:
            raise ProjectError("a Python model defines a function model(...)", path=rel, model=name)
        folder = self._folder_config("models", path, self.config.model_paths)
        calls = (
            dbt_python.read_calls(tree, function, rel, name) if dbt_python.is_dbt_model(function) else None
        )
        literal = calls.config if calls is not None else _literal_config(tree, rel, name)
        config = {**folder.values, **(props.config if props else {}), **literal}
        if not self._enabled(name, rel, config):
            return None
        node = self._with_relation(self._node(name, rel, "model", config), name, config, rel, "model")
        if calls is not None:
            read = self._dbt_python(calls, config, rel, name, node)
        else:  # tidegate's: each parameter is a parent
            read = {"kind": Kind.TABLE, "refs": tuple(arg.arg for arg in function.args.args)}
            for ref in read["refs"]:
                self._pending_refs.append((name, ref, rel, function.lineno))
        return Model(
            name=name,
            language=Language.PYTHON,
            location=Location(rel),
            python_source=ast.unparse(_without_docstrings(tree)),
            **read,
            **self._hooks([folder.values, props.config if props else {}, literal], rel, name, node),
            **self._common(name, props, config, rel, "model"),
        )

    def _dbt_python(
        self, calls: dbt_python.Calls, config: dict[str, Any], rel: str, name: str, node: dict[str, Any]
    ) -> dict[str, Any]:
        """What a dbt Python model reads, resolved as for SQL: its refs (versions, packages),
        its sources (a source that is a seed of the project reads the seed), and the configs its
        code asks for. It is a table unless `materialized` is `incremental`, as in dbt."""
        materialized = str(config.get("materialized") or "table")  # dbt's default for Python
        if materialized not in ("table", "incremental"):
            raise ProjectError(
                f"a Python model is a table or an incremental model, not {materialized!r}",
                path=rel,
                model=name,
            )

        def ref(call: dbt_python.Call) -> str:
            version = call.kwargs.get("v", call.kwargs.get("version"))
            try:
                model = self.renderer.resolve_ref(call.args, version, rel, partial(int, call.line))
            except ProjectError as error:
                raise ProjectError(error.message, path=rel, line=call.line, model=name) from None
            self._pending_refs.append((name, model, rel, call.line))
            return model

        relation = node["relation"]
        this = {
            "database": relation["database"],
            "schema": relation["schema"],
            "identifier": relation["alias"],
        }
        return {
            "kind": self._kind({**config, "materialized": materialized}, rel, name),
            "unique_key": _keys(config.get("unique_key")),
            "incremental_strategy": self._strategy(config),
            **dbt_python.model_fields(
                calls, config, ref, self.source_relations, self.seed_sources, this, rel, name
            ),
        }

    # dbt snapshots (models of kind scd2) --------------------------------------------------

    def _snapshot_definitions(self, documents: list[tuple[str, Any]]) -> Iterator[scd2.SnapshotDefinition]:
        for path in self._files(self.config.snapshot_paths, ".sql"):
            yield from scd2.blocks(self._read(path), self._rel(path))
        yield from scd2.yaml_definitions(documents)

    def _snapshot(self, definition: scd2.SnapshotDefinition, props: NodeProperties | None) -> Model | None:
        """A dbt snapshot: configs from dbt_project.yml's `snapshots:` (by folder, then the
        snapshot's name), its properties, then its block's `config()`; `target_schema` is the
        schema as it is (dbt's legacy config), `schema` goes through generate_schema_name."""
        name, rel = definition.name, definition.path
        folder = FolderConfig()
        if self.dbt is not None:
            base = next(
                (f for f in self.config.snapshot_paths if (self.root / rel).is_relative_to(self.root / f)),
                None,
            )
            folders = list(Path(rel).relative_to(base).parent.parts) if base else []
            folder = self._rendered(self.dbt.folder_config("snapshots", [*folders, name]))
        defined = {**folder.values, **(props.config if props else {})}
        node = self._node(name, rel, "snapshot", defined)
        try:
            rendered = self.renderer.render(definition.text, rel, node=node)
        except ProjectError as error:
            if not definition.from_yaml:
                raise
            raise ProjectError(error.message, path=rel, line=definition.line, model=name) from None
        config = {**defined, **rendered.config}
        if not self._enabled(name, rel, config):
            return None
        strategy = scd2.scd2_config(config, name, rel, definition.line)
        for ref, ref_line in rendered.refs:
            self._pending_refs.append((name, ref, rel, definition.line if definition.from_yaml else ref_line))
        common = self._common(
            name, props, {k: v for k, v in config.items() if k != "target_schema"}, rel, "snapshot"
        )
        if config.get("target_schema"):
            common["schema"] = str(config["target_schema"])
        return Model(
            name=name,
            kind=Kind.SCD2,
            language=Language.SQL,
            location=Location(rel, definition.line),
            sql=self._query(rendered.text, rel, name),
            refs=ref_names(rendered),
            sources=tuple(dict.fromkeys(rendered.sources)),
            unique_key=strategy.unique_key,
            scd2=strategy,
            **common,
        )

    # tests and dashboards -------------------------------------------------------------------

    def _check_properties(self, properties: Properties) -> None:
        for name, node in properties.nodes.items():
            if name in self.models or name in self.disabled:
                continue
            if self.dbt is not None:  # dbt only warns, and ignores those properties and their tests
                continue
            raise ConfigError(
                f"properties are declared for {name!r}, but there is no model or seed of that name",
                path=node.location.path,
                line=node.location.line,
            )
        for unit_test in properties.unit_tests:
            if unit_test.model not in self.models and unit_test.model not in self.disabled:
                raise ConfigError(
                    f"unit test {unit_test.name!r} tests unknown model {unit_test.model!r}",
                    path=unit_test.location.path,
                    line=unit_test.location.line,
                )

    def _data_tests(self, properties: Properties, sources: dict[str, str]) -> tuple[DataTest, ...]:
        tests = []
        readers: dict[str, list[str]] = {}
        """Source (`source.table`) -> the models that read it."""
        for name, model in self.models.items():
            for source in model.sources:
                readers.setdefault(source, []).append(name)
        specs = [  # dbt skips the tests of disabled models
            spec for node in properties.nodes.values() if node.name in self.models for spec in node.tests
        ]
        dbt_named: set[str] = set()
        for spec in [*specs, *properties.source_tests]:
            spec = self._rendered_spec(spec)
            if spec.config.get("enabled", True) is False:
                continue
            seed = self.seed_sources.get(spec.model) if spec.relation else None
            if seed is not None:  # the source is a seed of this project: test the seed
                spec = dataclasses.replace(spec, relation=ref_placeholder(seed))
            macro = self.renderer.find_macro(_test_macro(spec.test))
            if macro is None and spec.test not in GENERIC_TESTS:
                raise ConfigError(
                    f"unknown test {spec.test!r}; known generic tests: "
                    f"{', '.join(GENERIC_TESTS)} and {{% test %}} blocks in macros or tests/generic",
                    path=spec.location.path,
                    line=spec.location.line,
                )
            if macro is None:
                test = build_generic_test(spec, sources, self.renderer)
            else:
                test = build_custom_test(spec, macro, self.renderer, sources)
            dbt_names = dbt_test_names(spec)
            if self.dbt is not None:  # dbt's own name, which tells apart tests that differ by arguments
                name = (
                    dbt_names[0] if dbt_names[0] not in dbt_named else f"{dbt_names[0]}_{test_digest(spec)}"
                )
                dbt_named.add(name)
                test = dataclasses.replace(test, name=name)
            test = dataclasses.replace(test, sql=self._test_query(test))
            if macro is not None:
                for ref in test.models[0 if spec.relation else 1 :]:
                    self._pending_refs.append((test.name, ref, spec.location.path, spec.location.line))
            if spec.relation:  # a source's test: planned with the models that read the source
                own = (seed,) if seed is not None else ()
                reading = readers.get(spec.model, [])
                test = dataclasses.replace(test, models=tuple(dict.fromkeys([*own, *reading, *test.models])))
            tests += self._configured(test, spec.config, dbt_names)
        for path in self._files(self.config.test_paths, ".sql"):
            if self._is_generic_test(path):
                continue
            rel = self._rel(path)
            text = self._read(path)
            rendered = self.renderer.render(text, rel)
            sql = self._query(rendered.text, rel, None, source=text)
            for ref, line in rendered.refs:
                self._pending_refs.append((path.stem, ref, rel, line))
            test = DataTest(
                name=path.stem, kind="singular", sql=sql, models=ref_names(rendered), location=Location(rel)
            )
            tests += self._configured(test, dict(rendered.config), (path.stem, path.stem))
        names: dict[str, DataTest] = {}
        for test in tests:
            if test.name in names:
                raise ConfigError(
                    f"two tests are named {test.name!r} (also {names[test.name].location}); give one a name:",
                    path=test.location.path,
                    line=test.location.line,
                )
            names[test.name] = test
        return tuple(tests)

    def _rendered_spec(self, spec: TestSpec) -> TestSpec:
        """A test with the Jinja of its configs rendered, as dbt renders them when it parses
        (`severity: "{{ 'warn' if target.type == 'spark' else 'error' }}"`, `enabled: ...`)."""
        if not any(_has_jinja(value) for value in spec.config.values()):
            return spec
        path, line = spec.location.path, spec.location.line
        config = {key: self._render_value(value, line, path) for key, value in spec.config.items()}
        return dataclasses.replace(spec, config=config, where=config.get("where"))

    def _configured(self, test: DataTest, own: dict[str, Any], names: tuple[str, str]) -> list[DataTest]:
        """`test` with the configs it sets itself over those `dbt_project.yml` gives its folder
        (`data_tests:` or `tests:`): its severity, and where it keeps its failing rows; none when
        they disable it. `names` are dbt's name and alias of the test, which name that relation."""
        folder = self._test_folder_config(test.location.path, names[0])
        config = {**folder.values, **own}
        if config.get("enabled", True) is False:
            return []

        def origin(key: str) -> tuple[str | None, int | None]:
            if key in own or key not in folder.lines:
                return test.location.path, test.location.line
            return DBT_PROJECT, folder.lines[key]

        severity = str(config.get("severity", test.severity.value)).lower()
        if severity not in ("error", "warn"):
            path, line = origin("severity")
            raise ConfigError(f"severity must be error or warn, not {severity!r}", path=path, line=line)
        test = dataclasses.replace(test, severity=Severity(severity), thresholds=thresholds(config))
        key = "store_failures_as" if config.get("store_failures_as") is not None else "store_failures"
        kind = store_failures_as(config, *origin(key))
        if kind is None:
            return [test]
        schema, name = self._audit_relation(test, config, names)
        check_audit_schema(schema, test.name, *origin("schema"))
        return [
            dataclasses.replace(
                test, store_failures=True, store_failures_as=kind, audit_schema=schema, audit_name=name
            )
        ]

    def _test_folder_config(self, rel: str, name: str) -> FolderConfig:
        """`dbt_project.yml`'s test configs for the test `name` declared in `rel`: as dbt does,
        the test sits under the folders of its file, below the models' or tests' folder."""
        if self.dbt is None:
            return FolderConfig()
        path, projects = Path(rel), [self.dbt]
        package = self._package_of_rel(rel)
        if package is not None:  # the package's dbt_project.yml, then the root's `<package>:` configs
            path = (self.root / rel).relative_to(package.root)
            projects = [package.dbt, dataclasses.replace(self.dbt, name=package.name)]
        parts = [*path.parts[1:-1], name]
        config = FolderConfig()
        for project in projects:
            for resource in ("tests", "data_tests"):
                config = merge_configs(config, project.folder_config(resource, parts))
        return config

    def _audit_relation(
        self, test: DataTest, config: dict[str, Any], names: tuple[str, str]
    ) -> tuple[str, str]:
        """dbt's schema and name of the relation keeping a test's failing rows in prod: the
        test's `schema` config (dbt's `dbt_test__audit` by default) through
        `generate_schema_name`, and its `alias` (or dbt's) through `generate_alias_name`."""
        name, alias = names
        alias = str(config.get("alias") or alias)
        if self.dbt is None:  # as a model's: the schema config as it is
            return str(config.get("schema") or f"{self.config.default_schema}_{AUDIT_SCHEMA}"), alias
        custom = {"schema": config.get("schema") or AUDIT_SCHEMA, "alias": alias}
        schema, generated = self._relation_names(name, custom, test.location.path, "test")
        return schema, generated or name

    def _dashboards(self, sources: dict[str, Source]) -> Iterator[Dashboard]:
        seen: dict[str, Location] = {}
        names = DashboardNames(self.sql_cache, self.models.values(), sources, self.seed_sources, self.config)
        for path in self._files(self.config.dashboard_paths, ".yml", ".yaml"):
            rel = self._rel(path)
            data = self._yaml(path) or {}
            entries = data.get("dashboards") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise ConfigError("a dashboards file has a dashboards: list", path=rel, line=1)
            for index, entry in enumerate(entries):
                dashboard = self._dashboard(
                    entry, rel, entries.line_of(index) if isinstance(entries, LineList) else None, names
                )
                if dashboard.name in seen:
                    raise ConfigError(
                        f"two dashboards are named {dashboard.name!r} (also {seen[dashboard.name]})",
                        path=rel,
                        line=dashboard.location.line,
                    )
                seen[dashboard.name] = dashboard.location
                yield dashboard

    def _dashboard(self, entry: Any, rel: str, line: int | None, names: DashboardNames) -> Dashboard:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError("each dashboard needs a name", path=rel, line=line)
        queries = []
        for index, query in enumerate(entry.get("queries") or []):
            query_line = entry["queries"].line_of(index) if isinstance(entry["queries"], LineList) else line
            if not isinstance(query, dict) or "sql" not in query:
                raise ConfigError("each dashboard query needs sql:", path=rel, line=query_line)
            query_name = str(query.get("name") or f"query_{index + 1}")
            sql = str(query["sql"])
            sql_line = query.line_of("sql") if isinstance(query, LineDict) else query_line

            def in_yaml(error: ProjectError, sql: str = sql, sql_line: int | None = sql_line) -> ProjectError:
                return ProjectError(
                    error.message,
                    path=rel,
                    line=_yaml_sql_line(sql, sql_line, error.line),
                    model=error.model,
                    hint=error.hint,
                )

            try:
                rendered = self.renderer.render(sql, rel)
                plain = names.resolve(rendered.text, path=rel, model=str(entry["name"]))
            except ProjectError as error:
                raise in_yaml(error) from None
            normalized = self._query(plain.sql, rel, str(entry["name"]), in_yaml)
            for ref, ref_line in rendered.refs:
                self._pending_refs.append(
                    (str(entry["name"]), ref, rel, _yaml_sql_line(sql, sql_line, ref_line))
                )
            queries.append(
                DashboardQuery(
                    query_name,
                    normalized,
                    tuple(dict.fromkeys([*ref_names(rendered), *plain.refs])),
                    tuple(dict.fromkeys([*rendered.sources, *plain.sources])),
                    plain.unresolved,
                    query_line,
                )
            )
        owner = entry.get("owner")
        if isinstance(owner, dict):
            owner = owner.get("email") or owner.get("name")
        return Dashboard(
            name=str(entry["name"]),
            queries=tuple(queries),
            location=Location(rel, line),
            description=str(entry.get("description") or ""),
            owner=owner,
            url=entry.get("url"),
        )

    def _check_references(self, project: Project) -> None:
        for user, ref, path, line in self._pending_refs:
            if ref in self.disabled and ref not in self.models:
                raise ProjectError(
                    f"ref('{ref}') names a disabled model ({self.disabled[ref]} has enabled: false)",
                    path=path,
                    line=line,
                    model=user,
                )
            if ref not in self.models:
                raise ProjectError(
                    f"ref('{ref}') names no model, seed or snapshot of this project",
                    path=path,
                    line=line,
                    model=user,
                    hint=_did_you_mean(ref, self.models),
                )
        for test in project.tests:
            for model in test.models:
                if model not in self.models:
                    raise ProjectError(
                        f"test {test.name!r} is declared on unknown model {model!r}",
                        path=test.location.path,
                        line=test.location.line,
                    )


_HOOKS = frozenset({"pre_hook", "post_hook"})
_HOOK_KEYS = ("pre_hook", "pre-hook", "post_hook", "post-hook")


def _at(props: NodeProperties | None, rel: str) -> tuple[str, int | None]:
    """The file and line of a node's properties, else its own file."""
    return (props.location.path, props.location.line) if props is not None else (rel, None)


def _declared(declared: list[tuple[Any, str, int | None]], rel: str) -> Where:
    """Where each entry of a mapping config (a seed's `column_types`) is declared: its line in
    the last of `declared` (mappings, each with its file and line) that holds it, else the
    node's own file."""

    def where(name: str) -> tuple[str, int | None]:
        for value, path, line in reversed(declared):
            if isinstance(value, dict) and name in value:
                return path, value.line_of(name) if isinstance(value, LineDict) else line
        return rel, None

    return where


def _dbt_name(macro: str, custom: Any, node: dict[str, Any], target: Any) -> str:
    """What dbt's own `generate_schema_name` or `generate_alias_name` (see
    `tidegate.project.dbt_builtins`) makes of `custom`: `<target schema>_<custom>` or the
    target's schema; the custom alias, `<name>_v<version>` or the name."""
    if macro == "generate_schema_name":
        schema = str(target.get("schema"))
        return schema if custom is None else f"{schema}_{str(custom).strip()}"
    if custom:
        return str(custom).strip()
    if node.get("version"):
        return f"{node['name']}_v{str(node['version']).replace('.', '_')}"
    return str(node["name"])


def _with_queries(project: Project, normalized: dict[str, str]) -> Project:
    """`project` with the placeholders of its queries replaced by the normalized queries."""
    if not normalized:
        return project

    def sql(text: str) -> str:
        return normalized.get(text, text)

    models = {
        name: dataclasses.replace(
            model,
            sql=sql(model.sql),
            incremental_sql=sql(model.incremental_sql) if model.incremental_sql is not None else None,
        )
        if model.sql in normalized or model.incremental_sql in normalized
        else model
        for name, model in project.models.items()
    }
    tests = tuple(
        dataclasses.replace(test, sql=sql(test.sql)) if test.sql in normalized else test
        for test in project.tests
    )
    dashboards = tuple(
        dataclasses.replace(
            dashboard,
            queries=tuple(dataclasses.replace(query, sql=sql(query.sql)) for query in dashboard.queries),
        )
        for dashboard in project.dashboards
    )
    return dataclasses.replace(project, models=models, tests=tests, dashboards=dashboards)


def _fqn_parts(rel: str) -> list[str]:
    """dbt's fqn of the node in `rel` (a relative POSIX path, as `_rel` gives), after the
    project's name: its folders and stem below the resource's folder
    (`models/staging/stg_orders.sql` -> `staging`, `stg_orders`)."""
    *folders, name = rel.split("/")
    return [*folders, _without_suffix(name)][1:]


def _without_suffix(name: str) -> str:
    """A file name without its suffix, as pathlib's `with_suffix("")` makes it."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def _has_jinja(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_jinja(item) for item in value)
    if isinstance(value, dict):
        return any(_has_jinja(item) for item in value.values())
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _yaml_sql_line(sql: str, sql_line: int | None, line_in_sql: int | None) -> int | None:
    """A line of SQL embedded under `sql:` as a line of the YAML file: a multi-line query is a
    block scalar, which starts on the line after the key."""
    if sql_line is None or line_in_sql is None or "\n" not in sql.strip():
        return sql_line
    return sql_line + line_in_sql


def _tags(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(tag) for tag in value or []]


def _test_macro(test: str) -> str:
    """The macro of a generic test: `test_<name>`, or `<package>.test_<name>`."""
    package, _, name = test.rpartition(".")
    return f"{package}.test_{name}" if package else f"test_{test}"


def _keys(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _literal_config(tree: ast.Module, path: str, name: str) -> dict[str, Any]:
    """A Python model's module-level `config = {...}`, which must be a literal."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "config" for target in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ProjectError(
                    "config must be a literal dict", path=path, line=node.lineno, model=name
                ) from None
            if not isinstance(value, dict):
                raise ProjectError("config must be a dict", path=path, line=node.lineno, model=name)
            return value
    return {}


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """Docstrings do not change data, so they do not count in a Python model's fingerprint."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _did_you_mean(name: str, candidates: dict[str, Model]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean {close[0]!r}?" if close else None
