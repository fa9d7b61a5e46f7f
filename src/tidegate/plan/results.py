"""What applying reports: test results, the apply's outcome, and progress callbacks.

Kept apart from the apply machinery so that output code can use them without importing sqlglot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TestResult:
    name: str
    kind: str
    severity: str
    failures: int
    models: list[str]
    details: list[str] = field(default_factory=list)
    path: str | None = None
    line: int | None = None
    seconds: float = 0.0
    failures_relation: str | None = None
    """Where the test keeps its failing rows (dbt's `store_failures`): empty when it passed."""
    outcome: str | None = None
    """`pass`, `warn` or `error` for a test with dbt's `warn_if`/`error_if` (then `failures` is
    what its `fail_calc` computed); None when failing rows fail it, as by default."""

    @property
    def passed(self) -> bool:
        return self.outcome == "pass" if self.outcome else self.failures == 0

    @property
    def blocking(self) -> bool:
        if self.outcome:
            return self.outcome == "error"
        return not self.passed and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """As `--json` and the CI report show a test."""
        return {
            "name": self.name,
            "kind": self.kind,
            "severity": self.severity,
            "passed": self.passed,
            "failures": self.failures,
            "models": self.models,
            "details": self.details,
            "failures_relation": self.failures_relation,
            "path": self.path,
            "line": self.line,
        }


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
    Ephemeral models are listed too (they have nothing to build); the CLI leaves them out."""
    build_seconds: dict[str, float] = field(default_factory=dict)
    unit_tests: list[TestResult] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    views_changed: int = 0


class Progress:
    """What an apply reports while it works; the CLI draws it, the API ignores it."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None: ...

    def message(self, text: str) -> None: ...
