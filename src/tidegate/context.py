"""The facade every command uses: one project, its warehouses, plans and environments.

It delegates: loading to `project`, ordering to `graph`, planning and applying to `plan`, state
to `state`. Commands and the demo call it; nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.engines import EngineAdapter, QueryResult, connect
from tidegate.errors import PlanError, StateError, TidegateError
from tidegate.plan.plan import entries
from tidegate.plan.results import ApplyResult, Progress, TestResult
from tidegate.project.config import (
    PROD,
    ConnectionConfig,
    ProjectConfig,
    current_user,
    load_config,
    parse_duration,
)
from tidegate.state import EnvironmentVersion, SnapshotRecord, StateStore
from tidegate.state.access import PullRequestAccess
from tidegate.state.janitor import Janitor, JanitorReport
from tidegate.state.views import (
    drop_failures,
    environment_schema,
    internal_relations,
    record_view,
    swap_views,
)

if TYPE_CHECKING:
    from tidegate.graph import Fingerprint, Graph
    from tidegate.plan.apply import Applier
    from tidegate.plan.plan import Plan
    from tidegate.plan.planner import Planner
    from tidegate.project import Project

__all__ = ["Context", "JanitorReport"]


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
        manifest: Path | str | None = None,
        workspace: Path | str | None = None,
        pull_request: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        self.workspace = Path(workspace).resolve() if workspace is not None else self.root
        """Where relative warehouse paths resolve: the project directory, also when the files
        come from a checkout of another commit (`tidegate ci`, `tidegate deploy`)."""
        self.variables = variables or {}
        self.manifest = manifest
        """A dbt `target/manifest.json` to load the project from instead of rendering its Jinja."""
        self.progress = progress or Progress()
        self.on_wait = on_wait
        self.threads = threads
        self.pull_request = pull_request
        """Acting for a pull request (`tidegate ci`): every environment is reached through
        `pull_requests.connection` when tidegate.yml has one, production's role never."""
        self._warehouses: dict[str, tuple[EngineAdapter, StateStore]] = {}

    # project -----------------------------------------------------------------------------

    @cached_property
    def config(self) -> ProjectConfig:
        return load_config(self.root)

    @cached_property
    def project(self) -> Project:
        from tidegate.project.loader import load_project

        return load_project(self.root, variables=self.variables, manifest=self.manifest)

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

        self._load_before_connecting(environment)
        engine, state = self._warehouse(environment)
        return Planner(self.project, self.graph, self.fingerprints, state, engine)

    def _load_before_connecting(self, environment: str) -> None:
        """Load the project before the environment's warehouse opens: a large project's queries
        are parsed in processes forked from this one, which is safe only while it has a single
        thread, and a database connection starts its own. When both fail, the warehouse's error
        is the one reported, as when it was opened first."""
        if self._warehouse_key(environment) in self._warehouses:
            return
        try:
            self.fingerprints  # noqa: B018  (loads the project, its graph and its fingerprints)
        except Exception:
            self._warehouse(environment)
            raise

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
        key = self._warehouse_key(environment)
        if key not in self._warehouses:
            connection = self.connection(environment)
            engine = connect(connection, self.workspace, on_wait=self.on_wait)
            state = StateStore(
                engine.state_engine(),
                access=None if self.acts_as_pull_request else self._pull_request_access(connection),
                creates=not self.acts_as_pull_request,
            )
            self._warehouses[key] = (engine, state)
        return self._warehouses[key]

    def connection(self, environment: str) -> ConnectionConfig:
        """How this context reaches an environment's warehouse."""
        if self.acts_as_pull_request:
            assert self.config.pull_requests.connection is not None
            return self.config.pull_requests.connection
        return self.config.connection_for(environment)

    @property
    def acts_as_pull_request(self) -> bool:
        return self.pull_request and self.config.pull_requests.connection is not None

    def _pull_request_access(self, connection: ConnectionConfig) -> PullRequestAccess | None:
        """The pull-request role a deploy role shares its warehouse with (PostgreSQL)."""
        pull_requests = self.config.pull_requests
        role = pull_requests.connection.role if pull_requests.connection else None
        if role is None or not connection.spec.roles:
            return None
        return PullRequestAccess(role, pull_requests.sql_pattern())

    def warehouse_key(self, environment: str) -> str:
        """The identity of an environment's warehouse (never a credential)."""
        return self._warehouse_key(environment)

    def _warehouse_key(self, environment: str) -> str:
        return self.connection(environment).key(self.workspace)

    def close(self) -> None:
        for engine, state in self._warehouses.values():
            if state.engine is not engine:
                state.engine.close()
            engine.close()
        self._warehouses.clear()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock(self, environment: str) -> Any:
        """The environment's lock, held while anything changes it."""
        timeout = self._lock_timeout(environment)
        return self.state(environment).lock(environment, timeout=timeout, on_wait=self.on_wait)

    def _lock_timeout(self, environment: str) -> float:
        return parse_duration(self.connection(environment).lock_timeout)

    def _threads(self, environment: str) -> int:
        return self.threads or self.connection(environment).threads

    # plan and apply ----------------------------------------------------------------------

    def plan(
        self,
        environment: str,
        *,
        full_refresh: Iterable[str] = (),
        base: str | None = None,
        git_commit: str | None = None,
        skip_unit_tests: bool = False,
        rebase: bool = False,
    ) -> Plan:
        """What applying the project to `environment` would do. A new environment starts from
        production (`pull_requests.base`), so it builds only what differs from it."""
        from tidegate.plan.planner import PlanRequest

        environment = self.environment(environment)
        base_environment: str | None = base or self.config.pull_requests.base
        notes = []
        if base_environment and self._warehouse_key(base_environment) != self._warehouse_key(environment):
            # snapshots live in one warehouse: another engine or database cannot read them
            notes.append(
                f"{base_environment} is in another warehouse ({self._warehouse_key(base_environment)}): "
                f"{environment} cannot reuse its snapshots and builds every model"
            )
            base_environment = None
        plan = self._planner(environment).plan(
            PlanRequest(
                environment=environment,
                base_environment=base_environment,
                full_refresh=frozenset(full_refresh),
                git_commit=git_commit,
                warehouse=self._warehouse_key(environment),
                skip_unit_tests=skip_unit_tests,
                rebase=rebase,
            )
        )
        return plan.model_copy(update={"notes": [*notes, *plan.notes]}) if notes else plan

    def apply(self, plan: Plan, *, author: str | None = None, **options: Any) -> ApplyResult:
        """Apply a plan under the environment's lock; refuses if the environment moved since.
        `options` go to `Applier.apply` (`action`, `message`, `gate`)."""
        warehouse = self._warehouse_key(plan.environment)
        if plan.warehouse and plan.warehouse != warehouse:
            raise PlanError(
                f"the plan was made for {plan.warehouse}, but {plan.environment!r} is in {warehouse} here"
            )
        with self.lock(plan.environment):
            return self._applier(plan.environment).apply(plan, author=author or _author(), **options)

    def plan_and_apply(
        self,
        environment: str,
        *,
        on_plan: Callable[[Plan], None] | None = None,
        apply_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[Plan, ApplyResult | None]:
        """Plan and apply under one lock, so no other run can move the environment in between.
        `on_plan` sees the plan before it is applied (to show it); `on_plan` may raise to stop."""
        environment = self.environment(environment)
        with self.lock(environment):
            plan = self.plan(environment, **options)
            if on_plan is not None:
                on_plan(plan)
            if not plan.has_changes:
                return plan, None
            return plan, self._applier(environment).apply(plan, author=_author(), **(apply_options or {}))

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
        if self._warehouse_key(source) != self._warehouse_key(target):
            raise PlanError(f"{source!r} and {target!r} are in different warehouses; plan {target!r} instead")
        origin = self.current(source)
        with self.lock(target):
            previous = self.state(target).current(target)
            return self._switch(
                target,
                origin.models,
                previous,
                action="promote",
                message=f"from {source} v{origin.version}",
                git_commit=origin.git_commit,
            )

    def rollback(self, environment: str, to: int | None = None) -> int:
        """Return an environment to an earlier version (the previous one by default)."""
        environment = self.environment(environment)
        with self.lock(environment):
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
                environment,
                target.models,
                current,
                action="rollback",
                message=f"to v{number}",
                git_commit=target.git_commit,
            )

    def _switch(
        self,
        environment: str,
        models: dict[str, SnapshotRecord],
        previous: EnvironmentVersion | None,
        *,
        action: str,
        message: str,
        git_commit: str | None,
    ) -> int:
        """Swap to `models`; the new version records the commit those snapshots were built from."""
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
                git_commit=git_commit,
            )

    def _require_built(self, environment: str, models: dict[str, SnapshotRecord]) -> None:
        existing = internal_relations(self.engine(environment))
        missing = sorted(name for name, r in models.items() if r.physical and r.physical not in existing)
        if missing:
            raise StateError(
                f"the snapshots of {', '.join(missing[:5])} were dropped by the janitor; cannot roll back",
                hint="make a plan instead, which rebuilds them",
            )

    def environments(self, environment_hint: str = PROD) -> list[EnvironmentVersion]:
        return self.state(environment_hint).environments()

    def history(self, environment: str) -> list[EnvironmentVersion]:
        versions = self.history_or_empty(environment)
        if not versions:
            raise StateError(f"environment {self.environment(environment)!r} has no history")
        return versions

    def history_or_empty(self, environment: str) -> list[EnvironmentVersion]:
        """Every version of an environment, none if it never existed (a gate reads it)."""
        return self.state(environment).history(self.environment(environment))

    def record_run(self, command: str, environment: str, detail: dict[str, Any]) -> None:
        """Keep what a command did (a deployment with its plan) in the state's `runs`."""
        import uuid

        from tidegate.state.store import now

        state = self.state(environment)
        state.ensure()
        state.record_run(uuid.uuid4().hex[:12], command, environment, now(), "success", detail)

    # reading data ------------------------------------------------------------------------

    def query(self, environment: str, sql: str) -> QueryResult:
        """Run SQL in an environment: unqualified model names resolve to its views."""
        from tidegate.plan.compile import resolve_names
        from tidegate.project.names import Names

        version = self.current(environment)
        engine = self.engine(version.environment)
        views: Names[str] = Names(self.config.dialect)
        for name, record in version.models.items():
            if record.physical:
                view = record_view(engine, version.environment, record)
                for key in dict.fromkeys([record.view_name, name]):  # the alias, and the model's name
                    views.add(view, key, record.schema)
        return engine.fetch(resolve_names(sql, views, read=self.config.dialect, write=engine.dialect))

    def compile(self, environment: str, sql: str) -> str:
        """Placeholder SQL (a dashboard query's, refs as placeholders) for the engine, with refs
        resolved to the environment's views and ephemeral models inlined."""
        version = self.current(environment)
        engine = self.engine(version.environment)
        mapping = {
            name: entry.model_copy(
                update={"physical": record_view(engine, version.environment, version.models[name])}
            )
            if entry.physical
            else entry
            for name, entry in entries(version.models).items()
        }
        return self._planner(version.environment).compile(sql, mapping)

    def show(self, environment: str, model: str, limit: int = 20) -> QueryResult:
        version = self.current(environment)
        record = version.models.get(model)
        if record is None or not record.physical:
            raise StateError(f"environment {version.environment!r} has no model {model!r}")
        engine = self.engine(version.environment)
        relation = record_view(engine, version.environment, record)
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
        mapping = entries(version.models if version else {})
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
            results += applier.run_tests(planner.tests_for(mapping, targets, environment=env))
        return results

    def check(self, plan: Plan) -> tuple[list[TestResult], list[TestResult]]:
        """Run a plan's unit tests and data tests against its environment as it is now (after
        an apply that did not run them, as `tidegate ci` does to time and report them apart)."""
        applier = self._applier(plan.environment)
        return applier.run_unit_tests(plan.unit_tests), applier.run_tests(plan.tests)

    # incremental runs --------------------------------------------------------------------

    def run(self, environment: str, select: Iterable[str] = ()) -> list[str]:
        """Process new data for the environment's incremental models, in one transaction, copying
        on write what other environments share (see `tidegate.plan.incremental`)."""
        from tidegate.plan.incremental import IncrementalRun

        env = self.environment(environment)
        self._load_before_connecting(env)
        engine, state = self._warehouse(env)
        runner = IncrementalRun(
            self.project,
            self.graph,
            self.fingerprints,
            engine,
            state,
            self._planner(env),
            self._applier(env),
            self.progress,
        )
        with self.lock(env):
            # read under the lock: nothing moves it until the run is done
            return runner.run(self.current(env), select, author=_author())

    # janitor -----------------------------------------------------------------------------

    def janitor(self, retention: str | None = None, environment_hint: str = PROD) -> JanitorReport:
        """Drop snapshots no environment needs any more, expired pull-request environments, and
        relations left in internal schemas by killed runs (see `tidegate.state.janitor`)."""
        engine, state = self._warehouse(environment_hint)
        janitor = Janitor(
            engine,
            state,
            drop_environment=self.drop_environment,
            lock_timeout=self._lock_timeout(environment_hint),
            on_wait=self.on_wait,
        )
        pull_requests = self.config.pull_requests
        return janitor.clean(
            retention=timedelta(seconds=parse_duration(retention or self.config.janitor.retention)),
            pull_requests=pull_requests.pattern(),
            protected=set(self.config.environments)
            | set(self.config.promotion)
            | set(self.config.branches.values()),
            pull_request_ttl=timedelta(seconds=parse_duration(pull_requests.ttl)),
        )

    def drop_environment(self, environment: str) -> None:
        """Remove an environment's views and schemas, and the relations where its tests kept
        their failing rows; its history stays for the record."""
        environment = self.environment(environment)
        with self.lock(environment):
            current = self.current(environment)
            engine = self.engine(environment)
            with engine.transaction():
                if environment == PROD:
                    # prod's views live in the models' own schemas, beside what is not tidegate's
                    for _, record in sorted(current.models.items()):
                        if record.physical:
                            engine.drop_view(record_view(engine, PROD, record))
                else:
                    for schema in sorted({r.schema for r in current.models.values()}):
                        engine.drop_schema(environment_schema(schema, environment))
                state = self.state(environment)
                failures = state.stored_failures(environment)
                drop_failures(engine, state, failures, schemas=environment != PROD)
                state.write_version(environment, {}, action="drop", author=_author())


def _author() -> str:
    return os.environ.get("TIDEGATE_USER") or os.environ.get("GIT_AUTHOR_NAME") or current_user()
