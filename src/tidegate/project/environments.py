"""An environment name resolved once against `tidegate.yml`, into one value that travels down.

A name a user types is not yet an environment: `dev` with `per_user` is `dev_<user>`, every name
not in `environments:` (`pr_12`, a sandbox) lives in production's warehouse, and a pull
request's run reaches every warehouse through `pull_requests.connection` when there is one. A
command resolves the name once, here, and hands the value to whatever plans, applies or reads
that environment, rather than each layer looking the name up in the configuration again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tidegate.project.config import ConnectionConfig, ProjectConfig, parse_duration


@dataclass(frozen=True)
class Environment:
    name: str
    """The concrete name: `dev_alice` for `dev` with `per_user`, `pr_12` as it is."""
    connection: ConnectionConfig
    """How this run reaches the environment's warehouse."""
    workspace: Path = field(repr=False)
    """Where the connection's relative paths (a DuckDB file) resolve: the project directory."""

    @classmethod
    def resolve(
        cls, config: ProjectConfig, name: str, *, workspace: Path, pull_request: bool = False
    ) -> Environment:
        """The environment `name` means. An invalid name is a ConfigError; `pull_request`: the
        run acts for a pull request, which reaches every environment through
        `pull_requests.connection` when tidegate.yml has one (never with production's role)."""
        concrete = config.resolve_environment(name)
        connection = config.pull_requests.connection if pull_request else None
        return cls(concrete, connection or config.connection_for(concrete), workspace)

    @cached_property
    def warehouse(self) -> str:
        """The identity of the warehouse (never a credential): environments with the same one
        share a state store and snapshots. Computed when first asked for, because it expands
        the connection's `${VAR}`s, which a command that opens no warehouse does not need."""
        return self.connection.key(self.workspace)

    @property
    def threads(self) -> int:
        return self.connection.threads

    @property
    def lock_timeout(self) -> float:
        """Seconds to wait for another run holding the environment's lock."""
        return float(parse_duration(self.connection.lock_timeout))
