"""State kept in the warehouse itself: snapshots, environments and their versions, locks, runs."""

from tidegate.state.store import EnvironmentVersion, SnapshotRecord, StateStore

__all__ = ["EnvironmentVersion", "SnapshotRecord", "StateStore"]
