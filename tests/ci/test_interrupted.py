"""`tidegate ci` stopped half-way, as CI systems stop a cancelled job: SIGTERM unwinds it (its
lint worker stopped, its checkout of head removed, the environment's lock released); SIGKILL
takes its lint worker along, and the next run removes the folder it left. The installed script
in a subprocess, on a pull request whose lint takes seconds (many SQL files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci.repos import branch_off_production, commit, git, make_repository
from tests.cli.conftest import TIDEGATE, invoke

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

MODELS = 60


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Production built from main; branch `slow` adds many tables; main is checked out, so
    CI writes head into a temporary folder. TMPDIR is the test's own, here and in subprocesses."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    root = branch_off_production(make_repository(tmp_path / "repo"), "slow")
    for n in range(MODELS):
        (root / "models" / f"wide_{n}.sql").write_text(
            "{{ config(materialized='table') }}\n\n"
            f"select\n    order_id,\n    customer_id,\n    amount * {n} as amount_{n}\n"
            f"from {{{{ ref('stg_orders') }}}}\nwhere amount > {n}\n"
        )
    commit(root, "many models")
    git(root, "checkout", "-q", "main")
    return root


def status(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name: state, parent, process group..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def running(pid: int) -> bool:
    """Not ended (a zombie has ended: it waits to be reaped by whoever adopted it)."""
    return status(pid)[:1] not in ([], ["Z"])


def is_worker(pid: int, command: bytes) -> bool:
    """A fork of tidegate (its command line), leading its own process group: not a git
    subprocess caught between fork and exec, which has the command line of its parent too."""
    try:
        forked = command != b"" and Path(f"/proc/{pid}/cmdline").read_bytes() == command
    except OSError:
        return False
    return forked and status(pid)[2:3] == [str(pid)]


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = {int(child) for child in (task / "children").read_text().split()}
        except OSError:
            continue
        for child in children:
            found |= {child, *descendants(child)}
    return found


@pytest.fixture
def started_ci(repo: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`tidegate ci` running, and the pid of its lint worker (a fork: the same command line)."""
    process = subprocess.Popen(
        [str(TIDEGATE), "ci", "--base", "main", "--head", "slow", "--pr", "3"],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    worker = None
    while worker is None:
        assert process.poll() is None and time.monotonic() < deadline, (
            f"no lint worker: {process.stderr.read()}"
        )
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes()  # empty until its exec is done
        worker = next((child for child in descendants(process.pid) if is_worker(child, command)), None)
        time.sleep(0.02)
    yield process, worker
    process.kill()
    process.wait()


def checkouts(repo: Path) -> list[str]:
    return [path.name for path in Path(os.environ["TMPDIR"]).iterdir() if path.name.startswith("tidegate-")]


def locks(repo: Path) -> list[tuple[object, ...]]:
    import duckdb

    with duckdb.connect(str(repo / "warehouse.duckdb"), read_only=True) as connection:
        return connection.execute("select * from _tidegate.locks").fetchall()


def test_sigterm_stops_the_worker_removes_the_checkout_and_exits_143(
    repo: Path, started_ci: tuple[subprocess.Popen[str], int]
) -> None:
    process, worker = started_ci
    assert len(checkouts(repo)) == 1
    family = {worker, *descendants(process.pid)}

    process.send_signal(signal.SIGTERM)

    assert process.wait(60) == 128 + signal.SIGTERM
    assert process.stderr is not None
    said = process.stderr.read()
    assert "interrupted (SIGTERM)" in said and "Traceback" not in said
    assert [pid for pid in family if running(pid)] == []
    assert checkouts(repo) == []
    assert locks(repo) == []  # released, not left for the next run to find stale
    ran = invoke(repo, "ci", "--base", "main", "--head", "slow", "--pr", "3")
    assert ran.code == 0, ran.all


def test_sigkill_takes_the_worker_along_and_the_next_run_removes_the_checkout(
    repo: Path, started_ci: tuple[subprocess.Popen[str], int]
) -> None:
    process, worker = started_ci
    family = {worker, *descendants(process.pid)}

    process.kill()
    process.wait()

    deadline = time.monotonic() + 30
    while any(running(pid) for pid in family):
        assert time.monotonic() < deadline, f"still running: {[p for p in family if running(p)]}"
        time.sleep(0.05)
    assert len(checkouts(repo)) == 1  # a killed process cleans nothing up

    ran = invoke(repo, "ci", "--base", "main", "--head", "slow", "--pr", "3")

    assert ran.code == 0, ran.all
    assert checkouts(repo) == []


def test_sigterm_during_the_build_leaves_no_lock_and_the_next_run_finishes_it(
    repo: Path, started_ci: tuple[subprocess.Popen[str], int]
) -> None:
    process, _ = started_ci
    assert process.stderr is not None
    for line in process.stderr:  # the progress of the build, line by line
        if line.startswith("build ("):
            break

    process.send_signal(signal.SIGTERM)

    assert process.wait(60) == 128 + signal.SIGTERM, process.stderr.read()
    assert locks(repo) == []
    ran = invoke(repo, "ci", "--base", "main", "--head", "slow", "--pr", "3", "--json")
    assert ran.code == 0, ran.all
    rows = invoke(repo, "query", "pr_3", f"select count(*) from wide_{MODELS - 1}", "--json").json()["rows"]
    assert rows == [[0]]  # amount > 59: no order; the table exists in the environment
