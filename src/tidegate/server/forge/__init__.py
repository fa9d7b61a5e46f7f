"""Feedback to the forge: commit statuses and one pull-request comment, edited in place.

The controller talks only to the `Forge` protocol; each forge is one small client module
(`github`, `gitlab`), chosen by `forge_for` from `controller: forge: kind:`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class StatusState(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    """Checks failed (exit 1): the commit is not fit to merge or deploy."""
    ERROR = "error"
    """The run could not finish (bad configuration, a warehouse down)."""


class Forge(Protocol):
    def set_status(
        self, commit: str, context: str, state: StatusState, description: str, target_url: str | None
    ) -> None:
        """Set the commit status `context` (`tidegate/ci`, `tidegate/deploy/prod`) of `commit`."""
        ...

    def upsert_comment(self, number: int, body: str) -> None:
        """Post the controller's one comment on pull request `number`, or edit it if it is there."""
        ...
