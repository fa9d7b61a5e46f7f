"""What every benchmark here shares: running one command and measuring it, and describing the machine.

Why a module of its own: the side-by-side comparison (``compare.py``) and tidegate's own detailed
figures (``run.py``) must time processes the same way, or their numbers could not be set side by side.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A step of the benchmark did not do what it must (a command failed, a plan was not a no-op)."""


@dataclass
class Run:
    """A finished process: its wall time, output and its own peak memory."""

    seconds: float
    returncode: int
    stdout: str
    stderr: str
    maxrss_kib: int
    cpu_seconds: float
    timed_out: bool = False

    @property
    def peak_mib(self) -> float:
        """Peak resident memory of the process itself, in MiB."""
        return self.maxrss_kib / 1024

    def tail(self, lines: int = 15) -> str:
        """The end of what the process said, for an error message."""
        return "\n".join((self.stderr.strip() + "\n" + self.stdout.strip()).strip().splitlines()[-lines:])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A stable environment: a fixed author (no getpass lookup) and plain output (no colour codes)."""
    env = dict(os.environ)
    # as on a user's machine, Python keeps its compiled modules: without them an editable install
    # (tidegate here) recompiles its sources on every command, while the peers' wheels were
    # compiled when pip installed them
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"TIDEGATE_USER": "bench", "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"})
    env.update(extra or {})
    return env


def run_process(
    args: Sequence[str],
    cwd: Path,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Run:
    """Run one process and return its wall time and peak RSS.

    Why ``os.wait4`` instead of ``subprocess.run``: ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is a
    high-water mark over *all* children waited for so far, so it cannot attribute memory to one command;
    ``wait4`` returns the same kernel counter for exactly this child.  Output goes to temporary files so
    a chatty build cannot block on a full pipe while we wait.
    """
    killed = threading.Event()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else child_env(),
        )

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Run(seconds, proc.returncode, out.read(), err.read(), usage.ru_maxrss, cpu, killed.is_set())


def checked(run: Run, what: str, ok: tuple[int, ...] = (0,)) -> Run:
    """``run`` if it exited as expected; otherwise stop, since every later figure would be wrong."""
    if run.timed_out:
        raise BenchError(f"{what} timed out after {run.seconds:.0f} s")
    if run.returncode not in ok:
        raise BenchError(f"{what} exited {run.returncode}:\n{run.tail()}")
    return run


def json_document(run: Run) -> dict[str, Any]:
    """The JSON document a ``--json`` command printed on stdout (human output goes to stderr)."""
    try:
        document: dict[str, Any] = json.loads(run.stdout)
    except json.JSONDecodeError as error:
        raise BenchError(f"expected one JSON document on stdout, got: {run.stdout[:300]!r}") from error
    return document


def log(text: str) -> None:
    """Progress on stdout, flushed, because a 10,000-model run is silent for minutes otherwise."""
    print(text, flush=True)


def load_average() -> str:
    """The 1-minute load average: figures taken while other work competes for the CPUs are inflated, and
    the report must say so rather than let them pass for a tool's own cost."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine(start_load: str, versions: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the figures depend on, so results from different machines are not compared blindly."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    memory = _proc_field("/proc/meminfo", "MemTotal")
    ram = f"{int(memory.split()[0]) / 1024 / 1024:.1f} GiB" if memory else "?"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    facts = {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} ({usable} usable)",
        "RAM": ram,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "duckdb": metadata.version("duckdb"),
        "sqlglot": metadata.version("sqlglot"),
        "tidegate": f"{metadata.version('tidegate')} ({commit or 'no git'})",
    }
    facts.update(versions or {})
    facts["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts["load average (1 min) at start / end"] = f"{start_load} / {load_average()}"
    return facts
