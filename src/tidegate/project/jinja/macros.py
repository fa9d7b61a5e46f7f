"""The macros a render can call: the project's, dbt's own and each package's, and
`adapter.dispatch` among them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from tidegate.errors import ProjectError
from tidegate.project import materializations
from tidegate.project.dbt_builtins import BUILTIN_MACROS, BUILTINS_PATH
from tidegate.project.dbt_context import CompilerError, Unsupported, dispatched, is_internal
from tidegate.project.jinja.errors import run
from tidegate.project.jinja.runtime import defined_names
from tidegate.project.jinja.settings import DbtSettings

_TEST_BLOCK = re.compile(r"\{%(-?)\s*test\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_END_TEST = re.compile(r"\{%(-?)\s*endtest\s*(-?)%\}")
_MACRO_NAMES = re.compile(r"\{%-?\s*(macro|test)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_SNAPSHOT_BLOCK = re.compile(r"\{%-?\s*snapshot\b")

Compile = Callable[[str, str, dict[str, Any] | None], jinja2.Template]
"""Compile a template's text for a file, with a package's macros as its globals (see `Renderer`)."""


class Macros:
    """The project's macros (global names of every render), dbt's own (found after the
    project's, see `BuiltinsLastContext`) and each package's (under the package's name)."""

    def __init__(self, env: jinja2.Environment, compile: Compile, dbt: DbtSettings | None) -> None:
        self._env = env
        self._compile = compile
        self._dbt = dbt
        self.project: dict[str, Any] = {}
        self.builtins: dict[str, Any] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self._where: dict[str, str] = {}
        """Macro of the project or dbt's -> its file, to name both files of a macro defined twice."""

    def load_dbt(self, dbt: DbtSettings) -> None:
        """dbt's own macros and the packages' (compiled when first called), each package's
        macros under its name, and the project's under the project's name too."""
        self._env.dbt_builtins = self.builtins  # type: ignore[attr-defined]
        self.load(BUILTINS_PATH, BUILTIN_MACROS, into=self.builtins)
        self.packages["dbt"] = self.builtins
        self._env.globals["dbt"] = _Namespace("dbt", self.builtins)
        for package, files in sorted(dbt.packages.items()):
            namespace = _PackageMacros(files, self.load)
            self.packages[package] = namespace
            self._env.globals[package] = _Namespace(package, namespace)
        if dbt.project and dbt.project not in self.packages:  # `{{ my_project.my_macro() }}`
            self.packages[dbt.project] = self.project
            self._env.globals[dbt.project] = _Namespace(dbt.project, self.project)

    def load(self, path: str, text: str, into: dict[str, Any] | None = None) -> None:
        """Compile one file of macros; `into` is the namespace they join (a package's, the
        builtins', or the project's, which is global)."""
        into = self.project if into is None else into
        snapshot = _SNAPSHOT_BLOCK.search(text)
        if snapshot:
            raise ProjectError(
                "snapshot blocks are not supported in macros",
                path=path,
                line=text.count("\n", 0, snapshot.start()) + 1,
            )
        text = materializations.without_blocks(text)  # see `Renderer.materializations`
        # dbt's `{% test name(model, column_name) %}` is the macro `test_name`
        text = _END_TEST.sub(r"{%\1 endmacro \2%}", _TEST_BLOCK.sub(r"{%\1 macro test_\2(", text))
        is_project = into is self.project
        is_global = is_project or into is self.builtins
        template = self._compile(text, path, None if is_global else into)
        defined = run(path, lambda: defined_names(template))
        for name, macro in sorted(defined.items()):
            if isinstance(macro, jinja2.runtime.Macro):
                if name in into and is_global:
                    where = self._where.get(name) if is_project else path
                    raise ProjectError(f"macro {name!r} is defined twice (also in {where})", path=path)
                into[name] = macro
                if is_global:
                    self._where[name] = path
                if is_project:  # dbt's own are found last, through the context (and `dbt.name`)
                    self._env.globals[name] = macro

    def find(self, name: str) -> Any | None:
        """A macro by name, `package.name` for a package's; the project's own come first."""
        package, _, short = name.rpartition(".")
        if package:
            return self.packages.get(package, {}).get(short)
        return self.project.get(name) or self.builtins.get(name)

    def is_dbts(self, name: str) -> bool:
        """Whether the macro `name` is dbt's own (the project does not define one of that name)."""
        return name not in self.project and name in self.builtins

    def dispatch(self, name: str, namespace: str | None = None) -> Any:
        """`adapter.dispatch(name, package)`: `<adapter>__name`, then `default__name`, looked up
        in the project, then in the package."""
        adapter = self._dbt.adapter if self._dbt else "default"
        order = self._dbt.dispatch.get(namespace) if self._dbt and namespace else None
        spaces: list[Mapping[str, Any]]
        if order is not None:  # dbt_project.yml's `dispatch:` search_order for the namespace
            project = self._dbt.project if self._dbt else None
            spaces = [
                self.project if package == project else self.packages.get(package, {}) for package in order
            ]
        else:
            spaces = [self.project]
            if namespace and namespace in self.packages:
                spaces.append(self.packages[namespace])
            elif namespace is None:
                spaces += [self.builtins]
        return dispatched(name, namespace, spaces, adapter)


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
