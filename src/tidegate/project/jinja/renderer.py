"""The Jinja environment of one project, and rendering a file with it."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from tidegate.errors import ProjectError
from tidegate.project import envvars, materializations, plain
from tidegate.project.dbt_builtins import Column
from tidegate.project.dbt_context import (
    RUN_TIME,
    RUN_TIME_MEMBERS,
    Adapter,
    Namespace,
    Refused,
    Target,
    context_members,
    ephemeral_cte,
)
from tidegate.project.jinja.bytecode import BytecodeFile
from tidegate.project.jinja.errors import innermost, run, translate
from tidegate.project.jinja.frames import Frame, Frames, Rendered
from tidegate.project.jinja.functions import Functions
from tidegate.project.jinja.macros import Macros
from tidegate.project.jinja.nodes import NodeFields, This
from tidegate.project.jinja.runtime import BuiltinsLastContext, ReturningTemplate, dbt_return, refuse
from tidegate.project.jinja.settings import DbtSettings
from tidegate.project.jinja.statements import Statements

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
        self._dbt = dbt
        self._frames = Frames()
        self._functions = Functions(self._frames, variables, sources, dbt)
        self.relations = self._functions.relations
        """Model -> dbt's names of its relation in prod (see `Functions.relations`)."""
        self._statements = Statements(str((self.target or {}).get("type")))
        self._bytecode = BytecodeFile(cache_dir / "jinja.bin") if cache_dir is not None else None
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
        self.env.template_class = ReturningTemplate
        self.env.context_class = BuiltinsLastContext
        self.env.globals.update(self._context())
        self._plain: dict[str, Any] = {name: self.env.globals[name] for name in _PLAIN_NAMES}
        """The functions a plain template calls, while the project's macros do not replace them."""
        self.macros = Macros(self.env, self._compile, dbt)
        texts = [
            *macro_files.items(),
            *(item for p in (dbt.packages if dbt else {}).values() for item in p.items()),
        ]
        self.materializations = materializations.for_adapter(texts, str((self.target or {}).get("type")))
        """`{% materialization %}` blocks by name: tidegate cannot run them (see `materializations`)."""
        if dbt is not None:
            self.env.globals.update(self._dbt_context(dbt))
            self.macros.load_dbt(dbt)
        for path, text in sorted(macro_files.items()):
            self.macros.load(path, text)

    @property
    def target(self) -> Mapping[str, Any] | None:
        """dbt's `target` (None outside a dbt project)."""
        return self._dbt.target if self._dbt else None

    def _context(self) -> dict[str, Any]:
        """The names every template sees."""
        return {
            **self._functions.members(),
            "this": This(self._frames),
            "return": dbt_return,
            **context_members(self._dbt.project if self._dbt else ""),
            **self._statements.members(),
            "load_relation": refuse("load_relation (adapter.get_relation)"),
            **{name: Refused(name, RUN_TIME) for name in RUN_TIME_MEMBERS},
        }

    def _dbt_context(self, dbt: DbtSettings) -> dict[str, Any]:
        """The names a dbt project's templates see too."""
        functions = self._functions
        return {
            "target": Target(dbt.target),
            "adapter": Adapter(dbt.adapter, self.macros.dispatch),
            "api": Namespace(
                "api", Column=Column, Relation=Namespace("api.Relation", add_ephemeral_prefix=ephemeral_cte)
            ),
            "builtins": Namespace(
                "builtins", ref=functions.ref, source=functions.source, config=functions.config
            ),
            "should_store_failures": functions.should_store_failures,
            "should_full_refresh": lambda: False,
            "model": NodeFields(self._frames),
            "node": NodeFields(self._frames),
            "run_started_at": datetime.datetime.now(datetime.UTC),
            "execute": True,
        }

    # what the loader asks of the project's macros and functions -----------------------------

    def find_macro(self, name: str) -> Any | None:
        """A macro by name, `package.name` for a package's; the project's own come first."""
        return self.macros.find(name)

    def is_dbts(self, name: str) -> bool:
        """Whether the macro `name` is dbt's own (the project does not define one of that name)."""
        return self.macros.is_dbts(name)

    def resolve_ref(
        self, args: tuple[str, ...], number: Any, path: str, line: Callable[[], int | None]
    ) -> str:
        """The model `ref(*args, v=number)` reads (see `Functions.resolve_ref`)."""
        return self._functions.resolve_ref(args, number, path, line)

    def read_sources_from(self, models: Mapping[str, str]) -> None:
        """Sources (`source.table`) that read a model of the project: `source()` renders as
        `ref()` of that model."""
        self._functions.read_sources_from(models)

    # rendering --------------------------------------------------------------------------------

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
        frame = Frame(path=path, template=None, incremental=False, result=Rendered(""), node=node)
        self._frames.push(frame)
        try:
            value = macro(*args, **kwargs)
        except ProjectError:
            raise
        except Exception as error:
            raise translate(error, path, line, innermost(error)) from None
        finally:
            self._frames.pop()
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
        frame = Frame(
            path=path,
            template=template,
            incremental=incremental,
            result=collected if collected is not None else Rendered(""),
            node=node,
            variables=variables,
        )
        self._frames.push(frame)
        try:
            frame.result.text = run(path, template.render)
        finally:
            self._frames.pop()
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
        frame = Frame(path, None, incremental, Rendered(""), node, variables)
        self._frames.push(frame)
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
            self._frames.pop()
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

    def close(self) -> None:
        """Keep the templates compiled, and release the in-memory database of constant queries."""
        if self._bytecode is not None:
            self._bytecode.save()
        self._statements.close()
