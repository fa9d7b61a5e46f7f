"""The statements of an infrastructure plan, per warehouse dialect.

Each dialect is a small subclass that says how one change is written; the plan's order (roles
before what they own, drops in reverse) is already the order the statements run in. A password
is read from its environment variable only when a statement is executed, and every statement
has a `shown` text with the password masked, which is what plans, logs and errors print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from tidegate.errors import ConfigError
from tidegate.infra.diff import Change
from tidegate.infra.resources import Resource

MASK = "'********'"


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


PASSWORD_PLACEHOLDER = "__tidegate_password__"


class InfraDialect:
    """PostgreSQL's statements; other dialects override what differs."""

    name: ClassVar[str] = "postgres"

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

    # databases -------------------------------------------------------------------------

    def _create_database(self, change: Change) -> list[str | Statement]:
        """Created before the transaction (PostgreSQL refuses it inside one), without its owner,
        who may be a role this apply creates: the owner is set inside, after the roles."""
        item = change.resource
        undo = self._statement(f"DROP DATABASE {self.quote(item.name)}", transactional=False)
        sql = f"CREATE DATABASE {self.quote(item.name)}"
        found: list[str | Statement] = [Statement(sql, sql, transactional=False, undo=undo)]
        if item.get("owner"):
            found.append(f"ALTER DATABASE {self.quote(item.name)} OWNER TO {self.quote(item.get('owner'))}")
        return found + self._comment("DATABASE", item)

    def _update_database(self, change: Change) -> list[str | Statement]:
        return self._owner_and_comment("DATABASE", change)

    def _delete_database(self, change: Change) -> list[str | Statement]:
        return [self._statement(f"DROP DATABASE {self.quote(change.resource.name)}", transactional=False)]

    # schemas ---------------------------------------------------------------------------

    def _create_schema(self, change: Change) -> list[str | Statement]:
        item = change.resource
        owner = f" AUTHORIZATION {self.quote(item.get('owner'))}" if item.get("owner") else ""
        return [f"CREATE SCHEMA {self.quote(item.name)}{owner}", *self._comment("SCHEMA", item)]

    def _update_schema(self, change: Change) -> list[str | Statement]:
        return self._owner_and_comment("SCHEMA", change)

    def _delete_schema(self, change: Change) -> list[str | Statement]:
        cascade = " CASCADE" if change.destructive else ""
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
        name = self.quote(change.resource.name)
        if change.destructive and "owns" in change.destructive:  # hand its objects to the applier
            return [f"REASSIGN OWNED BY {name} TO CURRENT_USER", f"DROP OWNED BY {name}", f"DROP ROLE {name}"]
        return [f"DROP ROLE {name}"]

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
            future = (
                f"GRANT {listed} ON TABLES TO {grantee}"
                if grant
                else f"REVOKE {listed} ON TABLES FROM {grantee}"
            )
            found.append(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {self.quote(obj)} {future}")  # ours
            owner = self.schema_owners.get(obj)  # and the tables its owner creates (dbt's role)
            if owner:
                found.append(
                    f"ALTER DEFAULT PRIVILEGES FOR ROLE {self.quote(owner)} IN SCHEMA {self.quote(obj)} {future}"
                )
        return found

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


class DuckDBDialect(InfraDialect):
    """DuckDB: schemas, and databases, which are files in the warehouse's databases folder
    that every connection attaches (`DuckDBAdapter.databases_dir`); `tidegate.infra.apply`
    refuses the rest before planning."""

    name: ClassVar[str] = "duckdb"

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


DIALECTS: dict[str, type[InfraDialect]] = {"postgres": InfraDialect, "duckdb": DuckDBDialect}


def dialect(
    name: str,
    users: frozenset[str] = frozenset(),
    databases_dir: str | None = None,
    schema_owners: dict[str, str] | None = None,
) -> InfraDialect:
    if name == "snowflake" and name not in DIALECTS:
        from tidegate.infra.snowflake import SnowflakeDialect

        DIALECTS[name] = SnowflakeDialect
    if name not in DIALECTS:
        raise ConfigError(f"no infrastructure statements for {name!r} (one of {', '.join(sorted(DIALECTS))})")
    return DIALECTS[name](users, databases_dir, schema_owners)


def statements(
    changes: list[Change],
    name: str,
    users: frozenset[str] = frozenset(),
    databases_dir: str | None = None,
    schema_owners: dict[str, str] | None = None,
) -> list[Statement]:
    writer = dialect(name, users, databases_dir, schema_owners)
    return [statement for change in changes for statement in writer.statements(change)]
