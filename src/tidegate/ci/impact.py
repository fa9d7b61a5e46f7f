"""Dashboards against a pull request's environment: do their queries still run?

Every query of a dashboard that reads a changed model, or a model downstream of one, runs in
the pull request's environment, its refs (those of `ref()`, and plain names of models resolved
when the project was loaded) resolved to that environment's views. A query that fails names its
dashboard, the query, the dashboard's file and line and, when the engine's error says which, the
column it could not find. A query that reads a removed model by its plain name fails without
running (as written it would still read production's relation, until the merge drops it).
Lineage adds the dashboards, and the dbt exposures, a change reaches even when their queries
pass (their numbers may move).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tidegate.errors import TidegateError

if TYPE_CHECKING:
    from tidegate.graph.lineage import ExposureImpact, Lineage, QueryRef
    from tidegate.plan.session import Session
    from tidegate.project.model import Dashboard, DashboardQuery
    from tidegate.project.names import Names

_MISSING_COLUMN = (
    re.compile(r'Referenced column "([^"]+)" not found'),  # DuckDB
    re.compile(r'does not have a column named "([^"]+)"'),  # DuckDB, `t.x`
    re.compile(r'Column "([^"]+)" referenced that exists in the SELECT clause'),  # DuckDB, an alias
    re.compile(r'column "([^"]+)" does not exist'),  # PostgreSQL
    re.compile(r"column ([\w$]+\.[\w$]+) does not exist"),  # PostgreSQL, `t.x`
    re.compile(r"with name `([^`]+)` cannot be resolved"),  # Spark
)


@dataclass(frozen=True)
class QueryRun:
    """One dashboard query run in the environment."""

    dashboard: str
    query: str
    path: str
    line: int | None
    models: tuple[str, ...]
    """The changed or downstream models the query reads."""
    passed: bool
    seconds: float
    rows: int | None = None
    error: str | None = None
    missing_column: str | None = None
    """The column the engine could not find, when its error names one."""
    impacted: bool = False
    """Lineage says the query reads a changed column (its results may differ)."""
    base_passed: bool | None = None
    """Whether the query runs in the base environment (when one was given)."""
    base_seconds: float | None = None

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        if self.passed:
            return f"{self.dashboard}.{self.query}: ok in {self.seconds:.3f}s"
        column = f" (column {self.missing_column})" if self.missing_column else ""
        return f"{self.location}: dashboard {self.dashboard}, query {self.query} fails{column}: {self.error}"


@dataclass(frozen=True)
class Impact:
    environment: str
    runs: tuple[QueryRun, ...]
    dashboards: tuple[str, ...]
    """Dashboards a change reaches: by lineage, or because one of their queries fails."""

    @property
    def failures(self) -> tuple[QueryRun, ...]:
        return tuple(run for run in self.runs if not run.passed)

    @property
    def passed(self) -> bool:
        return not self.failures


def run_dashboards(
    session: Session,
    environment: str,
    changed: Iterable[str],
    *,
    lineage: Lineage | None = None,
    base: str | None = None,
) -> Impact:
    """Run every dashboard query that reads one of `changed` or a model downstream of them in
    `environment`; with `base`, run them there too (a query failing in both did not break here)."""
    environment = session.environment(environment)
    base = session.environment(base) if base is not None else None
    project = session.project
    present = {name for name in changed if name in project.models}
    reached = present | session.graph.downstream(present)
    if lineage is not None:
        reached |= {ref.model for ref in lineage.impacted}
        reached |= {model.model for model in lineage.changed if model.model in project.models}
    touched = {query.ref for query in lineage.queries} if lineage is not None else set()
    removed = _removed_relations(session, base, [name for name in changed if name not in project.models])
    runs = []
    for dashboard in project.dashboards:
        for query in dashboard.queries:
            gone = _reads_removed(session, query, removed)
            if gone:
                runs.append(_removed_run(dashboard, query, gone))
                continue
            models = tuple(sorted(set(query.refs) & reached))
            if models:
                runs.append(_run(session, environment, dashboard, query, models, base, touched))
    dashboards = {run.dashboard for run in runs if not run.passed}
    if lineage is not None:
        dashboards |= set(lineage.dashboards)
    else:
        dashboards |= {run.dashboard for run in runs}
    return Impact(environment, tuple(runs), tuple(sorted(dashboards)))


def _run(
    session: Session,
    environment: str,
    dashboard: Dashboard,
    query: DashboardQuery,
    models: tuple[str, ...],
    base: str | None,
    touched: set[QueryRef],
) -> QueryRun:
    from tidegate.graph.lineage import QueryRef

    passed, seconds, rows, error = _execute(session, environment, query.sql)
    base_passed = base_seconds = None
    if base is not None:
        base_passed, base_seconds, _, _ = _execute(session, base, query.sql)
    return QueryRun(
        dashboard=dashboard.name,
        query=query.name,
        path=dashboard.location.path,
        line=query.line or dashboard.location.line,
        models=models,
        passed=passed,
        seconds=seconds,
        rows=rows,
        error=error,
        missing_column=missing_column(error) if error else None,
        impacted=QueryRef(dashboard.name, query.name) in touched,
        base_passed=base_passed,
        base_seconds=base_seconds,
    )


def reached_exposures(
    session: Session, changed: Iterable[str], lineage: Lineage | None = None
) -> tuple[ExposureImpact, ...]:
    """Every exposure depending on a changed model or a model downstream of one (its owner
    should know), with the column changes that reach it when lineage resolved them."""
    from tidegate.graph.lineage import ExposureImpact

    present = {name for name in changed if name in session.project.models}
    reached = present | session.graph.downstream(present)
    resolved = {impact.exposure: impact for impact in lineage.exposures} if lineage is not None else {}
    return tuple(
        resolved.get(exposure.name) or ExposureImpact.of(exposure, set(exposure.refs) & reached)
        for exposure in session.project.exposures
        if exposure.name in resolved or reached.intersection(exposure.refs)
    )


def _removed_relations(session: Session, base: str | None, removed: list[str]) -> Names[str] | None:
    """The production names of the models a change removes, as `base` has them."""
    if base is None or not removed:
        return None
    from tidegate.project.dashboards import production_database
    from tidegate.project.names import Names

    records = session.current(base).models
    names: Names[str] = Names(session.config.dialect, production_database(session.config))
    for name in removed:
        record = records.get(name)
        if record is not None and record.physical:
            names.add(name, record.view_name, record.schema)
    return names


def _reads_removed(session: Session, query: DashboardQuery, removed: Names[str] | None) -> dict[str, str]:
    """The plain names of `query` (unresolved now) that name a removed model: name -> model."""
    if removed is None:
        return {}
    from sqlglot import exp

    found = {}
    for name in query.unresolved:
        if not name.candidates:
            targets, _ = removed.lookup(exp.to_table(name.name, dialect=session.config.dialect))
            if len(targets) == 1:
                found[name.name] = targets[0]
    return found


def _removed_run(dashboard: Dashboard, query: DashboardQuery, gone: dict[str, str]) -> QueryRun:
    reads = ", ".join(f"{name} (model {model})" for name, model in gone.items())
    return QueryRun(
        dashboard=dashboard.name,
        query=query.name,
        path=dashboard.location.path,
        line=query.line or dashboard.location.line,
        models=tuple(sorted(set(gone.values()))),
        passed=False,
        seconds=0.0,
        error=f"it reads {reads}, which this change removes",
    )


def _execute(session: Session, environment: str, sql: str) -> tuple[bool, float, int | None, str | None]:
    started = time.perf_counter()
    try:
        compiled = session.compile(environment, sql)
        result = session.engine(environment).fetch(compiled)
    except TidegateError as error:
        return False, round(time.perf_counter() - started, 4), None, error.message
    return True, round(time.perf_counter() - started, 4), len(result.rows), None


def missing_column(error: str) -> str | None:
    """The column an engine's error says it cannot find (DuckDB, PostgreSQL, Spark), if any."""
    for pattern in _MISSING_COLUMN:
        found = pattern.search(error)
        if found:
            return found.group(1).rsplit(".", 1)[-1]
    return None
