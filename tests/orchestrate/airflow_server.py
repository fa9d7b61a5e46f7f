"""A real Airflow 3 for the tests: api-server, dag-processor and scheduler from `.venv-airflow`,
its metadata in a new database on the local PostgreSQL, started once per test session.

Its DAGs folder is `<target>/current/dags`, the layout of a local-folder deploy target (a
`current` symlink onto a release), so a test can write DAG files into it directly or deploy a
release into `<target>`. Parsing is made fast (every file re-parsed each second) and the
simple auth manager has one known user.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "tidegate", "arrival-pw-7f3c"
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class AirflowServer:
    url: str
    target: Path
    """A local-folder deploy target: Airflow reads `<target>/current/dags`."""
    home: Path

    @property
    def dags(self) -> Path:
        return self.target / "current" / "dags"

    @property
    def token(self) -> str:
        """What `orchestration: airflow: targets: token` holds for this Airflow: user:password."""
        return f"{USER}:{PASSWORD}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(home: Path, target: Path, database: str, port: int) -> dict[str, str]:
    dsn = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    settings = {
        "CORE__DAGS_FOLDER": str(target / "current" / "dags"),
        "CORE__LOAD_EXAMPLES": "False",
        "CORE__PARALLELISM": "2",
        "CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "DATABASE__SQL_ALCHEMY_CONN": dsn,
        "DATABASE__SQL_ALCHEMY_CONN_ASYNC": dsn,  # psycopg 3 serves the async engine too
        "API__SECRET_KEY": uuid.uuid4().hex,
        "API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        "DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "1",
        "DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
    }
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        **{f"AIRFLOW__{key}": value for key, value in settings.items()},
    }


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as answer:
            health = json.load(answer)
    except (OSError, ValueError):
        return False
    return all(health.get(part, {}).get("status") == "healthy" for part in ("scheduler", "dag_processor"))


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each process group (the api-server and scheduler have children), SIGKILL to
    what is left after a grace period."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def airflow_server(airflow: Path, base: Path, database: str) -> Iterator[AirflowServer]:
    """Airflow 3 (`airflow` is its command) on a free port of 127.0.0.1, metadata in `database`
    (which must exist, empty), files under `base`; stopped on exit."""
    home, target = base / "home", base / "target"
    (target / "releases" / "seed" / "dags").mkdir(parents=True)
    (target / "current").symlink_to(Path("releases") / "seed", target_is_directory=True)
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    port = _free_port()
    env = _environment(home, target, database, port)
    migrate = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")
    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "dag-processor": ["dag-processor"],
        "scheduler": ["scheduler"],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, arguments in commands.items():
            with (home / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [str(airflow), *arguments],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, processes, home, list(commands))
        yield AirflowServer(url, target, home)
    finally:
        _stop(processes)


def _wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], home: Path, names: list[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _healthy(url):
        for name, process in zip(names, processes, strict=True):
            if process.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited ({process.returncode}):\n{_tail(home / f'{name}.log')}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}\n{_tail(home / f'{name}.log')}" for name in names)
            raise RuntimeError(f"Airflow was not healthy {START_TIMEOUT:g}s after its start:\n{logs}")
        time.sleep(0.5)
