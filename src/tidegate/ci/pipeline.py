"""`tidegate ci`: everything a pull request must pass, in one process, each step timed.

The order is the order of cost and of dependence: lint and DAG checks read only files; the plan
builds the pull-request environment on top of production (only what the pull request changed and
its breaking downstream; everything else is production's snapshots); tests, impact and data diff
read that environment. A step that cannot run because an earlier one failed says so.

Problems in the pull request's files are failed checks (exit 1) or bad input (exit 2), and the
report is written either way, so the pull request always gets its comment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.ci.report import Case, Finding, Report, Step, Table
from tidegate.errors import ConfigError, TidegateError
from tidegate.processes import Worker, WorkerDied

if TYPE_CHECKING:
    from tidegate.ci.lint import LintResult
    from tidegate.context import Context
    from tidegate.git.repository import ChangedFile, Repository
    from tidegate.plan.plan import Plan
    from tidegate.plan.results import TestResult


@dataclass(frozen=True)
class CiRequest:
    project_dir: Path
    base: str
    head: str
    pull_request: int | None
    threads: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)


class StepProgress:
    """What the pipeline says while it works; the CLI prints it, the API ignores it."""

    def started(self, title: str) -> None: ...

    def finished(self, step: Step) -> None: ...

    def notice(self, finding: Finding) -> None:
        """A warning about the pull request as a whole (it conflicts with its base...)."""


@dataclass
class _Run:
    """What one CI run knows so far, shared by its steps."""

    request: CiRequest
    repo: Repository
    head: str
    """The commit being checked."""
    prefix: str
    """The project directory relative to the repository's top level ("" at the top)."""
    changed: list[ChangedFile]
    context: Context
    environment: str
    plan: Plan | None = None
    lint_job: Worker[LintResult] | None = None
    """Linting runs in another process while the pull request's environment is built."""

    def repo_path(self, path: str | None) -> str | None:
        """A project-relative path as GitHub annotates it: relative to the repository."""
        return f"{self.prefix}{path}" if path else None

    @property
    def changed_paths(self) -> list[str]:
        return [change.path for change in self.changed if change.status != "deleted"]


class Pipeline:
    def __init__(self, request: CiRequest, progress: StepProgress | None = None) -> None:
        self.request = request
        self.progress = progress or StepProgress()

    def run(self, context_factory: Callable[[Path, Path], Context]) -> Report:
        """Run every step against the pull request's head; `context_factory(files, workspace)`
        opens the project read from `files` whose warehouses resolve in `workspace`."""
        from tidegate.ci.notices import notices
        from tidegate.git.repository import Repository
        from tidegate.git.workspace import project_files

        started = time.perf_counter()
        request = self.request
        repo = Repository(request.project_dir)
        base, head = repo.resolve(request.base), repo.resolve(request.head)
        changed = repo.changed_files(base, head)
        if request.pull_request is None:
            raise ConfigError("no pull-request number: pass --pr N (CI systems give it in pull-request jobs)")
        conflicts, warnings = notices(repo, request.base, head)
        for notice in warnings:
            self.progress.notice(notice)
        with (
            project_files(repo, head) as files,
            context_factory(files, request.project_dir) as context,
            ExitStack() as workers,
        ):
            prefix = f"{repo.prefix}/" if repo.prefix else ""
            run = _Run(request, repo, head, prefix, changed, context, f"pr_{request.pull_request}")
            try:
                pattern = context.config.pull_requests.environment
                run.environment = context.environment(pattern.format(number=request.pull_request))
            except TidegateError as error:  # no step can run: the report still says why
                project, steps = repo.project_dir.name, self._unconfigured(run, error)
            else:
                project = context.config.name
                if context.config.ci.lint and run.changed_paths:
                    # forked now: nothing is connected yet (the context opens its warehouses lazily)
                    run.lint_job = workers.enter_context(Worker(_lint, files, run.changed_paths))
                # the background step is collected last, so that it overlaps the others
                ran = {
                    name: self._step(run, name, title, body)
                    for name, title, body in sorted(_STEPS, key=lambda s: s[2] is lint_step)
                }
                steps = [ran[name] for name, _, _ in _STEPS]
        return Report(
            project=project,
            environment=run.environment,
            base=base,
            head=head,
            pull_request=request.pull_request,
            changed_files=tuple(run.repo_path(c.path) or "" for c in changed),
            steps=tuple(steps),
            seconds=time.perf_counter() - started,
            notices=warnings,
            conflicts=tuple(conflicts),
        )

    def _unconfigured(self, run: _Run, error: TidegateError) -> list[Step]:
        """A configuration (tidegate.yml, dbt_project.yml) that does not load at head: the one
        failed step, and every other skipped."""
        title = "Project configuration"
        failed = replace(_error_step(run, title, error), name="config", title=title)
        self.progress.finished(failed)
        why = _skipped("the project's configuration did not load")
        return [failed, *(replace(why, name=name, title=title) for name, title, _ in _STEPS)]

    def _step(self, run: _Run, name: str, title: str, body: Callable[[_Run], Step]) -> Step:
        self.progress.started(title)
        started = time.perf_counter()
        try:
            step = body(run)
        except TidegateError as error:
            step = _error_step(run, title, error)
        step = replace(step, name=name, title=title, seconds=step.seconds or time.perf_counter() - started)
        self.progress.finished(step)
        return step


def _lint(root: Path, paths: list[str]) -> LintResult:
    from tidegate.ci.lint import lint

    return lint(root, paths)


def _error_step(run: _Run, title: str, error: TidegateError) -> Step:
    """A step stopped by an error: bad input in the pull request (exit 2: a file that does not
    load, an unknown ref) or a check that failed (exit 1), as the error says; its file and line
    are in the summary, which the console, the table of steps and JUnit show."""
    path = _error_path(run, error.path)
    where = f"{path}:{error.line}" if path and error.line else path
    finding = Finding(
        error.message + (f" ({error.hint})" if error.hint else ""),
        path=path,
        line=error.line,
        title=f"{title}{f' ({error.model})' if error.model else ''}",
    )
    return Step(
        status="failed",
        summary=f"stopped: {where + ': ' if where else ''}{error.message}",
        exit_code=error.exit_code,
        findings=(finding,),
        data={"error": {**error.to_dict(), "path": path}},
    )


def _error_path(run: _Run, path: str | None) -> str | None:
    """An error's file relative to the repository, as findings name files (an error may name
    a file of the checked-out copy by its absolute path)."""
    if path is None or not Path(path).is_absolute():
        return run.repo_path(path)
    for root in (run.context.root, run.request.project_dir):
        if Path(path).is_relative_to(root):
            return run.repo_path(Path(path).relative_to(root).as_posix())
    return path


# steps ---------------------------------------------------------------------------------------


def _skipped(why: str) -> Step:
    return Step(status="skipped", summary=why)


def lint_step(run: _Run) -> Step:
    if not run.context.config.ci.lint:
        return _skipped("turned off (ci: lint: false)")
    if run.lint_job is None:
        return _skipped("no changed files")
    try:
        result = run.lint_job.result()
    except WorkerDied:  # the linting process died: lint here
        result = _lint(run.context.root, run.changed_paths)
    findings = tuple(
        Finding(f.message, run.repo_path(f.path), f.line, f.column, f.severity, f"{f.tool} {f.code}".strip())
        for f in result.findings
    )
    errors = sum(1 for f in findings if f.severity == "error")
    by_file: dict[str, list[str]] = {}
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


def dags_step(run: _Run) -> Step:
    """`tidegate dags check` of the changed DAG files: the static rules, and a real import with
    the project's Airflow when one is configured (the whole folder, as the scheduler loads it)."""
    from tidegate.orchestrate.check import check_dags

    config = run.context.config.orchestration.airflow
    dag_files = [
        p
        for p in run.changed_paths
        if config.holds(p) and p.endswith(".py") and (run.context.root / p).exists()
    ]
    if not dag_files:
        return _skipped("no changed DAG files")
    result = check_dags(run.context.root, config, dag_files)
    findings = tuple(
        Finding(p.message, run.repo_path(p.path), p.line, title=f"DAG {p.rule}") for p in result.problems
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


def plan_step(run: _Run) -> Step:
    """Plan the pull-request environment against production and apply it without running the
    tests (the next step runs and reports them); it is a sandbox, so its views always move."""
    from tidegate.cli.render import plan_summary

    context = run.context
    plan = context.plan(
        run.environment,
        base=context.config.pull_requests.base,
        git_commit=run.head,
        rebase=True,
    )
    run.plan = plan
    applied = None
    if plan.has_changes:
        untested = plan.model_copy(update={"tests": [], "unit_tests": []})
        applied = context.apply(untested, action="ci", message=f"pull request #{run.request.pull_request}")
    changes = [c for c in plan.changes if c.change != "metadata"]
    built = applied.built if applied else []
    rows = tuple(
        (
            c.model,
            c.change.replace("_", " "),
            {True: "breaking", False: "non-breaking", None: ""}[c.breaking],
            "built" if c.model in built else ("dropped" if c.change == "removed" else "reused"),
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
        data={"plan": plan_summary(plan), "built": built},
    )


def tests_step(run: _Run) -> Step:
    if run.plan is None:
        return _skipped("the plan did not finish")
    unit, data = run.context.check(run.plan)
    results = [*unit, *data]
    if not results:
        return _skipped("no tests cover the changed models")
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
        data={"tests": [_test_dict(r) for r in results]},
    )


def _test_finding(run: _Run, result: TestResult) -> Finding:
    return Finding(
        f"{result.name} ({result.kind}): {result.failures} failing row(s). {' '.join(result.details[:2])}",
        run.repo_path(result.path),
        result.line,
        severity="error" if result.blocking else "warning",
        title="test failed" if result.blocking else "test warning",
    )


def _test_case(run: _Run, result: TestResult) -> Case:
    failure = (
        None if not result.blocking else "\n".join([f"{result.failures} failing row(s)", *result.details])
    )
    return Case(result.name, result.seconds, failure=failure, path=run.repo_path(result.path))


def _test_dict(result: TestResult) -> dict[str, Any]:
    from tidegate.cli.render import test_result_dict

    return test_result_dict(result)


def impact_step(run: _Run) -> Step:
    """Column-level lineage from each changed column to models, dashboards and exposures, and
    every dashboard query the change reaches run against the pull request's environment."""
    from tidegate.ci.impact import reached_exposures, run_dashboards
    from tidegate.ci.lineage import compare

    if run.plan is None:
        return _skipped("the plan did not finish")
    context, base = run.context, run.plan.base_environment
    names = _unresolved_names(run)
    changed = [c.model for c in run.plan.changes if c.change in ("added", "directly_modified", "removed")]
    if not changed:
        return replace(_skipped("no model changed"), **names)
    lineage = compare(context, base=base, head=run.environment) if base else None
    if not context.config.ci.dashboards:
        impact = None
    else:
        impact = run_dashboards(context, run.environment, changed, lineage=lineage, base=base)
    exposures = reached_exposures(context, changed, lineage)
    failures = impact.failures if impact else ()
    findings = tuple(
        Finding(
            f"dashboard {q.dashboard}, query {q.query} fails in {run.environment}"
            + (f": column {q.missing_column} is gone" if q.missing_column else "")
            + f" ({q.error})",
            run.repo_path(q.path),
            q.line,
            title="dashboard broken",
        )
        for q in failures
    )
    columns = lineage.changes if lineage else ()
    column_rows = tuple(
        (
            f"{c.model}.{c.column}",
            c.change + (f" (was {c.previous})" if c.previous else ""),
            ", ".join(f"{r.model}.{r.column}" for r in c.downstream[:8])
            + (" …" if len(c.downstream) > 8 else ""),
            ", ".join(f"{q.dashboard}/{q.query}" for q in c.queries),
            ", ".join(c.exposures),
        )
        for c in columns
    )
    query_rows = tuple(
        (
            q.dashboard,
            q.query,
            "passed" if q.passed else "FAILED",
            q.missing_column or "",
            f"{q.seconds:.2f} s",
            "" if q.passed else (q.error or "")[:200],
        )
        for q in (impact.runs if impact else ())
    )
    dashboards = impact.dashboards if impact else (lineage.dashboards if lineage else ())
    summary = (
        f"{len(columns)} changed column(s), {len(dashboards)} dashboard(s) and "
        f"{len(exposures)} exposure(s) reached"
        + (f", {len(failures)} dashboard quer(ies) broken" if failures else "")
    )
    return Step(
        status="failed" if failures else "passed",
        summary=summary,
        findings=findings + names["findings"],
        tables=(
            Table(
                "Changed columns and what reads them",
                ("column", "change", "downstream", "dashboards", "exposures"),
                column_rows,
            ),
            Table(
                "Dashboard queries",
                ("dashboard", "query", "result", "missing column", "time", "error"),
                query_rows,
            ),
            Table(
                "Exposures reached",
                ("exposure", "type", "owner", "url", "through", "changed columns"),
                tuple(
                    (
                        e.exposure,
                        e.type,
                        e.owner,
                        e.url or "",
                        ", ".join(e.models),
                        ", ".join(map(str, e.changes)),
                    )
                    for e in exposures
                ),
            ),
            *names["tables"],
        ),
        cases=tuple(
            Case(
                f"{q.dashboard}.{q.query}",
                q.seconds,
                failure=None if q.passed else str(q),
                path=run.repo_path(q.path),
            )
            for q in (impact.runs if impact else ())
        )
        + tuple(
            Case(
                f"exposure {e.exposure}",
                path=run.repo_path(e.path),
                output=f"{e.type} owned by {e.owner or 'nobody'}"
                + (f", {e.url}" if e.url else "")
                + f": depends on {', '.join(e.models)}, which this change reaches",
            )
            for e in exposures
        ),
        data={
            "dashboards": list(dashboards),
            "queries": [q.__dict__ for q in (impact.runs if impact else ())],
            "columns": [
                {"model": c.model, "column": c.column, "change": c.change, "previous": c.previous}
                for c in columns
            ],
            "exposures": [asdict(e) for e in exposures],
            **names["data"],
        },
    )


def _unresolved_names(run: _Run) -> dict[str, Any]:
    """The tables dashboard queries name that are no model, seed or source (left as written:
    `information_schema.tables`, a table outside the project), and the ambiguous ones, which
    are warnings on the dashboard's file: as parts of an impact step."""
    rows, ambiguous, listed = [], [], []
    for dashboard in run.context.project.dashboards:
        for query in dashboard.queries:
            for name in query.unresolved:
                rows.append((dashboard.name, query.name, name.name, name.reason))
                listed.append({"dashboard": dashboard.name, "query": query.name, **asdict(name)})
                listed[-1]["reason"] = name.reason
                if name.candidates:
                    ambiguous.append(
                        Finding(
                            f"dashboard {dashboard.name}, query {query.name}: {name.name} is {name.reason}",
                            run.repo_path(dashboard.location.path),
                            dashboard.location.line,
                            severity="warning",
                            title="ambiguous name",
                        )
                    )
    table = Table(
        "Names in dashboard SQL that are not a model, seed or source (left as written)",
        ("dashboard", "query", "name", "why"),
        tuple(rows),
    )
    return {"findings": tuple(ambiguous), "tables": (table,), "data": {"unresolved": listed}}


def diff_step(run: _Run) -> Step:
    """The rows of each changed model against production, counted by the engine."""
    from tidegate.ci.diff import diff_environments

    if run.plan is None:
        return _skipped("the plan did not finish")
    base = run.plan.base_environment
    mapping = run.plan.mapping
    changed = [
        c.model
        for c in run.plan.changes
        if c.change == "directly_modified" and c.model in mapping and mapping[c.model].physical
    ]
    if base is None or not changed:
        return _skipped("no changed model exists in production" if changed else "no model changed")
    config = run.context.config.ci.diff
    result = diff_environments(run.context, base, run.environment, changed, config)
    failing = {d.model for d in result.failures(config)}
    rows = tuple(
        (
            d.model,
            ", ".join(d.key) or "(whole rows)",
            f"{d.rows_before} → {d.rows_after}",
            str(d.added),
            str(d.removed),
            "" if d.changed is None else str(d.changed),
            f"{d.percent:.1f} %",
            ", ".join(f"{c.column} ({c.changed})" for c in d.columns if c.changed)
            + "".join(f" +{name}" for name in d.columns_added)
            + "".join(f" -{name}" for name in d.columns_removed),
        )
        for d in result.models
    )
    samples = tuple(_samples(d) for d in result.models if not d.same)
    return Step(
        status="failed" if failing else "passed",
        summary=f"{len(result.models)} model(s) compared with {base}: "
        + (
            f"{len(failing)} above the {config.fail_above} % threshold"
            if failing
            else f"{sum(not d.same for d in result.models)} differ"
        ),
        tables=(
            Table(
                f"Rows against {base}",
                ("model", "key", "rows", "added", "removed", "changed", "differing", "changed columns"),
                rows,
            ),
            *(table for group in samples for table in group),
        ),
        cases=tuple(
            Case(
                d.model,
                d.seconds,
                failure=f"{d.percent:.1f} % of rows differ (threshold {config.fail_above} %)"
                if d.model in failing
                else None,
            )
            for d in result.models
        ),
        data=result.to_dict(),
    )


def _samples(diff: Any) -> tuple[Table, ...]:
    tables = []
    for kind, sample in (
        ("added", diff.samples_added),
        ("removed", diff.samples_removed),
        ("changed", diff.samples_changed),
    ):
        if sample is not None and sample.rows:
            rows = tuple(tuple("" if v is None else str(v) for v in row) for row in sample.rows)
            tables.append(Table(f"{diff.model}: rows {kind} (sample)", tuple(sample.columns), rows))
    return tuple(tables)


def infra_step(run: _Run) -> Step:
    """The infrastructure plan of production, for review beside the models: what merging
    would create, change and drop in the warehouse (`tidegate deploy` applies it)."""
    from tidegate.infra.apply import declares_infra, make_plan

    if not declares_infra(run.context):
        return _skipped("no infra/*.yml")
    environment = run.context.config.pull_requests.base
    plan = make_plan(run.context, environment)
    rows = tuple(
        (
            change.action,
            change.resource.label,
            "; ".join(f"{a}: {b!r} -> {c!r}" for a, b, c in change.differences),
            change.destructive or "",
        )
        for change in plan.changes
    )
    findings = tuple(
        Finding(
            f"{change.resource.label}: {change.destructive}; the deploy needs "
            f"`tidegate infra apply {environment} --allow-destroy`",
            run.repo_path(change.resource.location.path) if change.resource.location else None,
            change.resource.location.line if change.resource.location else None,
            severity="warning",
            title="Destructive infrastructure change",
        )
        for change in plan.destructive
    )
    counts = plan.counts
    return Step(
        status="passed",
        summary=f"{environment}: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete" + (f", {len(findings)} destructive" if findings else ""),
        findings=findings,
        tables=(
            Table(
                f"Infrastructure changes in {environment}",
                ("action", "resource", "changes", "destroys"),
                rows,
            ),
        )
        if rows
        else (),
        data=plan.to_dict(),
    )


_STEPS: list[tuple[str, str, Callable[[_Run], Step]]] = [
    ("lint", "Lint", lint_step),
    ("dags", "DAG checks", dags_step),
    ("plan", "Plan and build", plan_step),
    ("tests", "Tests", tests_step),
    ("impact", "Impact on models and dashboards", impact_step),
    ("diff", "Data diff", diff_step),
    ("infra", "Infrastructure plan", infra_step),
]
