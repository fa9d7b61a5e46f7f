"""Jinja rendering of models, tests and macros, with dbt's functions.

A model is rendered once, at load time, with `ref()` producing placeholders: the SQL that gets
fingerprinted does not depend on any environment, and compiling it for an environment is a cheap
substitution of relation names (see :mod:`tidegate.plan.compile`).
"""

from __future__ import annotations

import collections
import collections.abc
import datetime
import hashlib
import marshal
import os
import re
import sys
import types
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from tidegate.errors import ProjectError
from tidegate.project import envvars, materializations, plain
from tidegate.project.cache import read_entries, write_entries
from tidegate.project.dbt_builtins import (
    BUILTIN_MACROS,
    BUILTINS_PATH,
    Column,
    ConstantQueries,
    Table,
    relations_read,
)
from tidegate.project.dbt_context import (
    RUN_TIME,
    RUN_TIME_MEMBERS,
    CompilerError,
    ConfigObject,
    ConfigScope,
    Namespace,
    Refused,
    Target,
    Unsupported,
    context_members,
    is_internal,
)
from tidegate.project.engines import DEFAULT_ENGINE, for_dbt_adapter
from tidegate.project.model import THIS_PLACEHOLDER, ref_placeholder

_MISSING = object()
_TEST_BLOCK = re.compile(r"\{%(-?)\s*test\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_END_TEST = re.compile(r"\{%(-?)\s*endtest\s*(-?)%\}")
_MACRO_NAMES = re.compile(r"\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_NAME_PARTS = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){1,2}")
_UNDEFINED_NAME = re.compile(r"'[A-Za-z_][A-Za-z0-9_]*' is undefined")
_SNAPSHOT_BLOCK = re.compile(r"\{%-?\s*snapshot\b")


class _Return(Exception):
    """`{{ return(value) }}` in a macro: unwinds to the macro call, which returns `value`."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class _ReturningMacro(jinja2.runtime.Macro):
    """A macro that returns the value of dbt's `return()` instead of its rendered text."""

    def _invoke(self, arguments: list[Any], autoescape: bool) -> Any:
        try:
            return super()._invoke(arguments, autoescape)
        except _Return as returned:
            return returned.value


class _Template(jinja2.Template):
    """Templates whose macros are :class:`_ReturningMacro`: the compiled code looks `Macro` up
    in its module namespace, which is filled here before anything runs."""

    @classmethod
    def _from_namespace(
        cls, environment: jinja2.Environment, namespace: MutableMapping[str, Any], globals: Any
    ) -> jinja2.Template:
        namespace["Macro"] = _ReturningMacro
        return super()._from_namespace(environment, namespace, globals)


class _Context(jinja2.runtime.Context):
    """A template context in which dbt's own macros (`dateadd`, `generate_schema_name`...) are
    global names looked up last, after the project's: they are not in the environment's globals,
    which every render copies, so a project pays for the few it calls."""

    def resolve_or_missing(self, key: str) -> Any:
        if key in self.vars:
            return self.vars[key]
        if key in self.parent:
            return self.parent[key]
        return getattr(self.environment, "dbt_builtins", _NO_BUILTINS).get(key, jinja2.utils.missing)


_NO_BUILTINS: dict[str, Any] = {}


def _return(value: Any) -> None:
    raise _Return(value)


def _refuse(feature: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported(feature)

    return refuse


class Relation(str):
    """What `ref()` gives: the placeholder text the SQL needs, with the fields of dbt's
    Relation that macros read (`identifier`, `schema`, `is_cte`...). A Relation is also a
    mapping to dbt_utils' `_is_relation` (`obj is mapping` with a `metadata.type`)."""

    metadata = {"type": "Relation"}
    is_cte = False
    type = None

    def __new__(cls, text: str, call: str, name: str, names: Mapping[str, str] | None) -> Relation:
        relation = super().__new__(cls, text)
        relation._call = call
        relation._names = {"identifier": name, "name": name, "table": name, **_relation_fields(names)}
        return relation

    _call: str
    _names: dict[str, str]

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        if name in ("schema", "database", "identifier", "name", "table"):
            if name not in self._names:  # a model loaded later: its names are not known yet
                raise Unsupported(f"{self._call}.{name} before that model is loaded")
            return self._names[name]
        raise Unsupported(f"{self._call}.{name}")

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata if key == "metadata" else default

    def include(self, *args: Any, **kwargs: Any) -> Relation:
        return self

    def render(self) -> str:
        return str(self)


def _relation_fields(names: Mapping[str, str] | None) -> dict[str, str]:
    if names is None:
        return {}
    return {
        "schema": names["schema"],
        "database": names["database"],
        "identifier": names["alias"],
        "name": names["alias"],
        "table": names["alias"],
    }


collections.abc.Mapping.register(Relation)


class _PackageMacros(dict[str, Any]):
    """A package's macros, each file compiled when one of its macros is first asked for: a
    package such as dbt_utils has hundreds of macros in as many files, and a project calls a few.
    Reading it as a mapping (`get`, `in`, `[]`, as dispatch and Jinja's globals do) loads."""

    def __init__(self, files: Mapping[str, str], load: Callable[..., None]) -> None:
        super().__init__()
        self._files = files
        self._load = load
        self._index: dict[str, str] = {}
        """Macro name -> the file that defines it (`{% macro name(` or `{% test name(`)."""
        for path, text in sorted(files.items()):
            for kind, name in _MACRO_NAMES.findall(text):
                self._index.setdefault(f"test_{name}" if kind == "test" else name, path)
        self._loaded: set[str] = set()

    def __missing__(self, name: str) -> Any:
        path = self._index.get(name)
        if path is None or path in self._loaded:
            raise KeyError(name)
        self._loaded.add(path)
        self._load(path, self._files[path], into=self)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or name in self._index

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


class _Namespace:
    """A package's macros, callable as `package.macro(...)`."""

    def __init__(self, name: str, macros: dict[str, Any]) -> None:
        self._name = name
        self._macros = macros

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        try:
            return self._macros[name]
        except KeyError:
            if self._name == "dbt":
                raise Unsupported(f"dbt.{name}", "it is not one of dbt's macros tidegate provides") from None
            raise CompilerError(f"{self._name}.{name}: package {self._name} has no macro {name!r}") from None


@dataclass(frozen=True)
class DbtSettings:
    """What rendering a dbt project adds: the target, the adapter, packages' macros."""

    target: Mapping[str, Any]
    packages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Package name -> {macro file path: text}, from `dbt_packages/<package>/macros/`."""
    models: frozenset[str] = frozenset()
    """Every model name of the project, to resolve versioned refs (`ref('m', v=2)`)."""
    versions: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    """Versioned models (`versions:` in properties): name -> (latest, {version: model})."""
    model_packages: Mapping[str, str] = field(default_factory=dict)
    """Model -> the project or package (under `dbt_packages/`) it belongs to."""
    project: str = ""
    """The root project's name (dbt_project.yml's `name`)."""
    dispatch: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """dbt_project.yml's `dispatch:`: macro namespace -> the packages to search, in order."""
    package_variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """A package's folder (`dbt_packages/<folder>`) -> the vars its nodes see: its own
    `dbt_project.yml`'s, then the root project's (global, then scoped to the package), then the
    command line's. Macros see the vars of the node they render, as in dbt."""


@dataclass
class Rendered:
    """What rendering one file produced: the text and what it asked for along the way."""

    text: str
    refs: list[tuple[str, int | None]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    uses_this_names: bool = False
    """`this.schema` (or another of `this`'s names) was read before the names were known."""
    env_vars: dict[str, str] = field(default_factory=dict)
    """What `env_var()` read from the environment (name -> value): masked in `text` (see
    `tidegate.project.envvars`); kept in memory only."""
    config_lines: dict[str, int | None] = field(default_factory=dict)
    """The line of the `config()` call that set a config, for the few whose errors name it."""
    reads_config: bool = False
    """`config.get` (or `require`) was called: its answer may change with the configs set after it."""

    @property
    def env_digests(self) -> tuple[tuple[str, str], ...]:
        return envvars.digests(self.env_vars)


@dataclass
class _Frame:
    path: str
    template: jinja2.Template | None
    incremental: bool
    result: Rendered
    node: Mapping[str, Any] | None = None
    variables: Mapping[str, Any] | None = None
    """The variables `var()` sees here, when not the project's (dbt_project.yml's own Jinja)."""
    line: int | None = None
    """The line of the call being made, in a template rendered without Jinja (see `plain`)."""


_PLAIN_NAMES = ("ref", "source", "config", "var", "env_var", "this")
"""What a template rendered without Jinja may call (or, `this`, show): tidegate's own functions."""


class Renderer:
    """One Jinja environment per project: macros are compiled once and shared by every model."""

    def __init__(
        self,
        macro_files: Mapping[str, str],
        variables: Mapping[str, Any],
        sources: Mapping[tuple[str, str], str],
        cache_dir: Path | None = None,
        dbt: DbtSettings | None = None,
    ) -> None:
        self._variables = dict(variables)
        self._dbt = dbt
        self._started = datetime.datetime.now(datetime.UTC)
        self._sources = dict(sources)
        self._source_models: dict[str, str] = {}
        self.relations: dict[str, Mapping[str, str]] = {}
        """Model -> dbt's names of its relation in prod (`database`, `schema`, `alias`), for
        `ref('m').schema` and the like: filled by the loader as it loads models."""
        self._stack: list[_Frame] = []
        self._bytecode = _BytecodeFile(cache_dir / "jinja.bin") if cache_dir is not None else None
        self._constants: ConstantQueries | None = None
        self._statement_results: dict[str, dict[str, Any]] = {}
        self._texts: dict[str, tuple[str, str]] = {}
        """Template name -> (text, file): a name per distinct text, so each compiles once."""
        self.env = jinja2.Environment(
            loader=jinja2.FunctionLoader(self._template_source),
            bytecode_cache=self._bytecode,
            auto_reload=False,
            cache_size=-1,
            # dbt renders with Jinja's Undefined (a macro's missing argument is falsy); tidegate's own, strictly
            undefined=jinja2.Undefined if dbt is not None else jinja2.StrictUndefined,
            keep_trailing_newline=True,
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        )
        self.env.template_class = _Template
        self.env.context_class = _Context
        self.env.globals.update(self._functions())
        self._plain: dict[str, Any] = {name: self.env.globals[name] for name in _PLAIN_NAMES}
        """The functions a plain template calls, while the project's macros do not replace them."""
        self.macros: dict[str, str] = {}
        self._project_macros: dict[str, Any] = {}
        self._builtins: dict[str, Any] = {}
        self._packages: dict[str, dict[str, Any]] = {}
        texts = [
            *macro_files.items(),
            *(item for p in (dbt.packages if dbt else {}).values() for item in p.items()),
        ]
        self.materializations = materializations.for_adapter(texts, str((self.target or {}).get("type")))
        """`{% materialization %}` blocks by name: tidegate cannot run them (see `materializations`)."""
        if dbt is not None:
            self.env.globals.update(self._dbt_functions(dbt))
            self.env.dbt_builtins = self._builtins  # type: ignore[attr-defined]
            self._load_macros(BUILTINS_PATH, BUILTIN_MACROS, into=self._builtins)
            self._packages["dbt"] = self._builtins
            self.env.globals["dbt"] = _Namespace("dbt", self._builtins)
            for package, files in sorted(dbt.packages.items()):
                namespace = _PackageMacros(files, self._load_macros)
                self._packages[package] = namespace
                self.env.globals[package] = _Namespace(package, namespace)
            if dbt.project and dbt.project not in self._packages:  # `{{ my_project.my_macro() }}`
                self._packages[dbt.project] = self._project_macros
                self.env.globals[dbt.project] = _Namespace(dbt.project, self._project_macros)
        for path, text in sorted(macro_files.items()):
            self._load_macros(path, text, into=self._project_macros)

    @property
    def target(self) -> Mapping[str, Any] | None:
        """dbt's `target` (None outside a dbt project)."""
        return self._dbt.target if self._dbt else None

    def _functions(self) -> dict[str, Any]:
        return {
            "ref": self._ref,
            "source": self._source,
            "config": ConfigObject(self._config, self._config_scope, self._reads_config),
            "var": self._var,
            "env_var": self._env_var,
            "is_incremental": self._is_incremental,
            "this": _This(self),
            "return": _return,
            **context_members(self._dbt.project if self._dbt else ""),
            "run_query": self._run_query,
            "statement": self._statement,
            "load_result": self._load_result,
            "load_relation": _refuse("load_relation (adapter.get_relation)"),
            **{name: Refused(name, RUN_TIME) for name in RUN_TIME_MEMBERS},
        }

    def _dbt_functions(self, dbt: DbtSettings) -> dict[str, Any]:
        return {
            "target": Target(dbt.target),
            "adapter": _Adapter(self, str(dbt.target.get("type", "default"))),
            "api": Namespace(
                "api", Column=Column, Relation=Namespace("api.Relation", add_ephemeral_prefix=_cte)
            ),
            "builtins": Namespace(
                "builtins", ref=self._ref, source=self._source, config=self.env.globals["config"]
            ),
            "should_store_failures": self._should_store_failures,
            "should_full_refresh": lambda: False,
            "model": _Node(self),
            "node": _Node(self),
            "run_started_at": self._started,
            "execute": True,
        }

    def _load_macros(self, path: str, text: str, into: dict[str, Any] | None = None) -> None:
        """Compile one file of macros; `into` is the namespace they join (a package's, the
        builtins', or the project's, which is global)."""
        into = self._project_macros if into is None else into
        snapshot = _SNAPSHOT_BLOCK.search(text)
        if snapshot:
            raise ProjectError(
                "snapshot blocks are not supported in macros",
                path=path,
                line=text.count("\n", 0, snapshot.start()) + 1,
            )
        text = materializations.without_blocks(text)  # see `self.materializations`
        # dbt's `{% test name(model, column_name) %}` is the macro `test_name`
        text = _END_TEST.sub(r"{%\1 endmacro \2%}", _TEST_BLOCK.sub(r"{%\1 macro test_\2(", text))
        is_project = into is self._project_macros
        package_globals = None if is_project or into is self._builtins else into
        template = self._compile(text, path, package_globals)
        defined = self._run(path, template, lambda: _defined_names(template))
        for name, macro in sorted(defined.items()):
            if isinstance(macro, jinja2.runtime.Macro):
                if name in into and (is_project or into is self._builtins):
                    where = self.macros.get(name) if is_project else path
                    raise ProjectError(f"macro {name!r} is defined twice (also in {where})", path=path)
                into[name] = macro
                if is_project or into is self._builtins:
                    self.macros[name] = path
                if is_project:  # dbt's own are found last, through _Context (and `dbt.name`)
                    self.env.globals[name] = macro

    # dbt: macros, tests, names --------------------------------------------------------------

    def find_macro(self, name: str) -> Any | None:
        """A macro by name, `package.name` for a package's; the project's own come first."""
        package, _, short = name.rpartition(".")
        if package:
            return self._packages.get(package, {}).get(short)
        return self._project_macros.get(name) or self._builtins.get(name)

    def is_dbts(self, name: str) -> bool:
        """Whether the macro `name` is dbt's own (the project does not define one of that name)."""
        return name not in self._project_macros and name in self._builtins

    def dispatch(self, name: str, namespace: str | None = None) -> Any:
        """`adapter.dispatch(name, package)`: `<adapter>__name`, then `default__name`, looked up
        in the project, then in the package."""
        adapter = str((self._dbt.target if self._dbt else {}).get("type", "default"))
        order = self._dbt.dispatch.get(namespace) if self._dbt and namespace else None
        if order is not None:  # dbt_project.yml's `dispatch:` search_order for the namespace
            project = self._dbt.project if self._dbt else None
            spaces = [
                self._project_macros if package == project else self._packages.get(package, {})
                for package in order
            ]
        else:
            spaces = [self._project_macros]
            if namespace and namespace in self._packages:
                spaces.append(self._packages[namespace])
            elif namespace is None:
                spaces += [self._builtins]
        for space in spaces:
            for prefix in dict.fromkeys([adapter, "default"]):
                macro = space.get(f"{prefix}__{name}")
                if macro is not None:
                    return macro
        raise CompilerError(
            f"adapter.dispatch('{name}'"
            + (f", '{namespace}'" if namespace else "")
            + f"): no macro {adapter}__{name} or default__{name}"
        )

    def call_macro(
        self,
        macro: Any,
        path: str,
        line: int | None,
        *args: Any,
        node: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Rendered:
        """Call a macro from Python (a name generator, a generic test) for the file at `path`;
        refs it makes are collected as when rendering that file."""
        frame = _Frame(path=path, template=None, incremental=False, result=Rendered(""), node=node)
        self._stack.append(frame)
        try:
            value = macro(*args, **kwargs)
        except ProjectError:
            raise
        except Exception as error:
            raise _translate(error, path, line, _innermost(error)) from None
        finally:
            self._stack.pop()
        frame.result.text = str(value)
        return frame.result

    def render(
        self,
        text: str,
        path: str,
        *,
        incremental: bool = False,
        node: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        collected: Rendered | None = None,
        mask: bool = True,
    ) -> Rendered:
        """Render one model, test or query; errors carry the file and the template line.
        `node` is what `{{ model }}` shows of it (dbt); `variables`, when given, are all that
        `var()` sees (dbt renders dbt_project.yml with the command line's variables only).
        A plain template (`tidegate.project.plain`) is rendered without Jinja, to the same result.
        `collected`, when given, gathers what the render asked for, also when it fails (the
        configs a model set before its error). The values `env_var()` returned are masked in the
        text, unless `mask` is false (a setting of dbt_project.yml, which is a value, not SQL
        that runs)."""
        pieces = plain.split(text)
        rendered = None
        if pieces is not None:
            rendered = self._render_plain(pieces, path, incremental, node, variables)
        if rendered is None:
            rendered = self._render_jinja(text, path, incremental, node, variables, collected)
        if rendered.env_vars and mask:
            rendered.text = envvars.mask(rendered.text, rendered.env_vars)
        return rendered

    def _render_jinja(
        self,
        text: str,
        path: str,
        incremental: bool = False,
        node: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        collected: Rendered | None = None,
    ) -> Rendered:
        """Render any template with Jinja (see `render`)."""
        template = self._compile(text, path)
        frame = _Frame(
            path=path,
            template=template,
            incremental=incremental,
            result=collected if collected is not None else Rendered(""),
            node=node,
            variables=variables,
        )
        self._stack.append(frame)
        try:
            frame.result.text = self._run(path, template, template.render)
        finally:
            self._stack.pop()
        return frame.result

    def _render_plain(
        self,
        pieces: list[str | plain.Call],
        path: str,
        incremental: bool,
        node: Mapping[str, Any] | None,
        variables: Mapping[str, Any] | None,
    ) -> Rendered | None:
        """A plain template rendered without Jinja, exactly as Jinja renders it (`str()` of what
        each call returns); None when a call is not tidegate's own function (a macro of the
        project replaces it) or fails: Jinja then renders it, and reports the error as always."""
        frame = _Frame(path, None, incremental, Rendered(""), node, variables)
        self._stack.append(frame)
        parts = []
        try:
            for piece in pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                    continue
                function = self._plain.get(piece.name)
                if (
                    function is None
                    or self.env.globals.get(piece.name) is not function
                    or (piece.args is None) != (piece.name == "this")  # `{{ this }}`, `{{ ref(...) }}`
                ):
                    return None
                frame.line = piece.line
                call = self._plain[piece.name]
                parts.append(str(call if piece.args is None else call(*piece.args, **piece.kwargs)))
        except Exception:
            return None
        finally:
            self._stack.pop()
        frame.result.text = "".join(parts)
        return frame.result

    def _compile(self, text: str, path: str, globals: dict[str, Any] | None = None) -> jinja2.Template:
        """Compile through the loader, so the bytecode cache skips unchanged templates.
        `globals` are a package's own macros, which its macros call without the package name."""
        name = f"{path}#{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()}"
        self._texts[name] = (text, path)
        try:
            return self.env.get_template(name, globals=globals)
        except jinja2.TemplateSyntaxError as error:
            raise ProjectError(f"Jinja syntax error: {error.message}", path=path, line=error.lineno) from None

    def _template_source(self, name: str) -> tuple[str, str, Callable[[], bool]]:
        text, path = self._texts[name]
        return text, path, lambda: True

    def _run(self, path: str, template: jinja2.Template, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ProjectError:
            raise
        except Exception as error:  # a macro may raise anything; the user needs file and line
            line, inner = _error_location(error, path)
            raise _translate(error, path, line, inner) from None

    @property
    def _frame(self) -> _Frame:
        if not self._stack:
            raise ProjectError("ref(), source() and config() can only be called while rendering a model")
        return self._stack[-1]

    def _line(self) -> int | None:
        """The template line being rendered, read from the Python frames Jinja compiled."""
        template = self._frame.template
        if template is None:
            return self._frame.line
        # Match on the template's own globals: a macro from macros/ also runs as "<template>"
        # code, and its Python line numbers mean nothing in the model's template.
        namespace = template.root_render_func.__globals__
        python_frame = sys._getframe(1)
        while python_frame is not None:
            if python_frame.f_globals is namespace:
                return template.get_corresponding_lineno(python_frame.f_lineno)
            python_frame = python_frame.f_back  # type: ignore[assignment]
        return None

    def resolve_ref(
        self, args: tuple[str, ...], number: Any, path: str, line: Callable[[], int | None]
    ) -> str:
        """The model `ref(*args, v=number)` reads (of a SQL model at `path`, or a dbt Python
        model's `dbt.ref`); errors name `path` and the `line()` of the call."""
        if not args or len(args) > 2:
            raise ProjectError("ref() takes a model name and optionally a package", path=path, line=line())
        name = str(args[-1])
        declared = self._dbt.versions.get(name) if self._dbt else None
        if declared is not None:  # `versions:` in properties: the version asked for, or the latest
            latest, stems = declared
            key = latest if number is None else str(number)
            if key not in stems:
                raise ProjectError(
                    f"ref('{name}', v={number!r}): {name} has versions {', '.join(stems)}",
                    path=path,
                    line=line(),
                )
            name, number = stems[key], None
        if number is not None:  # without `versions:`, dbt's versioned models are files `<name>_v<version>`
            versioned = f"{name}_v{str(number).replace('.', '_')}"
            if self._dbt is None or versioned not in self._dbt.models:
                raise ProjectError(
                    f"ref('{name}', v={number!r}): there is no model {versioned}", path=path, line=line()
                )
            name = versioned
        owner = self._dbt.model_packages.get(name) if self._dbt else None
        if len(args) == 2 and owner is not None and owner != args[0]:
            raise ProjectError(
                f"ref('{args[0]}', '{args[-1]}'): {name} is a model of {owner}, not of {args[0]}",
                path=path,
                line=line(),
            )
        return name

    def _ref(self, *args: str, version: Any = None, v: Any = None) -> Relation:
        name = self.resolve_ref(args, v if v is not None else version, self._frame.path, self._line)
        self._frame.result.refs.append((name, self._line()))
        return Relation(ref_placeholder(name), f"ref('{name}')", name, self.relations.get(name))

    def read_sources_from(self, models: Mapping[str, str]) -> None:
        """Sources (`source.table`) that read a model of the project: `source()` renders as
        `ref()` of that model."""
        self._source_models = dict(models)

    def _source(self, source: str, table: str) -> Relation:
        call = f"source('{source}', '{table}')"
        model = self._source_models.get(f"{source}.{table}")
        if model is not None:
            self._frame.result.refs.append((model, self._line()))
            return Relation(ref_placeholder(model), call, model, self.relations.get(model))
        relation = self._sources.get((source, table))
        if relation is None:
            raise ProjectError(
                f"source('{source}', '{table}') is not declared in any sources: block",
                path=self._frame.path,
                line=self._line(),
            )
        self._frame.result.sources.append(f"{source}.{table}")
        *qualifiers, identifier = relation.split(".")
        names = None
        if _NAME_PARTS.fullmatch(relation):  # `schema.identifier` or `database.schema.identifier`
            database = (
                qualifiers[0] if len(qualifiers) == 2 else str((self.target or {}).get("database") or "")
            )
            names = {"database": database, "schema": qualifiers[-1], "alias": identifier}
        return Relation(relation, call, identifier, names)

    def _config(self, *args: Any, **kwargs: Any) -> str:
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):  # dbt: config({...})
            kwargs = dict(args[0])
        elif args:
            raise ProjectError(
                "config() takes keyword arguments (or one mapping)", path=self._frame.path, line=self._line()
            )
        result = self._frame.result
        result.config.update(kwargs)
        if "materialized" in kwargs:  # where a model refused for its materialization says it
            result.config_lines["materialized"] = self._line()
        return ""

    def _config_scope(self) -> ConfigScope | None:
        """The configs `config.get` reads: the node's, with those its `config()` calls set so far."""
        frame = self._stack[-1] if self._stack else None
        if frame is None or frame.node is None:
            return None
        node = frame.node
        values = {**(node.get("config") or {}), **frame.result.config}
        return ConfigScope(str(node.get("unique_id")), str(node.get("resource_type")), values)

    def _reads_config(self) -> None:
        if self._stack:
            self._frame.result.reads_config = True

    def _var(self, name: str, default: Any = _MISSING) -> Any:
        variables: Mapping[str, Any] = self._variables
        if self._stack and self._frame.variables is not None:
            variables = self._frame.variables
        elif self._dbt and self._dbt.package_variables and self._stack:
            folder = "/".join(self._frame.path.split("/", 2)[:2])  # a package's node: its vars
            variables = self._dbt.package_variables.get(folder, variables)
        if name in variables:
            return variables[name]
        if default is _MISSING:
            raise ProjectError(
                f"var('{name}') is not defined",
                path=self._frame.path,
                line=self._line(),
                hint="define it under vars: in tidegate.yml, pass --vars, or give var() a default",
            )
        return default

    def _env_var(self, name: str, default: Any = _MISSING) -> Any:
        refused = envvars.refuse_secret(name)
        if refused:
            raise ProjectError(refused, path=self._frame.path, line=self._line())
        if name in os.environ:
            if self._stack:
                self._frame.result.env_vars[name] = os.environ[name]
            return os.environ[name]
        if default is _MISSING:
            raise ProjectError(
                f"env_var('{name}'): the environment variable is not set and has no default",
                path=self._frame.path,
                line=self._line(),
            )
        return default

    def _is_incremental(self) -> bool:
        return self._frame.incremental

    def _should_store_failures(self) -> bool:
        """dbt's `should_store_failures()`: the node's `store_failures` config (tests read it to
        select every column of the failing rows rather than a constant)."""
        node = self._stack[-1].node if self._stack else None
        return bool(((node or {}).get("config") or {}).get("store_failures"))

    # run_query and statement blocks: only queries that read no relation -------------------

    def _run_query(self, sql: Any) -> Table:
        return self._constant_query(str(sql), "run_query")

    def _statement(
        self,
        name: str | None = None,
        fetch_result: bool = False,
        auto_begin: bool = True,
        language: str = "sql",
        caller: Callable[[], Any] | None = None,
    ) -> str:
        feature = "statement blocks ({% call statement(...) %})"
        if language != "sql":
            raise Unsupported(f"{feature} in {language}")
        table = self._constant_query(str(caller()) if caller else "", feature)
        if name is not None:
            self._statement_results[name] = {
                "response": types.SimpleNamespace(code="SELECT", rows_affected=len(table)),
                "data": [list(row) for row in table.rows],
                "table": table,
            }
        return ""

    def _load_result(self, name: str) -> Any:
        return self._statement_results.get(name)

    def _constant_query(self, sql: str, feature: str) -> Table:
        """Run a query that reads no table (see :class:`ConstantQueries`); one that reads the
        warehouse is :class:`Unsupported`, naming what it reads."""
        engine = for_dbt_adapter(str((self.target or {}).get("type"))) or DEFAULT_ENGINE
        dialect = engine.dialect  # the SQL a target's macros write
        read = relations_read(sql, dialect)
        if read is None:
            statement = " ".join(sql.split())[:80]
            raise Unsupported(f"{feature} running `{statement}`")
        if read:
            raise Unsupported(f"{feature} reading {', '.join(read)}")
        if self._constants is None:
            self._constants = ConstantQueries(dialect)
        try:
            return self._constants.run(sql)
        except Exception as error:  # the query is the project's: say which one failed
            raise CompilerError(f"{feature}: the query failed: {error}") from None

    def close(self) -> None:
        """Keep the templates compiled, and release the in-memory database of constant queries."""
        if self._bytecode is not None:
            self._bytecode.save()
        if self._constants is not None:
            self._constants.close()


class _Adapter:
    """dbt's `adapter`: `dispatch` and `quote`; everything that would query the warehouse
    (`get_columns_in_relation`, `get_relation`, ...) is :class:`Unsupported`."""

    def __init__(self, renderer: Renderer, kind: str) -> None:
        self._renderer = renderer
        self.type = _AdapterType(kind)

    def dispatch(self, macro_name: str, macro_namespace: str | None = None, packages: Any = None) -> Any:
        return self._renderer.dispatch(macro_name, macro_namespace)

    def quote(self, identifier: str) -> str:
        return '"' + str(identifier).replace('"', '""') + '"'

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        raise Unsupported(f"adapter.{name}")


class _AdapterType(str):
    """`adapter.type`: dbt's is a method (`adapter.type()`); reading it as a value works too."""

    def __call__(self) -> str:
        return str(self)


class _Node:
    """dbt's `model` (and `node`): the node being rendered, as a few of its fields."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def _fields(self) -> Mapping[str, Any]:
        frame = self._renderer._stack[-1] if self._renderer._stack else None
        return (frame.node if frame else None) or {}

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        fields = self._fields()
        if name in fields:
            return fields[name]
        raise Unsupported(f"model.{name}")

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields().get(name, default)


class _This:
    """`{{ this }}`: the model's own relation, known only when the model is built (its
    snapshot's table or view, which differs per fingerprint). Its attributes `schema`,
    `identifier` (and `name`, `table`) and `database` are what dbt gives in prod: the schema and
    alias of the model's view as dbt names them, and the target's database."""

    _NAMES = {
        "schema": "schema",
        "identifier": "alias",
        "name": "alias",
        "table": "alias",
        "database": "database",
    }

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def __getattr__(self, name: str) -> Any:
        if is_internal(name):
            raise AttributeError(name)
        if name not in self._NAMES:
            raise Unsupported(f"this.{name}")
        frame = self._renderer._frame
        fields = frame.node or {}
        if "relation" not in fields:
            if frame.node is None:
                raise Unsupported(f"this.{name} outside a model")
            frame.result.uses_this_names = True  # the loader renders again once names are known
            return ""
        return fields["relation"][self._NAMES[name]]

    def __str__(self) -> str:
        return THIS_PLACEHOLDER

    def __html__(self) -> str:
        return THIS_PLACEHOLDER

    def render(self) -> str:
        return THIS_PLACEHOLDER


def _defined_names(template: jinja2.Template) -> dict[str, Any]:
    """Every name a file of macros defines, `_private` ones included: Jinja's modules leave
    those out, but dbt's packages call them (`dbt_utils._is_relation`)."""
    # The file's context looks names up in the template's globals as they are when a macro
    # runs (not a copy made now): a macro may call one that a later file or package defines.
    names: Any = template.globals
    if isinstance(names, collections.ChainMap) and all(type(m) is dict and not m for m in names.maps[:-1]):
        names = names.maps[-1]  # the environment's globals alone: a dict is faster to look up
    context = template.new_context(names, shared=True)
    for _ in template.root_render_func(context):
        pass
    return dict(context.vars)


class _BytecodeFile(jinja2.BytecodeCache):
    """Compiled templates on disk, all in one file: compiling Jinja is most of the cost of
    loading a project, and reading one file is much faster than reading one per template. The
    file keeps what the last load used; like every cache, it is only ever an optimisation (Jinja
    checks each entry's checksum and Python version, and a file that cannot be read is ignored).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp = f"1:{jinja2.__version__}"
        self._entries: dict[str, bytes] = read_entries(path, self._stamp, marshal.loads)
        self._used: dict[str, bytes] = {}
        self._changed = False

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._entries.get(bucket.key)
        if isinstance(data, bytes):
            bucket.bytecode_from_string(data)  # resets the bucket when stale
            if bucket.code is not None:
                self._used[bucket.key] = data

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._used[bucket.key] = bucket.bytecode_to_string()
        self._changed = True

    def save(self) -> None:
        """Write what this load used, when it differs from the file; best effort."""
        if not self._changed and self._used.keys() == self._entries.keys():
            return
        write_entries(self._path, self._stamp, self._used, marshal.dumps)


def _cte(name: str) -> str:
    """`api.Relation.add_ephemeral_prefix`: dbt's name for an ephemeral model's CTE."""
    return f"__dbt__cte__{name}"


def _translate(error: BaseException, path: str, line: int | None, inner: str | None) -> ProjectError:
    """A ProjectError for an exception raised while rendering `path`."""
    if isinstance(error, Unsupported):
        text = str(error)
    elif isinstance(error, CompilerError):
        text = f"compilation error: {error}"
    elif isinstance(error, _Return):
        text = "return() is only allowed inside a macro"
    elif isinstance(error, jinja2.UndefinedError):  # a name or attribute the project never defined
        text = f"compilation error: {error.message}"
        if _UNDEFINED_NAME.fullmatch(error.message or ""):
            hint = "it is no macro of the project or its packages, nor part of dbt's context"
            return ProjectError(f"{text} (in {inner})" if inner else text, path=path, line=line, hint=hint)
    else:
        text = f"Jinja error: {type(error).__name__}: {error}"
    return ProjectError(f"{text} (in {inner})" if inner else text, path=path, line=line)


def _innermost(error: BaseException) -> str | None:
    """`file:line` of the deepest template frame of a traceback."""
    found = None
    traceback = error.__traceback__
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if not filename.endswith(".py") and not filename.startswith("<"):
            found = f"{filename}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return found


def _error_location(error: BaseException, path: str) -> tuple[int | None, str | None]:
    """Where a runtime error happened, from the traceback Jinja rewrote to template lines.

    The line is in `path`, the file being rendered; when the error was raised deeper, in a macro
    of another file, that place is returned too as `file:line`.
    """
    line, inner = None, None
    traceback = error.__traceback__
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename == path:
            line, inner = traceback.tb_lineno, None
        elif line is not None and not filename.endswith(".py"):
            inner = f"{filename}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return line, inner


def ref_names(rendered: Rendered) -> tuple[str, ...]:
    """Distinct refs in first-use order."""
    return tuple(dict.fromkeys(name for name, _ in rendered.refs))
