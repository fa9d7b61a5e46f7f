"""Errors raised while rendering, as ProjectErrors naming the file and the template line (and,
when a macro of another file failed, that place too)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jinja2

from tidegate.errors import ProjectError
from tidegate.project.dbt_context import CompilerError, Unsupported
from tidegate.project.jinja.runtime import Return

_UNDEFINED_NAME = re.compile(r"'[A-Za-z_][A-Za-z0-9_]*' is undefined")


def run(path: str, call: Callable[[], Any]) -> Any:
    """`call()`, which renders `path` (or runs its macros); what it raises becomes a
    ProjectError with the file and line, as a macro may raise anything."""
    try:
        return call()
    except ProjectError:
        raise
    except Exception as error:
        line, inner = _error_location(error, path)
        raise translate(error, path, line, inner) from None


def translate(error: BaseException, path: str, line: int | None, inner: str | None) -> ProjectError:
    """A ProjectError for an exception raised while rendering `path`."""
    if isinstance(error, Unsupported):
        text = str(error)
    elif isinstance(error, CompilerError):
        text = f"compilation error: {error}"
    elif isinstance(error, Return):
        text = "return() is only allowed inside a macro"
    elif isinstance(error, jinja2.UndefinedError):  # a name or attribute the project never defined
        text = f"compilation error: {error.message}"
        if _UNDEFINED_NAME.fullmatch(error.message or ""):
            hint = "it is no macro of the project or its packages, nor part of dbt's context"
            return ProjectError(f"{text} (in {inner})" if inner else text, path=path, line=line, hint=hint)
    else:
        text = f"Jinja error: {type(error).__name__}: {error}"
    return ProjectError(f"{text} (in {inner})" if inner else text, path=path, line=line)


def innermost(error: BaseException) -> str | None:
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
