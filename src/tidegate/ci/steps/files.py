"""The steps that read only files: lint, and the checks of DAG files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.ci.findings import Finding
from tidegate.ci.report import Case, Step
from tidegate.ci.steps.run import Run, skipped
from tidegate.processes import WorkerDied

if TYPE_CHECKING:
    from tidegate.ci.lint import LintResult


def lint_changed(root: Path, paths: list[str], workspace: Path | None = None) -> LintResult:
    """What `lint_step` reports; the pipeline runs it in a worker process from the start."""
    from tidegate.ci.lint import lint

    return lint(root, paths, workspace=workspace)


def lint_step(run: Run) -> Step:
    if not run.session.config.ci.lint:
        return skipped("turned off (ci: lint: false)")
    if run.lint_job is None:
        return skipped("no changed files")
    try:
        result = run.lint_job.result()
    except WorkerDied:  # the linting process died: lint here
        result = lint_changed(run.session.root, run.changed_paths, run.project_dir)
    findings = tuple(
        replace(f, path=run.repo_path(f.path), title=f"{f.tool} {f.code}".strip()) for f in result.findings
    )
    errors = sum(1 for f in findings if f.severity == "error")
    by_file: dict[str | None, list[str]] = {}
    for f in result.findings:
        if f.severity == "error":
            by_file.setdefault(f.path, []).append(f"{f.line}:{f.column} {f.code} {f.message}")
    cases = tuple(
        Case(path, failure="\n".join(by_file[path]) if path in by_file else None, path=run.repo_path(path))
        for path in result.paths
    )
    warnings = len(findings) - errors
    summary = f"{len(result.paths)} file(s): " + (
        f"{errors} error(s), {warnings} warning(s)" if findings else "no problems"
    )
    return Step(
        seconds=sum(result.timings.values()),
        status="failed" if errors else "passed",
        summary=summary,
        findings=findings,
        cases=cases,
        data=result.to_dict(),
    )


def dags_step(run: Run) -> Step:
    """`tidegate dags check` of the changed DAG files: the static rules, and a real import with
    the project's Airflow when one is configured (the whole folder, as the scheduler loads it)."""
    from tidegate.orchestrate.check import check_dags

    config = run.session.config.orchestration.airflow
    dag_files = [
        p
        for p in run.changed_paths
        if config.holds(p) and p.endswith(".py") and (run.session.root / p).exists()
    ]
    if not dag_files:
        return skipped("no changed DAG files")
    result = check_dags(run.session.root, config, dag_files)
    findings = tuple(
        Finding(message=p.message, path=run.repo_path(p.path), line=p.line, title=f"DAG {p.rule}")
        for p in result.problems
    )
    by_file: dict[str, list[str]] = {}
    for p in result.problems:
        by_file.setdefault(p.path, []).append(f"{p.line or '-'}: [{p.rule}] {p.message}")
    cases = tuple(
        Case(path, failure="\n".join(by_file[path]) if path in by_file else None, path=run.repo_path(path))
        for path in dag_files
    )
    how = "imported with Airflow" if result.airflow else "static checks only"
    return Step(
        status="passed" if result.passed else "failed",
        summary=f"{len(dag_files)} DAG file(s), {how}: "
        + (f"{len(result.problems)} problem(s)" if result.problems else "no problems"),
        findings=findings,
        cases=cases,
        data=result.to_dict(),
    )
