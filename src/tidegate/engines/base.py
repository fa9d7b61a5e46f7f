"""The engine adapter protocol: everything tidegate asks of a warehouse.

Planning and state logic never write engine-specific SQL; they call these methods. Each engine
is a small subclass in its own module (like sqlglot's dialects), chosen by `engines.connect`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tidegate.errors import EngineError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tidegate.project.config import ConnectionConfig
    from tidegate.project.engines import Engine


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class EngineAdapter(abc.ABC):
    """A connection to one warehouse, with the operations virtual environments need."""

    spec: ClassVar[Engine]
    """The engine's declaration (`tidegate.project.engines`): its dialect and capability flags,
    which callers read instead of asking which engine this is."""

    @property
    def dialect(self) -> str:
        """sqlglot dialect that statements for this engine are generated in."""
        return self.spec.dialect

    @property
    def databases_dir(self) -> str | None:
        """Where an embedded engine keeps the files of the warehouse's other databases (which
        `tidegate infra` creates); None where a server keeps them."""
        return None

    @classmethod
    @abc.abstractmethod
    def connect(
        cls, connection: ConnectionConfig, root: Path, *, on_wait: Callable[[str], None] | None = None
    ) -> EngineAdapter:
        """Open the warehouse of a connection from `tidegate.yml` (paths relative to `root`)."""

    # statements --------------------------------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """Run one statement, discarding any result. Parameters are `?` placeholders."""

    @abc.abstractmethod
    def fetch(self, sql: str, parameters: Sequence[Any] = ()) -> QueryResult:
        """Run one query and return its columns and all its rows."""

    @abc.abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit what runs inside when it finishes, roll all of it back when it raises."""

    @abc.abstractmethod
    def worker(self) -> EngineAdapter:
        """An adapter for another thread, sharing the warehouse but not the cursor."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # identifiers -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def relation(self, schema: str, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}"

    # catalog -----------------------------------------------------------------------------

    def create_schema(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}")

    def drop_schema(self, schema: str) -> None:
        self.execute(f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE")

    @abc.abstractmethod
    def relations(self, schema_prefix: str) -> list[tuple[str, str, str]]:
        """(schema, name, 'table'|'view') of every relation in schemas starting with the prefix."""

    def has_schema(self, schema: str) -> bool:
        """Whether the warehouse's current database has the schema (empty or not)."""
        rows = self.fetch(
            "SELECT count(*) FROM information_schema.schemata "
            "WHERE catalog_name = current_database() AND schema_name = ?",
            [schema],
        ).rows
        return bool(rows[0][0])

    def views_read(self, schema: str) -> dict[str, set[str] | None]:
        """What each view of `schema` reads, by the view's name: the relations, each as
        `relation()` spells it, from the view's definition as the engine keeps it (never its
        text, which engines normalize); None for a view whose reads the engine cannot tell.
        One query for the whole schema: a drift check reads thousands of views."""
        return {}

    def view_reads(self, schema: str, name: str) -> set[str] | None:
        """What one view reads (see `views_read`); None when the engine cannot tell, or there is
        no such view."""
        return self.views_read(schema).get(name)

    @abc.abstractmethod
    def columns(self, relation: str) -> list[tuple[str, str]]:
        """(name, type) of each column of a relation; EngineError if it does not exist."""

    def query_columns(self, query: str) -> list[tuple[str, str]]:
        """(name, type) of each column `query` returns, typed as `columns` types a relation's.
        By default through a temporary view, dropped again in the caller's transaction."""
        view = self.quote("__tidegate_query_columns")
        self.execute(f"CREATE TEMPORARY VIEW {view} AS {query}")
        try:
            return self.columns(view)
        finally:
            self.execute(f"DROP VIEW IF EXISTS {view}")

    def create_table_as(self, relation: str, query: str) -> None:
        self.execute(f"CREATE TABLE {relation} AS {query}")

    def replace_table_as(self, relation: str, query: str) -> None:
        self.execute(f"CREATE OR REPLACE TABLE {relation} AS {query}")

    def create_view(self, relation: str, query: str) -> None:
        self.execute(f"CREATE OR REPLACE VIEW {relation} AS {query}")

    def lock_relations(self, relations: Sequence[str]) -> None:
        """Lock views a swap is about to replace, all up front, so readers that lock them in
        another order cannot deadlock with the swap. Nothing to do where readers take no locks."""
        return

    def drop_table(self, relation: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {relation}")

    def drop_view(self, relation: str) -> None:
        self.execute(f"DROP VIEW IF EXISTS {relation}")

    def insert_into(self, relation: str, query: str) -> None:
        self.execute(f"INSERT INTO {relation} {query}")

    def refresh_table(self, relation: str, query: str) -> None:
        """Replace every row of an existing table with the rows of `query` (same columns, in the
        same order), keeping the table itself: the views that read it stay, and on an engine with
        transactions the refresh commits or rolls back with the caller's transaction."""
        self.execute(f"DELETE FROM {relation}")
        self.execute(f"INSERT INTO {relation} {query}")

    def merge_into(self, relation: str, query: str, keys: Sequence[str]) -> None:
        """Upsert the rows of `query` on `keys`: delete the matching rows, then insert all."""
        if not keys:
            raise ValueError("merge_into needs at least one key")
        staged = self.quote("__tidegate_staged")
        match = " AND ".join(f"target.{self.quote(k)} = staged.{self.quote(k)}" for k in keys)
        self.execute(f"CREATE TEMPORARY TABLE {staged} AS {query}")
        try:
            self.execute(
                f"DELETE FROM {relation} AS target "
                f"WHERE EXISTS (SELECT 1 FROM {staged} AS staged WHERE {match})"
            )
            self.execute(f"INSERT INTO {relation} SELECT * FROM {staged}")
        finally:
            self.execute(f"DROP TABLE IF EXISTS {staged}")

    # data in and out ---------------------------------------------------------------------

    @abc.abstractmethod
    def load_csv(self, relation: str, path: Path, column_types: dict[str, str], delimiter: str = ",") -> None:
        """Create `relation` from a seed's CSV file, which `tidegate.project.seeds.read_seed`
        accepts (UTF-8, a header, fields separated by `delimiter` and quoted with `"`); types
        inferred unless `column_types` (in this engine's spelling) gives them."""

    def narrow_integers(self, relation: str, keep: set[str]) -> None:
        """Make the 64-bit integer columns of a loaded seed 32-bit where every value fits, as
        dbt's CSV reader types them; the columns in `keep` have the types a config gave them."""
        wide = [
            name
            for name, kind in self.columns(relation)
            if kind.lower() in ("bigint", "int8") and name not in keep
        ]
        if not wide:
            return
        checks = ", ".join(
            f"coalesce(min({self.quote(name)}) >= -2147483648 AND max({self.quote(name)}) <= 2147483647, FALSE)"
            for name in wide
        )
        fits = self.fetch(f"SELECT {checks} FROM {relation}").rows[0]
        for name, ok in zip(wide, fits, strict=True):
            if ok:
                self.execute(f"ALTER TABLE {relation} ALTER COLUMN {self.quote(name)} TYPE INTEGER")

    @abc.abstractmethod
    def dataframe(self, relation: str) -> Any:
        """The engine's native dataframe over a relation, handed to Python models."""

    @abc.abstractmethod
    def write_dataframe(self, relation: str, frame: Any) -> None:
        """Create `relation` from what a Python model returned."""

    def python_session(self) -> Any:
        """The session a dbt Python model receives (`def model(dbt, session)`): dbt runs them
        on DuckDB (its connection) and Spark (its SparkSession), not on this engine."""
        raise EngineError(f"dbt Python models (def model(dbt, session)) do not run on {self.dialect}")

    # state and locks ---------------------------------------------------------------------

    def state_engine(self) -> EngineAdapter:
        """Where tidegate's own state lives: the warehouse itself, unless the engine has no
        transactions (Spark), in which case its adapter opens a transactional store."""
        return self

    def try_advisory_lock(self, key: str) -> bool:
        """Take a lock the engine releases when this session ends (so a killed run never blocks
        the next); False if another session holds it. Only with `spec.advisory_locks`."""
        raise NotImplementedError(f"{type(self).__name__} has no advisory locks")

    def advisory_unlock(self, key: str) -> None:
        """Release a lock taken with `try_advisory_lock`."""
        raise NotImplementedError(f"{type(self).__name__} has no advisory locks")

    @property
    def lock_owner(self) -> str:
        """Who holds locks taken through this adapter (process and host)."""
        import os
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"
