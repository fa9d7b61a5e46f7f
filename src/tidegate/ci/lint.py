"""Lint a project's files: SQL with sqlfluff, Python with ruff, YAML with tidegate's own loaders,
Terraform with `terraform fmt`.

`tidegate ci` lints the files a pull request changed, `tidegate lint` the paths it is given or the
whole project (`tidegate.ci.lint_files` says which files, and how each is linted). Every problem
is a :class:`~tidegate.ci.findings.Finding` on a file and line; a tool that cannot run at all (a
broken `.sqlfluff` or ruff configuration) is bad configuration, raised as a ConfigError. Python
is linted in `lint_python`, YAML in `lint_yaml`, Terraform in `lint_terraform`, SQL here.

SQL is rendered by sqlfluff's Jinja templater with tidegate's Jinja added (`ref`, `source`,
`config`, `var`, `env_var`, `this`, `is_incremental`, dbt's `adapter.dispatch`, the project's
macros and those of `dbt_packages/`), so that violations point at lines of the file as written.
Macros are not linted themselves, but a macro file that does not compile is a finding.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import logging
import os
import re
import sys
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.ci.findings import Finding, position, relative
from tidegate.ci.lint_files import select
from tidegate.ci.lint_python import lint_python
from tidegate.ci.lint_terraform import lint_terraform
from tidegate.ci.lint_yaml import lint_yaml, load_config_or_finding
from tidegate.errors import ConfigError
from tidegate.project.config import ProjectConfig
from tidegate.project.dbt import DBT_PROJECT
from tidegate.project.dbt_context import Adapter, CompilerError, Relation, dispatched
from tidegate.project.engines import ENGINES
from tidegate.project.files import read_text
from tidegate.project.yamlio import load_yaml_text

if TYPE_CHECKING:
    import jinja2

SQLFLUFF_FILE = ".sqlfluff"
SQLFLUFF_DEFAULTS: dict[str, Any] = {"rules": "core", "max_line_length": 120}
"""sqlfluff settings for a project without a `.sqlfluff`: the stable core rules, lines of 120."""
_SQLFLUFF_DIALECTS = {
    **{engine.dialect: engine.sqlfluff_dialect for engine in ENGINES.values()},
    "athena": "athena",
    "bigquery": "bigquery",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
    "doris": "doris",
    "exasol": "exasol",
    "fabric": "tsql",
    "hive": "hive",
    "materialize": "materialize",
    "mysql": "mysql",
    "oracle": "oracle",
    "presto": "trino",
    "redshift": "redshift",
    "risingwave": "postgres",
    "snowflake": "snowflake",
    "spark2": "sparksql",
    "sqlite": "sqlite",
    "starrocks": "starrocks",
    "teradata": "teradata",
    "trino": "trino",
    "tsql": "tsql",
}
"""sqlglot's dialect (tidegate.yml `dialect`, a dbt adapter) -> sqlfluff's: the engines' own, and
those of warehouses tidegate lints but does not run on; any other is ansi."""
_POSITION = re.compile(r"^Line \d+, Position \d+: ")
"""sqlfluff's parse errors start with a position in the rendered SQL; the finding has the file's."""


@dataclass(frozen=True)
class LintResult:
    """What linting found, in file and line order, and how long each tool took."""

    paths: tuple[str, ...]
    """The files that were linted, relative to the project."""
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()
    """Paths given that were not linted: deleted, or not a kind of file tidegate lints."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds per tool that ran: sqlfluff, ruff, yaml, terraform."""

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
            "findings": [finding.to_dict() for finding in self.findings],
            "timings": {tool: round(seconds, 3) for tool, seconds in self.timings.items()},
        }


def lint(
    root: Path | str,
    paths: Sequence[str | Path] | None = None,
    *,
    config: ProjectConfig | None = None,
    processes: int | None = None,
    workspace: Path | None = None,
) -> LintResult:
    """Lint `paths` (files or folders, relative to `root` or absolute; None: the whole project).

    Deleted files and files tidegate does not lint are skipped; a path outside the project is a
    ConfigError. `config` is the project's loaded configuration (read from `root` when not
    given; an invalid `tidegate.yml` is then a finding and defaults are used). `processes` is
    how many processes sqlfluff parses with (default: `processes` of the project's `.sqlfluff`,
    else 1: starting processes costs more than it saves on a small change). `workspace` is
    where a relative `terraform: binary:` is found (default `root`; `tidegate ci` lints a
    checkout of the pull request's head, and the binary is in the project directory).
    """
    root = Path(os.path.abspath(root))
    findings: list[Finding] = []
    if config is None:
        config, problem = load_config_or_finding(root)
        findings += problem
    selected, skipped = select(root, config, paths)
    files = {
        kind: [rel for rel, k in selected.items() if k == kind]
        for kind in ("sql", "macro", "python", "yaml", "terraform")
    }
    timings: dict[str, float] = {}
    if files["sql"] or files["macro"]:
        started = time.perf_counter()
        findings += _lint_sql(root, config, files["sql"], files["macro"], processes)
        timings["sqlfluff"] = time.perf_counter() - started
    if files["python"]:
        started = time.perf_counter()
        findings += lint_python(root, files["python"])
        timings["ruff"] = time.perf_counter() - started
    if files["yaml"]:
        started = time.perf_counter()
        findings += lint_yaml(root, config, files["yaml"])
        timings["yaml"] = time.perf_counter() - started
    if files["terraform"]:
        started = time.perf_counter()
        findings += lint_terraform(root, config, files["terraform"], workspace or root)
        timings["terraform"] = time.perf_counter() - started
    return LintResult(
        paths=tuple(selected),
        findings=tuple(sorted(set(findings), key=Finding.sort_key)),
        skipped=tuple(skipped),
        timings=timings,
    )


# which files ------------------------------------------------------------------------------------


# SQL --------------------------------------------------------------------------------------------


def sqlfluff_dialect(dialect: str) -> str:
    """sqlfluff's name for one of sqlglot's dialects (ansi when sqlfluff has no such dialect)."""
    return _SQLFLUFF_DIALECTS.get(dialect.lower(), "ansi")


def _lint_sql(
    root: Path, config: ProjectConfig, files: list[str], macros: list[str], processes: int | None
) -> list[Finding]:
    """All SQL files in one sqlfluff run (its start-up, about a second, is paid once)."""
    _import_sqlfluff()
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
        rel = absolute.get(os.path.normpath(record["filepath"])) or relative(root, record["filepath"])
        linted.add(rel)
        for violation in record["violations"]:
            findings.append(
                Finding(
                    path=rel,
                    line=position(violation.get("start_line_no")),
                    column=position(violation.get("start_line_pos")),
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
        findings.append(
            Finding(
                path=rel,
                line=1,
                column=1,
                code="skipped",
                message=f"not linted: {why}",
                severity="warning",
                tool="sqlfluff",
            )
        )
    return findings


def _import_sqlfluff() -> None:
    """Import sqlfluff without pytest: sqlfluff imports pytest whenever it is installed, only to
    rewrite the asserts of its own test helpers, a tenth of a second of each lint (`tidegate ci`
    lints while it builds). Where pytest is already imported (tidegate's tests) nothing changes."""
    if "sqlfluff" in sys.modules or "pytest" in sys.modules:
        return
    sys.modules["pytest"] = None  # type: ignore[assignment]  # `import pytest` raises ImportError
    try:
        import sqlfluff  # noqa: F401
    finally:
        if sys.modules.get("pytest", False) is None:
            del sys.modules["pytest"]


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
            self.problems.append(
                Finding(
                    path=rel, line=error.lineno or 1, column=1, code="TMP", message=message, tool="sqlfluff"
                )
            )
            return {}
        except Exception as error:  # the file's top level ran and failed: a broken macro file
            message = _describe(error)
            self.problems.append(
                Finding(path=rel, line=1, column=1, code="TMP", message=message, tool="sqlfluff")
            )
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
