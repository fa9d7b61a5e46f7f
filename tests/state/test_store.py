"""The state store in `_tidegate`: snapshots, append-only environment versions, locks, runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tidegate.engines.duckdb import DuckDBAdapter
from tidegate.errors import LockError
from tidegate.state import SnapshotRecord, StateStore
from tidegate.state.records import FailuresRecord, now
from tidegate.state.schema import TABLES
from tidegate.state.store import SCHEMA, STATE_VERSION


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBAdapter]:
    adapter = DuckDBAdapter.open(str(tmp_path / "state.duckdb"), lock_timeout=1)
    yield adapter
    adapter.close()


@pytest.fixture
def store(engine: DuckDBAdapter) -> StateStore:
    state = StateStore(engine)
    state.ensure()
    return state


def record(
    model: str, fingerprint: str, *, kind: str = "table", parents: tuple[str, ...] = ()
) -> SnapshotRecord:
    return SnapshotRecord(
        model=model,
        fingerprint=fingerprint,
        version=fingerprint[:8],
        kind=kind,
        schema="analytics",
        physical=f'"tidegate__analytics"."{model}__{fingerprint[:8]}"',
        query_hash=f"q{fingerprint}",
        query=f"select '{fingerprint}' as fp",
        parents=parents,
    )


def test_ensure_creates_the_schema_once_and_is_idempotent(engine: DuckDBAdapter) -> None:
    StateStore(engine).ensure()
    tables = sorted(name for schema, name, _ in engine.relations(SCHEMA) if schema == SCHEMA)
    assert tables == [
        "environment_versions",
        "infra_resources",
        "locks",
        "meta",
        "pins",
        "runs",
        "snapshots",
        "stored_failures",
        "terraform_plans",
    ]
    StateStore(engine).ensure()  # a second store on an initialized warehouse changes nothing
    StateStore(engine).ensure()
    assert engine.fetch(f"SELECT key, value FROM {SCHEMA}.meta").rows == [
        ("state_version", str(STATE_VERSION))
    ]


def test_ensure_completes_a_partially_created_schema(engine: DuckDBAdapter) -> None:
    engine.create_schema(SCHEMA)
    engine.execute(f"CREATE TABLE {SCHEMA}.meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    StateStore(engine).ensure()
    assert len([n for s, n, _ in engine.relations(SCHEMA) if s == SCHEMA]) == len(TABLES)


def test_stored_failures_are_recorded_once_per_relation_and_forgotten(store: StateStore) -> None:
    """Where tests kept failing rows: a rerun updates the record, dropping forgets it."""
    table = FailuresRecord("dev", "a_dbt_test__audit__dev", "t", '"a_dbt_test__audit__dev"."t"', "table")
    store.record_failures(table)
    view = replace(table, kind="view", parents=('"tidegate__a"."m__1"',))
    store.record_failures(view)  # the same relation, now a view reading a snapshot
    prod = replace(table, environment="prod", schema="a_dbt_test__audit", relation='"a_dbt_test__audit"."t"')
    store.record_failures(prod)
    assert store.stored_failures("dev") == [view]
    assert store.stored_failures() == [view, prod]
    store.forget_failures([view])
    assert store.stored_failures() == [prod]


def test_record_and_read_snapshots(store: StateStore, engine: DuckDBAdapter) -> None:
    a = record("a", "f" * 16)
    b = record("b", "e" * 16, kind="view", parents=(a.physical or "",))
    store.record_snapshot(a)
    store.record_snapshot(b, engine.worker())
    store.record_snapshot(a)  # recording twice is harmless
    found = store.snapshots()
    assert set(found) == {("a", "f" * 16), ("b", "e" * 16)}
    assert found[("b", "e" * 16)] == b
    assert found[("a", "f" * 16)].query == a.query
    assert store.snapshots([("a", "f" * 16), ("a", "nope")]) == {("a", "f" * 16): a}
    store.delete_snapshots([a])
    assert set(store.snapshots()) == {("b", "e" * 16)}


def test_a_fingerprint_can_have_several_versions_and_lookups_find_the_newest(store: StateStore) -> None:
    """A full refresh or a copy-on-write run records a new version of the same fingerprint."""
    first = record("a", "f" * 16)
    second = replace(first, version="refresh1", physical='"tidegate__analytics"."a__refresh1"')
    store.record_snapshot(first)
    store.record_snapshot(second)
    store.record_snapshot(first)  # recording a version twice is still harmless
    assert store.snapshots() == {("a", "f" * 16): second}
    assert store.snapshots([("a", "f" * 16)]) == {("a", "f" * 16): second}
    assert sorted(r.version for r in store.all_snapshots()) == [first.version, "refresh1"]
    assert store.built_since(now().replace(year=2000)) == {
        ("a", "f" * 16, first.version),
        ("a", "f" * 16, "refresh1"),
    }
    store.delete_snapshots([second])  # deletes that version only
    assert store.snapshots() == {("a", "f" * 16): first}


def test_versions_are_append_only_and_current_is_the_latest(store: StateStore) -> None:
    a1, a2 = record("a", "1" * 16), record("a", "2" * 16)
    b1 = record("b", "3" * 16, parents=(a1.physical or "",))
    assert store.current("prod") is None
    assert store.write_version("prod", {"a": a1, "b": b1}, action="apply", git_commit="abc", author="me") == 1
    assert store.write_version("prod", {"a": a2, "b": b1}, action="apply", message="second") == 2
    assert store.write_version("dev", {"a": a2}, action="apply") == 1
    current = store.current("prod")
    assert current is not None and current.version == 2 and current.message == "second"
    assert current.models["a"].fingerprint == "2" * 16
    assert current.models["b"].parents == b1.parents
    first = store.version("prod", 1)
    assert first is not None and first.git_commit == "abc" and first.author == "me"
    assert first.models["a"].physical == a1.physical
    assert store.version("prod", 3) is None
    assert [v.version for v in store.history("prod")] == [1, 2]
    assert [v.version for v in store.history("dev")] == [1]
    assert store.history("nothing") == []
    # a rollback appends; the old rows are untouched
    assert store.write_version("prod", first.models, action="rollback") == 3
    history = store.history("prod")
    assert [v.action for v in history] == ["apply", "apply", "rollback"]
    assert history[0] == first
    assert history[2].models == first.models
    assert history[0].created_at <= history[1].created_at <= history[2].created_at <= now()


def test_environments_lists_current_versions_without_dropped_ones(store: StateStore) -> None:
    a = record("a", "1" * 16)
    store.write_version("prod", {"a": a}, action="apply")
    store.write_version("prod", {"a": a}, action="promote")
    store.write_version("dev", {"a": a}, action="apply")
    store.write_version("pr_1", {"a": a}, action="apply")
    store.write_version("pr_1", {}, action="drop")
    assert [(v.environment, v.version) for v in store.environments()] == [("dev", 1), ("prod", 2)]
    assert store.current("pr_1") is None
    dropped = store.version("pr_1", 2)
    assert dropped is not None and dropped.dropped
    # recreating a dropped environment continues its numbering
    assert store.write_version("pr_1", {"a": a}, action="apply") == 3
    assert {v.environment for v in store.environments()} == {"dev", "prod", "pr_1"}
    assert len(store.all_versions()) == 6


def test_record_run(store: StateStore, engine: DuckDBAdapter) -> None:
    store.record_run("r1", "plan", "prod", now(), "ok", {"built": ["a"]})
    rows = engine.fetch(f"SELECT id, command, environment, status, detail FROM {SCHEMA}.runs").rows
    assert rows == [("r1", "plan", "prod", "ok", json.dumps({"built": ["a"]}))]


# locks -------------------------------------------------------------------------------------


def _lock_rows(engine: DuckDBAdapter) -> list[tuple[object, ...]]:
    return engine.fetch(f"SELECT environment, owner FROM {SCHEMA}.locks ORDER BY environment").rows


def test_lock_is_released_after_use_and_on_error(store: StateStore, engine: DuckDBAdapter) -> None:
    with store.lock("prod", timeout=1):
        assert _lock_rows(engine) == [("prod", engine.lock_owner)]
        with store.lock("dev", timeout=1):  # other environments are independent
            assert len(_lock_rows(engine)) == 2
    assert _lock_rows(engine) == []
    with pytest.raises(RuntimeError), store.lock("prod", timeout=1):
        raise RuntimeError("apply failed")
    assert _lock_rows(engine) == []


def test_a_second_locker_waits_until_the_first_releases(store: StateStore, engine: DuckDBAdapter) -> None:
    events: list[str] = []
    messages: list[str] = []
    held = threading.Event()

    def first() -> None:
        with store.lock("prod", timeout=5):
            events.append("first in")
            held.set()
            time.sleep(0.8)
            events.append("first out")

    def second() -> None:
        held.wait(5)
        other = StateStore(engine.worker())
        with other.lock("prod", timeout=5, on_wait=messages.append):
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert events == ["first in", "first out", "second in"]
    assert len(messages) == 1 and "waiting for the lock on 'prod'" in messages[0]
    assert _lock_rows(engine) == []


def test_lock_times_out_with_a_clear_error(store: StateStore, engine: DuckDBAdapter) -> None:
    held = threading.Event()
    done = threading.Event()

    def holder() -> None:
        with StateStore(engine.worker()).lock("prod", timeout=5):
            held.set()
            done.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        held.wait(5)
        started = time.monotonic()
        with pytest.raises(LockError) as raised, store.lock("prod", timeout=0.5):
            pytest.fail("the lock was taken twice")  # pragma: no cover
        assert 0.4 <= time.monotonic() - started < 3
    finally:
        done.set()
        thread.join()
    assert raised.value.exit_code == 1
    assert "'prod' is locked by" in raised.value.message and "still running" in raised.value.message
    assert _lock_rows(engine) == []


def _insert_lock(engine: DuckDBAdapter, environment: str, host: str, pid: int) -> None:
    engine.execute(
        f"INSERT INTO {SCHEMA}.locks VALUES (?, ?, ?, ?, ?)",
        [environment, f"{host}:{pid}", host, pid, now()],
    )


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(
    store: StateStore, engine: DuckDBAdapter
) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    _insert_lock(engine, "prod", socket.gethostname(), process.pid)
    with store.lock("prod", timeout=1):
        assert _lock_rows(engine) == [("prod", engine.lock_owner)]
    assert _lock_rows(engine) == []


def test_a_lock_left_by_a_killed_unreaped_process_is_taken_over(
    store: StateStore, engine: DuckDBAdapter
) -> None:
    """A killed child its parent did not wait for yet is a zombie: dead, though its pid exists."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        process.kill()
        time.sleep(0.3)
        _insert_lock(engine, "prod", socket.gethostname(), process.pid)
        with store.lock("prod", timeout=1):
            assert _lock_rows(engine) == [("prod", engine.lock_owner)]
    finally:
        process.wait()


def test_on_a_single_writer_engine_a_lock_row_of_any_other_process_is_stale(
    store: StateStore, engine: DuckDBAdapter
) -> None:
    """Only the process holding a DuckDB file open can write it: a lock row of another process,
    alive on this host or on another host (a CI container killed mid-apply), was left behind."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _insert_lock(engine, "prod", socket.gethostname(), process.pid)
        _insert_lock(engine, "dev", "some-other-host", os.getpid() + 100000)
        for environment in ("prod", "dev"):
            with store.lock(environment, timeout=0.3):
                assert (environment, engine.lock_owner) in _lock_rows(engine)
    finally:
        process.kill()
        process.wait()
    assert _lock_rows(engine) == []
