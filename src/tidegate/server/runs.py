"""One run of the controller, start to end: a deployment, the CI of a pull request, or the
teardown of a closed pull request's environment. Each goes through the very code the command
line runs (`tidegate deploy`, `tidegate ci`, `tidegate ci --close`), reading the commit from the
controller's working copy while warehouses resolve in the project directory (`workspace`).

A run never raises: what happened (steps with timings, the log, the report, the error) comes
back as an `Outcome`, which the controller records and reports to the forge.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidegate.context import Context
from tidegate.errors import StateError, TidegateError
from tidegate.git.workspace import KeptTrees
from tidegate.plan.results import Progress
from tidegate.plan.session import Loaded, Session
from tidegate.server.checkout import WorkingCopy
from tidegate.server.store import RunStatus, RunStep, now

WARM_MODULES = (
    "duckdb",
    "sqlglot",
    "sqlfluff.core",
    "sqlfluff.core.templaters.jinja",
    "tidegate.ci.lint",
    "tidegate.ci.pipeline",
    "tidegate.ci.deploy",
    "tidegate.ci.report",
    "tidegate.project.loader",
    "tidegate.plan.planner",
    "tidegate.plan.apply",
)
"""What every run imports. The lint step of a pull request's CI runs in a process forked from
the controller, which starts with what the controller imported: sqlfluff alone takes half a
second to import, paid by each pull request unless the controller holds it already."""


def warm_up(dialect: str) -> None:
    """Import, once, what the runs need, and sqlfluff's dialect for the project's."""
    from tidegate.ci.lint import sqlfluff_dialect

    for module in WARM_MODULES:
        importlib.import_module(module)
    importlib.import_module(f"sqlfluff.dialects.dialect_{sqlfluff_dialect(dialect)}")


class RunLog(Progress):
    """The lines of a run's log: what tidegate says while it works, with the time."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.steps: list[RunStep] = []

    def message(self, text: str) -> None:
        self.lines.append(f"{now()} {text}")

    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None:
        self.message(f"{stage}: {item} {'done' if ok else 'failed'} in {seconds:.2f} s")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step; it failed if it raised."""
        started = time.perf_counter()
        status = "failed"
        try:
            yield
            status = "success"
        finally:
            self.steps.append(RunStep(name, status, round(time.perf_counter() - started, 3)))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Outcome:
    status: RunStatus
    steps: list[RunStep]
    log: str
    summary: str
    """One line for the forge's commit status and the log."""
    report: dict[str, Any] | None = None
    error: str | None = None
    comment: str | None = None
    """The pull request's comment (the CI report in Markdown)."""


Opener = Callable[[Path, Path], AbstractContextManager[Context]]


class Warm:
    """What the controller keeps between runs, so that the next starts where the last left off:
    each commit's files by their git tree (`KeptTrees`), and the project loaded from them. A
    pull request's head and the merge that brings it in usually share a tree, so the deployment
    after the CI neither writes the files nor loads the project again."""

    def __init__(self, directory: Path, keep: int = 4) -> None:
        self.trees = KeptTrees(directory, keep)
        self._loaded: dict[Path, Loaded] = {}
        self._lock = threading.Lock()

    def opener(self, log: RunLog, workspace: Path, *, pull_request: bool) -> Opener:
        """As `opener`, with the project of kept files loaded once."""

        @contextmanager
        def open_context(files: Path, _proposed: Path) -> Iterator[Context]:
            with self._lock:
                loaded = self._loaded.get(files)
            with _context(files, log, workspace, pull_request, loaded) as ctx:
                yield ctx
                self._keep(files, ctx.loaded())

        return open_context

    def loaded(self, files: Path) -> Loaded:
        """The project of kept files as a run loaded it, or loaded now and kept for the next
        run: the dashboard shows a deployed commit without loading it on every page."""
        with self._lock:
            kept = self._loaded.get(files)
        if kept is not None:
            return kept
        session = Session(files)
        loaded = Loaded(session.project, session.graph, session.fingerprints)
        self._keep(files, loaded)
        return loaded

    def _keep(self, files: Path, loaded: Loaded | None) -> None:
        if loaded is None or files.parent != self.trees.directory:
            return
        with self._lock:
            self._loaded[files] = loaded
            for gone in [kept for kept in self._loaded if not kept.is_dir()]:  # trees pruned since
                del self._loaded[gone]


def opener(log: RunLog, workspace: Path, *, pull_request: bool) -> Opener:
    """How a run opens the project at a commit (`files`): warehouses always resolve in the
    project directory, whatever workspace the caller proposes (its checkout)."""

    def open_context(files: Path, _proposed: Path) -> Context:
        return _context(files, log, workspace, pull_request, None)

    return open_context


def _context(files: Path, log: RunLog, workspace: Path, pull_request: bool, loaded: Loaded | None) -> Context:
    return Context(
        files,
        progress=log,
        on_wait=log.message,
        workspace=workspace,
        pull_request=pull_request,
        loaded=loaded,
    )


def deploy(
    copy: WorkingCopy,
    workspace: Path,
    environment: str,
    commit: str,
    *,
    warm: Warm | None = None,
    log: RunLog | None = None,
) -> Outcome:
    """`tidegate deploy --env ENVIRONMENT --ref COMMIT` from the working copy; `log`, when
    given, is the one the controller shows while the run works."""
    from tidegate.ci.deploy import DeployRequest, deployment_record
    from tidegate.ci.deploy import deploy as deploy_commit

    log = log or RunLog()
    log.message(f"deploying {commit[:10]} to {environment}")
    request = DeployRequest(
        project_dir=copy.project_dir,
        environment=environment,
        ref=commit,
        workspace=workspace,
        checkout=warm.trees.files if warm else None,
    )
    open_context = (warm.opener if warm else opener)(log, workspace, pull_request=False)
    try:
        with log.step("deploy"):
            deployment = deploy_commit(request, open_context, progress=log.message)
    except TidegateError as error:
        return _failed(log, error)
    record = deployment_record(deployment)
    version = record["version"]
    applied = [done.root for done in deployment.terraform if done.outcome != "no changes"]
    if deployment.pinned is not None:
        summary = f"{environment} is pinned at v{deployment.pinned.version} by a rollback: nothing deployed"
    elif version is not None:
        summary = f"{environment} at {commit[:10]} (v{version}, {len(deployment.built)} snapshot(s) built)"
    else:
        summary = f"{environment} already at {commit[:10]}: {'models unchanged' if applied else 'nothing to change'}"
    if applied:
        summary += f"; Terraform applied to {', '.join(applied)}"
    if deployment.dags is not None and deployment.dags.changed:
        summary += f"; DAGs {deployment.dags.release} shipped"
    log.message(summary)
    report = {key: value for key, value in record.items() if key != "plan"}
    return Outcome(RunStatus.SUCCESS, log.steps, log.text, summary, report=report)


def pull_request_ci(
    copy: WorkingCopy,
    workspace: Path,
    number: int,
    head: str,
    base_branch: str,
    *,
    warm: Warm | None = None,
    log: RunLog | None = None,
) -> Outcome:
    """`tidegate ci --base origin/BASE --head HEAD --pr N`: the same pipeline, the same report."""
    from tidegate.ci.pipeline import CiRequest, Pipeline
    from tidegate.ci.report import markdown

    log = log or RunLog()
    log.message(f"CI of pull request #{number} at {head[:10]} against {base_branch}")
    request = CiRequest(
        project_dir=copy.project_dir,
        base=f"origin/{base_branch}",
        head=head,
        pull_request=number,
        checkout=warm.trees.files if warm else None,
    )
    open_context = (warm.opener if warm else opener)(log, workspace, pull_request=True)
    try:
        report = Pipeline(request).run(open_context)
    except TidegateError as error:
        return _failed(log, error)
    steps = [RunStep(step.name, step.status, round(step.seconds, 3), step.summary) for step in report.steps]
    verdict = "passed" if report.passed else "failed"
    summary = f"CI {verdict} in {report.seconds:.1f} s"
    log.message(summary)
    status = RunStatus.SUCCESS if report.passed else RunStatus.FAILED
    return Outcome(status, steps, log.text, summary, report=report.to_dict(), comment=markdown(report))


def teardown(project_dir: Path, environment: str, *, log: RunLog | None = None) -> Outcome:
    """`tidegate ci --close`: the closed pull request's environment is dropped (its history stays)."""
    log = log or RunLog()
    try:
        with log.step("teardown"), Context(project_dir, progress=log, pull_request=True) as ctx:
            ctx.drop_environment(environment)
        summary = f"dropped {environment}"
    except StateError:
        summary = f"{environment} does not exist: nothing to tear down"
    except TidegateError as error:
        return _failed(log, error)
    log.message(summary)
    return Outcome(RunStatus.SUCCESS, log.steps, log.text, summary)


def _failed(log: RunLog, error: TidegateError) -> Outcome:
    """A run stopped by an error: the environment was left as it was (an apply is all or nothing)."""
    text = str(error)
    log.message(f"failed: {text}")
    return Outcome(
        RunStatus.FAILED,
        log.steps,
        log.text,
        error.message[:140],
        report={"error": error.to_dict()},
        error=text,
    )
