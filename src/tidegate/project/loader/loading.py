"""The order of a load: properties and macros first, then seeds, SQL and Python models and
snapshots (each rendered once, its queries parsed in a batch at the end), then data tests,
dashboards and exposures, and last the checks that need every node."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tidegate.project.cache import CACHE_DIR, SqlCache, YamlCache
from tidegate.project.config import ProjectConfig, load_config
from tidegate.project.jinja import Renderer
from tidegate.project.loader import sources as special_sources
from tidegate.project.loader.dashboard_files import dashboards, exposures
from tidegate.project.loader.data_tests import data_tests
from tidegate.project.loader.dbt_settings import dbt_settings
from tidegate.project.loader.discovery import ProjectFiles
from tidegate.project.loader.folder_configs import FolderConfigs
from tidegate.project.loader.hooks import Hooks
from tidegate.project.loader.nodes import Nodes
from tidegate.project.loader.python_model import python_model
from tidegate.project.loader.seed_model import seed_model
from tidegate.project.loader.snapshot_model import snapshot_definitions, snapshot_model
from tidegate.project.loader.sql_model import sql_model
from tidegate.project.loader.state import Collected, LoadState
from tidegate.project.model import Model, ref_placeholder
from tidegate.project.project import Project
from tidegate.project.properties import Properties, read_properties
from tidegate.project.queries import Queries
from tidegate.project.validation import check_properties, check_references


class Loader:
    """Loads one project directory."""

    def __init__(self, root: Path, variables: dict[str, Any]) -> None:
        self.root = root
        self.config: ProjectConfig = load_config(root)
        self.dbt = self.config.dbt
        self.variables = {**self.config.vars, **variables}
        self.command_line_variables = dict(variables)
        self.sql_cache = SqlCache(root, self.config.dialect)
        self.yaml_cache = YamlCache(root)
        self.queries = Queries(self.sql_cache, self.config.dialect)
        self.files = ProjectFiles(root, self.config, self.yaml_cache)
        self.collected = Collected()

    def load(self) -> Project:
        try:
            try:
                project, state = self._load()
            except Exception:
                # Queries are parsed after rendering: one read before this error that fails is
                # the error to report, as when each query was parsed as soon as it was read.
                self.queries.resolve()
                raise
            project = _with_queries(project, self.queries.resolve())
            self.collected.unbuildable.check(self.collected.refs, project)
        finally:
            self.queries.close()
        state.renderer.close()
        self.sql_cache.save()
        self.yaml_cache.save()
        if self.dbt is not None:
            project = dataclasses.replace(
                project,
                on_run_start=state.hooks.on_run(self.dbt, "on-run-start"),
                on_run_end=state.hooks.on_run(self.dbt, "on-run-end"),
            )
        return project

    def _load(self) -> tuple[Project, LoadState]:
        documents = self._documents()
        properties = read_properties(documents)
        special_sources.read_external_sources(properties, self.config)
        state = self._state(properties)
        self._load_nodes(state, properties, documents)
        check_properties(properties, self.collected.models, self.collected.disabled, dbt=self.dbt is not None)
        sources = {f"{key[0]}.{key[1]}": source for key, source in properties.sources.items()}
        seeds = state.seed_sources
        tested = {
            key: ref_placeholder(seeds[key]) if key in seeds else s.relation for key, s in sources.items()
        }
        project = Project(
            root=self.root,
            config=self.config,
            models=self.collected.models,
            sources=sources,
            tests=data_tests(state, properties, tested),
            unit_tests=tuple(special_sources.given_seeds(test, seeds) for test in properties.unit_tests),
            dashboards=tuple(dashboards(state, sources)),
            exposures=exposures(state, properties, sources),
        )
        check_references(project, self.collected.refs, self.collected.disabled)
        return project, state

    def _load_nodes(self, state: LoadState, properties: Properties, documents: list[tuple[str, Any]]) -> None:
        """Seeds first (a source may be one), then SQL and Python models, then snapshots."""
        config, files, nodes = self.config, self.files, properties.nodes
        for path in files.with_packages(config.seed_paths, "seeds", ".csv"):
            self._add(state, seed_model(state, path, nodes.get(path.stem)))
        if self.dbt is not None:
            found = special_sources.seed_sources(properties, self.collected.models, state.nodes.database)
            state.seed_sources.update(found)
        state.renderer.read_sources_from(state.seed_sources)
        for path in files.with_packages(config.model_paths, "models", ".sql"):
            self._add(state, sql_model(state, path, nodes.get(path.stem)))
        for path in files.with_packages(config.model_paths, "models", ".py"):
            self._add(state, python_model(state, path, nodes.get(path.stem)))
        for definition in snapshot_definitions(state, documents):
            self._add(state, snapshot_model(state, definition, nodes.get(definition.name)))

    def _documents(self) -> list[tuple[str, Any]]:
        """Every YAML file of the models', seeds' and snapshots' folders (properties, sources,
        YAML snapshots) and of the packages' models and seeds, with its path."""
        config, files = self.config, self.files
        own = [
            path
            for folders in (config.model_paths, config.seed_paths, config.snapshot_paths)
            for path in dict.fromkeys(files.files(folders, ".yml", ".yaml"))
        ]
        packages = dict.fromkeys(
            [*files.package_files("models", ".yml", ".yaml"), *files.package_files("seeds", ".yml", ".yaml")]
        )
        return [(files.rel(path), files.yaml(path)) for path in [*own, *packages]]

    def _state(self, properties: Properties) -> LoadState:
        """The parts that build nodes, with the renderer of the project's macros."""
        config, files = self.config, self.files
        macro_files = [*files.files(config.macro_paths, ".sql"), *files.generic_test_files()]
        versions = {
            stem: (name, number)
            for name, (_, stems) in properties.versions.items()
            for number, stem in stems.items()
        }
        renderer = Renderer(
            {files.rel(path): files.read(path) for path in macro_files},
            self.variables,
            {key: source.relation for key, source in properties.sources.items()},
            cache_dir=self.root / CACHE_DIR,
            dbt=dbt_settings(files, config, properties.versions, self.command_line_variables),
        )
        return LoadState(
            config=config,
            dbt=self.dbt,
            files=files,
            renderer=renderer,
            queries=self.queries,
            sql_cache=self.sql_cache,
            folders=FolderConfigs(files, self.dbt, renderer, self.command_line_variables),
            nodes=Nodes(files, config, renderer, versions),
            hooks=Hooks(renderer),
            collected=self.collected,
            source_relations={f"{key[0]}.{key[1]}": s.relation for key, s in properties.sources.items()},
        )

    def _add(self, state: LoadState, model: Model | None) -> None:
        if model is None:  # disabled
            return
        self.collected.add(model)
        if self.dbt is not None:  # for `ref('m').schema` in the models loaded after it
            state.renderer.relations[model.name] = {
                "database": state.nodes.database,
                "schema": model.schema,
                "alias": model.alias or model.name,
            }


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
