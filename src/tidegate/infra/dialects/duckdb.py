"""DuckDB's statements: schemas, and databases, which are files in the warehouse's databases
folder that every connection attaches (`DuckDBAdapter.databases_dir`). DuckDB has no roles,
users, grants, owners or comments: `check` refuses them before anything is planned."""

from __future__ import annotations

import os

from tidegate.errors import ConfigError
from tidegate.infra.dialects.base import InfraDialect, Statement
from tidegate.infra.diff import Change
from tidegate.infra.resources import Inventory, Kind


class DuckDBDialect(InfraDialect):
    @classmethod
    def check(cls, inventory: Inventory) -> None:
        for item in inventory.resources.values():
            what = None
            if item.kind in (Kind.ROLE, Kind.MEMBERSHIP, Kind.GRANT):
                what = "roles, users or grants"
            elif item.get("owner") or item.get("comment"):
                what = f"owners or comments on {item.kind.value}s"
            if what:
                raise ConfigError(
                    f"{item.label}: DuckDB has no {what}",
                    path=item.location.path if item.location else None,
                    line=item.location.line if item.location else None,
                    hint="limit it to the PostgreSQL environments with only: [...]",
                )

    def _path(self, name: str) -> str:
        if self.databases_dir is None:
            raise ConfigError("an in-memory DuckDB warehouse keeps no databases")
        return os.path.join(self.databases_dir, f"{name}.duckdb")

    def _create_database(self, change: Change) -> list[str | Statement]:
        name, path = self.quote(change.resource.name), self._path(change.resource.name)
        undo = Statement(f"DETACH {name}", f"DETACH {name}", transactional=False, remove_file=path)
        sql = f"ATTACH {self.literal(path)} AS {name}"
        return [Statement(sql, sql, transactional=False, undo=undo, creates_file=path)]

    def _delete_database(self, change: Change) -> list[str | Statement]:
        name, path = self.quote(change.resource.name), self._path(change.resource.name)
        return [Statement(f"DETACH {name}", f"DETACH {name} (and delete {path})", False, remove_file=path)]
