"""An environment's relation to its branch, in the words the API, the metrics and the log share
(as Argo CD keeps `Synced`/`OutOfSync` the same everywhere): `synced`, `syncing`, `out_of_sync`,
`pinned`, `drifted`, `failed`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tidegate.server.store import Run, RunStatus


class EnvironmentState(StrEnum):
    SYNCED = "synced"
    SYNCING = "syncing"
    """A run of it is queued or running."""
    OUT_OF_SYNC = "out_of_sync"
    """Not at its branch's head: not deployed yet, or changed past Git (`--break-glass`)."""
    PINNED = "pinned"
    """Held where a rollback put it until a new commit lands or `unpin`."""
    DRIFTED = "drifted"
    """Its warehouse differs from its recorded version."""
    FAILED = "failed"
    """Its branch's head failed to deploy (not retried until a new commit or a sync)."""


@dataclass(frozen=True)
class Live:
    """An environment's current version as its warehouse last said."""

    version: int | None = None
    commit: str | None = None
    break_glass: str | None = None
    pin: dict[str, Any] | None = None


def state_of(live: Live, head: str | None, last: Run | None, *, drifted: bool) -> EnvironmentState:
    """The state, the first that holds: syncing, pinned, failed, drifted, out of sync, synced."""
    if last is not None and not last.status.finished:
        return EnvironmentState.SYNCING
    if live.pin is not None:
        return EnvironmentState.PINNED
    if last is not None and last.status is RunStatus.FAILED and last.commit == head:
        return EnvironmentState.FAILED
    if drifted:
        return EnvironmentState.DRIFTED
    if live.commit is None or live.commit != head or live.break_glass is not None:
        return EnvironmentState.OUT_OF_SYNC
    return EnvironmentState.SYNCED
