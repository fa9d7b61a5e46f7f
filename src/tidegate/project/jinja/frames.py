"""What one render produces (`Rendered`), and the stack of files being rendered that dbt's
functions read: the file, the line of the call, the node, the variables."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidegate.errors import ProjectError
from tidegate.project import envvars

if TYPE_CHECKING:
    import jinja2


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


def ref_names(rendered: Rendered) -> tuple[str, ...]:
    """Distinct refs in first-use order."""
    return tuple(dict.fromkeys(name for name, _ in rendered.refs))


@dataclass
class Frame:
    """One file being rendered (or one macro called from Python for it)."""

    path: str
    template: jinja2.Template | None
    incremental: bool
    result: Rendered
    node: Mapping[str, Any] | None = None
    variables: Mapping[str, Any] | None = None
    """The variables `var()` sees here, when not the project's (dbt_project.yml's own Jinja)."""
    line: int | None = None
    """The line of the call being made, in a template rendered without Jinja (see `plain`)."""


class Frames:
    """The files being rendered, innermost last: a macro renders for the file that called it."""

    def __init__(self) -> None:
        self._stack: list[Frame] = []

    def push(self, frame: Frame) -> None:
        self._stack.append(frame)

    def pop(self) -> None:
        self._stack.pop()

    @property
    def innermost(self) -> Frame | None:
        """The file being rendered, None between renders."""
        return self._stack[-1] if self._stack else None

    @property
    def current(self) -> Frame:
        """The file being rendered; a function of the context called outside any render fails."""
        if not self._stack:
            raise ProjectError("ref(), source() and config() can only be called while rendering a model")
        return self._stack[-1]

    def line(self) -> int | None:
        """The template line being rendered, read from the Python frames Jinja compiled."""
        template = self.current.template
        if template is None:
            return self.current.line
        # Match on the template's own globals: a macro from macros/ also runs as "<template>"
        # code, and its Python line numbers mean nothing in the model's template.
        namespace = template.root_render_func.__globals__
        python_frame = sys._getframe(1)
        while python_frame is not None:
            if python_frame.f_globals is namespace:
                return template.get_corresponding_lineno(python_frame.f_lineno)
            python_frame = python_frame.f_back  # type: ignore[assignment]
        return None
