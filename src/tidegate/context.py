"""The facade every command uses: one project, its warehouses, plans and environments.

A `Session` (`tidegate.plan.session`: the project loaded once, each environment resolved once,
its warehouse opened once, plans and applies) with the commands that move environments between
versions (promote, rollback, drop), read their data (query, show), test, run incremental models
and clean up (janitor). Commands and the demo call it; nothing here prints.

Environments bound to a branch change only from Git (`tidegate.ci.guard`): `guard` checks a
change before a command makes it, `promote` checks its own, and `rollback` pins the environment
so that the controller does not deploy over it until a new commit lands on the branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from tidegate.ci.drift import HealReport, NotHealed, detect
from tidegate.ci.drift import heal as heal_environment
from tidegate.ci.guard import Binding, Guard, binding_of, guard
from tidegate.engines import QueryResult
from tidegate.errors import GitError, PlanError, StateError, TidegateError
from tidegate.plan.results import TestResult
from tidegate.plan.session import EnvironmentName, Session
from tidegate.project.config import PROD, current_author, parse_duration
from tidegate.project.environments import Environment
from tidegate.state import EnvironmentVersion, Pin, SnapshotRecord
from tidegate.state.drift import Drift, DriftKind
from tidegate.state.janitor import Janitor, JanitorReport
from tidegate.state.records import now
from tidegate.state.views import (
    drop_failures,
    environment_schema,
    internal_relations,
    record_view,
    swap_views,
)

__all__ = ["Context", "Drift", "DriftKind", "HealReport", "JanitorReport", "NotHealed"]


class Context(Session):
    """A project directory and the warehouses of its environments."""

    # environments only Git can change ---------------------------------------------------

    def binding(self, environment: EnvironmentName) -> Binding | None:
        """What ties the environment to Git (`branches:`, `deploy: gates:`); None when it is free."""
        return binding_of(self.config, self.resolve(environment).name)

    def guard(
        self,
        environment: EnvironmentName,
        commit: str | None,
        *,
        unclean: str,
        break_glass: str | None = None,
    ) -> Guard:
        """Check that `commit` may change the environment (refused with `BindingError`, exit 2,
        unless `break_glass` says why); its gates are checked with `Guard.check_gates` once the
        snapshots are known. `unclean` says why there is no commit."""
        return guard(
            self.binding(environment),
            self.workspace,
            commit,
            unclean=unclean,
            break_glass=break_glass,
            histories=self.history_or_empty,
        )

    def branch_head(self, environment: EnvironmentName) -> str | None:
        """The head of the branch the environment is bound to, in the project's repository (the
        local branch, or origin's in a CI checkout); None when unbound or not found."""
        from tidegate.git.repository import Repository

        binding = self.binding(environment)
        if binding is None or binding.branch is None:
            return None
        try:
            repo = Repository(self.workspace)
            ref = repo.branch_ref(binding.branch)
            return repo.resolve(ref) if ref is not None else None
        except GitError:
            return None

    def pin_of(self, environment: EnvironmentName) -> Pin | None:
        """The pin a rollback left on the environment, if any."""
        return self.state(environment).pin_of(self.resolve(environment).name)

    def unpin(self, environment: EnvironmentName) -> bool:
        """Let the environment follow its branch again; whether it was pinned."""
        resolved = self.resolve(environment)
        with self.lock(resolved):
            return self.state(resolved).unpin(resolved.name)

    # environments ------------------------------------------------------------------------

    def promote(self, source: str, target: str, *, break_glass: str | None = None) -> int:
        """Point `target`'s views at `source`'s snapshots: no data copied, one transaction. A
        bound `target` takes only a version built from a commit of its branch, past its gates."""
        source_env, target_env = self.resolve(source), self.resolve(target)
        if source_env.name == target_env.name:
            raise PlanError("cannot promote an environment to itself")
        if source_env.warehouse != target_env.warehouse:
            raise PlanError(
                f"{source_env.name!r} and {target_env.name!r} are in different warehouses; "
                f"plan {target_env.name!r} instead"
            )
        origin = self.current(source_env)
        checks = self.guard(
            target_env,
            origin.git_commit,
            unclean=f"{source_env.name}'s version {origin.version} was built from uncommitted changes",
            break_glass=break_glass,
        )
        with self.lock(target_env):
            checks.check_gates(origin.models)
            previous = self.state(target_env).current(target_env.name)
            return self._switch(
                target_env,
                origin.models,
                previous,
                action="promote",
                message=f"from {source_env.name} v{origin.version}",
                git_commit=origin.git_commit,
                break_glass=checks.break_glass,
            )

    def rollback(self, environment: str, to: int | None = None, *, branch_head: str | None = None) -> int:
        """Return an environment to an earlier version (the previous one by default). A bound
        environment is pinned there: deploying `branch_head` (the branch's head now; default:
        the commit rolled back from) leaves it alone, a new commit on the branch moves it on."""
        resolved = self.resolve(environment)
        name = resolved.name
        with self.lock(resolved):
            state = self.state(resolved)
            current = state.current(name)
            if current is None:
                raise StateError(f"environment {name!r} does not exist")
            number = to if to is not None else current.version - 1
            target = state.version(name, number) if number >= 1 else None
            if target is None or target.dropped:
                raise StateError(
                    f"environment {name!r} has no version {number} to roll back to",
                    hint=f"see `tidegate history {name}`",
                )
            if number == current.version:
                raise StateError(f"{name!r} is already at version {number}")
            self._require_built(resolved, target.models)
            pinned = self.binding(resolved) is not None
            reason = f"rollback from v{current.version} to v{number}"

            def pin(version: int) -> None:
                state.pin(
                    Pin(name, version, branch_head or current.git_commit, current_author(), now(), reason)
                )

            return self._switch(
                resolved,
                target.models,
                current,
                action="rollback",
                message=f"to v{number}",
                git_commit=target.git_commit,
                then=pin if pinned else None,
            )

    def _switch(
        self,
        environment: Environment,
        models: dict[str, SnapshotRecord],
        previous: EnvironmentVersion | None,
        *,
        action: str,
        message: str,
        git_commit: str | None,
        break_glass: str | None = None,
        then: Callable[[int], None] | None = None,
    ) -> int:
        """Swap to `models`; the new version records the commit those snapshots were built from.
        `then` records what goes with the new version (a rollback's pin) in the same transaction."""
        engine = self.engine(environment)
        with engine.transaction():
            version = swap_views(
                engine,
                self.state(environment),
                environment.name,
                models,
                previous.models if previous else {},
                action=action,
                author=current_author(),
                message=message,
                git_commit=git_commit,
                break_glass=break_glass,
            )
            if then is not None:
                then(version)
            return version

    def _require_built(self, environment: Environment, models: dict[str, SnapshotRecord]) -> None:
        existing = internal_relations(self.engine(environment))
        missing = sorted(name for name, r in models.items() if r.physical and r.physical not in existing)
        if missing:
            raise StateError(
                f"the snapshots of {', '.join(missing[:5])} were dropped by the janitor; cannot roll back",
                hint="make a plan instead, which rebuilds them",
            )

    def environments(self, environment_hint: str = PROD) -> list[EnvironmentVersion]:
        return self.state(environment_hint).environments()

    def pins(self, environment_hint: str = PROD) -> list[Pin]:
        """The pin of every pinned environment of the hint's warehouse."""
        return self.state(environment_hint).pins()

    def history(self, environment: str) -> list[EnvironmentVersion]:
        versions = self.history_or_empty(environment)
        if not versions:
            raise StateError(f"environment {self.environment(environment)!r} has no history")
        return versions

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
        resolved = self.resolve(environment or PROD)
        env = resolved.name
        version = self.state(resolved).current(env)
        mapping = version.models if version else {}
        planner = self.planner(resolved)
        targets = chosen or set(self.project.models)
        applier = self.applier(resolved)
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

    # incremental runs --------------------------------------------------------------------

    def run(self, environment: str, select: Iterable[str] = ()) -> list[str]:
        """Process new data for the environment's incremental models, in one transaction, copying
        on write what other environments share (see `tidegate.plan.incremental`)."""
        from tidegate.plan.incremental import IncrementalRun

        env = self.resolve(environment)
        planner = self.planner(env)  # loads the project before the warehouse opens
        runner = IncrementalRun(
            self.project,
            self.graph,
            self.fingerprints,
            self.engine(env),
            self.state(env),
            planner,
            self.applier(env),
            self.progress,
        )
        with self.lock(env):
            # read under the lock: nothing moves it until the run is done
            return runner.run(self.current(env), select, author=current_author())

    # drift -------------------------------------------------------------------------------

    def drift(self, environment: str, *, terraform: bool = True, commits: Path | None = None) -> list[Drift]:
        """How the environment's warehouse differs from its current version: views missing or
        redefined by hand, snapshots missing, schemas dropped, infrastructure changed by hand,
        and (with `terraform`) resources of its Terraform roots changed outside Terraform (see
        `tidegate.ci.drift`). `commits`: a repository that has the deployed commits, when the
        project's may not (the controller's working copy). A StateError when the environment
        does not exist."""
        return detect(self, environment, terraform=terraform, commits=commits)

    def heal(self, environment: str, *, commits: Path | None = None) -> HealReport:
        """Bring the environment's warehouse back to its current version: views restored over
        their snapshots (no data copied, no new version), missing snapshots rebuilt from the
        version's commit, managed infrastructure applied again without destroying anything
        (Terraform roots never: their drift is only reported); what cannot be healed is in the
        report, with why."""
        return heal_environment(self, environment, commits=commits)

    # janitor -----------------------------------------------------------------------------

    def janitor(self, retention: str | None = None, environment_hint: str = PROD) -> JanitorReport:
        """Drop snapshots no environment needs any more, expired pull-request environments, and
        relations left in internal schemas by killed runs (see `tidegate.state.janitor`)."""
        hint = self.resolve(environment_hint)
        janitor = Janitor(
            self.engine(hint),
            self.state(hint),
            drop_environment=self.drop_environment,
            lock_timeout=hint.lock_timeout,
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
        resolved = self.resolve(environment)
        environment = resolved.name
        with self.lock(resolved):
            current = self.current(resolved)
            engine = self.engine(resolved)
            with engine.transaction():
                if environment == PROD:
                    # prod's views live in the models' own schemas, beside what is not tidegate's
                    for _, record in sorted(current.models.items()):
                        if record.physical:
                            engine.drop_view(record_view(engine, PROD, record))
                else:
                    for schema in sorted({r.schema for r in current.models.values()}):
                        engine.drop_schema(environment_schema(schema, environment))
                state = self.state(resolved)
                failures = state.stored_failures(environment)
                drop_failures(engine, state, failures, schemas=environment != PROD)
                state.write_version(environment, {}, action="drop", author=current_author())
                state.unpin(environment)
