"""Bringing an object store's prefix to a bundle, in an order a listing reader can trust.

Object stores have no atomic rename, so the scheduler (MWAA and Composer copy the prefix by
listing it) could see any moment of an upload. The order keeps every moment whole:

1. the manifest of what is there (`tidegate-release.json`: each file and its sha256) is read first;
2. new and changed files are uploaded (dependencies before DAGs, see `bundle`): every listing
   still holds the whole old set, with some new files beside it;
3. the new manifest is written, naming the files about to be removed;
4. the files the old manifest had and the new one has not are removed last: every listing holds
   the whole new set;
5. a listing checks that every file is there with its size, and the removed ones are gone.

A file whose hash is unchanged and that the listing shows with its size is not uploaded again,
so shipping the same commit twice uploads nothing and leaves the manifest as it was. Only files
a manifest named are ever removed: what others put beside them is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tidegate.errors import ShipError
from tidegate.orchestrate.ship.bundle import Bundle

MANIFEST = "tidegate-release.json"


class ObjectStore(Protocol):
    """A bucket prefix, names relative to it."""

    url: str

    def list(self) -> dict[str, int]:
        """Every object under the prefix and its size."""
        ...

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> None: ...


@dataclass(frozen=True)
class Synced:
    uploaded: tuple[str, ...]
    removed: tuple[str, ...]
    previous: str | None
    """The release the manifest named before."""


def sync(store: ObjectStore, bundle: Bundle, progress: Callable[[str], None] = lambda _: None) -> Synced:
    """Bring the store to `bundle` in the order above; raise `ShipError` if the listing after it
    disagrees."""
    before = _manifest(store)
    listed = store.list()
    digests = bundle.digests
    known: dict[str, str] = before.get("files", {})
    changed = [
        name
        for name, data in bundle.files.items()
        if known.get(name) != digests[name] or listed.get(name) != len(data)
    ]
    for name in changed:
        progress(f"uploading {store.url}/{name}")
        store.put(name, bundle.files[name])
    managed = set(known) | set(before.get("removing", []))
    removing = sorted(name for name in managed - set(bundle.files) if name in listed)
    if changed or before.get("release") != bundle.release or known != digests:
        document = {"release": bundle.release, "files": digests, "removing": removing}
        store.put(MANIFEST, (json.dumps(document, indent=2) + "\n").encode())
    for name in removing:
        progress(f"removing {store.url}/{name}")
        store.delete(name)
    _check(store, bundle, removing)
    return Synced(tuple(changed), tuple(removing), before.get("release"))


def _manifest(store: ObjectStore) -> dict[str, Any]:
    """The manifest the last shipment wrote; empty when there is none (a first shipment)."""
    data = store.get(MANIFEST)
    if data is None:
        return {}
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
            raise ValueError("no files in it")
    except ValueError as error:
        raise ShipError(
            f"{store.url}/{MANIFEST} is not a manifest tidegate wrote: {error}",
            hint="remove it if nothing else owns the prefix, then deploy again",
        ) from None
    return document


def _check(store: ObjectStore, bundle: Bundle, removed: list[str]) -> None:
    """The listing a scheduler would see: each file with its size, none of the removed ones."""
    listed = store.list()
    wrong = [name for name, data in bundle.files.items() if listed.get(name) != len(data)]
    left = [name for name in removed if name in listed]
    if MANIFEST not in listed:
        wrong.append(MANIFEST)
    if wrong or left:
        problems = [f"missing or of another size: {', '.join(wrong)}"] if wrong else []
        problems += [f"not removed: {', '.join(left)}"] if left else []
        raise ShipError(
            f"{store.url} does not list what was shipped ({'; '.join(problems)})",
            hint="deploy again: files already in place are not uploaded twice",
        )
