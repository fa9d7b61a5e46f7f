"""Make a plan: compare the project's fingerprints with an environment's current snapshots.

For each model, parents first: unchanged models keep their snapshot; a snapshot already built for
the same fingerprint (in any environment) is reused; a model whose parents changed only by adding
columns it does not read keeps its physical table; everything else is built anew.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError, PlanError, TidegateError
from tidegate.graph import Fingerprint, Graph
from tidegate.graph.fingerprint import query_hash
from tidegate.plan import dbt_python
from tidegate.plan.plan import (
    BREAKING,
    Build,
    Category,
    ChangeType,
    ModelChange,
    Plan,
    TestRun,
    UnitTestRun,
)
from tidegate.project.datatypes import column_type
from tidegate.project.model import REF_PREFIX, DataTest, Kind, Language, Model
from tidegate.project.project import Project
from tidegate.state.records import EnvironmentVersion, FailuresRecord, SnapshotRecord
from tidegate.state.store import StateStore
from tidegate.state.views import failures_schema, physical_schema, view_changes


@dataclass
class _Status:
    """How a model's data changed relative to the base, as its children see it."""

    same: bool
    category: Category = BREAKING


@dataclass
class PlanRequest:
    environment: str
    base_environment: str | None
    full_refresh: frozenset[str] = frozenset()
    git_commit: str | None = None
    warehouse: str = ""
    skip_unit_tests: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    rebase: bool = False
    """Compare with the base environment even when the environment exists: a pull request's
    environment always shows (and tests) everything the pull request changes against prod."""


class Planner:
    def __init__(
        self,
        project: Project,
        graph: Graph,
        fingerprints: dict[str, Fingerprint],
        state: StateStore,
        engine: EngineAdapter,
    ) -> None:
        self.project = project
        self.graph = graph
        self.fingerprints = fingerprints
        self.state = state
        self.engine = engine
        self._names = {name.lower(): name for name in project.models}
        """Model names by the lower-cased name their ref placeholders carry."""
        self._ephemerals: tuple[dict[str, SnapshotRecord], dict[str, str]] | None = None
        """While planning: the plan's mapping, and its ephemeral models compiled against it."""

    def plan(self, request: PlanRequest) -> Plan:
        current = self.state.current(request.environment)
        base = (self._base(request) if request.rebase else None) or current or self._base(request)
        base_models = base.models if base else {}
        known = self.state.snapshots()
        unknown = sorted(request.full_refresh - set(self.project.models))
        if unknown:
            raise PlanError(f"--full-refresh names unknown model(s): {', '.join(unknown)}")

        mapping: dict[str, SnapshotRecord] = {}
        # a model's entry is final once decided, and its parents are decided first: an
        # ephemeral model compiles once for every child (and test) that reads it
        self._ephemerals = (mapping, {})
        statuses: dict[str, _Status] = {}
        changes: list[ModelChange] = []
        builds: list[Build] = []
        self._check_python_inputs()
        for name in self.graph.order:
            model = self.project.models[name]
            entry, status, change, build = self._decide(
                model, base_models.get(name), known, statuses, mapping, request
            )
            mapping[name], statuses[name] = entry, status
            if change is not None:
                changes.append(change)
            if build is not None:
                builds.append(build)
        for name in sorted(set(base_models) - set(self.project.models)):
            changes.append(ModelChange(model=name, change=ChangeType.REMOVED, reason="model deleted"))

        views_changed, views_removed = view_changes(current.models if current else {}, mapping)
        data_changed = {
            name
            for name, entry in mapping.items()
            if name not in base_models or base_models[name].physical != entry.physical
        }
        directly = {c.model for c in changes if c.change.direct}
        from tidegate.plan.scd2 import rebuild_notes

        notes = rebuild_notes(builds, base_models)
        plan = Plan(
            id=uuid.uuid4().hex[:12],
            project=self.project.name,
            environment=request.environment,
            base_environment=base.environment if base else None,
            base_version=current.version if current else None,
            created_at=datetime.now(UTC),
            engine=type(self.engine).__name__,
            warehouse=request.warehouse,
            git_commit=request.git_commit,
            mapping=mapping,
            changes=changes,
            builds=builds,
            tests=self.tests_for(mapping, data_changed, environment=request.environment),
            unit_tests=[] if request.skip_unit_tests else self.unit_tests_for(directly, mapping),
            views_changed=views_changed,
            views_removed=views_removed,
            dashboards_affected=sorted(
                d.name for d in self.project.dashboards if data_changed.intersection(d.refs)
            ),
            exposures_affected=sorted(
                e.name for e in self.project.exposures if data_changed.intersection(e.refs)
            ),
            full_refresh=sorted(request.full_refresh),
            notes=notes,
            on_run_start=list(self.project.on_run_start),
            on_run_end=list(self.project.on_run_end),
        )
        self._ephemerals = None
        return plan

    def _check_python_inputs(self) -> None:
        """A Python model receives its parents as relations; an ephemeral model has none."""
        for model in self.project.models.values():
            if model.language is not Language.PYTHON:
                continue
            ephemeral = [
                name
                for name in model.refs
                if name in self.project.models and self.project.models[name].kind is Kind.EPHEMERAL
            ]
            if ephemeral:
                raise PlanError(
                    f"Python models cannot read ephemeral models: {model.location.path} reads "
                    f"{', '.join(ephemeral)}",
                    path=model.location.path,
                    hint="materialize the parent as a view or a table",
                )

    def _base(self, request: PlanRequest) -> EnvironmentVersion | None:
        if request.base_environment and request.base_environment != request.environment:
            return self.state.current(request.base_environment)
        return None

    def _decide(
        self,
        model: Model,
        base: SnapshotRecord | None,
        known: dict[tuple[str, str], SnapshotRecord],
        statuses: dict[str, _Status],
        mapping: dict[str, SnapshotRecord],
        request: PlanRequest,
    ) -> tuple[SnapshotRecord, _Status, ModelChange | None, Build | None]:
        fingerprint = self.fingerprints[model.name]
        own_hash = query_hash(model)
        refresh = model.name in request.full_refresh
        path = model.location.path
        if base is not None and base.fingerprint == fingerprint.data and not refresh:
            entry = replace(base, metadata=fingerprint.metadata)
            change = None
            if base.metadata and base.metadata != fingerprint.metadata:
                change = ModelChange(
                    model=model.name, change=ChangeType.METADATA, reason="description or docs", path=path
                )
            return entry, _Status(same=True), change, None

        if base is None:
            change_type, category = ChangeType.ADDED, BREAKING
        elif (
            base.query_hash != own_hash or (base.schema, base.alias) != (model.schema, model.alias) or refresh
        ):
            change_type = ChangeType.DIRECTLY_MODIFIED
            category = BREAKING if refresh else self._categorize(model, base, known)
        else:
            change_type, category = ChangeType.INDIRECTLY_MODIFIED, self._indirect_category(model, statuses)

        existing = None if refresh else known.get((model.name, fingerprint.data))
        if existing is not None:
            # the snapshots table does not keep aliases: the model says where its view goes
            entry = replace(existing, query=None, metadata=fingerprint.metadata, alias=model.alias)
            build = None
        elif change_type is ChangeType.INDIRECTLY_MODIFIED and not category.breaking and base is not None:
            entry = replace(base, fingerprint=fingerprint.data, metadata=fingerprint.metadata)
            build = self._build(model, entry, mapping, reused_from=base.version)
        else:
            version = fingerprint.data
            if refresh:
                stamp = datetime.now(UTC).isoformat()
                version = hashlib.sha256(f"{version}{stamp}".encode()).hexdigest()[:16]
            entry = self._new_entry(model, fingerprint, version, own_hash, mapping)
            # a dbt snapshot keeps its history, an incremental model its rows, as dbt runs them
            carried = model.kind is Kind.SCD2 or change_type is ChangeType.INDIRECTLY_MODIFIED
            build = self._build(model, entry, mapping, history=base if carried and not refresh else None)

        same = base is not None and entry.physical == base.physical and entry.version == base.version
        status = _Status(same=same, category=category)
        change = ModelChange(
            model=model.name,
            change=change_type,
            breaking=None if change_type is ChangeType.ADDED else category.breaking,  # only a change breaks
            reason="full refresh" if refresh else category.reason,
            added_columns=list(category.added_columns),
            rebuild=build is not None and build.reused_from is None,
            path=path,
        )
        return entry, status, change, build

    def _categorize(
        self, model: Model, base: SnapshotRecord, known: dict[tuple[str, str], SnapshotRecord]
    ) -> Category:
        if base.query_hash == query_hash(model):  # same query and kind, only moved
            return Category(False, reason=f"moved to {model.schema}.{model.view_name}")
        if model.language is Language.CSV:
            return Category(True, reason="the seed's file changed")
        if model.language is not Language.SQL or base.kind is not model.kind:
            return BREAKING
        from tidegate.plan.categorizer import categorize  # sqlglot: only for a changed query

        previous = known.get((model.name, base.fingerprint))
        return categorize(previous.query if previous else None, model.sql, self.project.dialect)

    def _indirect_category(self, model: Model, statuses: dict[str, _Status]) -> Category:
        from tidegate.plan.categorizer import reads_changed_columns  # sqlglot: only for a change

        for parent in model.refs:
            status = statuses[parent]
            if status.same:
                continue
            if status.category.breaking:
                return Category(True, reason=f"upstream {parent} changed (breaking)")
            if status.category.added_columns and reads_changed_columns(
                model.sql or "", parent, status.category.added_columns, self.project.dialect
            ):
                return Category(True, reason=f"reads the columns {parent} added")
        return Category(False, reason="upstream changes are non-breaking for this model")

    def _new_entry(
        self,
        model: Model,
        fingerprint: Fingerprint,
        version: str,
        own_hash: str,
        mapping: dict[str, SnapshotRecord],
    ) -> SnapshotRecord:
        physical = None
        if model.kind.has_relation:
            physical = self.engine.relation(physical_schema(model.schema), f"{model.name}__{version}")
        parents: tuple[str, ...] = ()
        if model.kind is Kind.VIEW:
            parents = tuple(sorted(self.physical_parents(model, mapping)))
        return SnapshotRecord(
            model=model.name,
            fingerprint=fingerprint.data,
            version=version,
            kind=model.kind,
            schema=model.schema,
            physical=physical,
            query_hash=own_hash,
            parents=parents,
            metadata=fingerprint.metadata,
            alias=model.alias,
        )

    def physical_parents(self, model: Model, mapping: dict[str, SnapshotRecord]) -> set[str]:
        """Physical relations a view reads, through ephemeral models too."""
        found: set[str] = set()
        for parent in model.refs:
            entry = mapping[parent]
            if entry.physical is not None:
                found.add(entry.physical)
            else:
                found |= self.physical_parents(self.project.models[parent], mapping)
        return found

    def _build(
        self,
        model: Model,
        entry: SnapshotRecord,
        mapping: dict[str, SnapshotRecord],
        reused_from: str | None = None,
        history: SnapshotRecord | None = None,
    ) -> Build:
        """How to build `model`'s new snapshot; a dbt snapshot (scd2) or an incremental model
        carries the `history` of the table it had (see `tidegate.plan.scd2`)."""
        build = Build(
            model=model.name,
            fingerprint=entry.fingerprint,
            version=entry.version,
            kind=model.kind,
            language=model.language,
            physical=entry.physical or "",
            path=model.location.path,
            query=model.sql,
            depends_on=[p for p in model.refs if p in mapping],
            reused_from=reused_from,
        )
        if reused_from is not None or model.kind is Kind.EPHEMERAL:
            return build
        if model.pre_hooks or model.post_hooks:
            build = build.model_copy(
                update={
                    "pre_hooks": self.hooks(model.pre_hooks, entry.physical),
                    "post_hooks": self.hooks(model.post_hooks, entry.physical),
                }
            )
        if model.language is Language.CSV:
            return build.model_copy(
                update={
                    "seed_path": str(self.project.root / model.location.path),
                    "seed_hash": model.seed_hash,
                    "column_types": {
                        name: column_type(kind, self.project.dialect, self.engine.dialect)
                        for name, kind in model.column_types
                    },
                    "delimiter": model.delimiter,
                    "narrow_integers": model.narrow_integers,
                }
            )
        if model.language is Language.PYTHON:
            build = self.python_build(model, build, mapping)
            if model.kind is Kind.INCREMENTAL and self._history_columns(history, Kind.INCREMENTAL):
                assert history is not None  # a dbt Python model: its rows, then what a run adds
                carried = {"history_from": history.physical, "merge_keys": list(model.unique_key)}
                return build.model_copy(update={**carried, "merge_strategy": model.incremental_strategy})
            return build
        try:
            if model.kind is Kind.SCD2:
                return self._scd2_build(model, build, mapping, history)
            update: dict[str, Any] = {"sql": self.compile(model.sql, mapping)}
            if model.contract is not None:
                from tidegate.plan.contract import contract_spec

                update["contract"] = contract_spec(self.engine, model.contract, self.project.dialect)
            if model.kind is Kind.INCREMENTAL and self._history_columns(history, Kind.INCREMENTAL):
                update |= self._incremental_history(model, build, mapping, history)
            return build.model_copy(update=update)
        except TidegateError as error:
            raise _located(error, model.location.path, model.location.line, model.name) from None

    def rebuild(self, name: str, entry: SnapshotRecord, mapping: dict[str, SnapshotRecord]) -> Build:
        """How to build a recorded snapshot again into its relation, which was lost (healing
        drift), reading what `mapping` (its environment's version) records: from the model's
        query alone, so an incremental model or a dbt snapshot starts its history over."""
        return self._build(self.project.models[name], entry, mapping)

    def python_build(self, model: Model, build: Build, mapping: dict[str, SnapshotRecord]) -> Build:
        """`build` with what running a Python model needs: its code and its parents' relations."""
        inputs = {parent: mapping[parent].physical or "" for parent in model.refs}
        update = {
            "python_source": model.python_source,
            "inputs": inputs,
            "dbt_python": dbt_python.spec(model),
        }
        return build.model_copy(update=update)

    def _scd2_build(
        self, model: Model, build: Build, mapping: dict[str, SnapshotRecord], history: SnapshotRecord | None
    ) -> Build:
        """A dbt snapshot: its query with dbt's SCD2 columns, or, when the environment had a
        table for it, a merge of its query into a copy of that table."""
        from tidegate.plan import scd2

        columns = self._history_columns(history)
        if history is None or history.physical is None or not columns:
            return build.model_copy(update={"sql": self.compile(scd2.initial_query(model), mapping)})
        merge_sql = scd2.merge_query(
            self.engine,
            model,
            self.project.dialect,
            partial(self.compile, mapping=mapping, this=build.physical),
            columns,
        )
        return build.model_copy(update={"history_from": history.physical, "merge_sql": merge_sql})

    def _incremental_history(
        self, model: Model, build: Build, mapping: dict[str, SnapshotRecord], history: SnapshotRecord | None
    ) -> dict[str, Any]:
        """An incremental model whose inputs changed, as a dbt run processes it: its previous
        table, copied, takes the rows its incremental query selects (`{{ this }}` is the copy)."""
        assert history is not None and model.incremental_sql is not None
        pre, post = model.incremental_hooks or (model.pre_hooks, model.post_hooks)
        return {
            "history_from": history.physical,
            "merge_sql": self.compile(model.incremental_sql, mapping, this=build.physical),
            "merge_keys": list(model.unique_key),
            "merge_strategy": model.incremental_strategy,
            "pre_hooks": self.hooks(pre, build.physical),
            "post_hooks": self.hooks(post, build.physical),
        }

    def _history_columns(self, history: SnapshotRecord | None, kind: Kind = Kind.SCD2) -> list[str]:
        """The columns of a model's previous table of `kind`; none if there is none to merge into."""
        if history is None or history.physical is None or history.kind != kind.value:
            return []
        if kind is Kind.SCD2 and not self.engine.spec.scd2_merge:
            return []
        try:
            return [name for name, _ in self.engine.columns(history.physical)]
        except EngineError:  # dropped by the janitor
            return []

    def compile(self, sql: str, mapping: dict[str, SnapshotRecord], this: str | None = None) -> str:
        """Compile placeholder SQL against the relations of a mapping: only the refs the SQL
        holds are looked up, and ephemeral models are inlined as their compiled queries."""
        relations: dict[str, str] = {}
        ephemerals: dict[str, str] = {}
        for ref in dict.fromkeys(_REF.findall(sql.lower())):
            name = self._names.get(ref)
            entry = mapping.get(name) if name is not None else None
            if entry is None:  # not a model of the project: a relation the mapping may still have
                name, entry = next(((n, e) for n, e in mapping.items() if n.lower() == ref), (None, None))
            if entry is None or name is None:
                continue  # compile_sql reports the ref without a relation
            if entry.physical:
                relations[ref] = entry.physical
            elif entry.physical is None and name in self.project.models:
                ephemerals[ref] = self._ephemeral(name, mapping)
        from tidegate.plan.compile import compile_sql  # sqlglot: only when something is compiled

        return compile_sql(
            sql,
            relations,
            read=self.project.dialect,
            write=self.engine.dialect,
            ephemerals=ephemerals,
            this=this,
            normalized=True,
        )

    def _ephemeral(self, name: str, mapping: dict[str, SnapshotRecord]) -> str:
        """An ephemeral model's query compiled against `mapping`; once per plan."""
        cache = self._ephemerals[1] if self._ephemerals and self._ephemerals[0] is mapping else None
        if cache is not None and name in cache:
            return cache[name]
        compiled = self.compile(self.project.models[name].sql, mapping)
        if cache is not None:
            cache[name] = compiled
        return compiled

    def hooks(self, hooks: tuple[str, ...], this: str | None) -> list[str]:
        """A model's hooks for its snapshot `this`."""
        from tidegate.plan.compile import compile_hook

        return [compile_hook(sql, this) for sql in hooks]

    def tests_for(
        self, mapping: dict[str, SnapshotRecord], changed: set[str], *, environment: str
    ) -> list[TestRun]:
        """The data tests of the models in `changed`, compiled against `mapping`, the
        snapshots `environment` has (or will have) for its models."""
        runs = []
        for test in self.project.tests:
            if not changed.intersection(test.models):
                continue
            try:
                sql = self.compile(test.sql, mapping)
            except TidegateError as error:
                raise _located(error, test.location.path, test.location.line, None) from None
            runs.append(
                TestRun(
                    name=test.name,
                    kind=test.kind,
                    sql=sql,
                    severity=test.severity,
                    models=list(test.models),
                    path=test.location.path,
                    line=test.location.line,
                    failures=self._stored_failures(test, mapping, environment),
                    thresholds=list(test.thresholds) if test.thresholds else None,
                )
            )
        return runs

    def _stored_failures(
        self, test: DataTest, mapping: dict[str, SnapshotRecord], environment: str
    ) -> FailuresRecord | None:
        """Where the test keeps its failing rows in `environment`, if it keeps them."""
        if not test.store_failures:
            return None
        schema = failures_schema(test.audit_schema, environment)
        parents: set[str] = set()
        for name in test.models:
            entry = mapping.get(name)
            if entry is not None and entry.physical:
                parents |= {entry.physical, *entry.parents}
            elif entry is not None and name in self.project.models:  # ephemeral: what it reads
                parents |= self.physical_parents(self.project.models[name], mapping)
        return FailuresRecord(
            environment=environment,
            schema=schema,
            name=test.audit_name,
            relation=self.engine.relation(schema, test.audit_name),
            kind="view" if test.store_failures_as == "view" else "table",
            parents=tuple(sorted(parents)),
        )

    def unit_tests_for(self, models: set[str], mapping: dict[str, SnapshotRecord]) -> list[UnitTestRun]:
        tests = [test for test in self.project.unit_tests if test.model in models]
        if not tests:
            return []
        from tidegate.plan import unit_tests  # sqlglot: only when there are unit tests to compile

        runs = []
        for test in tests:
            types, later = self._input_types(test.model, mapping)
            runs.append(
                unit_tests.compile_unit_test(
                    test,
                    self.project.models[test.model],
                    read=self.project.dialect,
                    write=self.engine.dialect,
                    column_types=types,
                    source_relations={key: source.relation for key, source in self.project.sources.items()},
                    quote=self.engine.quote,
                    typed_later=later,
                )
            )
        return runs

    def _input_types(
        self, model: str, mapping: dict[str, SnapshotRecord]
    ) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
        """Column types of a model's inputs whose relations already exist, for given rows; and
        the inputs this plan is about to build (name: relation), whose types come later."""
        types: dict[str, dict[str, str]] = {}
        later: dict[str, str] = {}
        for parent in self.project.models[model].refs:
            entry = mapping.get(parent)  # absent when testing before the environment exists
            if entry is None or entry.physical is None:
                continue
            try:
                types[parent.lower()] = dict(self.engine.columns(entry.physical))
            except EngineError:  # not built yet: typed once the plan has built it
                later[parent.lower()] = entry.physical
        return types, later


_REF = re.compile(rf"{REF_PREFIX}(\w+)")
"""A ref placeholder in (lower-cased) SQL, and the model name it carries."""


def _located(error: TidegateError, path: str, line: int | None, model: str | None) -> TidegateError:
    """`error` naming the file (and model) whose SQL caused it, unless it already names one."""
    if error.path is not None:
        return error
    return type(error)(error.message, path=path, line=line, model=model or error.model, hint=error.hint)
