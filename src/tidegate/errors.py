"""One exception hierarchy for everything tidegate reports to a user.

Every error carries where it came from (file, line, model) and the exit code the CLI should
return, so the command line renders all of them the same way at a single boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TidegateError(Exception):
    """Base of every error tidegate raises on purpose. Exit code 2: bad input or configuration."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        model: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.model = model
        self.hint = hint

    @property
    def location(self) -> str:
        """`file:line` (or just the file) where the error comes from, empty when unknown."""
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        parts = [self.location] if self.location else []
        if self.model:
            parts.append(f"model {self.model}")
        prefix = ": ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "model": self.model,
            "hint": self.hint,
        }


class ConfigError(TidegateError):
    """`tidegate.yml` or a YAML file of the project is invalid."""


class InvalidYaml(ConfigError):
    """A YAML file that does not parse: bad syntax, or a key given twice in one mapping."""

    def __init__(self, message: str, *, duplicate_key: bool = False, **where: Any) -> None:
        super().__init__(message, **where)
        self.duplicate_key = duplicate_key


class ProjectError(TidegateError):
    """A model, macro, seed or test cannot be loaded: Jinja, SQL, refs, cycles, duplicates."""


class PlanError(TidegateError):
    """A plan cannot be made or applied as asked (stale saved plan, unknown environment...)."""


class StateError(TidegateError):
    """The state in the warehouse does not allow the operation (missing version, dropped snapshot)."""


class GitError(TidegateError):
    """Git cannot answer as asked: not a repository, an unknown ref, a file missing at a commit."""


class BindingError(TidegateError):
    """An environment that only Git may change (bound to a branch, or in a deploy gate chain) was
    asked to change otherwise: from a working tree, a commit not on its branch, or past its gates."""


class LockError(TidegateError):
    """Another run holds the environment; raised after waiting for it as long as allowed."""

    exit_code = 1


class EngineError(TidegateError):
    """The engine rejected a statement while building, testing or swapping."""

    exit_code = 1


class InvalidSQL(EngineError):
    """The engine refused a statement as written (unknown column or table, syntax it does not
    support): the project is wrong, not the run. Exit code 2."""

    exit_code = 2


class CheckFailed(TidegateError):
    """Tests or checks failed: the work was refused, nothing was changed. Exit code 1."""

    exit_code = 1


class TerraformError(TidegateError):
    """Terraform refused a root: its files do not parse or validate, a provider cannot be
    installed, its state cannot be read. The root, file and line come from Terraform's JSON
    diagnostics. Exit code 2."""


class TerraformApplyFailed(TerraformError):
    """`terraform apply` failed part-way: what it changed stays in its state, nothing tidegate
    manages was touched, and a rerun plans what is left. Exit code 1."""

    exit_code = 1


class ShipError(TidegateError):
    """Files could not be shipped to where a scheduler reads them: the object store refused a
    request, credentials are missing, or its listing disagrees with what was uploaded. The
    message names the target, never a credential. Exit code 1."""

    exit_code = 1


class DeployStepFailed(TidegateError):
    """A step of `tidegate deploy` after the models switched (shipping the DAGs) failed. The
    models stay deployed and recorded; the run is recorded as failed with this error, and the
    next deploy of the same commit runs the step again. Carries the failed step's file and line.
    Exit code 1."""

    exit_code = 1

    def __init__(self, step: str, cause: TidegateError, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, path=cause.path, line=cause.line, model=cause.model, hint=hint)
        self.step = step
        self.cause = cause

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "step": self.step, "cause": self.cause.to_dict()}


class InternalError(TidegateError):
    """An unexpected failure inside tidegate: a bug to report, not a problem with the project."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(
            f"internal error: {message}",
            hint="this is a bug in tidegate; rerun with TIDEGATE_DEBUG=1 for the traceback and report it",
        )
