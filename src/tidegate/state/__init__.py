"""State kept in the warehouse itself: snapshots, environments and their versions, pins, locks, runs."""

from tidegate.state.records import EnvironmentVersion, FailuresRecord, Pin, SnapshotRecord
from tidegate.state.store import StateStore

__all__ = ["EnvironmentVersion", "FailuresRecord", "Pin", "SnapshotRecord", "StateStore"]
