"""A stopped tidegate leaves nothing behind: its workers die with it, a signal unwinds it like
Ctrl-C, and the temporary folders of a killed run are removed by the next one. Real processes,
real signals (Linux: /proc tells which processes are left)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidegate.errors import ConfigError
from tidegate.processes import (
    LOCK_FILE,
    Terminated,
    Worker,
    WorkerDied,
    remove_abandoned_folders,
    signals_interrupt,
    temporary_folder,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def running(pid: int) -> bool:
    """A process that has not ended (a zombie has: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


# A tidegate-like parent: a temporary folder and a worker, until a signal stops it.
PARENT = textwrap.dedent(
    """
    import sys, time
    from tidegate.processes import Terminated, Worker, signals_interrupt, temporary_folder

    try:
        with signals_interrupt(), temporary_folder("test") as folder, Worker(time.sleep, 600) as worker:
            print(worker.pid, folder, flush=True)
            time.sleep(600)
    except Terminated as stopped:
        sys.exit(stopped.exit_code)
    """
)


@pytest.fixture
def parent(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """(the parent process, its worker's pid, its temporary folder), in TMPDIR=tmp_path/tmp."""
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    process = subprocess.Popen([sys.executable, "-c", PARENT], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    pid, folder = process.stdout.readline().split()
    yield process, int(pid), Path(folder)
    process.kill()
    process.wait()


def test_a_terminated_parent_stops_its_worker_and_removes_its_folder(
    parent: tuple[subprocess.Popen[str], int, Path],
) -> None:
    process, worker, folder = parent
    assert running(worker) and folder.is_dir()

    process.send_signal(signal.SIGTERM)

    assert process.wait(30) == 128 + signal.SIGTERM
    assert not running(worker)
    assert not folder.exists()


def test_a_killed_parent_takes_its_worker_along_and_the_next_run_removes_its_folder(
    parent: tuple[subprocess.Popen[str], int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process, worker, folder = parent
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # this process's TMPDIR
    (tmp_path / "tmp" / "tidegate-not-ours").mkdir()  # no lock file: another program's
    (tmp_path / "tmp" / "tidegate-spark-log4j2.properties").write_text("")

    process.kill()
    process.wait()

    wait_until(lambda: not running(worker))
    assert folder.is_dir()  # nothing could remove it...
    with temporary_folder("next") as mine:
        assert not folder.exists()  # ...until the next run
        assert remove_abandoned_folders(tmp_path / "tmp") == []  # a running owner's folder stays
        assert mine.is_dir() and (mine / LOCK_FILE).is_file()
    assert sorted(path.name for path in (tmp_path / "tmp").iterdir()) == [
        "tidegate-not-ours",
        "tidegate-spark-log4j2.properties",
    ]


def test_a_worker_returns_its_result() -> None:
    with Worker(sum, [1, 2, 3]) as worker:
        assert worker.result() == 6


def _fail() -> None:
    raise ConfigError("no such setting", path="tidegate.yml", line=3)


def test_a_worker_raises_its_error_with_its_file_and_line() -> None:
    with Worker(_fail) as worker, pytest.raises(ConfigError) as raised:
        worker.result()
    assert (raised.value.path, raised.value.line) == ("tidegate.yml", 3)


def test_a_worker_killed_before_it_answers_is_reported_dead() -> None:
    with Worker(time.sleep, 600) as worker:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerDied, match="without an answer"):
            worker.result()


def _sleep_in_a_subprocess(record: Path) -> None:
    child = subprocess.Popen(["sleep", "600"])
    record.write_text(str(child.pid))
    child.wait()


def test_stopping_a_worker_stops_the_processes_it_started(tmp_path: Path) -> None:
    record = tmp_path / "pid"
    with Worker(_sleep_in_a_subprocess, record) as worker:
        wait_until(lambda: record.exists() and record.read_text())
        grandchild = int(record.read_text())
        assert running(grandchild)
    assert worker.pid is not None and not running(worker.pid)
    wait_until(lambda: not running(grandchild))


def test_sigterm_unwinds_like_ctrl_c_and_the_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as raised, signals_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    assert isinstance(raised.value, KeyboardInterrupt)
    assert raised.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before
