"""Ephemeral models tidegate cannot render or parse, and that nothing reads.

dbt never runs an ephemeral model: it inlines its SQL where another model (or a test) reads it.
One that nothing reads may hold anything (a placeholder, SQL of another dialect, a query of the
warehouse at compile time) and `dbt build` still succeeds. The loader keeps such a model with its
text as written, never built, and raises its error only if something turns out to read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tidegate.errors import ProjectError
from tidegate.project.project import Project


class Unbuildable:
    """The ephemeral models of one load that could not be rendered or parsed, with their errors."""

    def __init__(self) -> None:
        self.errors: dict[str, ProjectError] = {}

    def add(self, model: str, error: ProjectError) -> None:
        self.errors[model] = error

    def keep_unparsed(self, model: str) -> Callable[[ProjectError], None]:
        """The `on_error` of an ephemeral model's query: keep it as written, note the error."""
        return lambda error: self.add(model, error)

    def check(self, refs: Iterable[tuple[str, str, str, int | None]], project: Project) -> None:
        """Raise the error of one that a model, test, unit test or dashboard reads (`refs`:
        the loader's `(reader, model, path, line)` of every ref)."""
        if not self.errors:
            return
        readers = {ref: (user, path, line) for user, ref, path, line in refs}
        readers.update((t.model, (t.name, t.location.path, t.location.line)) for t in project.unit_tests)
        readers.update(
            (m, (t.name, t.location.path, t.location.line)) for t in project.tests for m in t.models
        )
        for name, error in self.errors.items():
            if name in readers:
                user, path, line = readers[name]
                where = f"{path}:{line}" if line else path
                raise ProjectError(
                    error.message,
                    path=error.path,
                    line=error.line,
                    model=name,
                    hint=f"{user} ({where}) reads this ephemeral model, so it must render",
                ) from None
