"""A cache of normalized SQL, by content hash, in `.tidegate/cache/` of the project.

Parsing and regenerating every model with sqlglot is most of the cost of loading a project; the
normalized text depends only on the rendered SQL, the dialect and the sqlglot version, so an
unchanged model is never parsed twice. The cache is JSON (never code), written atomically, and
only ever an optimisation: a missing, stale or unreadable cache is rebuilt silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHE_DIR = ".tidegate/cache"
CACHE_FORMAT = 1


class SqlCache:
    """Normalized SQL by hash of (dialect, rendered SQL)."""

    def __init__(self, root: Path, dialect: str) -> None:
        from importlib.metadata import version

        self._path = root / CACHE_DIR / "sql.json"
        self._stamp = f"{CACHE_FORMAT}:{version('sqlglot')}:{dialect}"
        self._dialect = dialect
        self._entries = self._read()
        self._used: dict[str, str] = {}

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("stamp") != self._stamp:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def normalized(self, sql: str, compute: Callable[[], str]) -> str:
        """The normalized form of `sql`, computed once per distinct text."""
        key = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()
        value = self._entries.get(key)
        if value is None:
            value = compute()
        self._used[key] = value
        return value

    def save(self) -> None:
        """Keep what this load used (so the file never grows past the project); best effort."""
        if self._used == self._entries:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=".sql-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump({"stamp": self._stamp, "entries": self._used}, stream)
            os.replace(temporary, self._path)
        except OSError:
            return
