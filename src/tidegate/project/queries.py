"""The normalized SQL of every query a load reads: from the cache, else parsed in a batch, in
worker processes when there are many.

Parsing with sqlglot is most of the cost of loading a project the cache does not know (a fresh
clone, a CI runner, a new sqlglot version). The loader asks for each query's normalized text as
it renders; a query the cache does not know gets a placeholder, and is parsed later: in this
process when there are few such queries, otherwise in chunks in worker processes (one per core),
which start while the loader is still rendering. Workers are forked, where that is safe (see
`_can_fork`); elsewhere every query is parsed in this process. The results are the same either
way, and so are the errors: the query that fails first, in the order the loader read them, is
the error reported (with its file and line), also when something after it failed too.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidegate.errors import ProjectError
from tidegate.project.cache import SqlCache

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

PARALLEL_FROM = 200
"""Queries to parse before it pays to start worker processes (each takes a few milliseconds)."""
CHUNK = 64
"""Queries per task sent to a worker."""
MAX_WORKERS = 8

OnError = Callable[[ProjectError], ProjectError | None]
"""What the caller makes of a query's error (a generic test names the test and its line); None
keeps the query as written, unparsed (a query that never runs: see `Queries.resolve`)."""


@dataclass(frozen=True)
class _Query:
    text: str
    path: str
    model: str | None
    on_error: OnError | None
    source: str | None
    """The template the text was rendered from, for the line of a syntax error."""


@dataclass
class _Chunk:
    start: int
    end: int
    future: Future[list[tuple[str, Any]]] | None


class Queries:
    """Normalized queries for one load: ask with `normalized`, then `resolve` once."""

    def __init__(self, cache: SqlCache, dialect: str) -> None:
        self._cache = cache
        self._dialect = dialect
        self._pending: list[_Query] = []
        self._placeholders: dict[str, str] = {}
        """Query text -> its placeholder: a text asked for twice is parsed once."""
        self._chunks: list[_Chunk] = []
        self._sent = 0
        self._pool: ProcessPoolExecutor | None = None
        self._parallel = _workers() > 1

    def normalized(
        self,
        text: str,
        path: str,
        model: str | None,
        on_error: OnError | None = None,
        source: str | None = None,
    ) -> str:
        """The normalized query, or a placeholder for it until `resolve`; `source` is the
        template `text` was rendered from (errors name its lines)."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        placeholder = self._placeholders.get(text)
        if placeholder is None:
            placeholder = _placeholder(len(self._pending))
            self._placeholders[text] = placeholder
            self._pending.append(_Query(text, path, model, on_error, source))
            if len(self._pending) - self._sent >= CHUNK:
                self._send(everything=False)
        return placeholder

    def resolve(self) -> dict[str, str]:
        """Placeholder -> normalized query, for every query asked for; raises the error of the
        first query that fails (unless its caller keeps it as written). The cache learns every
        normalized query."""
        self._send(everything=True)
        resolved: dict[str, str] = {}
        for chunk in [*self._chunks, _Chunk(self._sent, len(self._pending), None)]:
            outcomes = _outcomes(chunk.future)
            for index in range(chunk.start, chunk.end):
                query = self._pending[index]
                normalized: str | None
                if outcomes is None:  # in this process: any error is raised as it is
                    normalized = self._parse(query)
                else:
                    kind, value = outcomes[index - chunk.start]
                    normalized = value
                    if kind == "error":
                        message, path, line, model, hint = value
                        self._failed(
                            query, ProjectError(message, path=path, line=line, model=model, hint=hint)
                        )
                        normalized = None
                if normalized is None:  # kept as written, not cached: its error is raised again next time
                    resolved[_placeholder(index)] = query.text
                    continue
                self._cache.put(query.text, normalized)
                resolved[_placeholder(index)] = normalized
        self.close()
        return resolved

    def close(self) -> None:
        """Stop the workers (waiting for the chunks they are parsing, a few milliseconds)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _send(self, *, everything: bool) -> None:
        """Give workers the pending queries, in whole chunks unless `everything`, once there are
        enough of them to be worth it."""
        if not self._parallel or (self._pool is None and len(self._pending) < PARALLEL_FROM):
            return
        if self._pool is None and not _can_fork():
            self._parallel = False
            return
        while len(self._pending) - self._sent >= (1 if everything else CHUNK):
            end = min(self._sent + CHUNK, len(self._pending))
            items = [(q.text, q.path, q.model, q.source) for q in self._pending[self._sent : end]]
            try:
                if self._pool is None:
                    self._pool = _pool()
                future = self._pool.submit(parse_chunk, self._dialect, items)
            except Exception:  # no processes here (a daemon, a sandbox): parse in this process
                self._parallel = False
                self.close()
                return
            self._chunks.append(_Chunk(self._sent, end, future))
            self._sent = end

    def _parse(self, query: _Query) -> str | None:
        """The normalized query; None when it fails and its caller keeps it as written."""
        from tidegate.project.sql import normalize, parse_query

        try:
            parsed = parse_query(
                query.text, self._dialect, path=query.path, model=query.model, source=query.source
            )
            return normalize(parsed, self._dialect)
        except ProjectError as error:
            self._failed(query, error)
            return None

    def _failed(self, query: _Query, error: ProjectError) -> None:
        """Raise the error of a query that failed, unless its caller keeps the query as written."""
        replaced = query.on_error(error) if query.on_error else error
        if replaced is not None:
            self.close()
            raise replaced from None


def _placeholder(index: int) -> str:
    """Unique per query of the load, and never a normalized query (which has no NUL)."""
    return f"\0tidegate-query-{index}\0"


def _outcomes(future: Future[list[tuple[str, Any]]] | None) -> list[tuple[str, Any]] | None:
    """A worker's results; None when it failed otherwise than with a query's error (a bug, a
    worker that died): the chunk is then parsed again in this process, which raises as usual."""
    if future is None:
        return None
    try:
        return future.result()
    except Exception:  # BrokenProcessPool, or an exception raised in the worker
        return None


def parse_chunk(dialect: str, items: list[tuple[str, str, str | None, str | None]]) -> list[tuple[str, Any]]:
    """In a worker: ("ok", normalized) or ("error", (message, path, line, model, hint)) per query."""
    from tidegate.project.sql import normalize, parse_query

    outcomes: list[tuple[str, Any]] = []
    for text, path, model, source in items:
        try:
            parsed = parse_query(text, dialect, path=path, model=model, source=source)
            outcomes.append(("ok", normalize(parsed, dialect)))
        except ProjectError as error:
            outcomes.append(("error", (error.message, error.path, error.line, error.model, error.hint)))
    return outcomes


def _workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_WORKERS)


def _pool() -> ProcessPoolExecutor:
    """Workers forked from this process: they start at once, with what it imported."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tidegate.processes import die_with_parent

    context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(
        max_workers=_workers(), mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    )


def _can_fork() -> bool:
    """Whether forking is safe: on Linux, while this process has a single thread (another one,
    Python's or a library's such as a database's, could be holding a lock the fork copies).
    Elsewhere workers would have to be spawned, and a spawned worker runs the main script
    again (a script calling tidegate without `if __name__ == "__main__"` would run twice)."""
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False
