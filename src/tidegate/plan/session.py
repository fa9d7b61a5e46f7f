"""A project loaded once and the warehouses of its environments: what planning and applying
work in, for every caller (the `Context` facade of the command line, the pipeline steps of `ci`
and `deploy`, the tasks of a generated DAG).

Each environment name is resolved once into an `Environment` (its concrete name, connection and
warehouse); each warehouse is opened once, on first use, however many environments share it,
and every one is closed with the session. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from tidegate.engines import EngineAdapter, connect
from tidegate.errors import PlanError, StateError
from tidegate.plan.results import ApplyResult, Progress, TestResult
from tidegate.project.config import ConnectionConfig, ProjectConfig, current_author, load_config
from tidegate.project.environments import Environment
from tidegate.state import EnvironmentVersion, StateStore
from tidegate.state.access import PullRequestAccess
from tidegate.state.views import record_view

if TYPE_CHECKING:
    from tidegate.graph import Fingerprint, Graph
    from tidegate.plan.apply import Applier
    from tidegate.plan.plan import Plan
    from tidegate.plan.planner import Planner
    from tidegate.project import Project


@dataclass(frozen=True)
class Loaded:
    """A project as a session loaded it, with its graph and fingerprints: what a long-lived
    process (the controller) hands to the next session of the same files instead of loading
    them again. All three are immutable."""

    project: Project
    graph: Graph
    fingerprints: dict[str, Fingerprint]


EnvironmentName = str | Environment
"""A name as a user gives it (resolved on the way in), or an environment already resolved."""


class Session:
    """A project directory and the warehouses of its environments (a context manager that closes them)."""

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
        loaded: Loaded | None = None,
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
        self._environments: dict[str, Environment] = {}
        self._warehouses: dict[str, tuple[EngineAdapter, StateStore]] = {}
        if loaded is not None:  # what the cached properties below would load, loaded already
            self.__dict__.update(project=loaded.project, graph=loaded.graph, fingerprints=loaded.fingerprints)

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

    def loaded(self) -> Loaded | None:
        """The project as this session loaded it, if it loaded it whole (fingerprints and all)."""
        if "fingerprints" not in self.__dict__:
            return None
        return Loaded(self.project, self.graph, self.fingerprints)

    # environments and their warehouses ---------------------------------------------------

    def resolve(self, environment: EnvironmentName) -> Environment:
        """The environment a name means, resolved once per name (see `Environment.resolve`)."""
        if isinstance(environment, Environment):
            return environment
        if environment not in self._environments:
            self._environments[environment] = Environment.resolve(
                self.config, environment, workspace=self.workspace, pull_request=self.acts_as_pull_request
            )
        return self._environments[environment]

    def environment(self, name: str) -> str:
        """The concrete name of an environment: `dev` with `per_user` is `dev_<user>`."""
        return self.resolve(name).name

    def connection(self, environment: EnvironmentName) -> ConnectionConfig:
        """How this session reaches an environment's warehouse."""
        return self.resolve(environment).connection

    def warehouse_key(self, environment: EnvironmentName) -> str:
        """The identity of an environment's warehouse (never a credential)."""
        return self.resolve(environment).warehouse

    @property
    def acts_as_pull_request(self) -> bool:
        return self.pull_request and self.config.pull_requests.connection is not None

    def engine(self, environment: EnvironmentName) -> EngineAdapter:
        return self._warehouse(self.resolve(environment))[0]

    def state(self, environment: EnvironmentName) -> StateStore:
        return self._warehouse(self.resolve(environment))[1]

    def lock(self, environment: EnvironmentName) -> AbstractContextManager[None]:
        """The environment's lock, held while anything changes it."""
        resolved = self.resolve(environment)
        state = self.state(resolved)
        return state.lock(resolved.name, timeout=resolved.lock_timeout, on_wait=self.on_wait)

    def _warehouse(self, environment: Environment) -> tuple[EngineAdapter, StateStore]:
        key = environment.warehouse
        if key not in self._warehouses:
            engine = connect(environment.connection, self.workspace, on_wait=self.on_wait)
            pull_request = self.acts_as_pull_request
            state = StateStore(
                engine.state_engine(),
                access=None if pull_request else self._pull_request_access(environment.connection),
                creates=not pull_request,
            )
            self._warehouses[key] = (engine, state)
        return self._warehouses[key]

    def _pull_request_access(self, connection: ConnectionConfig) -> PullRequestAccess | None:
        """The pull-request role a deploy role shares its warehouse with (PostgreSQL)."""
        pull_requests = self.config.pull_requests
        role = pull_requests.connection.role if pull_requests.connection else None
        if role is None or not connection.spec.roles:
            return None
        return PullRequestAccess(role, pull_requests.sql_pattern())

    def close(self) -> None:
        for engine, state in self._warehouses.values():
            if state.engine is not engine:
                state.engine.close()
            engine.close()
        self._warehouses.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # planners and appliers ---------------------------------------------------------------

    def planner(self, environment: EnvironmentName) -> Planner:
        from tidegate.plan.planner import Planner

        resolved = self.resolve(environment)
        self._load_before_connecting(resolved)
        engine, state = self._warehouse(resolved)
        return Planner(self.project, self.graph, self.fingerprints, state, engine)

    def _load_before_connecting(self, environment: Environment) -> None:
        """Load the project before the environment's warehouse opens: a large project's queries
        are parsed in processes forked from this one, which is safe only while it has a single
        thread, and a database connection starts its own. When both fail, the warehouse's error
        is the one reported, as when it was opened first."""
        if environment.warehouse in self._warehouses:
            return
        try:
            self.fingerprints  # noqa: B018  (loads the project, its graph and its fingerprints)
        except Exception:
            self._warehouse(environment)
            raise

    def applier(self, environment: EnvironmentName, progress: Progress | None = None) -> Applier:
        """What builds, tests and swaps in the environment's warehouse; `progress` hears of it
        (default: the session's)."""
        from tidegate.plan.apply import Applier

        resolved = self.resolve(environment)
        engine, state = self._warehouse(resolved)
        threads = self.threads or resolved.threads
        return Applier(engine, state, threads=threads, progress=progress or self.progress)

    # plan and apply ----------------------------------------------------------------------

    def plan(
        self,
        environment: EnvironmentName,
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

        target = self.resolve(environment)
        base_environment: str | None = base or self.config.pull_requests.base
        notes = []
        if base_environment and self.warehouse_key(base_environment) != target.warehouse:
            # snapshots live in one warehouse: another engine or database cannot read them
            notes.append(
                f"{base_environment} is in another warehouse ({self.warehouse_key(base_environment)}): "
                f"{target.name} cannot reuse its snapshots and builds every model"
            )
            base_environment = None
        plan = self.planner(target).plan(
            PlanRequest(
                environment=target.name,
                base_environment=base_environment,
                full_refresh=frozenset(full_refresh),
                git_commit=git_commit,
                warehouse=target.warehouse,
                skip_unit_tests=skip_unit_tests,
                rebase=rebase,
            )
        )
        return plan.model_copy(update={"notes": [*notes, *plan.notes]}) if notes else plan

    def apply(self, plan: Plan, *, author: str | None = None, **options: Any) -> ApplyResult:
        """Apply a plan under the environment's lock; refuses if the environment moved since.
        `options` go to `Applier.apply` (`action`, `message`, `gate`)."""
        warehouse = self.warehouse_key(plan.environment)
        if plan.warehouse and plan.warehouse != warehouse:
            raise PlanError(
                f"the plan was made for {plan.warehouse}, but {plan.environment!r} is in {warehouse} here"
            )
        with self.lock(plan.environment):
            return self.applier(plan.environment).apply(plan, author=author or current_author(), **options)

    def plan_and_apply(
        self,
        environment: EnvironmentName,
        *,
        on_plan: Callable[[Plan], None] | None = None,
        apply_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[Plan, ApplyResult | None]:
        """Plan and apply under one lock, so no other run can move the environment in between.
        `on_plan` sees the plan before it is applied (to show it); `on_plan` may raise to stop."""
        target = self.resolve(environment)
        with self.lock(target):
            plan = self.plan(target, **options)
            if on_plan is not None:
                on_plan(plan)
            if not plan.has_changes:
                return plan, None
            return plan, self.applier(target).apply(plan, author=current_author(), **(apply_options or {}))

    def check(self, plan: Plan) -> tuple[list[TestResult], list[TestResult]]:
        """Run a plan's unit tests and data tests against its environment as it is now (after
        an apply that did not run them, as `tidegate ci` does to time and report them apart)."""
        applier = self.applier(plan.environment)
        return applier.run_unit_tests(plan.unit_tests), applier.run_tests(plan.tests)

    # versions ----------------------------------------------------------------------------

    def current(self, environment: EnvironmentName) -> EnvironmentVersion:
        """The environment's version now; a StateError when it does not exist."""
        name = self.environment(environment) if isinstance(environment, str) else environment.name
        version = self.state(environment).current(name)
        if version is None:
            raise StateError(
                f"environment {name!r} does not exist",
                hint=f"create it with `tidegate plan {name}`",
            )
        return version

    def history_or_empty(self, environment: EnvironmentName) -> list[EnvironmentVersion]:
        """Every version of an environment, none if it never existed (a gate reads it)."""
        return self.state(environment).history(self.resolve(environment).name)

    def record_run(
        self, command: str, environment: EnvironmentName, detail: dict[str, Any], status: str = "success"
    ) -> None:
        """Keep what a command did (a deployment with its plan) in the state's `runs`."""
        import uuid

        from tidegate.state.records import now

        state = self.state(environment)
        state.ensure()
        name = self.resolve(environment).name
        state.record_run(uuid.uuid4().hex[:12], command, name, now(), status, detail)

    def compile(self, environment: EnvironmentName, sql: str) -> str:
        """Placeholder SQL (a dashboard query's, refs as placeholders) for the engine, with refs
        resolved to the environment's views and ephemeral models inlined."""
        version = self.current(environment)
        engine = self.engine(version.environment)
        mapping = {
            name: replace(record, physical=record_view(engine, version.environment, record))
            if record.physical
            else record
            for name, record in version.models.items()
        }
        return self.planner(version.environment).compile(sql, mapping)
