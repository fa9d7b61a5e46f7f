"""The facade every command uses: one project, its warehouses, plans and environments.

It delegates: loading to `project`, ordering to `graph`, planning and applying to `plan`, state
to `state`. Commands and the demo call it; nothing here prints.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.engines import EngineAdapter, QueryResult, connect
from tidegate.errors import CheckFailed, PlanError, StateError, TidegateError
from tidegate.plan.plan import SnapshotEntry
from tidegate.plan.results import ApplyResult, Progress, TestResult
from tidegate.project.config import PROD, ProjectConfig, load_config, parse_duration
from tidegate.project.model import Kind
from tidegate.state import EnvironmentVersion, SnapshotRecord, StateStore
from tidegate.state.store import now
from tidegate.state.views import INTERNAL_PREFIX, environment_schema, physical_schema, swap_views

if TYPE_CHECKING:
    from tidegate.graph import Fingerprint, Graph
    from tidegate.plan.apply import Applier
    from tidegate.plan.plan import Plan
    from tidegate.plan.planner import Planner
    from tidegate.project import Project


@dataclass(frozen=True)
class JanitorReport:
    dropped_snapshots: list[str]
    dropped_orphans: list[str]
    expired_environments: list[str]


class Context:
    """A project directory and the warehouses of its environments."""

    def __init__(
        self,
        root: Path | str = ".",
        *,
        variables: dict[str, Any] | None = None,
        progress: Progress | None = None,
        on_wait: Callable[[str], None] | None = None,
        threads: int | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.variables = variables or {}
        self.progress = progress or Progress()
        self.on_wait = on_wait
        self.threads = threads
        self._warehouses: dict[str, tuple[EngineAdapter, StateStore]] = {}

    # project -----------------------------------------------------------------------------

    @cached_property
    def config(self) -> ProjectConfig:
        return load_config(self.root)

    @cached_property
    def project(self) -> Project:
        from tidegate.project.loader import load_project

        return load_project(self.root, variables=self.variables)

    @cached_property
    def graph(self) -> Graph:
        from tidegate.graph.dag import Graph

        return Graph(self.project.models)

    @cached_property
    def fingerprints(self) -> dict[str, Fingerprint]:
        from tidegate.graph.fingerprint import fingerprint_project

        return fingerprint_project(self.graph)

    def _planner(self, environment: str) -> Planner:
        from tidegate.plan.planner import Planner

        engine, state = self._warehouse(environment)
        return Planner(self.project, self.graph, self.fingerprints, state, engine)

    def _applier(self, environment: str, threads: int | None = None) -> Applier:
        from tidegate.plan.apply import Applier

        engine, state = self._warehouse(environment)
        return Applier(engine, state, threads=threads or self._threads(environment), progress=self.progress)

    def environment(self, name: str) -> str:
        return self.config.resolve_environment(name)

    # warehouses --------------------------------------------------------------------------

    def engine(self, environment: str) -> EngineAdapter:
        return self._warehouse(environment)[0]

    def state(self, environment: str) -> StateStore:
        return self._warehouse(environment)[1]

    def _warehouse(self, environment: str) -> tuple[EngineAdapter, StateStore]:
        connection = self.config.connection_for(environment)
        key = connection.key(self.root)
        if key not in self._warehouses:
            engine = connect(connection, self.root, on_wait=self.on_wait)
            self._warehouses[key] = (engine, StateStore(engine))
        return self._warehouses[key]

    def close(self) -> None:
        for engine, _ in self._warehouses.values():
            engine.close()
        self._warehouses.clear()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lock(self, environment: str) -> Any:
        timeout = parse_duration(self.config.connection_for(environment).lock_timeout)
        return self.state(environment).lock(environment, timeout=timeout, on_wait=self.on_wait)

    def _threads(self, environment: str) -> int:
        return self.threads or self.config.connection_for(environment).threads

    # plan and apply ----------------------------------------------------------------------

    def plan(
        self,
        environment: str,
        *,
        full_refresh: Iterable[str] = (),
        base: str | None = None,
        git_commit: str | None = None,
        skip_unit_tests: bool = False,
    ) -> Plan:
        """What applying the project to `environment` would do. A new environment starts from
        production (`pull_requests.base`), so it builds only what differs from it."""
        from tidegate.plan.planner import PlanRequest

        environment = self.environment(environment)
        base_environment = base or self.config.pull_requests.base
        return self._planner(environment).plan(
            PlanRequest(
                environment=environment,
                base_environment=base_environment,
                full_refresh=frozenset(full_refresh),
                git_commit=git_commit,
                warehouse=self.config.connection_for(environment).key(self.root),
                skip_unit_tests=skip_unit_tests,
            )
        )

    def apply(self, plan: Plan, *, author: str | None = None) -> ApplyResult:
        """Apply a plan under the environment's lock; refuses if the environment moved since."""
        warehouse = self.config.connection_for(plan.environment).key(self.root)
        if plan.warehouse and plan.warehouse != warehouse:
            raise PlanError(
                f"the plan was made for {plan.warehouse}, but {plan.environment!r} is in {warehouse} here"
            )
        with self._lock(plan.environment):
            return self._applier(plan.environment).apply(plan, author=author or _author())

    def plan_and_apply(
        self, environment: str, *, on_plan: Callable[[Plan], None] | None = None, **options: Any
    ) -> tuple[Plan, ApplyResult | None]:
        """Plan and apply under one lock, so no other run can move the environment in between.
        `on_plan` sees the plan before it is applied (to show it)."""
        environment = self.environment(environment)
        with self._lock(environment):
            plan = self.plan(environment, **options)
            if on_plan is not None:
                on_plan(plan)
            if not plan.has_changes:
                return plan, None
            return plan, self._applier(environment).apply(plan, author=_author())

    # environments ------------------------------------------------------------------------

    def current(self, environment: str) -> EnvironmentVersion:
        environment = self.environment(environment)
        version = self.state(environment).current(environment)
        if version is None:
            raise StateError(
                f"environment {environment!r} does not exist",
                hint=f"create it with `tidegate plan {environment}`",
            )
        return version

    def promote(self, source: str, target: str) -> int:
        """Point `target`'s views at `source`'s snapshots: no data copied, one transaction."""
        source, target = self.environment(source), self.environment(target)
        if source == target:
            raise PlanError("cannot promote an environment to itself")
        if self.config.connection_for(source).key(self.root) != self.config.connection_for(target).key(
            self.root
        ):
            raise PlanError(f"{source!r} and {target!r} are in different warehouses; plan {target!r} instead")
        origin = self.current(source)
        with self._lock(target):
            previous = self.state(target).current(target)
            return self._switch(
                target, origin.models, previous, action="promote", message=f"from {source} v{origin.version}"
            )

    def rollback(self, environment: str, to: int | None = None) -> int:
        """Return an environment to an earlier version (the previous one by default)."""
        environment = self.environment(environment)
        with self._lock(environment):
            state = self.state(environment)
            current = state.current(environment)
            if current is None:
                raise StateError(f"environment {environment!r} does not exist")
            number = to if to is not None else current.version - 1
            target = state.version(environment, number) if number >= 1 else None
            if target is None or target.dropped:
                raise StateError(
                    f"environment {environment!r} has no version {number} to roll back to",
                    hint=f"see `tidegate history {environment}`",
                )
            if number == current.version:
                raise StateError(f"{environment!r} is already at version {number}")
            self._require_built(environment, target.models)
            return self._switch(
                environment, target.models, current, action="rollback", message=f"to v{number}"
            )

    def _switch(
        self,
        environment: str,
        models: dict[str, SnapshotRecord],
        previous: EnvironmentVersion | None,
        *,
        action: str,
        message: str,
    ) -> int:
        engine = self.engine(environment)
        with engine.transaction():
            return swap_views(
                engine,
                self.state(environment),
                environment,
                models,
                previous.models if previous else {},
                action=action,
                author=_author(),
                message=message,
            )

    def _require_built(self, environment: str, models: dict[str, SnapshotRecord]) -> None:
        existing = {
            self.engine(environment).relation(schema, name)
            for schema, name, _ in self.engine(environment).relations(INTERNAL_PREFIX)
        }
        missing = sorted(name for name, r in models.items() if r.physical and r.physical not in existing)
        if missing:
            raise StateError(
                f"the snapshots of {', '.join(missing[:5])} were dropped by the janitor; cannot roll back",
                hint="make a plan instead, which rebuilds them",
            )

    def environments(self, environment_hint: str = PROD) -> list[EnvironmentVersion]:
        return self.state(environment_hint).environments()

    def history(self, environment: str) -> list[EnvironmentVersion]:
        environment = self.environment(environment)
        versions = self.state(environment).history(environment)
        if not versions:
            raise StateError(f"environment {environment!r} has no history")
        return versions

    # reading data ------------------------------------------------------------------------

    def query(self, environment: str, sql: str) -> QueryResult:
        """Run SQL in an environment: unqualified model names resolve to its views."""
        from tidegate.plan.compile import resolve_names

        version = self.current(environment)
        engine = self.engine(version.environment)
        views = {
            name: engine.relation(environment_schema(record.schema, version.environment), name)
            for name, record in version.models.items()
            if record.physical
        }
        return engine.fetch(resolve_names(sql, views, read=self.config.dialect, write=engine.dialect))

    def show(self, environment: str, model: str, limit: int = 20) -> QueryResult:
        version = self.current(environment)
        record = version.models.get(model)
        if record is None or not record.physical:
            raise StateError(f"environment {version.environment!r} has no model {model!r}")
        engine = self.engine(version.environment)
        relation = engine.relation(environment_schema(record.schema, version.environment), model)
        return engine.fetch(f"SELECT * FROM {relation} LIMIT {int(limit)}")

    # tests -------------------------------------------------------------------------------

    def test(self, environment: str | None, select: Iterable[str] = ()) -> list[TestResult]:
        """Unit tests, and data tests against the environment's current snapshots."""
        chosen = set(select)
        unknown = chosen - set(self.project.models)
        if unknown:
            raise TidegateError(f"--select names unknown model(s): {', '.join(sorted(unknown))}")
        env = self.environment(environment or PROD)
        version = self.state(env).current(env)
        mapping = {
            name: SnapshotEntry.of(record) for name, record in (version.models if version else {}).items()
        }
        planner = self._planner(env)
        targets = chosen or set(self.project.models)
        applier = self._applier(env)
        unit_plan = planner.unit_tests_for(targets, mapping)
        results = applier.run_unit_tests(unit_plan)
        if version is not None:
            missing = sorted(set(self.project.models) - set(mapping))
            if missing:
                raise StateError(
                    f"{env!r} does not have model(s) {', '.join(missing[:5])}: plan it first",
                )
            results += applier.run_tests(planner.tests_for(mapping, targets))
        return results

    # incremental runs --------------------------------------------------------------------

    def run(self, environment: str, select: Iterable[str] = ()) -> list[str]:
        """Process new data for the environment's incremental models, in one transaction.

        Copy on write: outside prod, a table that another environment's current version also
        uses is first copied into a new version of its snapshot, the run writes into the copy and
        the environment's view moves to it, so `run dev` never changes what prod reads. Prod
        writes in place (environments sharing its table see the new rows). The copies, the
        writes, the data tests and the view swap are one transaction: a failing test changes
        nothing.
        """
        env = self.environment(environment)
        chosen = set(select) or {n for n, m in self.project.models.items() if m.kind is Kind.INCREMENTAL}
        engine, state = self._warehouse(env)
        planner = self._planner(env)
        processed: list[str] = []
        copied: list[str] = []
        with self._lock(env):
            version = self.current(env)  # read under the lock: nothing moves it until we are done
            models = dict(version.models)
            mapping = {name: SnapshotEntry.of(record) for name, record in models.items()}
            shared = (
                set()
                if env == PROD
                else {  # tables other environments read: their models' own, and those their views read
                    relation
                    for other in state.environments()
                    if other.environment != env
                    for record in other.models.values()
                    for relation in (record.physical, *record.parents)
                    if relation
                }
            )
            with engine.transaction():
                for name in self.graph.sort(chosen):
                    model = self.project.model(name)
                    record = models.get(name)
                    if model.kind is not Kind.INCREMENTAL or record is None or not model.incremental_sql:
                        raise TidegateError(f"{name!r} is not an incremental model of {env!r}")
                    if record.fingerprint != self.fingerprints[name].data:
                        raise PlanError(f"{name!r} in {env!r} differs from the project: plan {env!r} first")
                    started = time.perf_counter()
                    if record.physical in shared:
                        record = _copy_snapshot(engine, state, record)
                        models[name], mapping[name] = record, SnapshotEntry.of(record)
                        copied.append(name)
                    sql = planner.compile(model.incremental_sql, mapping, this=record.physical)
                    if model.incremental_strategy == "append":
                        engine.insert_into(str(record.physical), sql)
                    else:
                        engine.merge_into(str(record.physical), sql, model.unique_key)
                    self.progress.advance("run", name, time.perf_counter() - started)
                    processed.append(name)
                # the tests run on this connection, inside the transaction, so they see the new rows
                results = self._applier(env).run_tests(
                    planner.tests_for(mapping, set(processed)), in_transaction=True
                )
                failed = [result.name for result in results if result.blocking]
                if failed:
                    raise CheckFailed(f"data tests failed after the run: {', '.join(failed)}; rolled back")
                if copied:
                    swap_views(
                        engine,
                        state,
                        env,
                        models,
                        version.models,
                        action="run",
                        author=_author(),
                        message=f"copied {', '.join(copied)} shared with other environments",
                    )
        return processed

    # janitor -----------------------------------------------------------------------------

    def janitor(self, retention: str | None = None, environment_hint: str = PROD) -> JanitorReport:
        """Drop snapshots no environment needs any more, expired pull-request environments, and
        relations left in internal schemas by killed runs.

        A snapshot is needed while an environment's current version uses it, while a version that
        stopped being current less than `retention` ago uses it (so it can be rolled back to), or
        while it is younger than the retention (an apply running or interrupted: its rerun reuses
        it). A table any of those versions or needed snapshots reads is never dropped, whichever
        snapshot record names it.

        Expiring an environment holds its lock (`drop_environment`); the sweep holds the lock of
        every environment of the warehouse, so no apply, promotion, rollback or run can move one
        between reading the versions and dropping. An apply of a saved plan that creates a new
        environment from a snapshot dropped meanwhile fails at its swap and changes nothing.
        """
        keep_for = timedelta(seconds=parse_duration(retention or self.config.janitor.retention))
        engine, state = self._warehouse(environment_hint)
        expired = self._expire_pull_requests(engine, state)
        timeout = parse_duration(self.config.connection_for(environment_hint).lock_timeout)
        with ExitStack() as locks:
            for current in state.environments():  # in name order, so two janitors cannot deadlock
                locks.enter_context(state.lock(current.environment, timeout=timeout, on_wait=self.on_wait))
            cutoff = now() - keep_for
            needed, physical_needed = _needed(state.all_versions(), cutoff)
            needed |= state.built_since(cutoff)
            records = state.all_snapshots()
            doomed = [r for r in records if r.identity not in needed and r.physical not in physical_needed]
            gone = {r.identity for r in doomed}
            keep_physical = set(physical_needed)
            for record in records:
                if record.identity not in gone:
                    keep_physical.update(p for p in (record.physical, *record.parents) if p)
            with engine.transaction():
                for record in doomed:
                    if record.physical and record.physical not in keep_physical:
                        _drop(engine, record)
                state.delete_snapshots(doomed)
                orphans = []
                for schema, name, kind in engine.relations(INTERNAL_PREFIX):
                    relation = engine.relation(schema, name)
                    if relation not in keep_physical:
                        (engine.drop_view if kind == "view" else engine.drop_table)(relation)
                        orphans.append(relation)
        return JanitorReport([f"{r.model}@{r.version}" for r in doomed], orphans, expired)

    def _expire_pull_requests(self, engine: EngineAdapter, state: StateStore) -> list[str]:
        ttl = timedelta(seconds=parse_duration(self.config.pull_requests.ttl))
        prefix = self.config.pull_requests.environment.split("{", 1)[0]
        expired = []
        for version in state.environments():
            if prefix and version.environment.startswith(prefix) and version.created_at < now() - ttl:
                self.drop_environment(version.environment)
                expired.append(version.environment)
        return expired

    def drop_environment(self, environment: str) -> None:
        """Remove an environment's views and schemas; its history stays for the record."""
        environment = self.environment(environment)
        with self._lock(environment):
            current = self.current(environment)
            engine = self.engine(environment)
            with engine.transaction():
                if environment == PROD:
                    # prod's views live in the models' own schemas, beside what is not tidegate's
                    for name, record in sorted(current.models.items()):
                        if record.physical:
                            engine.drop_view(engine.relation(environment_schema(record.schema, PROD), name))
                else:
                    for schema in sorted({r.schema for r in current.models.values()}):
                        engine.drop_schema(environment_schema(schema, environment))
                self.state(environment).write_version(environment, {}, action="drop", author=_author())


def _needed(
    versions: list[EnvironmentVersion], cutoff: datetime
) -> tuple[set[tuple[str, str, str]], set[str]]:
    """Snapshots (and the relations they read) of the versions that are current or stopped
    being current at or after `cutoff`: a rollback may still return to those."""
    history: dict[str, list[EnvironmentVersion]] = {}
    for version in versions:
        history.setdefault(version.environment, []).append(version)
    needed: set[tuple[str, str, str]] = set()
    physical: set[str] = set()
    for chain in history.values():
        chain.sort(key=lambda v: v.version)
        for version, successor in zip(chain, [*chain[1:], None], strict=True):
            if successor is not None and successor.created_at < cutoff:
                continue
            for record in version.models.values():
                needed.add(record.identity)
                physical.update(p for p in (record.physical, *record.parents) if p)
    return needed, physical


def _copy_snapshot(engine: EngineAdapter, state: StateStore, record: SnapshotRecord) -> SnapshotRecord:
    """A new version of `record`'s snapshot holding a copy of its table, recorded in the state."""
    stamp = now().isoformat()
    version = hashlib.sha256(f"{record.fingerprint}{record.version}{stamp}".encode()).hexdigest()[:16]
    physical = engine.relation(physical_schema(record.schema), f"{record.model}__{version}")
    engine.create_table_as(physical, f"SELECT * FROM {record.physical}")
    original = state.snapshots([(record.model, record.fingerprint)]).get((record.model, record.fingerprint))
    copy = replace(record, version=version, physical=physical, query=original.query if original else None)
    state.record_snapshot(copy)
    return copy


def _drop(engine: EngineAdapter, record: SnapshotRecord) -> None:
    if record.kind == "view":
        engine.drop_view(str(record.physical))
    else:
        engine.drop_table(str(record.physical))


def _author() -> str:
    return os.environ.get("TIDEGATE_USER") or os.environ.get("GIT_AUTHOR_NAME") or getpass.getuser()
