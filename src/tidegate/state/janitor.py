"""The janitor: drop what no environment needs any more, and expire pull-request environments.

A snapshot is needed while an environment's current version uses it, while a version that
stopped being current less than the retention ago uses it (so it can be rolled back to), or while
it is younger than the retention (an apply running or interrupted: its rerun reuses it). A table
any of those versions or needed snapshots reads is never dropped, whichever snapshot record names
it. A view of a test's failing rows that reads a snapshot being dropped goes first.

Expiring an environment holds its lock (the `drop_environment` callback); the sweep holds the lock
of every environment of the warehouse, so no apply, promotion, rollback or run can move one
between reading the versions and dropping. An apply of a saved plan that creates a new environment
from a snapshot dropped meanwhile fails at its swap and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tidegate.engines.base import EngineAdapter
from tidegate.state.records import EnvironmentVersion, FailuresRecord, now
from tidegate.state.store import StateStore
from tidegate.state.views import drop_failures, internal_relations, relations_read


@dataclass(frozen=True)
class JanitorReport:
    dropped_snapshots: list[str]
    dropped_orphans: list[str]
    expired_environments: list[str]
    dropped_failures: list[str] = field(default_factory=list)
    """Views of a test's failing rows (dbt's `store_failures_as: view`) that read a dropped
    snapshot: dropped first, as an engine that tracks dependencies (PostgreSQL) would refuse to
    drop the snapshot, and a view of data gone answers nothing."""


class Janitor:
    """Cleans one warehouse. `drop_environment` removes an environment under its own lock."""

    def __init__(
        self,
        engine: EngineAdapter,
        state: StateStore,
        *,
        drop_environment: Callable[[str], None],
        lock_timeout: float,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.state = state
        self.drop_environment = drop_environment
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait

    def clean(
        self,
        retention: timedelta,
        pull_requests: re.Pattern[str],
        pull_request_ttl: timedelta,
        protected: Collection[str] = (),
    ) -> JanitorReport:
        """Expire pull-request environments older than their ttl, then drop the snapshots no
        environment needs (see the module) and relations left in internal schemas by killed runs."""
        expired = self._expire_pull_requests(pull_requests, pull_request_ttl, protected)
        engine, state = self.engine, self.state
        with ExitStack() as locks:
            for current in state.environments():  # in name order, so two janitors cannot deadlock
                locks.enter_context(
                    state.lock(current.environment, timeout=self.lock_timeout, on_wait=self.on_wait)
                )
            cutoff = now() - retention
            needed, physical_needed = _needed(state.all_versions(), cutoff)
            needed |= state.built_since(cutoff)
            records = state.all_snapshots()
            doomed = [r for r in records if r.identity not in needed and r.physical not in physical_needed]
            gone = {r.identity for r in doomed}
            keep = set(physical_needed)
            for record in records:
                if record.identity not in gone:
                    keep.update(relations_read(record))
            stale = _stale_failure_views(state, {r.physical for r in doomed if r.physical} - keep)
            with engine.transaction():
                drop_failures(engine, state, stale, schemas=False)  # they read what goes next
                for record in doomed:
                    if record.physical and record.physical not in keep:
                        _drop(engine, record.physical, record.kind)
                state.delete_snapshots(doomed)
                orphans = []
                for relation, kind in internal_relations(engine).items():
                    if relation not in keep:
                        _drop(engine, relation, kind)
                        orphans.append(relation)
        return JanitorReport(
            [f"{r.model}@{r.version}" for r in doomed], orphans, expired, [f.relation for f in stale]
        )

    def _expire_pull_requests(
        self, names: re.Pattern[str], ttl: timedelta, protected: Collection[str]
    ) -> list[str]:
        """Pull-request environments (the whole name matches the pattern) past their ttl; never
        an environment the project names (prod, a promotion step, a branch's target)."""
        expired = []
        for version in self.state.environments():
            name = version.environment
            if name not in protected and names.match(name) and version.created_at < now() - ttl:
                self.drop_environment(name)
                expired.append(name)
        return expired


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
                physical.update(relations_read(record))
    return needed, physical


def _stale_failure_views(state: StateStore, dropping: set[str]) -> list[FailuresRecord]:
    """The views of failing rows (dbt's `store_failures_as: view`) that read a relation about
    to be dropped."""
    return [f for f in state.stored_failures() if f.kind == "view" and dropping.intersection(f.parents)]


def _drop(engine: EngineAdapter, relation: str, kind: str) -> None:
    if kind == "view":
        engine.drop_view(relation)
    else:
        engine.drop_table(relation)
