"""Shipping a commit's DAG files to a target: a local folder, `s3://bucket/prefix` or
`gs://bucket/prefix`, and, when the target names its Airflow (`api_url`), waiting until that
Airflow has parsed them (`tidegate.orchestrate.arrival`).

A local folder gets a release and an atomic switch of its `current` symlink
(`tidegate.orchestrate.release`); an object store gets the ordered upload of `sync`. Either way,
shipping the same commit again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import ConfigError, ShipError
from tidegate.orchestrate.ship.bundle import Layout, bundle

if TYPE_CHECKING:
    from tidegate.orchestrate.arrival import Arrival
    from tidegate.orchestrate.ship.sync import ObjectStore
    from tidegate.project.shipping import AirflowConfig, AirflowTarget


@dataclass(frozen=True)
class Shipped:
    target: str
    release: str
    files: int
    uploaded: tuple[str, ...]
    """What was written (all of a new local release; what changed in an object store)."""
    removed: tuple[str, ...]
    previous: str | None
    """The release the target had before."""
    arrival: Arrival | None = None
    """What Airflow said of the shipped files, when the target names its API."""

    @property
    def changed(self) -> bool:
        return bool(self.uploaded or self.removed) or self.previous != self.release

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "release": self.release,
            "previous": self.previous,
            "files": self.files,
            "uploaded": list(self.uploaded),
            "removed": list(self.removed),
            "arrival": self.arrival.to_dict() if self.arrival is not None else None,
        }


def is_object_store(to: str) -> bool:
    return to.startswith(("s3://", "gs://"))


def ship(
    to: str,
    root: Path,
    dags: str,
    *,
    commit: str | None,
    base: Path,
    keep: int,
    progress: Callable[[str], None] = lambda _: None,
) -> Shipped:
    """Ship the DAG files of `root` to `to` (a folder relative to `base`, or a bucket prefix);
    `commit` names the release (None: `root`'s working tree, as `dags deploy` ships it)."""
    if not is_object_store(to):
        return _ship_to_folder(base / to, root, dags, commit=commit, keep=keep)
    from tidegate.orchestrate.release import release_id
    from tidegate.orchestrate.ship.sync import sync

    store = open_store(to)
    shipped = bundle(root, dags, _layout(to), commit or release_id(root))
    done = sync(store, shipped, progress)
    return Shipped(to, shipped.release, len(shipped.files), done.uploaded, done.removed, done.previous)


def open_store(to: str) -> ObjectStore:
    scheme, _, rest = to.partition("://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"{to!r} names no bucket", hint="s3://bucket/prefix or gs://bucket/prefix")
    if scheme == "s3":
        from tidegate.orchestrate.ship.s3 import S3Store

        return S3Store(bucket, prefix)
    from tidegate.orchestrate.ship.gcs import GcsStore

    return GcsStore(bucket, prefix)


def _layout(to: str) -> Layout:
    return "mwaa" if to.startswith("s3://") else "composer"


def _ship_to_folder(folder: Path, root: Path, dags: str, *, commit: str | None, keep: int) -> Shipped:
    from tidegate.orchestrate import release

    try:
        previous = release.current_release(folder)
        done = release.deploy(root, dags, folder, keep=keep, commit=commit)
    except OSError as error:
        raise ShipError(f"{folder}: {error.strerror or error}", path=error.filename) from None
    written = () if previous == done.id else tuple(done.files)
    return Shipped(str(folder), done.id, len(done.files), written, (), previous)


def dag_files(root: Path, dags: str) -> tuple[str, ...]:
    """The files Airflow parses as DAGs, relative to its DAGs folder (what arrival waits for)."""
    return bundle(root, dags, "composer", "-").dag_files


def ship_dags(
    root: Path,
    config: AirflowConfig,
    environment: str,
    commit: str,
    *,
    base: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> Shipped | None:
    """`tidegate deploy`'s DAG step: ship the commit's DAGs to the environment's target, then
    wait for its Airflow to parse them; None when `orchestration: airflow: targets` names none."""
    target = config.targets.get(environment)
    if target is None:
        return None
    since = datetime.now(UTC)
    progress(f"shipping the DAGs of {commit[:10]} to {target.to}")
    shipped = ship(
        target.to, root, config.dags, commit=commit, base=base, keep=config.releases, progress=progress
    )
    arrival = wait_for(target, dag_files(root, config.dags), since, progress, folder=config.dags)
    return replace(shipped, arrival=arrival)


def wait_for(
    target: AirflowTarget,
    files: tuple[str, ...],
    since: datetime,
    progress: Callable[[str], None],
    *,
    folder: str = "",
) -> Arrival | None:
    """Wait until the target's Airflow parsed `files` after `since` (when it names its API);
    its errors name the files under `folder`, the project's DAGs folder."""
    if target.api_url is None:
        return None
    from tidegate.orchestrate.arrival import wait_for_arrival
    from tidegate.project.dsn import expand_env_refs
    from tidegate.project.durations import parse_duration

    token = expand_env_refs(target.token) if target.token else None
    progress(f"waiting for Airflow at {target.api_url} to parse {len(files)} DAG file(s)")
    return wait_for_arrival(
        target.api_url,
        token,
        list(files),
        since=since,
        timeout=parse_duration(target.parse_timeout),
        progress=progress,
        folder=folder,
    )
