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
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.ci.findings import Finding
from tidegate.ci.report import Report, Step
from tidegate.ci.steps import STEPS
from tidegate.ci.steps.files import lint_changed, lint_step
from tidegate.ci.steps.run import Run, skipped
from tidegate.errors import ConfigError, TidegateError
from tidegate.processes import Worker

if TYPE_CHECKING:
    from tidegate.git.workspace import Checkout
    from tidegate.plan.session import Session


@dataclass(frozen=True)
class CiRequest:
    project_dir: Path
    base: str
    head: str
    pull_request: int | None
    threads: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    checkout: Checkout | None = None
    """How the head's files are read (default `project_files`; the controller keeps them)."""
    allow_destroy: bool = False
    """Let destructive Terraform changes pass (`--allow-destroy`); the reviewed plans say so."""


class StepProgress:
    """What the pipeline says while it works; the CLI prints it, the API ignores it."""

    def started(self, title: str) -> None: ...

    def finished(self, step: Step) -> None: ...

    def notice(self, finding: Finding) -> None:
        """A warning about the pull request as a whole (it conflicts with its base...)."""


class Pipeline:
    def __init__(self, request: CiRequest, progress: StepProgress | None = None) -> None:
        self.request = request
        self.progress = progress or StepProgress()

    def run(self, open_session: Callable[[Path, Path], AbstractContextManager[Session]]) -> Report:
        """Run every step against the pull request's head; `open_session(files, workspace)`
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
            (request.checkout or project_files)(repo, head) as files,
            open_session(files, request.project_dir) as session,
            ExitStack() as workers,
        ):
            prefix = f"{repo.prefix}/" if repo.prefix else ""
            number = request.pull_request
            run = Run(session, request.project_dir, number, head, prefix, changed, f"pr_{number}")
            run.base, run.allow_destroy = repo.merge_base(base, head), request.allow_destroy
            try:
                pattern = session.config.pull_requests.environment
                run.environment = session.environment(pattern.format(number=number))
            except TidegateError as error:  # no step can run: the report still says why
                project, steps = repo.project_dir.name, self._unconfigured(run, error)
            else:
                project = session.config.name
                if session.config.ci.lint and run.changed_paths:
                    # forked now: nothing is connected yet (the session opens its warehouses lazily)
                    run.lint_job = workers.enter_context(
                        Worker(lint_changed, files, run.changed_paths, request.project_dir)
                    )
                # the background step is collected last, so that it overlaps the others
                ran = {
                    name: self._step(run, name, title, body)
                    for name, title, body in sorted(STEPS, key=lambda s: s[2] is lint_step)
                }
                steps = [ran[name] for name, _, _ in STEPS]
                warnings += self._base_notices(session)
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

    def _base_notices(self, session: Session) -> tuple[Finding, ...]:
        """A warning when the pull request's base environment was last changed past Git."""
        from tidegate.ci.notices import broke_glass

        base = session.config.pull_requests.base
        try:
            current = session.state(base).current(session.environment(base))
        except TidegateError:  # no base yet, or a state the pull request's role cannot read
            return ()
        found = broke_glass(current) if current is not None else None
        if found is None:
            return ()
        self.progress.notice(found)
        return (found,)

    def _unconfigured(self, run: Run, error: TidegateError) -> list[Step]:
        """A configuration (tidegate.yml, dbt_project.yml) that does not load at head: the one
        failed step, and every other skipped."""
        title = "Project configuration"
        failed = replace(_error_step(run, title, error), name="config", title=title)
        self.progress.finished(failed)
        why = skipped("the project's configuration did not load")
        return [failed, *(replace(why, name=name, title=title) for name, title, _ in STEPS)]

    def _step(self, run: Run, name: str, title: str, body: Callable[[Run], Step]) -> Step:
        self.progress.started(title)
        started = time.perf_counter()
        try:
            step = body(run)
        except TidegateError as error:
            step = _error_step(run, title, error)
        step = replace(step, name=name, title=title, seconds=step.seconds or time.perf_counter() - started)
        self.progress.finished(step)
        return step


def _error_step(run: Run, title: str, error: TidegateError) -> Step:
    """A step stopped by an error: bad input in the pull request (exit 2: a file that does not
    load, an unknown ref) or a check that failed (exit 1), as the error says; its file and line
    are in the summary, which the console, the table of steps and JUnit show."""
    path = _error_path(run, error.path)
    where = f"{path}:{error.line}" if path and error.line else path
    finding = Finding(
        message=error.message + (f" ({error.hint})" if error.hint else ""),
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


def _error_path(run: Run, path: str | None) -> str | None:
    """An error's file relative to the repository, as findings name files (an error may name
    a file of the checked-out copy by its absolute path)."""
    if path is None or not Path(path).is_absolute():
        return run.repo_path(path)
    for root in (run.session.root, run.project_dir):
        if Path(path).is_relative_to(root):
            return run.repo_path(Path(path).relative_to(root).as_posix())
    return path
