"""Compiled templates kept on disk between loads, in one file."""

from __future__ import annotations

import marshal
from pathlib import Path

import jinja2

from tidegate.project.cache import read_entries, write_entries


class BytecodeFile(jinja2.BytecodeCache):
    """Compiled templates on disk, all in one file: compiling Jinja is most of the cost of
    loading a project, and reading one file is much faster than reading one per template. The
    file keeps what the last load used; like every cache, it is only ever an optimisation (Jinja
    checks each entry's checksum and Python version, and a file that cannot be read is ignored).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp = f"1:{jinja2.__version__}"
        self._entries: dict[str, bytes] = read_entries(path, self._stamp, marshal.loads)
        self._used: dict[str, bytes] = {}
        self._changed = False

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self._entries.get(bucket.key)
        if isinstance(data, bytes):
            bucket.bytecode_from_string(data)  # resets the bucket when stale
            if bucket.code is not None:
                self._used[bucket.key] = data

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._used[bucket.key] = bucket.bytecode_to_string()
        self._changed = True

    def save(self) -> None:
        """Write what this load used, when it differs from the file; best effort."""
        if not self._changed and self._used.keys() == self._entries.keys():
            return
        write_entries(self._path, self._stamp, self._used, marshal.dumps)
