"""The controller's SQLite store across releases: a file an older controller wrote opens with
its runs, and gains what runs keep now (the pull request's comment)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tidegate.server.store import RunKind, RunStatus, Store

OLDER_RUNS = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, environment TEXT NOT NULL,
    commit_sha TEXT, branch TEXT, pull_request INTEGER, trigger TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, steps TEXT NOT NULL DEFAULT '[]',
    log TEXT NOT NULL DEFAULT '', report TEXT, error TEXT
);
INSERT INTO runs (kind, environment, commit_sha, trigger, status, created_at, log)
VALUES ('ci', 'pr_3', 'abc', 'webhook', 'success', '2024-01-01T00:00:00+00:00', 'checked');
"""


def test_a_store_an_older_controller_wrote_keeps_its_runs_and_gains_comments(tmp_path: Path) -> None:
    path = tmp_path / "controller.sqlite"
    with sqlite3.connect(path) as older:
        older.executescript(OLDER_RUNS)

    store = Store(path)
    old = store.run(1)
    run = store.enqueue(RunKind.CI, "pr_4", "def", trigger="webhook", pull_request=4)
    store.start(run.id)
    store.finish(run.id, RunStatus.SUCCESS, steps=[], log="ok", comment="## passed\n")
    store.close()
    reopened = Store(path)

    assert old is not None and (old.log, old.comment) == ("checked", None)
    finished = reopened.run(run.id)
    assert finished is not None and finished.comment == "## passed\n"
    assert [r.environment for r in reopened.pull_request_runs()] == ["pr_4"]  # #3 says no number


def test_the_last_run_of_each_pull_request_says_whether_it_is_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "controller.sqlite")
    for kind, number in [(RunKind.CI, 1), (RunKind.CI, 2), (RunKind.CI, 1), (RunKind.TEARDOWN, 2)]:
        run = store.enqueue(kind, f"pr_{number}", "abc", trigger="webhook", pull_request=number)
        store.start(run.id)
        store.finish(run.id, RunStatus.SUCCESS, steps=[], log="")
    store.enqueue(RunKind.DEPLOY, "staging", "abc", trigger="poll")

    last = store.pull_request_runs()

    assert [(r.environment, r.kind, r.id) for r in last] == [
        ("pr_2", RunKind.TEARDOWN, 4),
        ("pr_1", RunKind.CI, 3),
    ]
