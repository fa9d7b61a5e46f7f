"""Incremental runs: process new data for an environment's incremental models, in place or on a copy.

Copy on write: outside prod, a table that another environment's current version also uses is
first copied into a new version of its snapshot, the run writes into the copy and the
environment's view moves to it, so `run dev` never changes what prod reads. Prod writes in place
(environments sharing its table see the new rows). The copies, the writes, the data tests and the
view swap are one transaction: a failing test changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import replace
from functools import partial

from tidegate.engines.base import EngineAdapter
from tidegate.errors import CheckFailed, PlanError, TidegateError
from tidegate.graph import Fingerprint, Graph
from tidegate.plan import scd2
from tidegate.plan.apply import Applier, run_model_hooks
from tidegate.plan.plan import SnapshotEntry, entries
from tidegate.plan.planner import Planner
from tidegate.plan.results import Progress
from tidegate.project.config import PROD
from tidegate.project.model import Kind
from tidegate.project.project import Project
from tidegate.state.store import EnvironmentVersion, SnapshotRecord, StateStore, now
from tidegate.state.views import physical_schema, relations_read, swap_views

_RUNNABLE = (Kind.INCREMENTAL, Kind.SCD2)
"""What `run` processes: incremental models, and dbt snapshots (their SCD2 merge)."""


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

    def run(self, version: EnvironmentVersion, select: Iterable[str] = (), *, author: str) -> list[str]:
        """Run the selected models (all incremental ones and dbt snapshots by default) on `version`, the
        environment's current version read under its lock; returns the models processed."""
        env = version.environment
        chosen = set(select) or {n for n, m in self.project.models.items() if m.kind in _RUNNABLE}
        models = dict(version.models)
        mapping = entries(models)
        shared = self._shared(env)
        processed: list[str] = []
        copied: list[str] = []
        self.applier.run_hooks("on-run-start", self.project.on_run_start)
        with self.engine.transaction():
            for name in self.graph.sort(chosen):
                model = self.project.model(name)
                record = models.get(name)
                runnable = model.kind is Kind.SCD2 or bool(model.incremental_sql)
                if model.kind not in _RUNNABLE or record is None or not runnable:
                    raise TidegateError(f"{name!r} is not an incremental model or a dbt snapshot of {env!r}")
                if record.fingerprint != self.fingerprints[name].data:
                    raise PlanError(f"{name!r} in {env!r} differs from the project: plan {env!r} first")
                started = time.perf_counter()
                if record.physical in shared:
                    record = self._copy_snapshot(record)
                    models[name], mapping[name] = record, SnapshotEntry.of(record)
                    copied.append(name)
                if model.kind is Kind.SCD2:  # dbt snapshot: close changed rows, insert new versions
                    this = str(record.physical)
                    compile_scd2 = partial(self.planner.compile, mapping=mapping, this=this)
                    scd2.merge(self.engine, this, model, self.project.dialect, compile_scd2)
                    self.progress.advance("run", name, time.perf_counter() - started)
                    processed.append(name)
                    continue
                assert model.incremental_sql is not None
                sql = self.planner.compile(model.incremental_sql, mapping, this=record.physical)
                pre, post = model.incremental_hooks or (model.pre_hooks, model.post_hooks)
                run_model_hooks(self.engine, "pre-hook", self.planner.hooks(pre, record.physical))
                if model.incremental_strategy == "append":
                    self.engine.insert_into(str(record.physical), sql)
                else:  # merge and delete+insert: the rows of a unique_key that comes again are replaced
                    self.engine.merge_into(str(record.physical), sql, model.unique_key)
                run_model_hooks(self.engine, "post-hook", self.planner.hooks(post, record.physical))
                self.progress.advance("run", name, time.perf_counter() - started)
                processed.append(name)
            # the tests run on this connection, inside the transaction, so they see the new rows
            tests = self.planner.tests_for(mapping, set(processed))
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
        stamp = now().isoformat()
        version = hashlib.sha256(f"{record.fingerprint}{record.version}{stamp}".encode()).hexdigest()[:16]
        physical = self.engine.relation(physical_schema(record.schema), f"{record.model}__{version}")
        self.engine.create_table_as(physical, f"SELECT * FROM {record.physical}")
        key = (record.model, record.fingerprint)
        original = self.state.snapshots([key]).get(key)
        copy = replace(record, version=version, physical=physical, query=original.query if original else None)
        self.state.record_snapshot(copy)
        return copy
