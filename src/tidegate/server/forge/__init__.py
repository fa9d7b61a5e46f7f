"""Feedback to the forge: commit statuses and one pull-request comment, edited in place.

The controller talks only to the `Forge` protocol; each forge is one small client module
(`github`, `gitlab`), chosen by `forge_for` from `controller: forge: kind:`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from tidegate.errors import ConfigError
from tidegate.project.controller import ForgeConfig, expanded
from tidegate.server.forge.api import ForgeError

__all__ = ["Forge", "ForgeError", "StatusState", "forge_for"]


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


def forge_for(config: ForgeConfig) -> Forge:
    """The client of the forge `controller: forge:` names, its token read from the environment
    now: a controller that could not report to its forge is a configuration error at start."""
    from tidegate.server.forge.api import ApiClient
    from tidegate.server.forge.github import GitHub
    from tidegate.server.forge.gitlab import GitLab

    reference = config.token or f"${{{_TOKEN_VARIABLES[config.kind]}}}"
    token = expanded(config.token)
    if token is None:
        raise ConfigError(
            f"controller.forge has no token: {reference} is not set"
            if config.token
            else "controller.forge has no token",
            path="tidegate.yml",
            hint=f"add `token: {reference}` under controller: forge: and export {reference[2:-1]}: "
            "a token that may set commit statuses and comment on pull requests",
        )
    hint = (
        f"check the token in {reference}: it may have expired, or lack the right to set commit "
        "statuses and comment on pull requests"
    )
    if config.kind == "github":
        api = ApiClient("GitHub", config.api, {"Authorization": f"Bearer {token}"}, token, hint)
        return GitHub(api, config.repo)
    return GitLab(ApiClient("GitLab", config.api, {"PRIVATE-TOKEN": token}, token, hint), config.repo)


_TOKEN_VARIABLES = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
