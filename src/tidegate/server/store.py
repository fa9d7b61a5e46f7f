"""What the controller must not forget across a restart, in one SQLite file of its state dir:
its runs (queued work included), the webhook deliveries it has seen, and the branch head it last
handled for each environment, and the commit last deployed to each (with the version it left).

The queue is the runs whose status is `queued`: at most one per environment and kind, whose
commit a newer one replaces. A run that was `running` when the process died is found so by the
next start (`interrupted`). The last handled head is what keeps a failed run from being retried
in a loop: the controller deploys an environment again only when its branch moves past it, or
when someone asks (`sync`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    environment TEXT NOT NULL,
    commit_sha TEXT,
    branch TEXT,
    pull_request INTEGER,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    steps TEXT NOT NULL DEFAULT '[]',
    log TEXT NOT NULL DEFAULT '',
    report TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_environment ON runs (environment, id);
CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handled (
    environment TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, handled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deployed (
    environment TEXT PRIMARY KEY, commit_sha TEXT NOT NULL, version INTEGER NOT NULL,
    deployed_at TEXT NOT NULL
);
"""

_ADDED_COLUMNS = (("runs", "comment", "TEXT"),)
"""Columns added since the first release: a store an older controller wrote gets them on open."""


class RunKind(StrEnum):
    DEPLOY = "deploy"
    CI = "ci"
    TEARDOWN = "teardown"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.INTERRUPTED)


@dataclass(frozen=True)
class RunStep:
    """One timed step of a run (`checkout`, `deploy`, each step of CI)."""

    name: str
    status: str
    seconds: float
    summary: str = ""


@dataclass(frozen=True)
class Run:
    id: int
    kind: RunKind
    environment: str
    commit: str | None
    status: RunStatus
    trigger: str
    """What asked for it: `poll`, `webhook`, `sync`, `restart`."""
    created_at: str
    branch: str | None = None
    pull_request: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    steps: tuple[RunStep, ...] = ()
    log: str = ""
    report: dict[str, Any] | None = None
    error: str | None = None
    comment: str | None = None
    """The pull request's comment: the CI report in Markdown, as the forge was given it."""

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (
            datetime.fromisoformat(self.finished_at) - datetime.fromisoformat(self.started_at)
        ).total_seconds()

    def summary(self) -> dict[str, Any]:
        """The run as the API lists it (without its log and report)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "environment": self.environment,
            "commit": self.commit,
            "branch": self.branch,
            "pull_request": self.pull_request,
            "trigger": self.trigger,
            "status": self.status.value,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
            "error": self.error,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole run (`GET /api/runs/{id}`): its steps, log and report too."""
        return {
            **self.summary(),
            "steps": [step.__dict__ for step in self.steps],
            "log": self.log,
            "report": self.report,
            "comment": self.comment,
        }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """The controller's SQLite file; safe to use from the server's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        for table, column, declared in _ADDED_COLUMNS:
            present = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declared}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # the queue ---------------------------------------------------------------------------

    def enqueue(
        self,
        kind: RunKind,
        environment: str,
        commit: str | None,
        *,
        trigger: str,
        branch: str | None = None,
        pull_request: int | None = None,
    ) -> Run:
        """Queue work on `environment`; a run of the same kind already queued there takes the
        newer commit instead (nothing runs an outdated commit first)."""
        with self._transaction() as db:
            queued = db.execute(
                "SELECT id FROM runs WHERE environment = ? AND kind = ? AND status = 'queued'",
                (environment, kind.value),
            ).fetchone()
            if queued is not None:
                db.execute(
                    "UPDATE runs SET commit_sha = ?, branch = ?, pull_request = ?, trigger = ? WHERE id = ?",
                    (commit, branch, pull_request, trigger, queued["id"]),
                )
                number = int(queued["id"])
            else:
                cursor = db.execute(
                    "INSERT INTO runs (kind, environment, commit_sha, branch, pull_request, trigger, "
                    "status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                    (kind.value, environment, commit, branch, pull_request, trigger, now()),
                )
                number = int(cursor.lastrowid or 0)
        found = self.run(number)
        assert found is not None
        return found

    def queued(self) -> list[Run]:
        """Queued runs, oldest first."""
        return self._runs("WHERE status = 'queued' ORDER BY id")

    def start(self, number: int) -> Run | None:
        """Take a queued run off the queue (None: it is not queued any more)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'",
                (now(), number),
            )
            if cursor.rowcount == 0:
                return None
        return self.run(number)

    def finish(
        self,
        number: int,
        status: RunStatus,
        *,
        steps: list[RunStep],
        log: str,
        report: dict[str, Any] | None = None,
        error: str | None = None,
        comment: str | None = None,
    ) -> Run:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, steps = ?, log = ?, report = ?, error = ?, "
                "comment = ? WHERE id = ?",
                (
                    status.value,
                    now(),
                    json.dumps([step.__dict__ for step in steps]),
                    log,
                    json.dumps(report, default=str) if report is not None else None,
                    error,
                    comment,
                    number,
                ),
            )
        found = self.run(number)
        assert found is not None
        return found

    def interrupt_running(self) -> list[Run]:
        """Runs a killed process left `running`: now `interrupted`."""
        with self._transaction() as db:
            ids = [row["id"] for row in db.execute("SELECT id FROM runs WHERE status = 'running'")]
            db.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, "
                "error = 'the controller stopped during the run' WHERE id = ?",
                [(now(), number) for number in ids],
            )
        return [run for number in ids if (run := self.run(number)) is not None]

    # reading runs ------------------------------------------------------------------------

    def run(self, number: int) -> Run | None:
        found = self._runs("WHERE id = ?", (number,))
        return found[0] if found else None

    def runs(self, environment: str | None = None, limit: int = 50, offset: int = 0) -> list[Run]:
        """The latest runs, newest first (past the `offset` newest)."""
        if environment is None:
            return self._runs("ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
        return self._runs(
            "WHERE environment = ? ORDER BY id DESC LIMIT ? OFFSET ?", (environment, limit, offset)
        )

    def pull_request_runs(self) -> list[Run]:
        """The last run of each pull request's environment (its CI, or its teardown once
        closed), newest first."""
        return self._runs(
            "WHERE id IN (SELECT MAX(id) FROM runs WHERE pull_request IS NOT NULL GROUP BY environment) "
            "ORDER BY id DESC"
        )

    def last_run(self, environment: str) -> Run | None:
        found = self._runs("WHERE environment = ? ORDER BY id DESC LIMIT 1", (environment,))
        return found[0] if found else None

    def _runs(self, where: str, parameters: tuple[Any, ...] = ()) -> list[Run]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM runs {where}", parameters).fetchall()
        return [_run(row) for row in rows]

    # deliveries and handled heads --------------------------------------------------------

    def first_delivery(self, delivery: str) -> bool:
        """Record a webhook delivery id; False when it was seen before (a redelivery)."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO deliveries (id, received_at) VALUES (?, ?)", (delivery, now())
            )
            return cursor.rowcount == 1

    def handled(self, environment: str) -> str | None:
        """The branch head last deployed (or tried) to `environment`."""
        with self._lock:
            row = self._db.execute(
                "SELECT commit_sha FROM handled WHERE environment = ?", (environment,)
            ).fetchone()
        return str(row["commit_sha"]) if row else None

    def set_handled(self, environment: str, commit: str | None) -> None:
        """Remember the head handled for `environment` (None: forget it, so it is deployed again)."""
        with self._transaction() as db:
            if commit is None:
                db.execute("DELETE FROM handled WHERE environment = ?", (environment,))
            else:
                db.execute(
                    "INSERT INTO handled (environment, commit_sha, handled_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (environment) DO UPDATE SET commit_sha = excluded.commit_sha, "
                    "handled_at = excluded.handled_at",
                    (environment, commit, now()),
                )

    def deployed(self, environment: str) -> tuple[str, int] | None:
        """The commit last deployed to `environment` and the version it left there."""
        with self._lock:
            row = self._db.execute(
                "SELECT commit_sha, version FROM deployed WHERE environment = ?", (environment,)
            ).fetchone()
        return (str(row["commit_sha"]), int(row["version"])) if row else None

    def set_deployed(self, environment: str, commit: str, version: int) -> None:
        """A deployment of `commit` left `environment` at `version` (a new one, or the one it
        had when the commit changed no model)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO deployed (environment, commit_sha, version, deployed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (environment) DO UPDATE SET commit_sha = excluded.commit_sha, "
                "version = excluded.version, deployed_at = excluded.deployed_at",
                (environment, commit, version, now()),
            )


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=int(row["id"]),
        kind=RunKind(row["kind"]),
        environment=row["environment"],
        commit=row["commit_sha"],
        status=RunStatus(row["status"]),
        trigger=row["trigger"],
        created_at=row["created_at"],
        branch=row["branch"],
        pull_request=row["pull_request"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        steps=tuple(RunStep(**step) for step in json.loads(row["steps"])),
        log=row["log"],
        report=json.loads(row["report"]) if row["report"] else None,
        error=row["error"],
        comment=row["comment"],
    )
