"""PostgreSQL's statements: databases outside the transaction, roles that hand over what they
own before they are dropped, and default privileges for the tables a schema will hold."""

from __future__ import annotations

from tidegate.infra.dialects.base import InfraDialect, Statement
from tidegate.infra.diff import Change, Destruction


class PostgresDialect(InfraDialect):
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

    def _delete_database(self, change: Change) -> list[str | Statement]:
        return [self._statement(f"DROP DATABASE {self.quote(change.resource.name)}", transactional=False)]

    def _delete_role(self, change: Change) -> list[str | Statement]:
        """A role that owns objects, or may (a state file does not say), hands them to the
        applier first: PostgreSQL refuses to drop a role that owns anything."""
        name = self.quote(change.resource.name)
        if change.destruction is Destruction.OWNED_OBJECTS:
            return [f"REASSIGN OWNED BY {name} TO CURRENT_USER", f"DROP OWNED BY {name}", f"DROP ROLE {name}"]
        return [f"DROP ROLE {name}"]

    def _future_tables(self, schema: str, listed: str, grantee: str, *, grant: bool) -> list[str | Statement]:
        """The tables the applier creates in the schema from now on, and those its owner creates
        (dbt's role, when the schema belongs to it)."""
        future = (
            f"GRANT {listed} ON TABLES TO {grantee}" if grant else f"REVOKE {listed} ON TABLES FROM {grantee}"
        )
        found: list[str | Statement] = [f"ALTER DEFAULT PRIVILEGES IN SCHEMA {self.quote(schema)} {future}"]
        owner = self.schema_owners.get(schema)
        if owner:
            found.append(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {self.quote(owner)} IN SCHEMA {self.quote(schema)} {future}"
            )
        return found
