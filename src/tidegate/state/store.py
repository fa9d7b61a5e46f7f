"""The state store: tables in the `_tidegate` schema of the warehouse.

A snapshot is identified by (model, fingerprint, version): a full refresh or a copy-on-write
`run` records a new version of a fingerprint that was built before. Looking a fingerprint up
finds its most recently created version.

Environments are append-only: every apply, promotion or rollback writes a new version that lists
the snapshot of every model, so history and rollback are reads, never reconstructions. The
current version of an environment is its highest one.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError, LockError, StateError
from tidegate.state.access import PullRequestAccess
from tidegate.state.records import (
    EnvironmentVersion,
    FailuresRecord,
    Pin,
    ReviewedPlan,
    SnapshotRecord,
    now,
)
from tidegate.state.schema import SCHEMA, STATE_VERSION, TABLES, create_state

__all__ = ["SCHEMA", "STATE_VERSION", "StateStore"]


class StateStore:
    """Reads and writes tidegate's state through an engine adapter.

    `access`: the pull-request role the deploy role shares the state with (PostgreSQL; see
    `tidegate.state.access`). `creates`: False for that role's own connection, which never
    creates the state (the schema would be its own)."""

    def __init__(
        self, engine: EngineAdapter, *, access: PullRequestAccess | None = None, creates: bool = True
    ) -> None:
        self.engine = engine
        self.access = access
        self.creates = creates
        self._ready = False
        self._shared = access is None

    def ensure(self) -> None:
        """Create the state schema and tables on first use."""
        if not self._ready:
            self._create()
            self._ready = True
        if not self._shared:
            self._shared = self._share()

    def _share(self) -> bool:
        """Give the pull-request role its share of the state, once per role and pattern."""
        assert self.access is not None
        stamp = f"{self.access.stamp} {STATE_VERSION}"
        rows = self.engine.fetch(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'pull_request_access'").rows
        if rows and rows[0][0] == stamp:
            return True
        if not self.access.grant_state(self.engine, SCHEMA, sorted(TABLES)):
            return False
        self.engine.execute(
            f"INSERT INTO {SCHEMA}.meta VALUES ('pull_request_access', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [stamp],
        )
        return True

    def _create(self) -> None:
        create_state(self.engine, creates=self.creates)

    # snapshots ---------------------------------------------------------------------------

    def record_snapshot(self, snapshot: SnapshotRecord, engine: EngineAdapter | None = None) -> None:
        """Record a built snapshot; on `engine` (a build's worker, inside the build's transaction)
        when the state lives in that warehouse, so the table and its record commit together."""
        target = engine if engine is not None and engine.state_engine() is engine else self.engine
        target.execute(
            f"INSERT INTO {SCHEMA}.snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                snapshot.model,
                snapshot.fingerprint,
                snapshot.version,
                snapshot.kind.value,
                snapshot.schema,
                snapshot.physical,
                snapshot.query_hash,
                snapshot.query,
                json.dumps(list(snapshot.parents)),
                now(),
            ],
        )

    def snapshots(self, keys: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], SnapshotRecord]:
        """Built snapshots by (model, fingerprint), the most recently created version of each;
        all of them, or those among `keys`."""
        found = {(r.model, r.fingerprint): r for r in self.all_snapshots()}  # oldest first
        if keys is None:
            return found
        return {key: found[key] for key in keys if key in found}

    def all_snapshots(self) -> list[SnapshotRecord]:
        """Every recorded snapshot, every version of each fingerprint, oldest first."""
        self.ensure()
        rows = self.engine.fetch(
            f"SELECT model, fingerprint, version, kind, schema_name, physical, query_hash, query, parents "
            f"FROM {SCHEMA}.snapshots ORDER BY created_at, model, fingerprint, version"
        ).rows
        return [
            SnapshotRecord(
                model,
                fingerprint,
                version,
                kind,
                schema,
                physical,
                query_hash,
                query,
                tuple(json.loads(parents)),
            )
            for model, fingerprint, version, kind, schema, physical, query_hash, query, parents in rows
        ]

    def built_since(self, moment: datetime) -> set[tuple[str, str, str]]:
        """(model, fingerprint, version) of the snapshots recorded at or after `moment`."""
        self.ensure()
        rows = self.engine.fetch(
            f"SELECT model, fingerprint, version FROM {SCHEMA}.snapshots WHERE created_at >= ?", [moment]
        ).rows
        return {(str(model), str(fingerprint), str(version)) for model, fingerprint, version in rows}

    def delete_snapshots(self, records: list[SnapshotRecord]) -> None:
        """Forget these versions of their fingerprints (other versions stay)."""
        for record in records:
            self.engine.execute(
                f"DELETE FROM {SCHEMA}.snapshots WHERE model = ? AND fingerprint = ? AND version = ?",
                [record.model, record.fingerprint, record.version],
            )

    # environments ------------------------------------------------------------------------

    def current(self, environment: str) -> EnvironmentVersion | None:
        """The environment's current version, None if it never existed or was dropped."""
        version = self._version(environment, None)
        return None if version is None or version.dropped else version

    def version(self, environment: str, number: int) -> EnvironmentVersion | None:
        return self._version(environment, number)

    def _version(self, environment: str, number: int | None) -> EnvironmentVersion | None:
        latest = f"(SELECT max(version) FROM {SCHEMA}.environment_versions WHERE environment = ?)"
        found = self._versions(
            f"WHERE environment = ? AND version = {'?' if number is not None else latest}",
            [environment, number if number is not None else environment],
        )
        return found[0] if found else None

    def history(self, environment: str) -> list[EnvironmentVersion]:
        return self._versions("WHERE environment = ? ORDER BY version", [environment])

    def environments(self) -> list[EnvironmentVersion]:
        """The current version of every environment that exists."""
        return self._versions(
            f"JOIN (SELECT environment, max(version) AS version FROM {SCHEMA}.environment_versions "
            "GROUP BY environment) m USING (environment, version) WHERE v.action <> 'drop' ORDER BY v.environment"
        )

    def all_versions(self) -> list[EnvironmentVersion]:
        return self._versions("")

    def _versions(self, rest: str, parameters: Sequence[object] = ()) -> list[EnvironmentVersion]:
        """The versions `rest` (joins, conditions, order) selects from `environment_versions v`."""
        self.ensure()
        rows = self.engine.fetch(
            "SELECT v.environment, v.version, v.created_at, v.action, v.models, v.source, v.git_commit, "
            f"v.author, v.message, v.break_glass FROM {SCHEMA}.environment_versions v {rest}",
            parameters,
        ).rows
        return [_version_from_row(row) for row in rows]

    def write_version(
        self,
        environment: str,
        models: dict[str, SnapshotRecord],
        *,
        action: str,
        source: str | None = None,
        git_commit: str | None = None,
        author: str | None = None,
        message: str | None = None,
        break_glass: str | None = None,
    ) -> int:
        """Append a new version of the environment; call inside the swap's transaction."""
        rows = self.engine.fetch(
            f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.environment_versions WHERE environment = ?",
            [environment],
        ).rows
        number = int(rows[0][0]) + 1
        payload = json.dumps({name: record.entry() for name, record in sorted(models.items())})
        self.engine.execute(
            f"INSERT INTO {SCHEMA}.environment_versions (environment, version, created_at, action, source, "
            "git_commit, author, message, models, break_glass) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [environment, number, now(), action, source, git_commit, author, message, payload, break_glass],
        )
        return number

    # pins --------------------------------------------------------------------------------

    def pin(self, pin: Pin) -> None:
        """Hold the environment where a rollback put it (replacing an earlier pin)."""
        self.ensure()
        self.engine.execute(
            f"INSERT INTO {SCHEMA}.pins VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (environment) DO UPDATE SET "
            "version = excluded.version, git_commit = excluded.git_commit, author = excluded.author, "
            "created_at = excluded.created_at, reason = excluded.reason",
            [pin.environment, pin.version, pin.commit, pin.author, pin.created_at, pin.reason],
        )

    def pin_of(self, environment: str) -> Pin | None:
        found = self._pins("WHERE environment = ?", [environment])
        return found[0] if found else None

    def pins(self) -> list[Pin]:
        """Every pinned environment's pin."""
        return self._pins("ORDER BY environment")

    def _pins(self, rest: str, parameters: Sequence[object] = ()) -> list[Pin]:
        self.ensure()
        rows = self.engine.fetch(
            f"SELECT environment, version, git_commit, author, created_at, reason FROM {SCHEMA}.pins {rest}",
            parameters,
        ).rows
        return [
            Pin(str(name), int(version), commit, author, created_at, str(reason))
            for name, version, commit, author, created_at, reason in rows
        ]

    def unpin(self, environment: str) -> bool:
        """Let the environment follow its branch again; whether it was pinned."""
        pinned = self.pin_of(environment) is not None
        if pinned:
            self.engine.execute(f"DELETE FROM {SCHEMA}.pins WHERE environment = ?", [environment])
        return pinned

    # reviewed Terraform plans ------------------------------------------------------------

    def record_reviewed_plan(self, reviewed: ReviewedPlan) -> None:
        """Keep a plan shown for review (append-only: the newest for a key is the one applied)."""
        self.ensure()
        self.engine.execute(
            f"INSERT INTO {SCHEMA}.terraform_plans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                reviewed.root,
                reviewed.content_key,
                reviewed.environment,
                base64.b64encode(reviewed.plan).decode(),
                reviewed.plan_sha256,
                reviewed.plan_json,
                reviewed.allowed,
                reviewed.source,
                reviewed.git_commit,
                reviewed.created_at,
            ],
        )

    def reviewed_plan(self, root: str, content_key: str) -> ReviewedPlan | None:
        """The newest plan reviewed for a root with exactly these files, if any; one whose
        bytes no longer match the hash recorded with them is refused."""
        self.ensure()
        rows = self.engine.fetch(
            f"SELECT root, content_key, environment, plan, plan_sha256, plan_json, allowed, source, "
            f"git_commit, created_at FROM {SCHEMA}.terraform_plans WHERE root = ? AND content_key = ? "
            "ORDER BY created_at DESC LIMIT 1",
            [root, content_key],
        ).rows
        if not rows:
            return None
        root_, key, environment, plan, digest, plan_json, allowed, source, commit, created = rows[0]
        reviewed = ReviewedPlan(
            str(root_),
            str(key),
            str(environment),
            base64.b64decode(plan),
            str(plan_json),
            bool(allowed),
            str(source),
            commit,
            created,
        )
        if reviewed.plan_sha256 != digest:
            raise StateError(
                f"the reviewed plan of {root} ({source}) does not match its recorded hash",
                hint="run `tidegate ci` on the pull request again to review a new plan",
            )
        return reviewed

    # stored test failures ----------------------------------------------------------------

    def record_failures(self, record: FailuresRecord) -> None:
        """Remember a relation of failing rows before it is created, so that nothing can create
        one that dropping its environment would miss."""
        self.ensure()
        self.engine.execute(
            f"INSERT INTO {SCHEMA}.stored_failures VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (environment, schema_name, name) DO UPDATE SET "
            "relation = excluded.relation, kind = excluded.kind, parents = excluded.parents",
            [
                record.environment,
                record.schema,
                record.name,
                record.relation,
                record.kind,
                json.dumps(list(record.parents)),
            ],
        )

    def stored_failures(self, environment: str | None = None) -> list[FailuresRecord]:
        """The relations of failing rows of one environment, or of all."""
        self.ensure()
        where, parameters = ("WHERE environment = ?", [environment]) if environment is not None else ("", [])
        rows = self.engine.fetch(
            f"SELECT environment, schema_name, name, relation, kind, parents FROM {SCHEMA}.stored_failures "
            f"{where} ORDER BY environment, schema_name, name",
            parameters,
        ).rows
        return [
            FailuresRecord(
                environment=str(env),
                schema=str(schema),
                name=str(name),
                relation=str(relation),
                kind="view" if kind == "view" else "table",
                parents=tuple(json.loads(parents)),
            )
            for env, schema, name, relation, kind, parents in rows
        ]

    def forget_failures(self, records: list[FailuresRecord]) -> None:
        for record in records:
            self.engine.execute(
                f"DELETE FROM {SCHEMA}.stored_failures WHERE environment = ? AND schema_name = ? AND name = ?",
                [record.environment, record.schema, record.name],
            )

    # locks -------------------------------------------------------------------------------

    @contextmanager
    def lock(
        self, environment: str, *, timeout: float = 60.0, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the environment's lock; wait for another run up to `timeout` seconds.

        A lock left by a process that died on this host is taken over, so a killed apply never
        blocks the next one.
        """
        self.ensure()
        if self.engine.spec.advisory_locks:
            with self._advisory_lock(environment, f"tidegate:{environment}", timeout, on_wait):
                yield
        else:
            with self._table_lock(environment, timeout, on_wait):
                yield

    @contextmanager
    def _advisory_lock(
        self, environment: str, key: str, timeout: float, on_wait: Callable[[str], None] | None
    ) -> Iterator[None]:
        """The engine's own session lock (PostgreSQL): released by the server if we die."""
        deadline = time.monotonic() + timeout
        announced = False
        while not self.engine.try_advisory_lock(key):
            if time.monotonic() >= deadline:
                raise LockError(
                    f"environment {environment!r} is locked by another run, which is still running",
                    hint="wait for it to finish, or raise lock_timeout in tidegate.yml",
                )
            if not announced and on_wait is not None:
                on_wait(f"waiting for the lock on {environment!r}, held by another run")
                announced = True
            time.sleep(0.1)
        try:
            yield
        finally:
            self.engine.advisory_unlock(key)

    @contextmanager
    def _table_lock(
        self, environment: str, timeout: float, on_wait: Callable[[str], None] | None
    ) -> Iterator[None]:
        """A row in `_tidegate.locks`, for engines without session locks (DuckDB)."""
        deadline = time.monotonic() + timeout
        announced = False
        while not self._try_lock(environment):
            holder = self._lock_holder(environment)
            if holder is not None and (_is_dead(holder) or self._held_by_another_process(holder)):
                self._release(environment, holder[0])
                continue
            if time.monotonic() >= deadline:
                owner = holder[0] if holder else "another run"
                raise LockError(
                    f"environment {environment!r} is locked by {owner}, which is still running",
                    hint="wait for it to finish, or raise lock_timeout in tidegate.yml",
                )
            if not announced and on_wait is not None and holder is not None:
                on_wait(f"waiting for the lock on {environment!r}, held by {holder[0]}")
                announced = True
            time.sleep(0.1)
        try:
            yield
        finally:
            self._release(environment, self.engine.lock_owner)

    def _held_by_another_process(self, holder: tuple[str, str, int]) -> bool:
        """On an engine only one process can write at a time (a DuckDB file we hold open), a
        lock row of any other process, on any host, was left by a run that is gone."""
        _, host, pid = holder
        return self.engine.spec.single_writer_process and (host, pid) != (socket.gethostname(), os.getpid())

    def _try_lock(self, environment: str) -> bool:
        try:
            self.engine.execute(
                f"INSERT INTO {SCHEMA}.locks VALUES (?, ?, ?, ?, ?)",
                [environment, self.engine.lock_owner, socket.gethostname(), os.getpid(), now()],
            )
        except EngineError as error:
            text = str(error).lower()
            if any(word in text for word in ("constraint", "duplicate", "conflict")):
                return False
            raise
        return True

    def _lock_holder(self, environment: str) -> tuple[str, str, int] | None:
        rows = self.engine.fetch(
            f"SELECT owner, host, pid FROM {SCHEMA}.locks WHERE environment = ?", [environment]
        ).rows
        return (str(rows[0][0]), str(rows[0][1]), int(rows[0][2])) if rows else None

    def _release(self, environment: str, owner: str) -> None:
        self.engine.execute(
            f"DELETE FROM {SCHEMA}.locks WHERE environment = ? AND owner = ?", [environment, owner]
        )

    # runs --------------------------------------------------------------------------------

    def infra_resources(self) -> list[tuple[str, str, str, dict[str, Any], bool]]:
        """What `tidegate infra apply` manages: (environment, kind, name, attributes, prevent_destroy)."""
        self.ensure()
        rows = self.engine.fetch(
            f"SELECT environment, kind, name, attributes, prevent_destroy FROM {SCHEMA}.infra_resources "
            "ORDER BY environment, kind, name"
        ).rows
        return [
            (env, kind, name, json.loads(attributes), bool(keep))
            for env, kind, name, attributes, keep in rows
        ]

    def record_infra(self, environment: str, rows: list[tuple[str, str, dict[str, Any], bool]]) -> None:
        """Replace what `environment` manages with `rows` (kind, name, attributes, prevent_destroy),
        in the caller's transaction."""
        self.ensure()
        self.engine.execute(f"DELETE FROM {SCHEMA}.infra_resources WHERE environment = ?", [environment])
        stamp = now()
        for kind, name, attributes, keep in rows:
            self.engine.execute(
                f"INSERT INTO {SCHEMA}.infra_resources VALUES (?, ?, ?, ?, ?, ?)",
                [environment, kind, name, json.dumps(attributes, sort_keys=True), keep, stamp],
            )

    def record_run(
        self,
        run_id: str,
        command: str,
        environment: str | None,
        started: datetime,
        status: str,
        detail: dict[str, object],
    ) -> None:
        self.engine.execute(
            f"INSERT INTO {SCHEMA}.runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, command, environment, started, now(), status, json.dumps(detail, default=str)],
        )


def _version_from_row(row: tuple[Any, ...]) -> EnvironmentVersion:
    environment, version, created_at, action, models, source, git_commit, author, message, break_glass = row
    return EnvironmentVersion(
        environment=environment,
        version=int(version),
        created_at=created_at,
        action=action,
        models={name: SnapshotRecord.from_entry(name, entry) for name, entry in json.loads(models).items()},
        source=source,
        git_commit=git_commit,
        author=author,
        message=message,
        break_glass=break_glass,
    )


def _is_dead(holder: tuple[str, str, int]) -> bool:
    """A lock holder on this host whose process no longer exists."""
    _, host, pid = holder
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process its parent has not waited for yet still has a pid, but is dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state follows the command name, which is in parentheses and may contain spaces
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in {"Z", "X"}
