"""`controller:` in tidegate.yml: what `tidegate serve` watches, and how it is reached.

```yaml
controller:
  repository: https://github.com/acme/data.git   # or a local path or file:// URL
  poll: 30s
  webhook_secret: ${TIDEGATE_WEBHOOK_SECRET}
  api_token: ${TIDEGATE_API_TOKEN}
  drift: {interval: 5m, self_heal: false}
  forge: {kind: github, repo: acme/data, token: ${GITHUB_TOKEN}, api_url: https://api.github.com}
```

Secrets (the webhook secret, the API tokens, the forge's token) are only ever `${VAR}`
references: a literal would be committed with the project. They are expanded when the controller
starts (`expanded`), never kept in what it logs or reports.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import field_validator

from tidegate.project.durations import parse_duration
from tidegate.project.settings import Strict

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
DEFAULT_API_URLS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}


def _reference(value: str | None) -> str | None:
    if value is not None and not _REFERENCE.match(value):
        raise ValueError(
            "a secret is given as a reference to an environment variable, e.g. ${TIDEGATE_API_TOKEN}"
        )
    return value


def expanded(reference: str | None) -> str | None:
    """The value of a `${VAR}` reference from the environment; None when unset or empty."""
    if reference is None:
        return None
    match = _REFERENCE.match(reference)
    assert match is not None, "validated as a reference"
    return os.environ.get(match.group(1)) or None


class DriftConfig(Strict):
    interval: str | int = "5m"
    """How often each environment's warehouse is compared with its recorded version."""
    self_heal: bool = False
    """Restore what drifted: views from the recorded version, missing snapshots from their
    commit, managed infrastructure (never a destructive change)."""

    @field_validator("interval")
    @classmethod
    def _valid_interval(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value


class ForgeConfig(Strict):
    """Where commit statuses and the pull-request comment go."""

    kind: Literal["github", "gitlab"]
    repo: str
    """`owner/name` on GitHub; the project's path (`group/data`) or numeric id on GitLab."""
    token: str | None = None
    api_url: str | None = None
    """GitHub Enterprise or a self-managed GitLab; default: github.com's or gitlab.com's API."""

    @field_validator("token")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return _reference(value)

    @property
    def api(self) -> str:
        return (self.api_url or DEFAULT_API_URLS[self.kind]).rstrip("/")


class ControllerConfig(Strict):
    repository: str | None = None
    """The repository the controller fetches (a URL, a local path or a file:// URL); default:
    the project directory's `origin`."""
    poll: str | int = "30s"
    webhook_secret: str | None = None
    api_token: str | None = None
    """Needed by every POST of the API."""
    read_token: str | None = None
    """When set, reads of the API need it too (or the API token)."""
    drift: DriftConfig = DriftConfig()
    forge: ForgeConfig | None = None

    @field_validator("webhook_secret", "api_token", "read_token")
    @classmethod
    def _secrets(cls, value: str | None) -> str | None:
        return _reference(value)

    @field_validator("poll")
    @classmethod
    def _valid_poll(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value
