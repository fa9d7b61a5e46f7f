"""The pull request's environment: planned against production and built, then its tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidegate.ci.findings import Finding
from tidegate.ci.report import Case, Step, Table
from tidegate.ci.steps.run import Run, skipped
from tidegate.plan.plan import ChangeType

if TYPE_CHECKING:
    from tidegate.plan.results import TestResult


def plan_step(run: Run) -> Step:
    """Plan the pull-request environment against production and apply it without running the
    tests (the next step runs and reports them); it is a sandbox, so its views always move."""

    session = run.session
    plan = session.plan(
        run.environment,
        base=session.config.pull_requests.base,
        git_commit=run.head,
        rebase=True,
    )
    run.plan = plan
    applied = None
    if plan.has_changes:
        untested = plan.model_copy(update={"tests": [], "unit_tests": []})
        applied = session.apply(untested, action="ci", message=f"pull request #{run.pull_request}")
    changes = [c for c in plan.changes if c.change is not ChangeType.METADATA]
    built = applied.built if applied else []
    rows = tuple(
        (
            c.model,
            c.change.replace("_", " "),
            {True: "breaking", False: "non-breaking", None: ""}[c.breaking],
            "built" if c.model in built else ("dropped" if c.change is ChangeType.REMOVED else "reused"),
        )
        for c in changes
    )
    seconds = sum(applied.build_seconds.values()) if applied else 0.0
    return Step(
        status="passed",
        summary=f"{len(changes)} model change(s) against {plan.base_environment or 'nothing'}, "
        f"{len(built)} built ({seconds:.1f} s of builds), the rest reused",
        tables=(Table("Changes", ("model", "change", "category", "snapshot"), rows),),
        notes=tuple(plan.notes),
        data={"plan": plan.summary(), "built": built},
    )


def tests_step(run: Run) -> Step:
    if run.plan is None:
        return skipped("the plan did not finish")
    unit, data = run.session.check(run.plan)
    results = [*unit, *data]
    if not results:
        return skipped("no tests cover the changed models")
    failed = [r for r in results if r.blocking]
    warned = [r for r in results if not r.passed and not r.blocking]
    findings = tuple(_test_finding(run, r) for r in [*failed, *warned])
    rows = tuple(
        (r.name, r.kind, "passed" if r.passed else f"{r.failures} failing row(s)", "; ".join(r.details)[:300])
        for r in [*failed, *warned]
    )
    return Step(
        status="failed" if failed else "passed",
        summary=f"{len(unit)} unit test(s), {len(data)} data test(s): "
        + (f"{len(failed)} failed" if failed else "all passed")
        + (f", {len(warned)} warning(s)" if warned else ""),
        findings=findings,
        tables=(Table("Tests that did not pass", ("test", "kind", "result", "details"), rows),),
        cases=tuple(_test_case(run, r) for r in results),
        data={"tests": [r.to_dict() for r in results]},
    )


def _test_finding(run: Run, result: TestResult) -> Finding:
    return Finding(
        message=f"{result.name} ({result.kind}): {result.failures} failing row(s). "
        f"{' '.join(result.details[:2])}",
        path=run.repo_path(result.path),
        line=result.line,
        severity="error" if result.blocking else "warning",
        title="test failed" if result.blocking else "test warning",
    )


def _test_case(run: Run, result: TestResult) -> Case:
    failure = (
        None if not result.blocking else "\n".join([f"{result.failures} failing row(s)", *result.details])
    )
    return Case(result.name, result.seconds, failure=failure, path=run.repo_path(result.path))
