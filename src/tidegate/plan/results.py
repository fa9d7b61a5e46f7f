"""What applying reports: test results, the apply's outcome, and progress callbacks.

Kept apart from the apply machinery so that output code can use them without importing sqlglot.
Each result turns itself into plain data (`to_dict`), the form `--json`, CI reports and the
state's run records print or keep.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidegate.errors import CheckFailed
from tidegate.project.model import Severity

if TYPE_CHECKING:
    from tidegate.plan.plan import Plan


class Outcome(enum.StrEnum):
    """What dbt's `warn_if`/`error_if` make of a test's `fail_calc`."""

    PASS = "pass"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class TestResult:
    name: str
    kind: str
    severity: Severity
    failures: int
    models: list[str]
    details: list[str] = field(default_factory=list)
    path: str | None = None
    line: int | None = None
    seconds: float = 0.0
    failures_relation: str | None = None
    """Where the test keeps its failing rows (dbt's `store_failures`): empty when it passed."""
    outcome: Outcome | None = None
    """For a test with dbt's `warn_if`/`error_if` (then `failures` is what its `fail_calc`
    computed); None when failing rows fail it, as by default."""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS if self.outcome else self.failures == 0

    @property
    def blocking(self) -> bool:
        if self.outcome:
            return self.outcome is Outcome.ERROR
        return not self.passed and self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity.value,
            "passed": self.passed,
            "failures": self.failures,
            "models": self.models,
            "details": self.details,
            "failures_relation": self.failures_relation,
            "path": self.path,
            "line": self.line,
        }


class TestsFailed(CheckFailed):
    """Tests that block failed, so nothing was changed (exit code 1). Carries the results of
    every test that ran, for the CLI to show the failures before the message; located at the
    first failure."""

    def __init__(self, results: list[TestResult], what: str) -> None:
        failed = [result for result in results if result.blocking]
        names = ", ".join(result.name for result in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        super().__init__(
            f"{len(failed)} {what}(s) failed: {names}{more}; the environment was not changed",
            path=failed[0].path,
            line=failed[0].line,
        )
        self.results = results

    def to_dict(self) -> dict[str, object]:
        """Named `CheckFailed`, as `--json` documents name every failed check."""
        return super().to_dict() | {"error": CheckFailed.__name__}


@dataclass
class ApplyResult:
    environment: str
    version: int | None = None
    built: list[str] = field(default_factory=list)
    """Snapshots materialized by this apply."""
    reused: list[str] = field(default_factory=list)
    """Changed models whose snapshot this apply did not materialize: found already built when
    planned (the same fingerprint built for another environment) or by an interrupted earlier
    apply of the plan, or keeping their physical table through a parent's non-breaking change.
    Ephemeral models are listed too (they have nothing to build); see `kept`."""
    build_seconds: dict[str, float] = field(default_factory=dict)
    unit_tests: list[TestResult] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    views_changed: int = 0

    def kept(self, plan: Plan | None) -> list[str]:
        """The snapshots the apply of `plan` kept instead of building: `reused` less the
        ephemeral models, which have none (they are inlined)."""
        if plan is None:
            return self.reused
        return [n for n in self.reused if n not in plan.mapping or plan.mapping[n].kind.has_relation]

    def to_dict(self, plan: Plan | None = None) -> dict[str, Any]:
        """The apply as plain data; with the `plan` applied, ephemeral models are not listed
        as reused."""
        return {
            "environment": self.environment,
            "version": self.version,
            "built": self.built,
            "reused": self.kept(plan),
            "views_changed": self.views_changed,
            "tests": [result.to_dict() for result in self.unit_tests + self.tests],
        }


class Progress:
    """What an apply reports while it works; the CLI draws it, the API ignores it."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None: ...

    def message(self, text: str) -> None: ...
