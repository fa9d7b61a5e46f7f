"""What every dialect's statements share: the statement itself, and the dialect's protocol.

A dialect says how one change is written; the plan's order (roles before what they own, drops
in reverse) is already the order the statements run in. A password is read from its environment
variable only when a statement is executed, and every statement has a `shown` text with the
password masked, which is what plans, logs and errors print.

`InfraDialect` writes standard SQL (as PostgreSQL reads it); each dialect, one module of this
package, overrides what its warehouse writes differently, and writes its databases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tidegate.errors import ConfigError
from tidegate.infra.diff import Change, Destruction
from tidegate.infra.resources import Inventory, Resource

MASK = "'********'"
PASSWORD_PLACEHOLDER = "__tidegate_password__"


@dataclass(frozen=True)
class Statement:
    sql: str
    """The SQL to run; `PASSWORD_PLACEHOLDER` stands where a secret goes."""
    shown: str
    transactional: bool = True
    """False for what the engine refuses inside a transaction (PostgreSQL's CREATE DATABASE):
    with an `undo` it runs before the transaction (and is undone if that fails), else after."""
    secret_env: str | None = None
    undo: Statement | None = None
    remove_file: str | None = None
    """A file to delete once the statement ran (a DuckDB database detached to be dropped)."""
    creates_file: str | None = None
    """A file the statement creates, whose folder must exist first (a DuckDB database)."""

    def executable(self) -> str:
        """The SQL with its secret, read from the environment now."""
        if self.secret_env is None:
            return self.sql
        value = os.environ.get(self.secret_env)
        if value is None:
            raise ConfigError(
                f"the environment variable {self.secret_env} (a password) is not set",
                hint=f"export {self.secret_env} before applying",
            )
        return self.sql.replace(PASSWORD_PLACEHOLDER, "'" + value.replace("'", "''") + "'")


class InfraDialect:
    """How the changes of a plan are written as statements in one warehouse's SQL."""

    def __init__(
        self,
        users: frozenset[str] = frozenset(),
        databases_dir: str | None = None,
        schema_owners: dict[str, str] | None = None,
    ) -> None:
        self.users = users
        """The roles that are users (they log in): some dialects grant to them differently."""
        self.databases_dir = databases_dir
        """Where an embedded engine keeps the files of its databases."""
        self.schema_owners = schema_owners or {}
        """Each schema's owner: the role whose new tables a grant on all tables covers."""

    @classmethod
    def check(cls, inventory: Inventory) -> None:
        """Refuse, naming its file and line, a declaration the warehouse has no such thing for,
        before anything is planned. Every dialect here has all of them unless it says so."""

    def quote(self, name: str) -> str:
        if name == "public":
            return "PUBLIC"
        return '"' + name.replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def table(self, name: str) -> str:
        return ".".join(self.quote(part) for part in name.split("."))

    def statements(self, change: Change) -> list[Statement]:
        """The statements of one change; methods are named `_{action}_{kind}`."""
        method = getattr(self, f"_{change.action}_{change.resource.kind.value}")
        return [self._statement(sql) if isinstance(sql, str) else sql for sql in method(change)]

    def _statement(self, sql: str, *, transactional: bool = True) -> Statement:
        return Statement(sql, sql, transactional)

    # databases: each dialect writes its own creation and drop ----------------------------

    def _create_database(self, change: Change) -> list[str | Statement]:
        raise NotImplementedError(f"{type(self).__name__} creates no databases")

    def _update_database(self, change: Change) -> list[str | Statement]:
        return self._owner_and_comment("DATABASE", change)

    def _delete_database(self, change: Change) -> list[str | Statement]:
        raise NotImplementedError(f"{type(self).__name__} drops no databases")

    # schemas ---------------------------------------------------------------------------

    def _create_schema(self, change: Change) -> list[str | Statement]:
        item = change.resource
        owner = f" AUTHORIZATION {self.quote(item.get('owner'))}" if item.get("owner") else ""
        return [f"CREATE SCHEMA {self.quote(item.name)}{owner}", *self._comment("SCHEMA", item)]

    def _update_schema(self, change: Change) -> list[str | Statement]:
        return self._owner_and_comment("SCHEMA", change)

    def _delete_schema(self, change: Change) -> list[str | Statement]:
        cascade = " CASCADE" if change.destruction is Destruction.SCHEMA_CONTENTS else ""
        return [f"DROP SCHEMA {self.quote(change.resource.name)}{cascade}"]

    # roles and users -------------------------------------------------------------------

    def _create_role(self, change: Change) -> list[str | Statement]:
        item = change.resource
        sql = f"CREATE ROLE {self.quote(item.name)} {'LOGIN' if item.get('login') else 'NOLOGIN'}"
        found: list[str | Statement] = []
        if item.get("password_env"):
            found.append(
                Statement(
                    f"{sql} PASSWORD {PASSWORD_PLACEHOLDER}",
                    f"{sql} PASSWORD {MASK}",
                    secret_env=item.get("password_env"),
                )
            )
        else:
            found.append(sql)
        return found + self._comment("ROLE", item)

    def _update_role(self, change: Change) -> list[str | Statement]:
        found: list[str | Statement] = []
        for attribute, _, value in change.differences:
            if attribute == "login":
                found.append(
                    f"ALTER ROLE {self.quote(change.resource.name)} {'LOGIN' if value else 'NOLOGIN'}"
                )
        if change.sets_password:
            sql = f"ALTER ROLE {self.quote(change.resource.name)} PASSWORD"
            found.append(
                Statement(
                    f"{sql} {PASSWORD_PLACEHOLDER}",
                    f"{sql} {MASK}",
                    secret_env=change.resource.get("password_env"),
                )
            )
        return found + self._comment("ROLE", change.resource, change)

    def _delete_role(self, change: Change) -> list[str | Statement]:
        return [f"DROP ROLE {self.quote(change.resource.name)}"]

    def _create_membership(self, change: Change) -> list[str | Statement]:
        item = change.resource
        return [f"GRANT {self.quote(item.get('group'))} TO {self.quote(item.get('role'))}"]

    def _update_membership(self, change: Change) -> list[str | Statement]:
        return []

    def _delete_membership(self, change: Change) -> list[str | Statement]:
        item = change.resource
        return [f"REVOKE {self.quote(item.get('group'))} FROM {self.quote(item.get('role'))}"]

    # grants ----------------------------------------------------------------------------

    def _create_grant(self, change: Change) -> list[str | Statement]:
        return self._grants(change.resource, change.resource.get("privileges"), grant=True)

    def _update_grant(self, change: Change) -> list[str | Statement]:
        before = set(change.before.get("privileges") or ()) if change.before else set()
        after = set(change.resource.get("privileges") or ())
        return [
            *self._grants(change.resource, sorted(after - before), grant=True),
            *self._grants(change.resource, sorted(before - after), grant=False),
        ]

    def _delete_grant(self, change: Change) -> list[str | Statement]:
        return self._grants(change.resource, change.resource.get("privileges"), grant=False)

    def _grants(
        self, item: Resource, privileges: list[str] | tuple[str, ...], *, grant: bool
    ) -> list[str | Statement]:
        if not privileges:
            return []
        listed = ", ".join(p.upper() for p in privileges)
        grantee = self.quote(item.get("grantee"))
        target, obj = item.get("target"), item.get("object")
        on = {
            "database": f"DATABASE {self.quote(obj)}",
            "schema": f"SCHEMA {self.quote(obj)}",
            "table": f"TABLE {self.table(obj)}",
            "all_tables_in_schema": f"ALL TABLES IN SCHEMA {self.quote(obj)}",
        }[target]
        verb = f"GRANT {listed} ON {on} TO {grantee}" if grant else f"REVOKE {listed} ON {on} FROM {grantee}"
        found: list[str | Statement] = [verb]
        if target == "all_tables_in_schema":  # and the tables created from now on
            found += self._future_tables(obj, listed, grantee, grant=grant)
        return found

    def _future_tables(self, schema: str, listed: str, grantee: str, *, grant: bool) -> list[str | Statement]:
        """The statements that extend a grant on all tables of a schema to its future tables."""
        raise NotImplementedError(f"{type(self).__name__} grants nothing on future tables")

    # shared ----------------------------------------------------------------------------

    def _comment(self, what: str, item: Resource, change: Change | None = None) -> list[str | Statement]:
        if change is not None and "comment" not in [a for a, _, _ in change.differences]:
            return []
        comment = item.get("comment")
        if comment is None:
            return []
        return [f"COMMENT ON {what} {self.quote(item.name)} IS {self.literal(comment)}"]

    def _owner_and_comment(self, what: str, change: Change) -> list[str | Statement]:
        found: list[str | Statement] = []
        if "owner" in [a for a, _, _ in change.differences]:
            found.append(
                f"ALTER {what} {self.quote(change.resource.name)} OWNER TO {self.quote(change.resource.get('owner'))}"
            )
        return found + self._comment(what, change.resource, change)
