"""The tasks of a DAG written by `tidegate dags generate`: the stages of an apply, one task each.

`plan` plans the environment and saves the plan under the project's `.tidegate/runs/`, where
the run's other tasks read it; `build` builds one model's snapshot; `test` runs one model's
tests; `swap` points the environment's views at the new snapshots in one transaction. As with
`tidegate apply`, nothing anyone can query changes before `swap`, and the DAG runs `swap` only
once every build and test succeeded: a failed run leaves the environment as it was, and running
it again reuses every snapshot already built.

Each task is a plain function of the project directory, the environment and the run's id, so
any scheduler can call it; every worker needs tidegate, the project's files (the same directory,
where the plan is saved) and access to the warehouse. Importing this module is cheap: a DAG file
imports it every time Airflow parses it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import PlanError
from tidegate.plan.results import Progress, TestResult, TestsFailed

if TYPE_CHECKING:
    from tidegate.plan.apply import Applier
    from tidegate.plan.plan import Plan
    from tidegate.plan.session import Session

__all__ = ["build", "plan", "plan_path", "swap", "test"]

RUNS = ".tidegate/runs"
log = logging.getLogger(__name__)


def plan_path(project: str | Path, environment: str, run_id: str) -> Path:
    """Where a run's plan is saved: `.tidegate/runs/<environment>/<run id>/plan.json`."""
    return Path(project) / RUNS / environment / re.sub(r"[^\w.+-]", "_", run_id) / "plan.json"


def plan(project: str, environment: str, run_id: str, layout: str) -> dict[str, Any]:
    """Plan the environment, save the plan for the run's other tasks and run the `on-run-start`
    hooks. Refuses when the DAG was generated from another layout of the model graph."""
    from tidegate.git.workspace import working_commit
    from tidegate.orchestrate.layout import Layout

    with _session(project) as session:
        if Layout.of(session.project, session.graph).key != layout:
            raise PlanError(
                "the DAG was generated from another version of the model graph "
                "(models were added or removed, or read other models since)",
                hint="run `tidegate dags generate` again and deploy the new DAG file",
            )
        target = session.resolve(environment)
        with session.lock(target):
            made = session.plan(target, git_commit=working_commit(session.root))
            path = plan_path(project, environment, run_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            made.save(path)
            if made.has_changes:
                session.applier(target).start(made)
    log.info(
        "plan %s for %s: %d snapshot(s) to build, %d test(s), %d view(s) to change; saved to %s",
        made.id,
        made.environment,
        len(made.builds),
        len(made.tests) + len(made.unit_tests),
        len(made.views_changed) + len(made.views_removed),
        path,
    )
    return {"plan": str(path), "builds": [build.model for build in made.builds]}


def build(project: str, environment: str, run_id: str, model: str) -> float | None:
    """Build the model's snapshot, as `tidegate apply` does: the seconds it took, or None when
    the plan does not build it (unchanged, or reusing another environment's) or an earlier try
    of the task built it."""
    with _run(project, environment, run_id) as (applier, saved):
        seconds = applier.build(saved, model)
    if seconds is None:
        log.info("%s: nothing to build (not in the plan, or built by an earlier try)", model)
    return seconds


def test(project: str, environment: str, run_id: str, model: str) -> dict[str, int]:
    """Run the model's unit tests and data tests; fails when one of severity error fails."""
    with _run(project, environment, run_id) as (applier, saved):
        try:
            results = applier.test(saved, model)
        except TestsFailed as error:
            _log_failures(error.results)
            raise
    _log_failures(results)
    return {"passed": sum(r.passed for r in results), "warned": sum(not r.passed for r in results)}


def swap(project: str, environment: str, run_id: str, author: str = "airflow") -> int | None:
    """Point the environment's views at the plan's snapshots in one transaction and record its
    new version; refuses if it moved since the plan or a snapshot is not built. None when the
    plan changes nothing."""
    with _session(project) as session:
        saved = _load(project, environment, run_id)
        if not saved.has_changes:
            log.info("%s is up to date: nothing to swap", saved.environment)
            return None
        with session.lock(saved.environment):
            version = session.applier(saved.environment).finish(
                saved, author=author, message=f"DAG run {run_id}"
            )
    log.info("%s is at version %d", saved.environment, version)
    return version


class _LogProgress(Progress):
    def advance(self, stage: str, item: str, seconds: float, ok: bool = True) -> None:
        log.log(
            logging.INFO if ok else logging.ERROR,
            "%s: %s %s (%.2fs)",
            stage,
            item,
            "ok" if ok else "failed",
            seconds,
        )

    def message(self, text: str) -> None:
        log.info(text)


def _session(project: str) -> Session:
    from tidegate.plan.session import Session

    return Session(project, progress=_LogProgress(), on_wait=log.info)


@contextmanager
def _run(project: str, environment: str, run_id: str) -> Iterator[tuple[Applier, Plan]]:
    """The run's saved plan, and an applier on its environment's warehouse."""
    with _session(project) as session:
        saved = _load(project, environment, run_id)
        yield session.applier(saved.environment), saved


def _load(project: str, environment: str, run_id: str) -> Plan:
    from tidegate.plan.plan import Plan

    path = plan_path(project, environment, run_id)
    if not path.exists():
        raise PlanError(f"run {run_id} has no plan at {path}", hint="its plan task must run first")
    return Plan.load(path)


def _log_failures(results: list[TestResult]) -> None:
    for result in results:
        if not result.passed:
            where = f" ({result.path}:{result.line})" if result.path and result.line else ""
            log.error("%s %s failed%s: %d failing row(s)", result.kind, result.name, where, result.failures)
            for detail in result.details:
                log.error("  %s", detail)
