"""What happened in Git, whichever forge or poll said it: the controller acts on these alone."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Push:
    """A branch moved to `commit` (None: the branch was deleted)."""

    branch: str
    commit: str | None
    delivery: str | None = None
    """The forge's delivery id, None for what a poll found."""


class PullRequestAction(StrEnum):
    OPENED = "opened"
    SYNCHRONIZE = "synchronize"
    """New commits on the pull request's branch."""
    REOPENED = "reopened"
    CLOSED = "closed"
    """Closed or merged (a merge also arrives as a `Push` to the base branch)."""


@dataclass(frozen=True)
class PullRequest:
    action: PullRequestAction
    number: int
    head_commit: str
    head_branch: str
    base_branch: str
    delivery: str | None = None


@dataclass(frozen=True)
class Ping:
    """A forge checking that the webhook is reachable (GitHub's `ping`)."""

    delivery: str | None = None


Event = Push | PullRequest | Ping
