"""Caches of a project's load, by content hash, in `.tidegate/cache/` of the project.

Parsing and regenerating every model with sqlglot is most of the cost of loading a project; the
normalized text depends only on the rendered SQL, the dialect and the sqlglot version, so an
unchanged model is never parsed twice. Its cache is JSON (never code); parsed YAML files are
kept too (`YamlCache`), and compiled templates (`tidegate.project.jinja.bytecode`). Each cache is one
file, written atomically, and only ever an optimisation: a missing, stale or unreadable cache is
rebuilt silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidegate.git.workspace import CACHE_DIR

CACHE_FORMAT = 1


class SqlCache:
    """Normalized SQL by hash of (dialect, rendered SQL)."""

    def __init__(self, root: Path, dialect: str) -> None:
        from importlib.metadata import version

        self._path = root / CACHE_DIR / "sql.json"
        self._stamp = f"{CACHE_FORMAT}:{version('sqlglot')}:{dialect}"
        self._dialect = dialect
        self._entries: dict[str, str] = read_entries(self._path, self._stamp, json.loads)
        self._used: dict[str, str] = {}

    def get(self, sql: str) -> str | None:
        """The normalized form of `sql`, if a previous load computed it."""
        key = _key(sql)
        value = self._entries.get(key)
        if isinstance(value, str):
            self._used[key] = value
            return value
        return None

    def put(self, sql: str, normalized: str) -> None:
        self._used[_key(sql)] = normalized

    def save(self) -> None:
        """Keep what this load used (so the file never grows past the project); best effort."""
        if self._used == self._entries:
            return
        write_entries(self._path, self._stamp, self._used, lambda data: json.dumps(data).encode())


class YamlCache:
    """The project's YAML files as loaded (`load_yaml_text`), by hash of their text, in one file
    of `marshal`ed tuples and scalars (data, never code): parsing YAML with line numbers costs
    more than reading it back. Files that `to_cache` cannot keep are parsed each time."""

    def __init__(self, root: Path) -> None:
        import sys

        from tidegate.project.yamlio import CACHE_STAMP

        self._path = root / CACHE_DIR / "yaml.bin"
        self._stamp = f"{CACHE_STAMP}:{sys.version_info[:2]}"
        self._entries: dict[str, tuple[Any]] = read_entries(self._path, self._stamp, marshal.loads)
        self._used: dict[str, tuple[Any]] = {}

    def load(self, text: str, path: str) -> Any:
        """The data of a YAML file; errors as `load_yaml_text` raises them (never cached)."""
        from tidegate.project.yamlio import from_cache, load_yaml_text, to_cache

        key = _key(text)
        cached = self._entries.get(key)
        if isinstance(cached, tuple) and len(cached) == 1:
            self._used[key] = cached
            return from_cache(cached[0])
        data = load_yaml_text(text, path)
        encoded = to_cache(data)
        if encoded is not None:
            self._used[key] = encoded
        return data

    def save(self) -> None:
        if self._used.keys() == self._entries.keys():
            return
        write_entries(self._path, self._stamp, self._used, marshal.dumps)


def _key(sql: str) -> str:
    return hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()


def read_entries(path: Path, stamp: str, loads: Callable[[bytes], Any]) -> dict[str, Any]:
    """The entries of a cache file `write_entries` wrote with the same stamp (what they depend
    on: versions, dialect); none when the file is missing, unreadable or stale."""
    try:
        data = loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(data, dict) or data.get("stamp") != stamp:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def write_entries(path: Path, stamp: str, entries: dict[str, Any], dumps: Callable[[Any], bytes]) -> None:
    write_atomically(path, dumps({"stamp": stamp, "entries": entries}))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step (readers see the old file or the new one, never a
    part); best effort: a cache that cannot be written is simply not kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
