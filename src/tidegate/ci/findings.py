"""A finding: one problem at a place in a file, whoever found it.

Linters report them (`tidegate lint`, a tool's code on a file, line and column), the steps of
`tidegate ci` too (a failed test, a broken dashboard query, a destructive infrastructure change),
and so does the CI report about the pull request as a whole (it conflicts with its base). One
type, so that every format (the console, JSON, Markdown, GitHub annotations) reads them alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning", "notice"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """Lines and columns start at 1; a problem with a whole file is on line 1, column 1 (a lint)
    or on no line (a step's)."""

    message: str
    path: str | None = None
    """With forward slashes; relative to the project when linting, to the repository's top level
    in the CI report (as GitHub annotates files)."""
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"
    code: str = ""
    """The tool's code: `LT01`, `PRS` (unparsable SQL), `TMP` (Jinja), `F401`, `duplicate-key`..."""
    tool: str = ""
    """What found it when a linter did: `sqlfluff`, `ruff`, `yaml`."""
    title: str = ""
    """What the problem is, in a few words (the title of its annotation)."""

    def sort_key(self) -> tuple[str, int, int, str, str, str, str, str]:
        """File and line order, then the code and the message."""
        return (
            self.path or "",
            self.line or 0,
            self.column or 0,
            self.code,
            self.message,
            self.severity,
            self.tool,
            self.title,
        )

    def to_dict(self) -> dict[str, Any]:
        """As JSON shows it: the place, the message, and the code, tool and title it has."""
        document: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }
        document.update({key: value for key in ("code", "tool", "title") if (value := getattr(self, key))})
        return document


def position(value: Any) -> int:
    """A line or column as tools report it, at least 1 (0 or none: the whole file)."""
    return max(value, 1) if isinstance(value, int) else 1


def relative(root: Path, filename: str) -> str:
    """A tool's file name relative to the project (as given when it is outside)."""
    path = Path(os.path.abspath(root / filename))
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else filename
