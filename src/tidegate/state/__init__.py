"""State kept in the warehouse itself: snapshots, environments and their versions, locks, runs."""

from tidegate.state.records import EnvironmentVersion, FailuresRecord, SnapshotRecord
from tidegate.state.store import StateStore

__all__ = ["EnvironmentVersion", "FailuresRecord", "SnapshotRecord", "StateStore"]
