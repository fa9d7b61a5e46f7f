"""Load a project directory into a :class:`Project`.

Loading renders every model once with placeholders for refs, parses it with sqlglot and keeps the
normalized text: everything later (fingerprints, plans, builds) works from that.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tidegate.checks.generic import build_generic_test
from tidegate.errors import ConfigError, ProjectError
from tidegate.project.cache import CACHE_DIR, SqlCache
from tidegate.project.config import ProjectConfig, load_config
from tidegate.project.jinja import Renderer, ref_names
from tidegate.project.model import (
    Dashboard,
    DashboardQuery,
    DataTest,
    Kind,
    Language,
    Location,
    Model,
    Severity,
)
from tidegate.project.project import Project
from tidegate.project.properties import NodeProperties, Properties, read_properties
from tidegate.project.yamlio import LineDict, LineList, load_yaml_text

_MODEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KINDS = {kind.value: kind for kind in Kind if kind is not Kind.SEED}


def load_project(root: Path | str, *, variables: dict[str, Any] | None = None) -> Project:
    """Read, render and validate the project in `root`; every error names its file and line."""
    return _Loader(Path(root).resolve(), variables or {}).load()


class _Loader:
    def __init__(self, root: Path, variables: dict[str, Any]) -> None:
        self.root = root
        self.config: ProjectConfig = load_config(root)
        self.variables = {**self.config.vars, **variables}
        self.models: dict[str, Model] = {}
        self.sql_cache = SqlCache(root, self.config.dialect)
        self._pending_refs: list[tuple[str, str, str, int | None]] = []
        """(user, ref, file, line) of every ref seen, checked once all models are known."""

    def load(self) -> Project:
        properties = read_properties(
            [
                (self._rel(path), self._yaml(path))
                for folders in (self.config.model_paths, self.config.seed_paths)
                for path in self._files(folders, ".yml", ".yaml")
            ]
        )
        sources = {f"{key[0]}.{key[1]}": source for key, source in properties.sources.items()}
        macros = {self._rel(path): path.read_text() for path in self._files(self.config.macro_paths, ".sql")}
        self.renderer = Renderer(
            macros,
            self.variables,
            {key: s.relation for key, s in properties.sources.items()},
            cache_dir=self.root / CACHE_DIR / "jinja",
        )
        for path in self._files(self.config.seed_paths, ".csv"):
            self._add(self._seed(path, properties.nodes.get(path.stem)))
        for path in self._files(self.config.model_paths, ".sql"):
            self._add(self._sql_model(path, properties.nodes.get(path.stem)))
        for path in self._files(self.config.model_paths, ".py"):
            self._add(self._python_model(path, properties.nodes.get(path.stem)))
        self._check_properties(properties)
        tests = self._data_tests(properties, {key: s.relation for key, s in sources.items()})
        dashboards = tuple(self._dashboards())
        project = Project(
            root=self.root,
            config=self.config,
            models=self.models,
            sources=sources,
            tests=tests,
            unit_tests=tuple(properties.unit_tests),
            dashboards=dashboards,
        )
        self._check_references(project)
        self.sql_cache.save()
        return project

    # files ----------------------------------------------------------------------------------

    def _files(self, folders: list[str], *suffixes: str) -> Iterator[Path]:
        for folder in folders:
            base = self.root / folder
            if base.is_dir():
                yield from sorted(
                    path for path in base.rglob("*") if path.suffix in suffixes and path.is_file()
                )

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _yaml(self, path: Path) -> Any:
        """A project YAML file; errors name it relative to the root, like every other error."""
        return load_yaml_text(path.read_text(encoding="utf-8"), self._rel(path))

    def _add(self, model: Model) -> None:
        if not _MODEL_NAME.match(model.name):
            raise ProjectError(
                f"{model.name!r} is not a valid model name: use letters, digits and _",
                path=model.location.path,
                hint="the file name is the model name; rename the file",
            )
        # Refs become lower-case placeholders and relation names are case-insensitive, so two
        # names that differ only in case would be the same relation.
        other = next((m for m in self.models.values() if m.name.lower() == model.name.lower()), None)
        if other is not None:
            raise ProjectError(
                f"two models are named {model.name!r} (also {other.location})",
                path=model.location.path,
                model=model.name,
            )
        self.models[model.name] = model

    # models ---------------------------------------------------------------------------------

    def _common(self, name: str, props: NodeProperties | None, config: dict[str, Any]) -> dict[str, Any]:
        tags = config.get("tags") or []
        return {
            "schema": str(config.get("schema") or self.config.default_schema),
            "description": props.description if props else "",
            "columns": tuple(props.columns) if props else (),
            "tags": tuple([tags] if isinstance(tags, str) else tags),
            "owner": config.get("owner") or (config.get("meta") or {}).get("owner"),
        }

    def _seed(self, path: Path, props: NodeProperties | None) -> Model:
        config = dict(props.config) if props else {}
        column_types = config.get("column_types") or {}
        if not isinstance(column_types, dict):
            raise ConfigError("column_types must map column names to types", path=self._rel(path))
        return Model(
            name=path.stem,
            kind=Kind.SEED,
            language=Language.CSV,
            location=Location(self._rel(path)),
            seed_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
            column_types=tuple(sorted((str(k), str(v)) for k, v in column_types.items())),
            **self._common(path.stem, props, config),
        )

    def _sql_model(self, path: Path, props: NodeProperties | None) -> Model:
        rel, name = self._rel(path), path.stem
        text = path.read_text(encoding="utf-8")
        rendered = self.renderer.render(text, rel)
        config = {**(props.config if props else {}), **rendered.config}
        kind = self._kind(config, rel, name)
        sql = self._query(rendered.text, rel, name)
        incremental_sql = None
        if kind is Kind.INCREMENTAL:
            incremental = self.renderer.render(text, rel, incremental=True)
            incremental_sql = self._query(incremental.text, rel, name)
        for ref, line in rendered.refs:
            self._pending_refs.append((name, ref, rel, line))
        return Model(
            name=name,
            kind=kind,
            language=Language.SQL,
            location=Location(rel),
            sql=sql,
            incremental_sql=incremental_sql,
            refs=ref_names(rendered),
            sources=tuple(dict.fromkeys(rendered.sources)),
            unique_key=_keys(config.get("unique_key")),
            incremental_strategy=str(config.get("incremental_strategy") or "merge"),
            **self._common(name, props, config),
        )

    def _query(self, text: str, path: str, model: str | None) -> str:
        """The normalized form of one rendered query, parsed once per distinct text."""
        dialect = self.config.dialect

        def parse() -> str:
            from tidegate.project.sql import normalize, parse_query  # sqlglot: only for new text

            return normalize(parse_query(text, dialect, path=path, model=model), dialect)

        return self.sql_cache.normalized(text, parse)

    def _kind(self, config: dict[str, Any], path: str, name: str) -> Kind:
        materialized = str(config.get("materialized") or "table")
        if materialized not in _KINDS:
            raise ProjectError(
                f"unknown materialization {materialized!r} (one of {', '.join(_KINDS)})",
                path=path,
                model=name,
            )
        kind = _KINDS[materialized]
        strategy = config.get("incremental_strategy", "merge")
        if kind is Kind.INCREMENTAL and strategy not in ("merge", "append"):
            raise ProjectError("incremental_strategy must be merge or append", path=path, model=name)
        if kind is Kind.INCREMENTAL and strategy == "merge" and not config.get("unique_key"):
            raise ProjectError(
                "an incremental model with the merge strategy needs a unique_key",
                path=path,
                model=name,
                hint="set unique_key in config(), or incremental_strategy='append'",
            )
        return kind

    def _python_model(self, path: Path, props: NodeProperties | None) -> Model:
        rel, name = self._rel(path), path.stem
        source = path.read_text(encoding="utf-8")
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
        config = {**(props.config if props else {}), **_literal_config(tree, rel, name)}
        refs = tuple(arg.arg for arg in function.args.args)
        for ref in refs:
            self._pending_refs.append((name, ref, rel, function.lineno))
        return Model(
            name=name,
            kind=Kind.TABLE,
            language=Language.PYTHON,
            location=Location(rel),
            python_source=ast.unparse(_without_docstrings(tree)),
            refs=refs,
            **self._common(name, props, config),
        )

    # tests and dashboards -------------------------------------------------------------------

    def _check_properties(self, properties: Properties) -> None:
        for name, node in properties.nodes.items():
            if name not in self.models:
                raise ConfigError(
                    f"properties are declared for {name!r}, but there is no model or seed of that name",
                    path=node.location.path,
                    line=node.location.line,
                )
        for unit_test in properties.unit_tests:
            if unit_test.model not in self.models:
                raise ConfigError(
                    f"unit test {unit_test.name!r} tests unknown model {unit_test.model!r}",
                    path=unit_test.location.path,
                    line=unit_test.location.line,
                )

    def _data_tests(self, properties: Properties, sources: dict[str, str]) -> tuple[DataTest, ...]:
        tests = [
            build_generic_test(spec, sources) for node in properties.nodes.values() for spec in node.tests
        ]
        for path in self._files(self.config.test_paths, ".sql"):
            rel = self._rel(path)
            rendered = self.renderer.render(path.read_text(encoding="utf-8"), rel)
            sql = self._query(rendered.text, rel, None)
            for ref, line in rendered.refs:
                self._pending_refs.append((path.stem, ref, rel, line))
            severity = str(rendered.config.get("severity", "error")).lower()
            tests.append(
                DataTest(
                    name=path.stem,
                    kind="singular",
                    sql=sql,
                    models=ref_names(rendered),
                    location=Location(rel),
                    severity=Severity.WARN if severity == "warn" else Severity.ERROR,
                )
            )
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

    def _dashboards(self) -> Iterator[Dashboard]:
        seen: dict[str, Location] = {}
        for path in self._files(self.config.dashboard_paths, ".yml", ".yaml"):
            rel = self._rel(path)
            data = self._yaml(path) or {}
            entries = data.get("dashboards") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise ConfigError("a dashboards file has a dashboards: list", path=rel, line=1)
            for index, entry in enumerate(entries):
                dashboard = self._dashboard(
                    entry, rel, entries.line_of(index) if isinstance(entries, LineList) else None
                )
                if dashboard.name in seen:
                    raise ConfigError(
                        f"two dashboards are named {dashboard.name!r} (also {seen[dashboard.name]})",
                        path=rel,
                        line=dashboard.location.line,
                    )
                seen[dashboard.name] = dashboard.location
                yield dashboard

    def _dashboard(self, entry: Any, rel: str, line: int | None) -> Dashboard:
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

            try:
                rendered = self.renderer.render(sql, rel)
                normalized = self._query(rendered.text, rel, str(entry["name"]))
            except ProjectError as error:
                raise ProjectError(
                    error.message,
                    path=rel,
                    line=_yaml_sql_line(sql, sql_line, error.line),
                    model=error.model,
                    hint=error.hint,
                ) from None
            for ref, ref_line in rendered.refs:
                self._pending_refs.append(
                    (str(entry["name"]), ref, rel, _yaml_sql_line(sql, sql_line, ref_line))
                )
            queries.append(DashboardQuery(query_name, normalized, ref_names(rendered)))
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


def _yaml_sql_line(sql: str, sql_line: int | None, line_in_sql: int | None) -> int | None:
    """A line of SQL embedded under `sql:` as a line of the YAML file: a multi-line query is a
    block scalar, which starts on the line after the key."""
    if sql_line is None or line_in_sql is None or "\n" not in sql.strip():
        return sql_line
    return sql_line + line_in_sql


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
