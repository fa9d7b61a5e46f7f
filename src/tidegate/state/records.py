"""What the state holds: built snapshots, environment versions, pins, relations of failing rows.

Plain frozen values, shared by the state store that reads and writes them and by the plans that
are made of them (a plan's mapping is a `SnapshotRecord` per model, its tests' stored failures
are `FailuresRecord`s), so one concept has one type from the warehouse to a saved plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tidegate.project.model import Kind


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class SnapshotRecord:
    """One snapshot: a model at one fingerprint and the physical relation that holds it; built,
    or to be built by the plan whose mapping lists it."""

    model: str
    fingerprint: str
    version: str
    kind: Kind
    schema: str
    physical: str | None
    """None for a model without a relation (ephemeral)."""
    query_hash: str
    query: str | None = None
    """The model's query as built, kept in the state's snapshots to categorize its next change;
    neither environment versions nor plans carry it."""
    parents: tuple[str, ...] = ()
    """The physical relations a view's snapshot reads."""
    metadata: str = ""
    alias: str | None = None
    """The name of the model's view when it is not the model's name (dbt's `alias`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))  # the state's text, as the enum

    @property
    def view_name(self) -> str:
        return self.alias or self.model

    @property
    def identity(self) -> tuple[str, str, str]:
        """What identifies a snapshot: several versions of one fingerprint can exist."""
        return (self.model, self.fingerprint, self.version)

    def entry(self) -> dict[str, Any]:
        """How an environment version lists this snapshot: plain data, without the query."""
        data = asdict(self)
        data.pop("query")
        data["kind"] = self.kind.value
        data["parents"] = list(self.parents)
        if data["alias"] is None:
            del data["alias"]
        return data

    @classmethod
    def from_entry(cls, model: str, entry: dict[str, Any]) -> SnapshotRecord:
        return cls(
            model=model,
            fingerprint=entry["fingerprint"],
            version=entry["version"],
            kind=entry["kind"],
            schema=entry["schema"],
            physical=entry.get("physical"),
            query_hash=entry["query_hash"],
            parents=tuple(entry.get("parents") or ()),
            metadata=entry.get("metadata", ""),
            alias=entry.get("alias"),
        )


@dataclass(frozen=True)
class FailuresRecord:
    """A relation where a test keeps an environment's failing rows (dbt's `store_failures`):
    each run replaces it; dropped with the environment, and, for a view, before the snapshots
    it reads."""

    environment: str
    schema: str
    name: str
    relation: str
    """`schema.name`, quoted for the engine."""
    kind: Literal["table", "view"]
    parents: tuple[str, ...] = ()
    """The snapshots the test reads: a view of the failing rows reads them too."""


@dataclass(frozen=True)
class EnvironmentVersion:
    """One state of an environment: which snapshot each model's view points to."""

    environment: str
    version: int
    created_at: datetime
    action: str
    models: dict[str, SnapshotRecord] = field(default_factory=dict)
    source: str | None = None
    git_commit: str | None = None
    author: str | None = None
    message: str | None = None
    break_glass: str | None = None
    """Why an environment bound to a branch was changed past Git (`--break-glass REASON`)."""

    @property
    def dropped(self) -> bool:
        return self.action == "drop"

    def to_dict(self) -> dict[str, Any]:
        """The version as plain data (`tidegate history --json`): each model's relation."""
        return {
            "environment": self.environment,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "action": self.action,
            "git_commit": self.git_commit,
            "author": self.author,
            "message": self.message,
            "break_glass": self.break_glass,
            "models": {name: record.physical for name, record in self.models.items()},
        }


@dataclass(frozen=True)
class Pin:
    """An environment held where a rollback put it: the controller does not deploy over it
    until a commit other than `commit` lands on its branch, or `tidegate unpin`."""

    environment: str
    version: int
    """The version the rollback made."""
    commit: str | None
    """The branch's head when pinned (or, the branch unknown, the commit rolled back from): a
    deployment of this commit leaves the environment alone, of any other removes the pin."""
    author: str | None
    created_at: datetime
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "version": self.version,
            "commit": self.commit,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ReviewedPlan:
    """A Terraform plan `tidegate ci` made and showed for review, kept for the deploy that
    applies it: keyed by its root and the content of the root's files (`RootFiles.key`)."""

    root: str
    content_key: str
    environment: str
    """The environment whose deploy applies the root."""
    plan: bytes
    """The saved plan file (`terraform plan -out`), as Terraform wrote it."""
    plan_json: str
    """Its JSON (`terraform show -json`) with sensitive values redacted."""
    allowed: bool
    """Whether its destructive changes (if any) were allowed in review."""
    source: str
    """What reviewed it (`pr 12`)."""
    git_commit: str | None
    created_at: datetime

    @property
    def plan_sha256(self) -> str:
        return hashlib.sha256(self.plan).hexdigest()

    @property
    def json_sha256(self) -> str:
        return hashlib.sha256(self.plan_json.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """What reports and `--json` show: where it came from and its hashes, not its bytes."""
        return {
            "root": self.root,
            "content_key": self.content_key,
            "environment": self.environment,
            "plan_sha256": self.plan_sha256,
            "json_sha256": self.json_sha256,
            "allowed": self.allowed,
            "source": self.source,
            "commit": self.git_commit,
            "created_at": self.created_at.isoformat(),
        }
