"""The interface every benchmarked tool implements, and what a measure returns.

Why one interface: the comparison is only fair if every tool goes through the same sequence on the same
files (load, build, no-op, CI for one change, promotion) and is timed the same way; each peer only says
how *its* tool does each step, in its best configuration.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from measure import Run


@dataclass(frozen=True)
class Sample:
    """One timed run of one measure: wall time, peak memory of the tool's process, and what it did."""

    seconds: float
    peak_mib: float
    detail: str = ""

    @classmethod
    def of(cls, run: Run, detail: str = "") -> Sample:
        return cls(run.seconds, run.peak_mib, detail)


@dataclass(frozen=True)
class Change:
    """The breaking change of one CI repetition: a new text for one model of the generated dbt project.

    Each repetition gets its own variant (a new fingerprint, the same data), so no tool finds the
    previous repetition's work.  ``path`` is relative to the project root, ``text`` is dbt-format SQL.
    """

    number: int
    path: Path
    text: str

    @property
    def model(self) -> str:
        return self.path.stem


class Peer(Protocol):
    """One tool, working in its own copy of the generated project.

    The runner calls, in this order: ``setup``; ``load`` (cold, then warm); ``build``; ``save_built``;
    ``noop``; then for each change ``restore_built``, ``ci`` and ``promote``; finally ``cleanup``.
    Every timed method runs the tool's real command line in a subprocess and returns a :class:`Sample`;
    it raises ``BenchError`` when the tool fails or does not do what the measure needs (a no-op that
    rebuilt something, a promotion that was not virtual where it must be).
    """

    name: str

    def unavailable(self) -> str | None:
        """Why this tool cannot run here (not installed...), or None when it can."""
        ...

    def version(self) -> str:
        """The tool's version, for the machine table."""
        ...

    def setup(self, source: Path, work: Path, threads: int) -> None:
        """Copy the generated dbt-format project ``source`` into ``work`` and configure the tool there."""
        ...

    def load(self, cold: bool) -> Sample:
        """Read and parse the project; ``cold`` first removes every cache the tool keeps between runs."""
        ...

    def build(self) -> Sample:
        """Build production from an empty warehouse, tests included."""
        ...

    def save_built(self) -> None:
        """Keep the warehouse (and state) as it is right after the production build."""
        ...

    def restore_built(self) -> None:
        """Return warehouse, state and model files to what ``save_built`` kept."""
        ...

    def noop(self) -> Sample:
        """Plan production again with nothing changed; must find nothing to do."""
        ...

    def ci(self, change: Change) -> Sample:
        """Make ``change`` and check it as the tool's CI would, in an environment apart from production."""
        ...

    def promote(self, change: Change) -> Sample:
        """Bring what ``ci`` built for ``change`` into production."""
        ...

    def cleanup(self) -> None:
        """Stop anything still running; files are removed by the runner."""
        ...


@runtime_checkable
class Serves(Protocol):
    """A tool that also runs as a server that webhooks tell of each change (``tidegate serve``).

    After the command-line measures the runner calls ``serve`` once, then for each change
    ``served_ci`` and ``served_deploy``; ``cleanup`` stops the server.  Each returns the time from
    the webhook sent to what a person waits for (the commit status, the environment switched).
    """

    def serve(self, root: Path) -> None:
        """Set up, in ``root``, a remote, the server's project built as production, and start it."""
        ...

    def served_ci(self, change: Change) -> Sample:
        """Open a pull request with ``change``: from its webhook to the CI verdict at the forge."""
        ...

    def served_deploy(self, change: Change) -> Sample:
        """Merge that pull request: from the push webhook to production switched, nothing built."""
        ...


@runtime_checkable
class Floored(Protocol):
    """A tool whose commands can also be measured on the engine alone (``floor.py``).

    The runner calls ``floor("build")`` after the build, and after each ``ci``, ``floor("ci")`` then
    ``floor("promote")`` (before the promotion it stands for), so each figure has its floor beside it.
    """

    def floor(self, measure: str) -> Sample:
        """The statements the tool ran (or is about to run) for ``measure``, timed on the engine alone."""
        ...


class BuiltWarehouse:
    """The warehouse file(s) as they were right after the production build, kept beside them.

    Why: a CI run leaves tables and state behind that the next repetition would simply reuse (and
    state that grows), so every repetition starts again from the production build.  The state of all
    three tools lives in the DuckDB file itself, so copying the file (and its write-ahead log, if one
    was left) restores both.
    """

    SUFFIX = ".prod-built"

    def __init__(self, root: Path, name: str = "warehouse.duckdb") -> None:
        self.root = root
        self.name = name

    def _live(self) -> list[Path]:
        return [p for p in self.root.glob(self.name + "*") if not p.name.endswith(self.SUFFIX)]

    def drop(self) -> None:
        """Start from nothing, as a first build does (what was saved stays)."""
        for path in self._live():
            path.unlink()

    def save(self) -> None:
        for path in self._live():
            shutil.copy2(path, path.with_name(path.name + self.SUFFIX))

    def restore(self) -> None:
        self.drop()
        for backup in self.root.glob(self.name + "*" + self.SUFFIX):
            shutil.copy2(backup, backup.with_name(backup.name.removesuffix(self.SUFFIX)))


class ChangedFiles:
    """Model files a change rewrote, to put back as they were before the next repetition."""

    def __init__(self) -> None:
        self.pristine: dict[Path, str] = {}

    def write(self, path: Path, text: str) -> None:
        self.pristine.setdefault(path, path.read_text())
        path.write_text(text)

    def restore(self) -> None:
        for path, text in self.pristine.items():
            path.write_text(text)
        self.pristine.clear()
