"""The tables of tidegate's state in the `_tidegate` schema, created on first use and upgraded
in place from the versions an older tidegate wrote.

A warehouse's state outlives the tidegate that created it: a newer one adds what it needs
(version 3: `environment_versions.break_glass` and the `pins` table; version 4: the
`terraform_plans` table) the first time it opens the
state with a role that may create it, and any tidegate refuses a state newer than itself.
"""

from __future__ import annotations

import time

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError, StateError

SCHEMA = "_tidegate"
STATE_VERSION = 4

TABLES = {
    "snapshots": """
        model VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, version VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, schema_name VARCHAR NOT NULL, physical VARCHAR,
        query_hash VARCHAR NOT NULL, query TEXT, parents TEXT NOT NULL, created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (model, fingerprint, version)""",
    "environment_versions": """
        environment VARCHAR NOT NULL, version INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
        action VARCHAR NOT NULL, source VARCHAR, git_commit VARCHAR, author VARCHAR,
        message VARCHAR, models TEXT NOT NULL, break_glass VARCHAR, PRIMARY KEY (environment, version)""",
    "pins": """
        environment VARCHAR NOT NULL PRIMARY KEY, version INTEGER NOT NULL, git_commit VARCHAR,
        author VARCHAR, created_at TIMESTAMP NOT NULL, reason VARCHAR NOT NULL""",
    "locks": """
        environment VARCHAR NOT NULL PRIMARY KEY, owner VARCHAR NOT NULL, host VARCHAR NOT NULL,
        pid INTEGER NOT NULL, acquired_at TIMESTAMP NOT NULL""",
    "runs": """
        id VARCHAR NOT NULL, command VARCHAR NOT NULL, environment VARCHAR,
        started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL, detail TEXT""",
    "meta": "key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL",
    "infra_resources": """
        environment VARCHAR NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL,
        attributes TEXT NOT NULL, prevent_destroy BOOLEAN NOT NULL, applied_at TIMESTAMP NOT NULL,
        PRIMARY KEY (environment, kind, name)""",
    "terraform_plans": """
        root VARCHAR NOT NULL, content_key VARCHAR NOT NULL, environment VARCHAR NOT NULL,
        plan TEXT NOT NULL, plan_sha256 VARCHAR NOT NULL, plan_json TEXT NOT NULL, allowed BOOLEAN NOT NULL,
        source VARCHAR NOT NULL, git_commit VARCHAR, created_at TIMESTAMP NOT NULL""",
    "stored_failures": """
        environment VARCHAR NOT NULL, schema_name VARCHAR NOT NULL, name VARCHAR NOT NULL,
        relation VARCHAR NOT NULL, kind VARCHAR NOT NULL, parents TEXT NOT NULL,
        PRIMARY KEY (environment, schema_name, name)""",
}

_ADDED_COLUMNS = {3: [("environment_versions", "break_glass VARCHAR")]}
"""What each version added to tables an older state already has (new tables are simply created)."""


def create_state(engine: EngineAdapter, *, creates: bool) -> None:
    """Create the schema and whatever tables are missing, then bring an older state up to
    `STATE_VERSION`; without `creates` (a pull request's role) only check it is there and current."""
    for attempt in range(50):
        existing = {name for schema, name, _ in engine.relations(SCHEMA) if schema == SCHEMA}
        if set(TABLES) <= existing:
            break
        if not creates:
            where = (
                "was written by an older tidegate" if "meta" in existing else "is not in this warehouse yet"
            )
            raise StateError(
                f"tidegate's state ({SCHEMA}) {where}, and the pull-request connection does not create it",
                hint="deploy production first (tidegate deploy): its role creates and upgrades the state",
            )
        try:
            with engine.transaction():
                engine.create_schema(SCHEMA)
                for name, columns in TABLES.items():
                    engine.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{name} ({columns})")
                engine.execute(
                    f"INSERT INTO {SCHEMA}.meta VALUES ('state_version', ?) ON CONFLICT DO NOTHING",
                    [str(STATE_VERSION)],
                )
            break
        except EngineError as error:
            # another connection to the same database is creating the schema right now
            if not _racing(error) or attempt == 49:
                raise
            time.sleep(0.05)
    version = _state_version(engine)
    if version is not None and version < STATE_VERSION and creates:
        _upgrade(engine, version)
        version = _state_version(engine)
    if version is not None and version != STATE_VERSION:
        raise StateError(
            f"the state in {SCHEMA} has version {version}; this tidegate reads version {STATE_VERSION}",
            hint=f"use the tidegate that created it, or drop the {SCHEMA} schema to start afresh",
        )


def _upgrade(engine: EngineAdapter, version: int) -> None:
    """Add the columns of every later version, in one transaction; a state another connection
    upgrades at the same time ends the same (`IF NOT EXISTS`, and the version moves only once)."""
    with engine.transaction():
        for later in range(version + 1, STATE_VERSION + 1):
            for table, column in _ADDED_COLUMNS.get(later, []):
                engine.execute(f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {column}")
        engine.execute(
            f"UPDATE {SCHEMA}.meta SET value = ? WHERE key = 'state_version' AND value = ?",
            [str(STATE_VERSION), str(version)],
        )


def _state_version(engine: EngineAdapter) -> int | None:
    rows = engine.fetch(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'state_version'").rows
    return int(rows[0][0]) if rows else None


def _racing(error: EngineError) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("conflict", "duplicate key", "already exists"))
