"""Snowflake's statements for the resources of `infra/*.yml`.

The declarations are written in PostgreSQL's terms; this dialect says how each one is done on
Snowflake, and refuses, naming the declaration's file and line, what Snowflake cannot do:

- Names: files.py lowercases every name, and Snowflake stores an unquoted name in upper case, so
  names are quoted in upper case (`"ANALYTICS"` is what an unquoted `analytics` in a model means)
  and a name with a dot (`shop.analytics`, `analytics.orders`) is quoted part by part.
- Users and roles are different objects on Snowflake: a role with `login` is a USER, one without
  a ROLE; memberships and grants say `TO USER` or `TO ROLE` accordingly (`self.users`), and a
  role cannot become a user (or back) by an update.
- Owners: Snowflake's CREATE has no owner clause; the creator owns the object until
  `GRANT OWNERSHIP ... COPY CURRENT GRANTS` hands it to the declared role, keeping its grants.
  Only roles own objects, and the applying role needs MANAGE GRANTS or the owner role in its
  hierarchy to keep working on what it handed over. Dropping a role hands what it owns to the
  role that drops it, so nothing is reassigned first as on PostgreSQL.
- Privileges (PostgreSQL's name -> Snowflake's): database connect -> USAGE, create -> CREATE
  SCHEMA; schema usage -> USAGE, create -> CREATE TABLE and CREATE VIEW (what PostgreSQL's CREATE
  lets a model build); tables keep their names. A database's `temporary` and a table's `trigger`
  have no Snowflake equivalent (Snowflake has no triggers, and any role with CREATE TABLE on a
  schema may create temporary tables there): declaring them for Snowflake is a ConfigError.
- `all_tables_in_schema` is two grants, ON ALL TABLES (existing ones) and ON FUTURE TABLES;
  Snowflake takes future grants only for roles, so such a grant to a user is refused.
- Drops: Snowflake's DROP SCHEMA and DROP DATABASE default to CASCADE and drop what they hold
  either way (RESTRICT refuses only when foreign keys of other schemas point in). A destructive
  drop says CASCADE; any other says RESTRICT, the most cautious form there is.
- Transactions: every statement here is DDL, and Snowflake commits each DDL statement on its
  own (committing any open transaction first), so all are `transactional=False`: a failure
  part-way leaves the earlier statements applied. Applying on Snowflake is not implemented;
  these statements are for `infra plan --dialect snowflake` against a saved state file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tidegate.errors import ConfigError, PlanError
from tidegate.infra.dialects.base import MASK, PASSWORD_PLACEHOLDER, InfraDialect, Statement
from tidegate.infra.diff import Change, Destruction
from tidegate.infra.resources import Resource

_TABLE: dict[str, tuple[str, ...]] = {
    p: (p.upper(),) for p in ("select", "insert", "update", "delete", "truncate", "references")
}
PRIVILEGES: dict[str, dict[str, tuple[str, ...]]] = {
    "database": {"connect": ("USAGE",), "create": ("CREATE SCHEMA",)},
    "schema": {"usage": ("USAGE",), "create": ("CREATE TABLE", "CREATE VIEW")},
    "table": _TABLE,
    "all_tables_in_schema": _TABLE,
}
"""Each of tidegate's privileges on a kind of object, as the Snowflake privileges it grants."""

_MISSING = {
    "temporary": "any role with create on a schema may create temporary tables there: grant that "
    "instead (and list a database's privileges rather than all)",
    "trigger": "Snowflake has no triggers: leave trigger out (and list a table's privileges rather than all)",
}


def _literal(text: str) -> str:
    """A Snowflake string literal: backslashes are escapes there, so they are doubled too."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _at(item: Resource) -> dict[str, Any]:
    """The file and line that declare `item`, for an error about it."""
    return {"path": item.location.path, "line": item.location.line} if item.location else {}


@dataclass(frozen=True)
class _SecretStatement(Statement):
    """A statement whose secret goes in as a Snowflake literal (base.py's doubles only quotes)."""

    def executable(self) -> str:
        value = os.environ.get(self.secret_env) if self.secret_env else None
        if value is None:  # base.py says which variable is missing
            return super().executable()
        return self.sql.replace(PASSWORD_PLACEHOLDER, _literal(value))


class SnowflakeDialect(InfraDialect):
    def quote(self, name: str) -> str:
        return '"' + name.upper().replace('"', '""') + '"'

    def literal(self, text: str) -> str:
        return _literal(text)

    def _statement(self, sql: str, *, transactional: bool = False) -> Statement:
        return Statement(sql, sql, transactional)

    def _grantee(self, role: str) -> str:
        return f"{'USER' if role in self.users else 'ROLE'} {self.quote(role)}"

    def _with_comment(self, sql: str, item: Resource) -> str:
        comment = item.get("comment")
        return sql if comment is None else f"{sql} COMMENT = {self.literal(comment)}"

    # databases and schemas -------------------------------------------------------------

    def _create_database(self, change: Change) -> list[str | Statement]:
        return self._create_container("DATABASE", change.resource)

    def _update_database(self, change: Change) -> list[str | Statement]:
        return self._owner_and_comment("DATABASE", change)

    def _delete_database(self, change: Change) -> list[str | Statement]:
        return [self._drop("DATABASE", change)]

    def _create_schema(self, change: Change) -> list[str | Statement]:
        return self._create_container("SCHEMA", change.resource)

    def _update_schema(self, change: Change) -> list[str | Statement]:
        return self._owner_and_comment("SCHEMA", change)

    def _delete_schema(self, change: Change) -> list[str | Statement]:
        return [self._drop("SCHEMA", change)]

    def _create_container(self, what: str, item: Resource) -> list[str | Statement]:
        return [
            self._with_comment(f"CREATE {what} {self.table(item.name)}", item),
            *self._ownership(what, item),
        ]

    def _drop(self, what: str, change: Change) -> str:
        cascade = change.destruction in (Destruction.DATABASE, Destruction.SCHEMA_CONTENTS)
        return f"DROP {what} {self.table(change.resource.name)} {'CASCADE' if cascade else 'RESTRICT'}"

    def _ownership(self, what: str, item: Resource) -> list[str | Statement]:
        owner = item.get("owner")
        if owner is None:
            return []
        if owner in self.users:
            raise ConfigError(
                f"{item.label}: on Snowflake only roles own objects, and {owner!r} is a user",
                **_at(item),
                hint="make a role the owner and grant that role to the user",
            )
        return [
            f"GRANT OWNERSHIP ON {what} {self.table(item.name)} TO ROLE {self.quote(owner)} COPY CURRENT GRANTS"
        ]

    def _owner_and_comment(self, what: str, change: Change) -> list[str | Statement]:
        changed = [attribute for attribute, _, _ in change.differences]
        item = change.resource
        found = self._ownership(what, item) if "owner" in changed else []
        if "comment" in changed:
            found.append(
                f"ALTER {what} {self.table(item.name)} SET COMMENT = {self.literal(item.get('comment'))}"
            )
        return found

    # roles and users -------------------------------------------------------------------

    def _create_role(self, change: Change) -> list[str | Statement]:
        item = change.resource
        sql = f"CREATE {self._role_kind(item)} {self.quote(item.name)}"
        env = item.get("password_env")
        if env is None:
            return [self._with_comment(sql, item)]
        return [
            _SecretStatement(
                self._with_comment(f"{sql} PASSWORD = {PASSWORD_PLACEHOLDER}", item),
                self._with_comment(f"{sql} PASSWORD = {MASK}", item),
                transactional=False,
                secret_env=env,
            )
        ]

    def _update_role(self, change: Change) -> list[str | Statement]:
        item = change.resource
        if "login" in [attribute for attribute, _, _ in change.differences]:
            raise PlanError(
                f"{item.label}: on Snowflake a user and a role are different objects, "
                f"so {item.name!r} cannot become a {self._role_kind(item).lower()} by an update",
                **_at(item),
                hint="declare it under a new name, apply, then remove the old one",
            )
        found = self._owner_and_comment(self._role_kind(item), change)
        if change.sets_password:  # a user adopted, or its password's variable changed
            sql = f"ALTER USER {self.quote(item.name)} SET PASSWORD ="
            found.append(
                _SecretStatement(
                    f"{sql} {PASSWORD_PLACEHOLDER}",
                    f"{sql} {MASK}",
                    transactional=False,
                    secret_env=item.get("password_env"),
                )
            )
        return found

    def _delete_role(self, change: Change) -> list[str | Statement]:
        return [f"DROP {self._role_kind(change.resource)} {self.quote(change.resource.name)}"]

    def _role_kind(self, item: Resource) -> str:
        return "USER" if item.get("login") else "ROLE"

    def _create_membership(self, change: Change) -> list[str | Statement]:
        item = change.resource
        return [f"GRANT ROLE {self.quote(item.get('group'))} TO {self._grantee(item.get('role'))}"]

    def _delete_membership(self, change: Change) -> list[str | Statement]:
        item = change.resource
        return [f"REVOKE ROLE {self.quote(item.get('group'))} FROM {self._grantee(item.get('role'))}"]

    # grants ----------------------------------------------------------------------------

    def _grants(
        self, item: Resource, privileges: list[str] | tuple[str, ...], *, grant: bool
    ) -> list[str | Statement]:
        if not privileges:
            return []
        target, name = item.get("target"), self.table(item.get("object"))
        listed = ", ".join(p for privilege in privileges for p in self._privilege(item, privilege))
        grantee = self._grantee(item.get("grantee"))
        on = {
            "database": [f"DATABASE {name}"],
            "schema": [f"SCHEMA {name}"],
            "table": [f"TABLE {name}"],
            "all_tables_in_schema": [f"ALL TABLES IN SCHEMA {name}", f"FUTURE TABLES IN SCHEMA {name}"],
        }[target]
        if len(on) > 1 and grantee.startswith("USER"):
            raise ConfigError(
                f"{item.label}: Snowflake grants future tables only to roles, and {item.get('grantee')!r} is a user",
                **_at(item),
                hint="grant to a role and grant that role to the user",
            )
        if grant:
            return [f"GRANT {listed} ON {place} TO {grantee}" for place in on]
        return [f"REVOKE {listed} ON {place} FROM {grantee}" for place in on]

    def _privilege(self, item: Resource, privilege: str) -> tuple[str, ...]:
        target = item.get("target")
        found = PRIVILEGES[target].get(privilege)
        if found is None:
            raise ConfigError(
                f"{item.label}: Snowflake has no {privilege!r} privilege on a {target.replace('_', ' ')}",
                **_at(item),
                hint=_MISSING.get(privilege),
            )
        return found
