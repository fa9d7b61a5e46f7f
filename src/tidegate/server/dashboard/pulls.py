"""The open pull requests: each one's environment (as the warehouse's state holds it), its last
CI run, and when the janitor expires it (`pull_requests.ttl` after its current version).

A pull request is open while its environment exists or its last run is a CI run; its teardown
closes it. The warehouse is read after each pass of the controller and each run, when its lane
is free; pages show what the last read found.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tidegate.errors import TidegateError
from tidegate.project.durations import parse_duration
from tidegate.server.logs import event
from tidegate.server.store import Run, RunKind

if TYPE_CHECKING:
    from tidegate.server.controller import Controller


@dataclass(frozen=True)
class OpenPullRequest:
    number: int
    environment: str
    run: Run | None
    """Its last CI run (None: its environment was made outside the controller)."""
    expires: datetime | None
    """When the janitor drops its environment (None: not created yet)."""


class PullRequests:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._created: dict[str, datetime] = {}
        """Each pull-request environment of the warehouse, and when its current version was made
        (the state keeps UTC without a zone)."""
        self._lock = threading.Lock()
        self._read: float | None = None
        """When the state was last read (None: never)."""

    def open(self) -> list[OpenPullRequest]:
        """The open pull requests, newest number first."""
        settings = self.controller.config.pull_requests
        ttl = timedelta(seconds=parse_duration(settings.ttl))
        created = self._environments()
        last = {run.environment: run for run in self.controller.store.pull_request_runs()}
        names = (set(created) | set(last)) - {
            name for name, run in last.items() if run.kind is RunKind.TEARDOWN
        }
        listed = [
            OpenPullRequest(
                self._number(name, last.get(name)),
                name,
                last.get(name),
                created[name] + ttl if name in created else None,
            )
            for name in names
        ]
        return sorted(listed, key=lambda pull: pull.number, reverse=True)

    def _environments(self) -> dict[str, datetime]:
        """As the last `refresh` read them (read now only the first time): opening a warehouse
        of 2,000 models takes 0.2 s, more than a page may."""
        if self._read is None:
            self.refresh()
        return dict(self._created)

    def refresh(self) -> None:
        """Read the pull-request environments of the base warehouse, when its lane is free (the
        controller calls this after each pass and each run)."""
        controller = self.controller
        base = controller.config.pull_requests.base
        pattern = controller.config.pull_requests.pattern()
        with self._lock, controller.lanes.claimed(base) as free:
            if not free:
                return
            try:
                with controller.environments.context() as ctx:
                    versions = ctx.environments(base)
            except TidegateError as error:
                event(controller.log, "cannot read pull requests", logging.WARNING, error=str(error))
                return
            self._created = {
                version.environment: version.created_at.replace(tzinfo=version.created_at.tzinfo or UTC)
                for version in versions
                if pattern.fullmatch(version.environment)
            }
            self._read = time.monotonic()

    def _number(self, environment: str, run: Run | None) -> int:
        if run is not None and run.pull_request is not None:
            return run.pull_request
        prefix, suffix = self.controller.config.pull_requests.environment.split("{number}")
        return int(environment[len(prefix) : len(environment) - len(suffix)])
