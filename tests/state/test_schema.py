"""The state's tables: a state written by an older tidegate (version 2) is upgraded in place on
DuckDB and PostgreSQL, keeping its history; pins are kept one per environment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.engines.conftest import postgres_database  # noqa: F401  (a fixture)
from tidegate.engines.base import EngineAdapter
from tidegate.errors import StateError
from tidegate.project.config import ConnectionConfig
from tidegate.state import Pin, StateStore
from tidegate.state.schema import SCHEMA, STATE_VERSION

# environment_versions and meta as tidegate wrote them at state version 2
VERSION_2 = [
    f"CREATE SCHEMA {SCHEMA}",
    f"""CREATE TABLE {SCHEMA}.environment_versions (
        environment VARCHAR NOT NULL, version INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
        action VARCHAR NOT NULL, source VARCHAR, git_commit VARCHAR, author VARCHAR,
        message VARCHAR, models TEXT NOT NULL, PRIMARY KEY (environment, version))""",
    f"CREATE TABLE {SCHEMA}.meta (key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL)",
    f"INSERT INTO {SCHEMA}.meta VALUES ('state_version', '2')",
    f"INSERT INTO {SCHEMA}.environment_versions VALUES "
    "('prod', 1, TIMESTAMP '2024-05-06 07:08:09', 'deploy', NULL, 'abc123', 'ada', 'deploy main', '{}')",
]


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineAdapter]:
    from tidegate.engines import connect

    if request.param == "duckdb":
        config = ConnectionConfig(engine="duckdb", path="state.duckdb")
    else:
        dsn = request.getfixturevalue("postgres_database")
        config = ConnectionConfig(engine="postgres", dsn=dsn)
    adapter = connect(config, tmp_path)
    yield adapter
    adapter.close()


def test_a_version_2_state_is_upgraded_in_place_and_keeps_its_history(engine: EngineAdapter) -> None:
    for statement in VERSION_2:
        engine.execute(statement)

    store = StateStore(engine)
    [old] = store.history("prod")

    assert (old.version, old.git_commit, old.author, old.break_glass) == (1, "abc123", "ada", None)
    assert engine.fetch(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'state_version'").rows == [
        (str(STATE_VERSION),)
    ]
    store.write_version("prod", {}, action="apply", author="bob", break_glass="the orders page is down")
    assert store.history("prod")[-1].break_glass == "the orders page is down"
    assert store.pin_of("prod") is None  # the pins table is there
    StateStore(engine).ensure()  # opening it again changes nothing
    assert [v.version for v in StateStore(engine).history("prod")] == [1, 2]


def test_the_pull_request_role_does_not_upgrade_an_older_state(engine: EngineAdapter) -> None:
    for statement in VERSION_2:
        engine.execute(statement)

    with pytest.raises(StateError, match="older tidegate"):
        StateStore(engine, creates=False).ensure()


def test_a_state_newer_than_this_tidegate_is_refused(engine: EngineAdapter) -> None:
    StateStore(engine).ensure()
    engine.execute(f"UPDATE {SCHEMA}.meta SET value = '{STATE_VERSION + 1}' WHERE key = 'state_version'")

    with pytest.raises(StateError, match=f"has version {STATE_VERSION + 1}"):
        StateStore(engine).ensure()


def test_one_pin_per_environment_replaced_and_removed(engine: EngineAdapter) -> None:
    store = StateStore(engine)
    first = Pin("prod", 3, "abc", "ada", datetime(2024, 5, 6, 7, 8, 9), "rollback from v2 to v1")
    later = Pin("prod", 5, None, "bob", datetime(2024, 5, 7, 7, 8, 9), "rollback from v4 to v3")
    staging = Pin("staging", 2, "def", "ada", datetime(2024, 5, 6, 7, 8, 9), "rollback from v1 to v0")

    store.pin(first)
    store.pin(staging)
    assert store.pin_of("prod") == first
    store.pin(later)

    assert store.pin_of("prod") == later
    assert store.pins() == [later, staging]
    assert store.unpin("prod") is True
    assert store.unpin("prod") is False
    assert store.pin_of("prod") is None and store.pins() == [staging]
