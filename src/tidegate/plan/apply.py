"""Apply a plan in stages: unit tests, builds, data tests, then one atomic view swap.

Unit tests whose given rows take the column types of an upstream the plan builds run right after
the builds.

Nothing a user can query changes before the last stage. Snapshots are recorded in the same
transaction that builds them, so a failed or killed apply leaves the environment as it was and a
rerun reuses every snapshot already built.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError, PlanError
from tidegate.plan import scd2, stored_failures
from tidegate.plan.contract import create_table, enforce
from tidegate.plan.plan import Build, Plan, TestRun, UnitTestRun
from tidegate.plan.results import ApplyResult, Outcome, Progress, TestResult, TestsFailed
from tidegate.plan.unit_tests import failure_count, run_unit_test
from tidegate.project.model import Kind, Language, Severity
from tidegate.state.records import SnapshotRecord
from tidegate.state.store import StateStore
from tidegate.state.views import physical_schema, swap_views


class Applier:
    def __init__(
        self, engine: EngineAdapter, state: StateStore, *, threads: int = 4, progress: Progress | None = None
    ):
        self.engine = engine
        self.state = state
        self.threads = max(1, threads)
        self.progress = progress or Progress()

    def apply(
        self,
        plan: Plan,
        *,
        action: str = "apply",
        author: str | None = None,
        message: str | None = None,
        gate: bool = True,
        break_glass: str | None = None,
    ) -> ApplyResult:
        """Apply `plan`; the caller holds the environment's lock. Without `gate` (a pull-request
        environment, a sandbox for review) failed tests are reported but do not stop the swap, so
        reviewers and the CI's later steps see what the change built. `break_glass`: why an
        environment bound to a branch takes this plan past Git, recorded on its new version."""
        self.start(plan)
        result = ApplyResult(environment=plan.environment)
        early = [test for test in plan.unit_tests if not test.given_later]
        result.unit_tests = self.run_unit_tests(early)
        if gate:
            self._raise_if_blocking(result.unit_tests, "unit test")
        self._build_all(plan, result)
        result.unit_tests += self.run_unit_tests([test for test in plan.unit_tests if test.given_later])
        if gate:  # the builds are snapshots nothing reads yet: a rerun reuses them
            self._raise_if_blocking(result.unit_tests, "unit test")
        building = {build.model for build in plan.builds}
        result.reused += [  # found already built when planned: another environment built them
            change.model
            for change in plan.changes
            if change.change.new_snapshot and change.model not in building
        ]
        result.tests = self.run_tests(plan.tests)
        if gate:
            self._raise_if_blocking(result.tests, "data test")
        result.version = self._swap_and_end(
            plan, action=action, author=author, message=message, break_glass=break_glass
        )
        result.views_changed = len(plan.views_changed) + len(plan.views_removed)
        return result

    # the stages one by one, for an orchestrator's tasks (see `tidegate.orchestrate.tasks`) ---

    def start(self, plan: Plan) -> None:
        """The first stage: refuse if the environment moved since the plan, then run the
        `on-run-start` hooks."""
        self._check_not_moved(plan)
        self.run_hooks("on-run-start", plan.on_run_start)

    def build(self, plan: Plan, model: str) -> float | None:
        """Build one model's snapshot as `apply` does, once the builds it depends on are done;
        the seconds it took, or None when the plan does not build it or it is built already."""
        pending = self._pending([build for build in plan.builds if build.model == model])
        if model not in pending:
            return None
        self._snapshot_schemas([physical_schema(plan.mapping[model].schema)])
        return self._build_one(plan, pending[model])

    def test(self, plan: Plan, model: str) -> list[TestResult]:
        """Run a model's unit tests and the plan's data tests defined on it (their first model),
        once what they read is built; raises `TestsFailed` when one blocks, as `apply` does."""
        results = self.run_unit_tests([test for test in plan.unit_tests if test.model == model])
        results += self.run_tests([test for test in plan.tests if test.models[0] == model])
        self._raise_if_blocking(results, "test")
        return results

    def finish(
        self, plan: Plan, *, action: str = "apply", author: str | None = None, message: str | None = None
    ) -> int:
        """The last stage, once every test passed: swap the views in one transaction and record
        the environment's new version, then run the `on-run-end` hooks. Refuses if the
        environment moved or a snapshot of the plan is not built."""
        self._check_not_moved(plan)
        missing = sorted(self._pending(plan.builds))
        if missing:
            raise PlanError(
                f"not built: {', '.join(missing[:5])}{' and more' if len(missing) > 5 else ''}; "
                f"the views of {plan.environment!r} were not swapped"
            )
        return self._swap_and_end(plan, action=action, author=author, message=message)

    def _swap_and_end(
        self,
        plan: Plan,
        *,
        action: str,
        author: str | None,
        message: str | None,
        break_glass: str | None = None,
    ) -> int:
        version = self._swap(plan, action=action, author=author, message=message, break_glass=break_glass)
        self.run_hooks(
            "on-run-end",
            plan.on_run_end,
            after=f"after the swap ({plan.environment!r} is at version {version})",
        )
        return version

    def run_hooks(self, which: str, hooks: list[str] | tuple[str, ...], *, after: str | None = None) -> None:
        """dbt's `on-run-start` / `on-run-end`: each hook in its own transaction. `after` says
        what already happened, and stays done, when an `on-run-end` hook fails."""
        for number, sql in enumerate(hooks, 1):
            try:
                with self.engine.transaction():
                    self.engine.execute(sql)
            except EngineError as error:
                done = f" {after}" if after else ""
                raise type(error)(
                    f"{which} hook {number} failed{done}: {error.message}", path="dbt_project.yml"
                ) from None

    def _check_not_moved(self, plan: Plan) -> None:
        current = self.state.current(plan.environment)
        version = current.version if current else None
        if version != plan.base_version:
            raise PlanError(
                f"environment {plan.environment!r} moved since the plan was made "
                f"(version {plan.base_version or 'none'} then, {version or 'none'} now)",
                hint="make a new plan and review it",
            )

    # unit tests --------------------------------------------------------------------------

    def run_unit_tests(self, tests: list[UnitTestRun]) -> list[TestResult]:
        if not tests:
            return []
        self.progress.stage("unit tests", len(tests))
        results = []
        for test in tests:
            started = time.perf_counter()
            try:
                problems = run_unit_test(self.engine, test)
            except EngineError as error:
                problems = [f"the query failed: {error.message}"]
            seconds = time.perf_counter() - started
            self.progress.advance("unit tests", test.name, seconds, ok=not problems)
            results.append(
                TestResult(
                    test.name,
                    "unit",
                    Severity.ERROR,
                    failure_count(problems),
                    [test.model],
                    problems,
                    test.path,
                    test.line,
                    seconds,
                )
            )
        return results

    # builds ------------------------------------------------------------------------------

    def _build_all(self, plan: Plan, result: ApplyResult) -> None:
        pending = self._pending(plan.builds)
        result.reused = [b.model for b in plan.builds if b.model not in pending]
        if not pending:
            return
        self._snapshot_schemas(sorted({physical_schema(plan.mapping[name].schema) for name in pending}))
        self.progress.stage("build", len(pending))
        waiting = {name: {d for d in build.depends_on if d in pending} for name, build in pending.items()}
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            running: dict[Future[float], str] = {}
            failure: BaseException | None = None
            while waiting or running:
                if failure is None:
                    for name in [n for n, deps in waiting.items() if not deps]:
                        del waiting[name]
                        running[pool.submit(self._build_one, plan, pending[name])] = name
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        seconds = future.result()
                    except BaseException as error:  # keep the first failure, let the others finish
                        failure = failure or error
                        self.progress.advance("build", name, 0.0, ok=False)
                        continue
                    (result.built if pending[name].materializes else result.reused).append(name)
                    result.build_seconds[name] = seconds
                    self.progress.advance("build", name, seconds)
                    for deps in waiting.values():
                        deps.discard(name)
            if failure is not None:
                raise failure

    def rebuild(self, build: Build, record: SnapshotRecord) -> None:
        """Build a recorded snapshot again into the relation it lost (healing drift), in one
        transaction with its record, which stays as it was if it is still there."""
        self._snapshot_schemas([physical_schema(record.schema)])
        try:
            with self.engine.transaction():
                run_model_hooks(self.engine, "pre-hook", build.pre_hooks)
                self._materialize(self.engine, build)
                run_model_hooks(self.engine, "post-hook", build.post_hooks)
                self.state.record_snapshot(replace(record, query=build.query), self.engine)
        except EngineError as error:
            raise type(error)(
                f"building failed: {error.message}", path=build.path, model=build.model
            ) from None

    def _snapshot_schemas(self, schemas: list[str]) -> None:
        """Create the schemas snapshots are built into; the deploy role shares them with the
        pull-request role (see `tidegate.state.access`)."""
        for schema in schemas:
            self.engine.create_schema(schema)
        if self.state.access is not None:
            self.state.access.share_snapshot_schemas(self.engine, schemas)

    def _pending(self, builds: list[Build]) -> dict[str, Build]:
        """The builds whose snapshot is not recorded yet, by model."""
        built = self.state.snapshots([(b.model, b.fingerprint) for b in builds])
        return {  # a full refresh is a new version of a fingerprint that was built before
            b.model: b
            for b in builds
            if (b.model, b.fingerprint) not in built or built[(b.model, b.fingerprint)].version != b.version
        }

    def _build_one(self, plan: Plan, build: Build) -> float:
        started = time.perf_counter()
        engine = self.engine.worker()
        record = replace(plan.mapping[build.model], query=build.query)
        try:
            with engine.transaction():
                if build.reused_from is None:
                    run_model_hooks(engine, "pre-hook", build.pre_hooks)
                    self._materialize(engine, build)
                    run_model_hooks(engine, "post-hook", build.post_hooks)
                self.state.record_snapshot(record, engine)
        except EngineError as error:  # keep the kind (InvalidSQL or not), add where it comes from
            raise type(error)(
                f"building failed: {error.message}", path=build.path, model=build.model
            ) from None
        finally:
            engine.close()
        return time.perf_counter() - started

    def _materialize(self, engine: EngineAdapter, build: Build) -> None:
        if build.kind is Kind.EPHEMERAL:
            return
        if build.language is Language.CSV:
            path = Path(build.seed_path)
            if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != build.seed_hash:
                raise PlanError(f"seed file {path} changed since the plan was made", model=build.model)
            engine.drop_table(build.physical)
            if build.delimiter != ",":
                engine.load_csv(build.physical, path, build.column_types, delimiter=build.delimiter)
            else:
                engine.load_csv(build.physical, path, build.column_types)
            if build.narrow_integers:
                engine.narrow_integers(build.physical, set(build.column_types))
        elif build.language is Language.PYTHON and build.history_from is not None:  # its rows, then a run's
            engine.replace_table_as(build.physical, f"SELECT * FROM {build.history_from}")
            with python_rows(engine, build, incremental=True) as rows:
                merge(engine, build.model_copy(update={"merge_sql": rows}))
        elif build.language is Language.PYTHON:
            engine.drop_table(build.physical)
            engine.write_dataframe(build.physical, run_python_model(engine, build))
        elif build.kind is Kind.VIEW:
            if build.contract is not None:  # checked; as in dbt, a view keeps its query's order
                enforce(engine, build.contract, build.sql)
            engine.create_view(build.physical, build.sql)
        elif build.history_from is not None:  # its previous rows, then what a run adds
            engine.replace_table_as(build.physical, f"SELECT * FROM {build.history_from}")
            merge(engine, build)
        elif build.contract is not None:
            create_table(engine, build.physical, build.contract, build.sql)
        else:
            engine.replace_table_as(build.physical, build.sql)

    # data tests --------------------------------------------------------------------------

    def run_tests(self, tests: list[TestRun], *, in_transaction: bool = False) -> list[TestResult]:
        """Run data tests in parallel, or one by one on this connection when they must see what
        the caller's open transaction wrote (and keep their failing rows in it)."""
        if not tests:
            return []
        self.progress.stage("data tests", len(tests))
        existing = stored_failures.prepare(self.engine, self.state, [t.failures for t in tests if t.failures])
        if in_transaction:
            return [self._run_test(test, existing, self.engine, nested=True) for test in tests]
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(lambda test: self._run_test(test, existing), tests))

    def _run_test(
        self,
        test: TestRun,
        existing: dict[str, str],
        engine: EngineAdapter | None = None,
        nested: bool = False,
    ) -> TestResult:
        """Count the failing rows and show a few. A test that keeps them replaces its relation
        first and counts what it kept, as dbt does (in the caller's transaction when `nested`)."""
        if engine is None:
            with closing(self.engine.worker()) as worker:
                return self._run_test(test, existing, worker)
        started = time.perf_counter()
        stored, step, source = test.failures, "the test query", f"({test.sql}) AS failures"
        try:
            if stored is not None:
                step = f"storing the failing rows in {stored.relation}"
                known = existing.get(stored.relation.lower())
                stored_failures.store(engine, stored, test.sql, known, nested=nested)
                step, source = "the test query", stored.relation
            count, details = _failing_rows(engine, source)
            outcome: Outcome | None = None
            if test.thresholds is not None:
                step = "its fail_calc, warn_if and error_if"
                count, outcome = _judged(engine, source, test.thresholds, test.severity)
        except EngineError as error:
            count, details, outcome = 1, [f"{step} failed: {error.message}"], None
        if stored is not None:
            details.insert(0, f"failing rows stored in {stored.relation}")
        seconds = time.perf_counter() - started
        result = TestResult(
            test.name,
            test.kind,
            test.severity,
            count,
            test.models,
            details,
            test.path,
            test.line,
            seconds,
            failures_relation=stored.relation if stored else None,
            outcome=outcome,
        )
        self.progress.advance("data tests", test.name, seconds, ok=not result.blocking)
        return result

    @staticmethod
    def _raise_if_blocking(results: list[TestResult], what: str) -> None:
        if any(result.blocking for result in results):
            raise TestsFailed(results, what)

    # swap --------------------------------------------------------------------------------

    def _swap(
        self, plan: Plan, *, action: str, author: str | None, message: str | None, break_glass: str | None
    ) -> int:
        self.progress.stage("swap views", 1)
        started = time.perf_counter()
        current = self.state.current(plan.environment)
        with self.engine.transaction():
            version = swap_views(
                self.engine,
                self.state,
                plan.environment,
                plan.mapping,
                current.models if current else {},
                action=action,
                source=plan.id,
                git_commit=plan.git_commit,
                author=author,
                message=message,
                break_glass=break_glass,
            )
        self.progress.advance("swap views", plan.environment, time.perf_counter() - started)
        return version


def _failing_rows(engine: EngineAdapter, source: str) -> tuple[int, list[str]]:
    """How many rows `source` (a test's query, or the relation keeping its rows) has, and the
    first few, each as a line."""
    count = int(engine.fetch(f"SELECT count(*) FROM {source}").rows[0][0])
    if not count:
        return 0, []
    sample = engine.fetch(f"SELECT * FROM {source} LIMIT 5")
    return count, [str(dict(zip(sample.columns, row, strict=True))) for row in sample.rows]


def _judged(
    engine: EngineAdapter, source: str, thresholds: list[str], severity: Severity
) -> tuple[int, Outcome]:
    """What dbt's `fail_calc` computes over a test's failing rows, and the outcome its
    `warn_if`/`error_if` give: `error` (for a test of severity error), `warn`, or `pass`."""
    fail_calc, warn_if, error_if = thresholds
    row = engine.fetch(
        f"SELECT {fail_calc} AS failures, ({fail_calc}) {warn_if} AS should_warn, "
        f"({fail_calc}) {error_if} AS should_error FROM {source}"
    ).rows[0]
    value = int(row[0] or 0)
    if severity is Severity.ERROR and row[2]:
        return value, Outcome.ERROR
    return value, Outcome.WARN if row[1] else Outcome.PASS


def merge(engine: EngineAdapter, build: Build) -> None:
    """A run's merge into the copy of a snapshot's or an incremental model's previous table."""
    if build.merge_strategy == "scd2":
        scd2.apply_merge(engine, build.physical, build.merge_sql)
        return
    sql = build.merge_sql if build.contract is None else enforce(engine, build.contract, build.merge_sql)
    if build.merge_strategy == "append":
        engine.insert_into(build.physical, sql)
    else:  # merge and delete+insert: the rows of a unique_key that comes again are replaced
        engine.merge_into(build.physical, sql, build.merge_keys)


def run_model_hooks(engine: EngineAdapter, which: str, hooks: list[str]) -> None:
    """A model's pre- or post-hooks, on the connection (and in the transaction) of its build."""
    for number, sql in enumerate(hooks, 1):
        try:
            engine.execute(sql)
        except EngineError as error:
            raise type(error)(f"its {which} {number} failed: {error.message}", model=error.model) from None


@contextmanager
def python_rows(engine: EngineAdapter, build: Build, *, incremental: bool = False) -> Iterator[str]:
    """A query of the rows a Python model returns now (`dbt.is_incremental` when `incremental`),
    kept in a table beside `build.physical` while the caller uses it."""
    staged = _beside(build.physical, "__tidegate_rows")
    engine.drop_table(staged)
    engine.write_dataframe(staged, run_python_model(engine, build, incremental=incremental))
    try:
        yield f"SELECT * FROM {staged}"
    finally:
        engine.drop_table(staged)


def _beside(relation: str, suffix: str) -> str:
    """A relation named like `relation` (`"schema"."name"`, quoted or not) with `suffix`."""
    if relation[-1:] in ('"', "`"):
        return f"{relation[:-1]}{suffix}{relation[-1]}"
    return relation + suffix


def run_python_model(engine: EngineAdapter, build: Build, *, incremental: bool = False) -> object:
    """Execute a Python model's `model()`: tidegate's with the engine's dataframes of its
    parents, dbt's with its `dbt` object and the engine's session (`incremental`: a run adding
    to the model's table, `dbt.is_incremental`)."""
    namespace: dict[str, object] = {"__name__": f"tidegate_model_{build.model}"}
    exec(compile(build.python_source, f"<model {build.model}>", "exec"), namespace)
    function: Callable[..., object] = namespace["model"]  # type: ignore[assignment]
    try:
        if build.dbt_python is not None:
            from tidegate.plan.dbt_python import DbtObject

            dbt = DbtObject(
                build.dbt_python, build.inputs, engine.dataframe, build.physical, is_incremental=incremental
            )
            return function(dbt, engine.python_session())
        return function(**{name: engine.dataframe(physical) for name, physical in build.inputs.items()})
    except Exception as error:
        raise EngineError(
            f"the Python model raised {type(error).__name__}: {error}", model=build.model
        ) from None
