"""Incremental runs: process new data for an environment's incremental models, in place or on a copy.

After the incremental models and dbt snapshots, every table downstream of them (SQL or Python,
through views and ephemeral models too) is refreshed as a dbt build would rebuild it: its rows are
replaced in place (`EngineAdapter.refresh_table`), in topological order, with no new fingerprint
or snapshot version, since only the data changed. Views read the new rows as they are.

Copy on write: outside prod, a table that another environment's current version also uses is
first copied into a new version of its snapshot, the run writes into the copy and the
environment's view moves to it, so `run dev` never changes what prod reads; refreshed tables are
copied the same way. Prod writes in place (environments sharing its table see the new rows). The
copies, the writes, the refreshes, the data tests of all of them and the view swap are one
transaction: a failing test changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import partial

from tidegate.engines.base import EngineAdapter
from tidegate.errors import CheckFailed, EngineError, PlanError, TidegateError
from tidegate.graph import Fingerprint, Graph
from tidegate.plan import scd2
from tidegate.plan.apply import Applier, python_rows, run_model_hooks
from tidegate.plan.contract import contract_spec, enforce
from tidegate.plan.plan import Build
from tidegate.plan.planner import Planner
from tidegate.plan.results import Progress
from tidegate.project.config import PROD
from tidegate.project.model import Kind, Language, Model
from tidegate.project.project import Project
from tidegate.state.records import EnvironmentVersion, SnapshotRecord, now
from tidegate.state.store import StateStore
from tidegate.state.views import physical_schema, relations_read, swap_views

_RUNNABLE = (Kind.INCREMENTAL, Kind.SCD2)
"""What `run` processes: incremental models, and dbt snapshots (their SCD2 merge)."""
_REFRESHED = (Kind.TABLE, Kind.VIEW)
"""What a run touches downstream of what it processed: tables (SQL or Python) are refreshed, and
outside prod a view reading a table the run copied gets a new version reading the copy; other
incremental models and dbt snapshots are left as they are, as are ephemeral models."""


class IncrementalRun:
    """Runs the incremental models of one environment of a warehouse; the caller holds its lock."""

    def __init__(
        self,
        project: Project,
        graph: Graph,
        fingerprints: dict[str, Fingerprint],
        engine: EngineAdapter,
        state: StateStore,
        planner: Planner,
        applier: Applier,
        progress: Progress,
    ) -> None:
        self.project = project
        self.graph = graph
        self.fingerprints = fingerprints
        self.engine = engine
        self.state = state
        self.planner = planner
        self.applier = applier
        self.progress = progress
        self.refreshed: list[str] = []
        """The tables the last `run` refreshed, in the order it refreshed them."""

    def run(self, version: EnvironmentVersion, select: Iterable[str] = (), *, author: str) -> list[str]:
        """Run the selected models (all incremental ones and dbt snapshots by default) on `version`, the
        environment's current version read under its lock, then refresh the tables downstream of
        them; returns the models processed (the tables refreshed are in `self.refreshed`)."""
        env = version.environment
        chosen = set(select) or {n for n, m in self.project.models.items() if m.kind in _RUNNABLE}
        models = dict(version.models)
        shared = self._shared(env)
        processed: list[str] = []
        copied: list[str] = []
        self.applier.run_hooks("on-run-start", self.project.on_run_start)
        self.refreshed = []
        moved: set[str] = set()  # tables copied away from: views reading them get a new version
        self.progress.stage("run", len(chosen))
        with self.engine.transaction():
            for name in self.graph.sort(chosen | self.graph.downstream(chosen)):
                model = self.project.model(name)
                record = models.get(name)
                started = time.perf_counter()
                if name in chosen:
                    runnable = (
                        model.kind is Kind.SCD2 or bool(model.incremental_sql) or model.dbt_python is not None
                    )
                    if model.kind not in _RUNNABLE or record is None or not runnable:
                        raise TidegateError(
                            f"{name!r} is not an incremental model or a dbt snapshot of {env!r}"
                        )
                    if record.fingerprint != self.fingerprints[name].data:
                        raise PlanError(f"{name!r} in {env!r} differs from the project: plan {env!r} first")
                    if record.physical in shared:
                        moved.add(str(record.physical))
                        record = self._copy_snapshot(record)
                        models[name] = record
                        copied.append(name)
                    self._process(model, record, models)
                    self.progress.advance("run", name, time.perf_counter() - started)
                    processed.append(name)
                    continue
                # downstream: refresh the tables, and re-point the views that read a table copied
                if record is None or record.physical is None or model.kind not in _REFRESHED:
                    continue
                if model.kind is Kind.VIEW and not moved.intersection(record.parents):
                    continue
                if record.fingerprint != self.fingerprints[name].data:
                    raise PlanError(
                        f"{name!r} in {env!r} differs from the project and reads what the run "
                        f"changes: plan {env!r} first"
                    )
                if model.kind is Kind.VIEW:
                    record = self._new_view(model, record, models)
                elif record.physical in shared:
                    moved.add(str(record.physical))
                    record = self._copy_snapshot(record)
                if record is not models[name]:
                    models[name] = record
                    copied.append(name)
                if model.kind is Kind.TABLE:
                    if not self.refreshed:  # the tables downstream, counted once the run is done
                        self.progress.stage("refresh", self._tables_downstream(chosen, models))
                    self._refresh(model, record, models)
                    self.progress.advance("refresh", name, time.perf_counter() - started)
                    self.refreshed.append(name)
            # the tests run on this connection, inside the transaction, so they see the new rows
            tests = self.planner.tests_for(models, {*processed, *self.refreshed}, environment=env)
            results = self.applier.run_tests(tests, in_transaction=True)
            failed = [result.name for result in results if result.blocking]
            if failed:
                raise CheckFailed(f"data tests failed after the run: {', '.join(failed)}; rolled back")
            if copied:
                swap_views(
                    self.engine,
                    self.state,
                    env,
                    models,
                    version.models,
                    action="run",
                    author=author,
                    message=f"copied {', '.join(copied)} shared with other environments",
                )
        self.applier.run_hooks("on-run-end", self.project.on_run_end, after="after the run was committed")
        return processed

    def _tables_downstream(self, chosen: set[str], models: dict[str, SnapshotRecord]) -> int:
        return sum(
            1
            for name in self.graph.downstream(chosen)
            if name not in chosen
            and self.project.model(name).kind is Kind.TABLE
            and name in models
            and models[name].physical is not None
        )

    def _process(self, model: Model, record: SnapshotRecord, mapping: dict[str, SnapshotRecord]) -> None:
        """Process new data: a dbt snapshot's SCD2 merge, or an incremental model's strategy."""
        this = str(record.physical)
        if model.kind is Kind.SCD2:  # dbt snapshot: close changed rows, insert new versions
            compile_scd2 = partial(self.planner.compile, mapping=mapping, this=this)
            scd2.merge(self.engine, this, model, self.project.dialect, compile_scd2)
            return
        pre, post = model.incremental_hooks or (model.pre_hooks, model.post_hooks)
        run_model_hooks(self.engine, "pre-hook", self.planner.hooks(pre, this))
        if model.language is Language.PYTHON:  # a dbt Python model, run with dbt.is_incremental
            with self._python_rows(model, this, mapping, incremental=True) as rows:
                self._add_rows(model, this, rows)
        else:
            assert model.incremental_sql is not None
            sql = self._ordered(model, self.planner.compile(model.incremental_sql, mapping, this=this))
            self._add_rows(model, this, sql)
        run_model_hooks(self.engine, "post-hook", self.planner.hooks(post, this))

    def _add_rows(self, model: Model, this: str, rows: str) -> None:
        """An incremental model's new rows, by its strategy."""
        if model.incremental_strategy == "append":
            self.engine.insert_into(this, rows)
        else:  # merge and delete+insert: the rows of a unique_key that comes again are replaced
            self.engine.merge_into(this, rows, model.unique_key)

    def _refresh(self, model: Model, record: SnapshotRecord, mapping: dict[str, SnapshotRecord]) -> None:
        """Replace the rows of a table model's table with what its query (or Python) returns now,
        with its hooks around, as its build did; errors name the model."""
        try:
            self._refresh_rows(model, str(record.physical), mapping)
        except EngineError as error:  # keep the kind (InvalidSQL or not)
            raise type(error)(
                f"refreshing it after the run failed: {error.message}",
                path=model.location.path,
                model=model.name,
            ) from None

    def _refresh_rows(self, model: Model, physical: str, mapping: dict[str, SnapshotRecord]) -> None:
        run_model_hooks(self.engine, "pre-hook", self.planner.hooks(model.pre_hooks, physical))
        if model.language is Language.PYTHON:
            with self._python_rows(model, physical, mapping) as rows:
                self.engine.refresh_table(physical, rows)
        else:
            self.engine.refresh_table(
                physical, self._ordered(model, self.planner.compile(model.sql, mapping))
            )
        run_model_hooks(self.engine, "post-hook", self.planner.hooks(model.post_hooks, physical))

    def _python_rows(
        self, model: Model, physical: str, mapping: dict[str, SnapshotRecord], *, incremental: bool = False
    ) -> AbstractContextManager[str]:
        """The rows a Python model returns now, writing to `physical` (see `apply.python_rows`)."""
        build = Build(
            model=model.name,
            fingerprint="",
            version="",
            kind=model.kind,
            language=model.language,
            physical=physical,
        )
        return python_rows(
            self.engine, self.planner.python_build(model, build, mapping), incremental=incremental
        )

    def _ordered(self, model: Model, query: str) -> str:
        """A contracted model's query checked and with its columns in the table's order."""
        if model.contract is None:
            return query
        return enforce(self.engine, contract_spec(self.engine, model.contract, self.project.dialect), query)

    def _new_view(
        self, model: Model, record: SnapshotRecord, mapping: dict[str, SnapshotRecord]
    ) -> SnapshotRecord:
        """A new version of a view's snapshot reading the relations of `mapping` (the copies the
        run made), recorded in the state; the previous version stays for other environments."""
        version = self._new_version(record)
        physical = self.engine.relation(physical_schema(record.schema), f"{record.model}__{version}")
        self.engine.create_view(physical, self.planner.compile(model.sql, mapping))
        parents = tuple(sorted(self.planner.physical_parents(model, mapping)))
        view = replace(record, version=version, physical=physical, parents=parents, query=self._query(record))
        self.state.record_snapshot(view)
        return view

    def _query(self, record: SnapshotRecord) -> str | None:
        key = (record.model, record.fingerprint)
        original = self.state.snapshots([key]).get(key)
        return original.query if original else None

    @staticmethod
    def _new_version(record: SnapshotRecord) -> str:
        stamp = now().isoformat()
        return hashlib.sha256(f"{record.fingerprint}{record.version}{stamp}".encode()).hexdigest()[:16]

    def _shared(self, environment: str) -> set[str]:
        """The tables other environments read (their models' own, and those their views read),
        which a run of `environment` must not write in place; prod's run writes in place."""
        if environment == PROD:
            return set()
        return {
            relation
            for other in self.state.environments()
            if other.environment != environment
            for record in other.models.values()
            for relation in relations_read(record)
        }

    def _copy_snapshot(self, record: SnapshotRecord) -> SnapshotRecord:
        """A new version of `record`'s snapshot holding a copy of its table, recorded in the state."""
        version = self._new_version(record)
        physical = self.engine.relation(physical_schema(record.schema), f"{record.model}__{version}")
        self.engine.create_table_as(physical, f"SELECT * FROM {record.physical}")
        copy = replace(record, version=version, physical=physical, query=self._query(record))
        self.state.record_snapshot(copy)
        return copy
