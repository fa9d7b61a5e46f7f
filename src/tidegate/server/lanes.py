"""Who may work where: a *lane* is what one piece of work must have to itself, an environment
or a whole DuckDB file (one writer per file: the controller opens it only while it works, so
people and BI tools read it in between). Runs, rollbacks, drift checks and reads of an
environment's version each take its lane first, so they never overlap on one warehouse while
different lanes go side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tidegate.project.config import ProjectConfig
from tidegate.project.environments import Environment


class Lanes:
    def __init__(self, config: ProjectConfig, project_dir: Path, on_release: Callable[[], None]) -> None:
        self.config = config
        self.project_dir = project_dir
        self.on_release = on_release
        """Called after each release, outside the lock: the controller starts what waited."""
        self._busy: dict[str, str] = {}
        """Lanes at work, and the environment each works on."""
        self._idle = threading.Condition()
        self._closed = False

    def lane(self, environment: str) -> str:
        """The environment's lane: its DuckDB file, or the environment in its warehouse. A
        TidegateError when tidegate.yml cannot resolve the environment."""
        resolved = Environment.resolve(self.config, environment, workspace=self.project_dir)
        if resolved.connection.engine == "duckdb":
            return resolved.warehouse
        return f"{resolved.warehouse} {resolved.name}"

    def take(self, environment: str, patience: float = 0.0) -> str | None:
        """The environment's lane, taken, if it is free (or frees within `patience` seconds)
        and the lanes are open; else None."""
        lane = self.lane(environment)
        with self._idle:
            self._idle.wait_for(lambda: lane not in self._busy or self._closed, timeout=patience)
            if lane in self._busy or self._closed:
                return None
            self._busy[lane] = environment
            return lane

    def release(self, lane: str) -> None:
        with self._idle:
            del self._busy[lane]
            self._idle.notify_all()
        self.on_release()

    @contextmanager
    def holding(self, environment: str) -> Iterator[None]:
        """The environment's lane, waiting for it when busy (a rollback asked for through the API)."""
        lane = self.lane(environment)
        with self._idle:
            self._idle.wait_for(lambda: lane not in self._busy)
            self._busy[lane] = environment
        try:
            yield
        finally:
            self.release(lane)

    @contextmanager
    def claimed(self, environment: str, patience: float = 0.0) -> Iterator[bool]:
        """The environment's lane if it is free now, or within `patience` seconds (True), else
        nothing (False): for checks that use what the last one found while the environment is
        at work."""
        lane = self.take(environment, patience)
        try:
            yield lane is not None
        finally:
            if lane is not None:
                self.release(lane)

    def wait(self, pending: Callable[[], bool]) -> None:
        """Until no lane is at work and nothing is `pending`."""
        with self._idle:
            self._idle.wait_for(lambda: not self._busy and not pending())

    def close(self) -> None:
        """Take no lane any more (the controller stops); work holding one finishes."""
        with self._idle:
            self._closed = True
