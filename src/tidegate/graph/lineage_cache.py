"""Column lineage already worked out, by content hash, in `.tidegate/cache/lineage.bin`.

A pull request's lineage resolves the models downstream of its change (and their parents, for
their columns), and nearly all of them are queries earlier runs resolved: parsing and qualifying
them again is most of the impact step. What lineage reads of a query (its refs, its output
columns, the columns it names) depends only on its text; how it resolves column by column depends
only on its text and the columns of the models it reads; both also on the dialect and the sqlglot
version, which stamp the file. So a query resolved once is never parsed again for the same
inputs, whatever changed elsewhere.

The file is `marshal`ed tuples, strings and sets (data, never code), read once per lineage and
written atomically; the entries used last are kept (a bounded number), so it serves the changes
pull requests make one after another. Like the load's caches it is only an optimisation: a
missing, stale or unreadable file is rebuilt silently.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
from pathlib import Path
from typing import Any

from tidegate.git.workspace import CACHE_DIR
from tidegate.project.cache import read_entries, write_entries

LINEAGE_FORMAT = 1
"""Bumped whenever what an entry holds, or how the resolver computes it, changes."""
KEEP = 20_000
"""Entries kept at most: those used last (a 10,000-model project's queries and their analyses)."""


class LineageCache:
    """Entries by key: `facts` of a query's text, `analyses` of a text over given columns."""

    def __init__(self, root: Path, dialect: str) -> None:
        from importlib.metadata import version

        self._path = root / CACHE_DIR / "lineage.bin"
        self._stamp = f"{LINEAGE_FORMAT}:{version('sqlglot')}:{dialect}:{sys.version_info[:2]}"
        self._entries: dict[str, Any] = read_entries(self._path, self._stamp, marshal.loads)
        self._used: dict[str, Any] = {}

    def get(self, key: str) -> tuple[Any, ...] | None:
        """An entry as `put` stored it (a one-tuple of the value), or None when unknown."""
        found = self._used.get(key) or self._entries.get(key)
        if isinstance(found, tuple) and len(found) == 1:
            self._used[key] = found
            return found
        return None

    def put(self, key: str, value: Any) -> None:
        self._used[key] = (value,)

    def save(self) -> None:
        """The entries used this time last (kept first when trimming); best effort."""
        if not self._used or all(key in self._entries for key in self._used):
            return
        kept = {key: value for key, value in self._entries.items() if key not in self._used}
        kept.update(self._used)
        if len(kept) > KEEP:
            kept = dict(list(kept.items())[-KEEP:])
        write_entries(self._path, self._stamp, kept, marshal.dumps)


def key(kind: str, *parts: str) -> str:
    """The key of an entry of `kind` computed from `parts` (texts)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return f"{kind}:{digest.hexdigest()}"
