"""Lint a project's files: SQL with sqlfluff, Python with ruff, YAML with tidegate's own loaders.

`tidegate ci` lints the files a pull request changed, `tidegate lint` the paths it is given or the
whole project. Every problem is a :class:`Finding` on a file and line; a tool that cannot run at
all (a broken `.sqlfluff` or ruff configuration) is bad configuration, raised as a ConfigError.

SQL is rendered by sqlfluff's Jinja templater with tidegate's Jinja added (`ref`, `source`,
`config`, `var`, `env_var`, `this`, `is_incremental`, dbt's `adapter.dispatch`, the project's
macros and those of `dbt_packages/`), so that violations point at lines of the file as written.
Macros are not linted themselves, but a macro file that does not compile is a finding.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
import logging
import os
import re
import subprocess
import sys
import time
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from tidegate.errors import ConfigError, TidegateError
from tidegate.project.config import CONFIG_FILE, ProjectConfig, load_config
from tidegate.project.dbt import DBT_PROJECT
from tidegate.project.dbt_context import Adapter, CompilerError, Relation, dispatched
from tidegate.project.files import read_text
from tidegate.project.properties import read_properties
from tidegate.project.yamlio import load_yaml_text

if TYPE_CHECKING:
    import jinja2

Severity = Literal["error", "warning"]
Tool = Literal["sqlfluff", "ruff", "yaml"]
Kind = Literal["sql", "macro", "python", "yaml"]

IGNORED_FOLDERS = frozenset(
    {"dbt_packages", "target", "logs", "node_modules", "__pycache__", "venv", "spark-warehouse"}
)
"""Folders that hold no source of the project (as do hidden folders such as `.git`, `.venv`)."""
SQLFLUFF_FILE = ".sqlfluff"
SQLFLUFF_DEFAULTS: dict[str, Any] = {"rules": "core", "max_line_length": 120}
"""sqlfluff settings for a project without a `.sqlfluff`: the stable core rules, lines of 120."""
_SQLFLUFF_DIALECTS = {
    "athena": "athena",
    "bigquery": "bigquery",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
    "doris": "doris",
    "duckdb": "duckdb",
    "exasol": "exasol",
    "fabric": "tsql",
    "hive": "hive",
    "materialize": "materialize",
    "mysql": "mysql",
    "oracle": "oracle",
    "postgres": "postgres",
    "presto": "trino",
    "redshift": "redshift",
    "risingwave": "postgres",
    "snowflake": "snowflake",
    "spark": "sparksql",
    "spark2": "sparksql",
    "sqlite": "sqlite",
    "starrocks": "starrocks",
    "teradata": "teradata",
    "trino": "trino",
    "tsql": "tsql",
}
"""sqlglot's dialect (tidegate.yml `dialect`, a dbt adapter) -> sqlfluff's; any other is ansi."""
_CONFIG_FILES = (CONFIG_FILE, DBT_PROJECT, "profiles.yml")
_POSITION = re.compile(r"^Line \d+, Position \d+: ")
"""sqlfluff's parse errors start with a position in the rendered SQL; the finding has the file's."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at a place in a file. Lines and columns start at 1; a problem with the whole
    file is on line 1, column 1."""

    path: str
    """Relative to the project directory, with forward slashes."""
    line: int
    column: int
    code: str
    """The tool's code: `LT01`, `PRS` (unparsable SQL), `TMP` (Jinja), `F401`, `duplicate-key`..."""
    message: str
    severity: Severity = "error"
    tool: Tool = "yaml"


@dataclass(frozen=True)
class LintResult:
    """What linting found, in file and line order, and how long each tool took."""

    paths: tuple[str, ...]
    """The files that were linted, relative to the project."""
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()
    """Paths given that were not linted: deleted, or not a kind of file tidegate lints."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds per tool that ran: sqlfluff, ruff, yaml."""

    @property
    def errors(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == "error")

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def passed(self) -> bool:
        """No error (warnings do not fail a lint)."""
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "errors": self.errors,
            "warnings": self.warnings,
            "paths": list(self.paths),
            "skipped": list(self.skipped),
            "findings": [asdict(finding) for finding in self.findings],
            "timings": {tool: round(seconds, 3) for tool, seconds in self.timings.items()},
        }


def lint(
    root: Path | str,
    paths: Sequence[str | Path] | None = None,
    *,
    config: ProjectConfig | None = None,
    processes: int | None = None,
) -> LintResult:
    """Lint `paths` (files or folders, relative to `root` or absolute; None: the whole project).

    Deleted files and files tidegate does not lint are skipped; a path outside the project is a
    ConfigError. `config` is the project's loaded configuration (read from `root` when not
    given; an invalid `tidegate.yml` is then a finding and defaults are used). `processes` is
    how many processes sqlfluff parses with (default: `processes` of the project's `.sqlfluff`,
    else 1: starting processes costs more than it saves on a small change).
    """
    root = Path(os.path.abspath(root))
    findings: list[Finding] = []
    if config is None:
        config, problem = _load_config(root)
        findings += problem
    selected, skipped = _select(root, config, paths)
    files = {
        kind: [rel for rel, k in selected.items() if k == kind] for kind in ("sql", "macro", "python", "yaml")
    }
    timings: dict[str, float] = {}
    if files["sql"] or files["macro"]:
        started = time.perf_counter()
        findings += _lint_sql(root, config, files["sql"], files["macro"], processes)
        timings["sqlfluff"] = time.perf_counter() - started
    if files["python"]:
        started = time.perf_counter()
        findings += _lint_python(root, files["python"])
        timings["ruff"] = time.perf_counter() - started
    if files["yaml"]:
        started = time.perf_counter()
        findings += _lint_yaml(root, config, files["yaml"])
        timings["yaml"] = time.perf_counter() - started
    return LintResult(
        paths=tuple(selected),
        findings=tuple(sorted(set(findings))),
        skipped=tuple(skipped),
        timings=timings,
    )


# which files ------------------------------------------------------------------------------------


def _load_config(root: Path) -> tuple[ProjectConfig, list[Finding]]:
    """The project's configuration; when it is invalid, a finding and the defaults (so that
    the rest of the project is still linted). Without any project file, a ConfigError."""
    try:
        return load_config(root), []
    except ConfigError as error:
        if error.path is None:
            raise
        return ProjectConfig(name="project"), [_yaml_finding(root, error, CONFIG_FILE, "invalid-config")]


def _select(
    root: Path, config: ProjectConfig, paths: Sequence[str | Path] | None
) -> tuple[dict[str, Kind], list[str]]:
    """The files to lint (relative path -> kind) and the paths given that are skipped."""
    selected: dict[str, Kind] = {}
    skipped: list[str] = []
    for target in [root] if paths is None else [_inside(root, path) for path in paths]:
        if target.is_dir():
            for file in _walk(target):
                rel = file.relative_to(root).as_posix()
                if (kind := file_kind(rel, config)) is not None:
                    selected.setdefault(rel, kind)
            continue
        rel = target.relative_to(root).as_posix()
        kind = file_kind(rel, config) if target.is_file() else None
        if kind is None:
            skipped.append(rel)
        else:
            selected.setdefault(rel, kind)
    return selected, skipped


def _inside(root: Path, path: str | Path) -> Path:
    """`path` as an absolute path in the project (lexically: a symlink in the project that
    points elsewhere is still in it)."""
    target = Path(os.path.abspath(root / path))
    if not target.is_relative_to(root):
        raise ConfigError(f"{path} is outside the project {root}")
    return target


def _walk(folder: Path) -> Iterable[Path]:
    for directory, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not _ignored(name))
        yield from (Path(directory) / name for name in sorted(names))


def _ignored(folder: str) -> bool:
    return folder.startswith(".") or folder in IGNORED_FOLDERS


def file_kind(rel: str, config: ProjectConfig) -> Kind | None:
    """How a project file (relative path) is linted, or None when it is not: SQL of models,
    tests and snapshots; macros (which must compile); Python models and DAGs; any YAML."""
    path = PurePosixPath(rel)
    if any(_ignored(folder) for folder in path.parts[:-1]):
        return None
    if path.suffix in (".yml", ".yaml"):
        return "yaml"
    if path.suffix == ".py":
        dag = config.orchestration.airflow.holds(rel)
        return "python" if dag or _under(path, config.model_paths) else None
    if path.suffix != ".sql":
        return None
    generic_tests = [f"{folder}/generic" for folder in config.test_paths]
    if _under(path, [*config.macro_paths, *generic_tests]):
        return "macro"
    if _under(path, [*config.model_paths, *config.test_paths, *config.snapshot_paths]):
        return "sql"
    return None


def _under(path: PurePosixPath, folders: Iterable[str]) -> bool:
    for folder in folders:
        parts = PurePosixPath(folder).parts
        if parts and path.parts[: len(parts)] == parts and len(path.parts) > len(parts):
            return True
    return False


# YAML -------------------------------------------------------------------------------------------


def _lint_yaml(root: Path, config: ProjectConfig, files: list[str]) -> list[Finding]:
    """Every YAML file must parse (no duplicate keys); tidegate.yml, dbt_project.yml and
    profiles.yml must make a valid configuration; property files must read as properties."""
    findings = []
    properties_folders = [*config.model_paths, *config.seed_paths, *config.snapshot_paths]
    config_checked = False
    for rel in files:
        try:
            data = load_yaml_text(read_text(root / rel, rel, error=ConfigError), rel)
        except ConfigError as error:
            findings.append(_yaml_finding(root, error, rel, "invalid-yaml"))
            continue
        if rel in _CONFIG_FILES:
            if not config_checked:
                findings += _load_config(root)[1]
                config_checked = True
        elif _under(PurePosixPath(rel), properties_folders):
            try:
                read_properties([(rel, data)])
            except ConfigError as error:
                findings.append(_yaml_finding(root, error, rel, "invalid-properties"))
    return findings


def _yaml_finding(root: Path, error: TidegateError, default_path: str, code: str) -> Finding:
    """A finding for an error of tidegate's YAML loaders, on the file and line it names."""
    path = default_path
    if error.path is not None:
        named = Path(error.path)
        absolute = named if named.is_absolute() else root / named
        path = absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else error.path
    if error.message.startswith("invalid YAML"):
        code = "duplicate-key" if "duplicate key" in error.message else "invalid-yaml"
    return Finding(path, max(error.line or 1, 1), 1, code, error.message, "error", "yaml")


# Python -----------------------------------------------------------------------------------------


def _lint_python(root: Path, files: list[str]) -> list[Finding]:
    """`ruff check` in the project directory, so that the project's ruff settings (and their
    excludes) apply; never fixing, whatever the settings say."""
    import importlib.util

    if importlib.util.find_spec("ruff") is None:
        raise TidegateError("ruff is not installed", hint="pip install ruff")
    command = [sys.executable, "-m", "ruff", "check", "--output-format", "json", "--no-cache", "--no-fix"]
    command += ["--exit-zero", "--force-exclude", "--", *files]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        problem = (done.stderr or done.stdout).strip().splitlines()
        raise ConfigError(f"ruff cannot lint the project: {' '.join(problem[:3])}")
    findings = []
    for item in json.loads(done.stdout or "[]"):
        location = item.get("location") or {}
        findings.append(
            Finding(
                path=_relative(root, item["filename"]),
                line=_position(location.get("row")),
                column=_position(location.get("column")),
                code=item.get("code") or "invalid-syntax",
                message=item["message"],
                severity="warning" if item.get("severity") == "warning" else "error",
                tool="ruff",
            )
        )
    return findings


def _position(value: Any) -> int:
    """A line or column as tools report it, at least 1 (0 or none: the whole file)."""
    return max(value, 1) if isinstance(value, int) else 1


def _relative(root: Path, filename: str) -> str:
    path = Path(os.path.abspath(root / filename))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else filename


# SQL --------------------------------------------------------------------------------------------


def sqlfluff_dialect(dialect: str) -> str:
    """sqlfluff's name for one of sqlglot's dialects (ansi when sqlfluff has no such dialect)."""
    return _SQLFLUFF_DIALECTS.get(dialect.lower(), "ansi")


def _lint_sql(
    root: Path, config: ProjectConfig, files: list[str], macros: list[str], processes: int | None
) -> list[Finding]:
    """All SQL files in one sqlfluff run (its start-up, about a second, is paid once)."""
    from sqlfluff.core import FluffConfig, Linter
    from sqlfluff.core.errors import SQLFluffUserError

    quiet = logging.getLogger("sqlfluff")
    if not quiet.handlers:  # its warnings (a file skipped) are findings here, not log lines
        quiet.addHandler(logging.NullHandler())
    settings = root / SQLFLUFF_FILE
    overrides: dict[str, Any] = {"dialect": sqlfluff_dialect(config.dialect), "templater": "jinja"}
    if not settings.is_file():
        overrides.update(SQLFLUFF_DEFAULTS)
    try:
        # Only the project's .sqlfluff: not the user's home, not the current directory's.
        fluff = FluffConfig.from_path(
            str(root),
            extra_config_path=str(settings) if settings.is_file() else None,
            ignore_local_config=True,
            overrides=overrides,
        )
    except SQLFluffUserError as error:
        raise ConfigError(f"invalid sqlfluff settings: {error}", path=SQLFLUFF_FILE) from None
    project_jinja = _ProjectJinja(root, config)
    templater = _templater_class()(project_jinja)
    templater.prepare(fluff)
    wanted = set(macros)
    findings = [finding for finding in project_jinja.problems if finding.path in wanted]
    if not files:
        return findings
    linter = Linter(config=fluff)
    linter.templater = templater  # rendering happens in this process; only parsing is spread out
    absolute = {os.path.normpath(root / rel): rel for rel in files}
    try:
        result = linter.lint_paths(tuple(absolute), processes=processes, ignore_files=False)
    except SQLFluffUserError as error:
        raise ConfigError(f"invalid sqlfluff settings: {error}", path=SQLFLUFF_FILE) from None
    linted = set()
    for record in result.as_records():
        rel = absolute.get(os.path.normpath(record["filepath"])) or _relative(root, record["filepath"])
        linted.add(rel)
        for violation in record["violations"]:
            findings.append(
                Finding(
                    path=rel,
                    line=_position(violation.get("start_line_no")),
                    column=_position(violation.get("start_line_pos")),
                    code=str(violation.get("code") or "sqlfluff"),
                    message=_POSITION.sub("", str(violation.get("description") or "")),
                    severity="warning" if violation.get("warning") else "error",
                    tool="sqlfluff",
                )
            )
    limit = int(fluff.get("large_file_skip_byte_limit") or 0)
    for rel in sorted(set(files) - linted):  # sqlfluff skips a file only with a log line
        large = 0 < limit < (root / rel).stat().st_size
        why = (
            f"larger than sqlfluff's large_file_skip_byte_limit ({limit} bytes)"
            if large
            else "sqlfluff failed"
        )
        findings.append(Finding(rel, 1, 1, "skipped", f"not linted: {why}", "warning", "sqlfluff"))
    return findings


class _Nothing:
    """What linting gets from anything that would query the warehouse (`run_query`,
    `load_result`, `adapter.get_columns_in_relation`...): no rows, no columns, renders as
    nothing. Linting never connects; the SQL around such calls is still linted."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Nothing:
        return self

    def __getitem__(self, key: Any) -> _Nothing:
        return self

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return ""


_NOTHING = _Nothing()


def _name(text: str) -> Relation:
    """What `ref()`, `source()`, `this` (and an undefined `var()`) render as when linting: a
    name, with every field of dbt's Relation (`this.schema`, `ref('x').identifier`...)
    rendering as that name."""
    return Relation(text, text, lenient=True)


_MISSING = object()


class _ProjectJinja:
    """What a file sees when sqlfluff renders it: tidegate's Jinja functions with values fit
    for linting (every ref is a name, `is_incremental()` is true so its filter is linted), the
    project's macros, and the macros of `dbt_packages/` under their package's name."""

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root
        self.config = config
        self.problems: list[Finding] = []
        """Macro files that do not compile."""
        self._context: dict[str, Any] | None = None
        self._macros: dict[str, Any] = {}
        self._packages: dict[str, dict[str, Any]] = {}

    def context(self, env: jinja2.Environment, fname: str | None) -> dict[str, Any]:
        """The names a file is rendered with; macros are compiled on the first call only."""
        if self._context is None:
            self._context = self._load(env)
        name = _name(Path(fname).stem if fname else "this")
        return {**self._context, "this": name, "model": name, "node": name}

    def _load(self, env: jinja2.Environment) -> dict[str, Any]:
        context = self._functions()
        generic_tests = [f"{folder}/generic" for folder in self.config.test_paths]
        for folder in [*self.config.macro_paths, *generic_tests]:
            for path in _sql_files(self.root / folder):
                # project macros see each other and the functions: `context` is their globals
                self._macros.update(self._compile(env, path, context))
        context.update(self._macros)
        packages = self.root / "dbt_packages"
        for package in sorted(packages.iterdir()) if packages.is_dir() else []:
            namespace: dict[str, Any] = dict(context)  # a package's macros call each other unqualified
            own: dict[str, Any] = {}
            for path in _sql_files(package / "macros"):
                compiled = self._compile(env, path, namespace)
                namespace.update(compiled)
                own.update(compiled)
            name = _package_name(package)
            self._packages[name] = own
            context[name] = types.SimpleNamespace(**own)
        return context

    def _compile(self, env: jinja2.Environment, path: Path, context: dict[str, Any]) -> dict[str, Any]:
        import jinja2

        rel = path.relative_to(self.root).as_posix()
        try:
            module = env.from_string(read_text(path, rel), globals=context).make_module()
        except jinja2.TemplateSyntaxError as error:
            message = f"Jinja syntax error in a macro file: {error.message}"
            self.problems.append(Finding(rel, error.lineno or 1, 1, "TMP", message, "error", "sqlfluff"))
            return {}
        except Exception as error:  # the file's top level ran and failed: a broken macro file
            message = _describe(error)
            self.problems.append(Finding(rel, 1, 1, "TMP", message, "error", "sqlfluff"))
            return {}
        return {
            name: value for name, value in vars(module).items() if isinstance(value, jinja2.runtime.Macro)
        }

    def _functions(self) -> dict[str, Any]:
        from tidegate.project.jinja.runtime import dbt_return  # dbt's return(), as tidegate renders it

        variables = dict(self.config.vars)
        target = self._target()
        adapter = str(target["type"])

        def dispatch(name: str, namespace: str | None) -> Any:
            """`adapter.dispatch`: the project's macros, then the package's."""
            return dispatched(
                name, namespace, [self._macros, self._packages.get(namespace or "", {})], adapter
            )

        def var(name: str, default: Any = _MISSING) -> Any:
            if name in variables:
                return variables[name]
            return _name(name) if default is _MISSING else default

        def env_var(name: str, default: Any = _MISSING) -> Any:
            if name in os.environ:
                return os.environ[name]
            return _name(name) if default is _MISSING else default

        return {
            "ref": lambda *args, **kwargs: _name(args[-1] if args else "ref"),
            "source": lambda source, table: _name(f"{source}_{table}"),
            "config": lambda *args, **kwargs: "",
            "var": var,
            "env_var": env_var,
            "is_incremental": lambda: True,
            "log": lambda *args, **kwargs: "",
            "return": dbt_return,
            # a check on values that are placeholders here would fail for nothing: the loader checks
            "exceptions": types.SimpleNamespace(
                raise_compiler_error=_NOTHING, raise_not_implemented=_NOTHING, warn=_NOTHING
            ),
            "modules": types.SimpleNamespace(datetime=datetime, re=re, itertools=itertools),
            "run_query": _NOTHING,
            "statement": _NOTHING,
            "load_result": _NOTHING,
            "target": target,
            "adapter": Adapter(adapter, dispatch, missing=lambda name: _NOTHING),
            "execute": True,
            "flags": types.SimpleNamespace(FULL_REFRESH=False, WHICH="run"),
            "run_started_at": datetime.datetime.now(datetime.UTC),
        }

    def _target(self) -> dict[str, Any]:
        dbt = self.config.dbt
        if dbt is not None and dbt.target is not None:
            return dbt.target.context()
        return {
            "name": "prod",
            "target_name": "prod",
            "type": self.config.connection_for("prod").engine,
            "schema": self.config.default_schema,
            "database": "",
            "threads": 1,
            "profile_name": self.config.name,
        }


def _describe(error: BaseException) -> str:
    if isinstance(error, CompilerError):
        return f"compilation error: {error}"
    return f"Jinja error: {type(error).__name__.lstrip('_')}: {error}"


def _sql_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.sql") if path.is_file()) if folder.is_dir() else []


def _package_name(folder: Path) -> str:
    """A dbt package's name: `name:` in its dbt_project.yml, else its folder's."""
    try:
        data = load_yaml_text(read_text(folder / DBT_PROJECT, error=ConfigError), folder / DBT_PROJECT)
    except ConfigError:
        return folder.name
    return data["name"] if isinstance(data, dict) and isinstance(data.get("name"), str) else folder.name


@functools.cache
def _templater_class() -> type[Any]:
    """sqlfluff's Jinja templater, rendering with a project's Jinja. Defined on first use:
    sqlfluff takes a second to import, which commands that do not lint never pay."""
    import jinja2
    import jinja2.ext
    from sqlfluff.core.errors import SQLFluffSkipFile, SQLTemplaterError
    from sqlfluff.core.templaters import JinjaTemplater
    from sqlfluff.core.templaters.jinja import DBTTestExtension
    from sqlfluff.core.templaters.slicers.tracer import JinjaAnalyzer, JinjaTagConfiguration

    from tidegate.project.jinja.runtime import ReturningTemplate  # macros whose return() gives their value

    class SnapshotBlock(jinja2.ext.Extension):
        """dbt's `{% snapshot name %} ... {% endsnapshot %}`: the block's query is the file's."""

        tags = {"snapshot"}

        def parse(self, parser: Any) -> Any:
            next(parser.stream)
            parser.parse_assign_target(name_only=True)
            return parser.parse_statements(("name:endsnapshot",), drop_needle=True)

    class Analyzer(JinjaAnalyzer):
        """A snapshot's tags wrap the whole file: no indentation is expected inside them."""

        @classmethod
        def _get_tag_configuration(cls, tag: str) -> Any:
            if tag in ("snapshot", "endsnapshot"):
                return JinjaTagConfiguration(block_type="templated")
            return super()._get_tag_configuration(tag)

    class ProjectTemplater(JinjaTemplater):
        """Named `jinja` like its parent, so sqlfluff's rules treat it as the Jinja templater;
        one per lint, on the linter itself (sqlfluff renders every file in this process)."""

        def __init__(self, project: _ProjectJinja) -> None:
            super().__init__()
            self.project = project
            self.env: jinja2.Environment | None = None

        def __eq__(self, other: object) -> bool:
            """Equal to the `jinja` templater sqlfluff configures for each file, as it stands in for it."""
            return isinstance(other, JinjaTemplater)

        def prepare(self, config: Any) -> None:
            """Compile the macros now, so that a broken macro file is known even with no SQL."""
            self.project.context(self._get_jinja_env(config), None)

        def _get_jinja_env(self, config: Any = None) -> jinja2.Environment:
            if self.env is None:
                env = super()._get_jinja_env(config)
                for extension in (DBTTestExtension, SnapshotBlock, jinja2.ext.loopcontrols):
                    env.add_extension(extension)
                env.template_class = ReturningTemplate
                self.env = env
            return self.env

        def _get_jinja_analyzer(self, raw_str: str, env: jinja2.Environment) -> Any:
            return Analyzer(raw_str, env)

        def _get_env_context(self, fname: str | None, config: Any, env: jinja2.Environment) -> dict[str, Any]:
            return {**super()._get_env_context(fname, config, env), **self.project.context(env, fname)}

        def process(self, *, in_str: str, fname: str, config: Any = None, formatter: Any = None) -> Any:
            try:
                return super().process(in_str=in_str, fname=fname, config=config, formatter=formatter)
            except (SQLTemplaterError, SQLFluffSkipFile):
                raise
            except Exception as error:  # raised by a function or a macro while rendering
                # on line 1: sqlfluff renders a rewritten template, whose lines are not the file's
                raise SQLTemplaterError(_describe(error), line_no=1, line_pos=1) from None

    return ProjectTemplater
