"""Jinja rendering of models, tests and macros, with dbt's functions.

A model is rendered once, at load time, with `ref()` producing placeholders: the SQL that gets
fingerprinted does not depend on any environment, and compiling it for an environment is a cheap
substitution of relation names (see :mod:`tidegate.plan.compile`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from tidegate.errors import ProjectError
from tidegate.project.model import THIS_PLACEHOLDER, ref_placeholder

_MISSING = object()


@dataclass
class Rendered:
    """What rendering one file produced: the text and what it asked for along the way."""

    text: str
    refs: list[tuple[str, int | None]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Frame:
    path: str
    template: jinja2.Template | None
    incremental: bool
    result: Rendered


class Renderer:
    """One Jinja environment per project: macros are compiled once and shared by every model."""

    def __init__(
        self,
        macro_files: Mapping[str, str],
        variables: Mapping[str, Any],
        sources: Mapping[tuple[str, str], str],
        cache_dir: Path | None = None,
    ) -> None:
        self._variables = dict(variables)
        self._sources = dict(sources)
        self._stack: list[_Frame] = []
        self._texts: dict[str, tuple[str, str]] = {}
        """Template name -> (text, file): a name per distinct text, so each compiles once."""
        self.env = jinja2.Environment(
            loader=jinja2.FunctionLoader(self._template_source),
            bytecode_cache=_bytecode_cache(cache_dir),
            auto_reload=False,
            cache_size=-1,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        )
        self.env.globals.update(self._functions())
        self.macros: dict[str, str] = {}
        for path, text in sorted(macro_files.items()):
            self._load_macros(path, text)

    def _functions(self) -> dict[str, Any]:
        return {
            "ref": self._ref,
            "source": self._source,
            "config": self._config,
            "var": self._var,
            "env_var": self._env_var,
            "is_incremental": self._is_incremental,
            "this": _This(self),
            "log": lambda *args, **kwargs: "",
        }

    def _load_macros(self, path: str, text: str) -> None:
        template = self._compile(text, path)
        module = self._run(path, template, lambda: template.make_module())
        for name in dir(module):
            macro = getattr(module, name)
            if isinstance(macro, jinja2.runtime.Macro):
                if name in self.macros:
                    raise ProjectError(
                        f"macro {name!r} is defined twice (also in {self.macros[name]})", path=path
                    )
                self.macros[name] = path
                self.env.globals[name] = macro

    def render(self, text: str, path: str, *, incremental: bool = False) -> Rendered:
        """Render one model, test or query; errors carry the file and the template line."""
        template = self._compile(text, path)
        frame = _Frame(path=path, template=template, incremental=incremental, result=Rendered(""))
        self._stack.append(frame)
        try:
            frame.result.text = self._run(path, template, template.render)
        finally:
            self._stack.pop()
        return frame.result

    def _compile(self, text: str, path: str) -> jinja2.Template:
        """Compile through the loader, so the bytecode cache skips unchanged templates."""
        name = f"{path}#{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()}"
        self._texts[name] = (text, path)
        try:
            return self.env.get_template(name)
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
            message = error.message if isinstance(error, jinja2.UndefinedError) else None
            line, inner = _error_location(error, path)
            text = f"Jinja error: {message or f'{type(error).__name__}: {error}'}"
            raise ProjectError(f"{text} (in {inner})" if inner else text, path=path, line=line) from None

    @property
    def _frame(self) -> _Frame:
        if not self._stack:
            raise ProjectError("ref(), source() and config() can only be called while rendering a model")
        return self._stack[-1]

    def _line(self) -> int | None:
        """The template line being rendered, read from the Python frames Jinja compiled."""
        template = self._frame.template
        if template is None:
            return None
        # Match on the template's own globals: a macro from macros/ also runs as "<template>"
        # code, and its Python line numbers mean nothing in the model's template.
        namespace = template.root_render_func.__globals__
        python_frame = sys._getframe(1)
        while python_frame is not None:
            if python_frame.f_globals is namespace:
                return template.get_corresponding_lineno(python_frame.f_lineno)
            python_frame = python_frame.f_back  # type: ignore[assignment]
        return None

    def _ref(self, *args: str, version: Any = None, v: Any = None) -> str:
        if not args or len(args) > 2:
            raise ProjectError("ref() takes a model name and optionally a package", path=self._frame.path)
        name = str(args[-1])
        self._frame.result.refs.append((name, self._line()))
        return ref_placeholder(name)

    def _source(self, source: str, table: str) -> str:
        relation = self._sources.get((source, table))
        if relation is None:
            raise ProjectError(
                f"source('{source}', '{table}') is not declared in any sources: block",
                path=self._frame.path,
                line=self._line(),
            )
        self._frame.result.sources.append(f"{source}.{table}")
        return relation

    def _config(self, *args: Any, **kwargs: Any) -> str:
        if args:
            raise ProjectError(
                "config() takes keyword arguments only", path=self._frame.path, line=self._line()
            )
        self._frame.result.config.update(kwargs)
        return ""

    def _var(self, name: str, default: Any = _MISSING) -> Any:
        if name in self._variables:
            return self._variables[name]
        if default is _MISSING:
            raise ProjectError(
                f"var('{name}') is not defined",
                path=self._frame.path,
                line=self._line(),
                hint="define it under vars: in tidegate.yml, pass --vars, or give var() a default",
            )
        return default

    def _env_var(self, name: str, default: Any = _MISSING) -> Any:
        if name in os.environ:
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


class _This:
    """`{{ this }}`: the model's own relation, known only when the model is built."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def __str__(self) -> str:
        return THIS_PLACEHOLDER

    def __html__(self) -> str:
        return THIS_PLACEHOLDER


def _bytecode_cache(directory: Path | None) -> jinja2.BytecodeCache | None:
    """Compiled templates on disk: compiling Jinja is most of the cost of loading a project."""
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


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
