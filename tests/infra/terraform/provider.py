"""A real Terraform provider for the tests, `tidegate.test/test/pg` 0.1.0: PostgreSQL schemas and
roles on the local server, written with the `tf` package (plugin protocol 6).

Terraform starts it as a plugin through the filesystem mirror the kit builds (tests/infra/terraform/
kit.py), with the interpreter of `.venv-terraform`: `tf` needs protobuf<6, tidegate's `.venv` has 7.
So this file imports only `tf`, psycopg and the standard library, never tidegate or the tests.

It behaves like a real provider where the tests look: `read` returns what PostgreSQL holds (None
once the object is gone), so drift made by hand shows in a refresh-only plan; a PostgreSQL error is
an error diagnostic, so an apply fails the way a real one does, with PostgreSQL's message.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from tf import runner
from tf.iface import (
    CreateContext,
    DeleteContext,
    Provider,
    ReadContext,
    Resource,
    UpdateContext,
    UpgradeContext,
)
from tf.schema import Attribute, Schema
from tf.types import Bool, String
from tf.utils import Diagnostics

if TYPE_CHECKING:
    from psycopg.sql import Composed

State = dict[str, Any]


def statement(template: str, *identifiers: str, **literals: object) -> Composed:
    """`template` with each `{}` an identifier and each `{key}` a literal (None is NULL), quoted by
    psycopg.sql. psycopg is imported here, not at the top: Terraform starts the provider three
    times a command, twice only for its schema, and psycopg takes a fifth of a second to import."""
    from psycopg import sql

    quoted = {key: sql.Literal(value) for key, value in literals.items()}
    return sql.SQL(template).format(*map(sql.Identifier, identifiers), **quoted)


class PgProvider(Provider):
    """`provider "pg" { dsn = "..." }`: every resource connects with the configured DSN."""

    dsn: str = ""

    def get_model_prefix(self) -> str:
        return "pg_"

    def full_name(self) -> str:
        return "tidegate.test/test/pg"

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(attributes=[Attribute("dsn", String(), required=True)])

    def validate_config(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        self.dsn = config["dsn"]

    def get_data_sources(self) -> list[type]:
        return []

    def get_resources(self) -> list[type[Resource]]:
        return [PgSchema, PgRole]


class PgResource(Resource):
    """What both resources share: a connection per call (Terraform calls in parallel threads) and
    PostgreSQL errors turned into diagnostics."""

    def __init__(self, provider: PgProvider) -> None:
        self.provider = provider

    def run(self, diags: Diagnostics, action: str, *statements: Composed) -> list[tuple[Any, ...]] | None:
        """Run the statements in one autocommit session; the last one's rows, or None after an
        error, which is added to `diags` with PostgreSQL's message."""
        import psycopg

        try:
            with psycopg.connect(self.provider.dsn, autocommit=True, connect_timeout=10) as connection:
                for each in statements:
                    cursor = connection.execute(each)
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as error:
            message = error.diag.message_primary or str(error).strip()
            detail = f"SQLSTATE {error.sqlstate}" if error.sqlstate else ""
            diags.add_error(f"could not {action}: {message}", detail)
            return None

    def upgrade(self, ctx: UpgradeContext, version: int, old: State) -> State:
        """Version 0 is the only schema there has been: the state is already current."""
        return old


class PgSchema(PgResource):
    """`pg_schema`: a schema in the provider's database; `name` forces a replacement, `comment` is
    changed in place."""

    @classmethod
    def get_name(cls) -> str:
        return "schema"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=0,
            attributes=[
                Attribute("id", String(), computed=True),
                Attribute("name", String(), required=True, requires_replace=True),
                Attribute("comment", String(), optional=True),
            ],
        )

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        name = planned["name"]
        statements = [statement("CREATE SCHEMA {}", name)]
        if planned.get("comment") is not None:
            statements.append(
                statement("COMMENT ON SCHEMA {} IS {comment}", name, comment=planned["comment"])
            )
        if self.run(ctx.diagnostics, f"create schema {name}", *statements) is None:
            return None
        return {**planned, "id": name}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        name = current["name"]
        query = "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = {name}"
        rows = self.run(ctx.diagnostics, f"read schema {name}", statement(query, name=name))
        if rows is None:
            return current
        if not rows:
            return None
        comment = rows[0][0]
        if comment is None and current.get("comment") == "":
            comment = (
                ""  # COMMENT ... IS '' removes the comment: the empty string configured is what is there
            )
        return {**current, "id": name, "comment": comment}

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        name = planned["name"]
        comment = statement("COMMENT ON SCHEMA {} IS {comment}", name, comment=planned["comment"])
        if self.run(ctx.diagnostics, f"comment on schema {name}", comment) is None:
            return current
        return {**planned, "id": name}

    def delete(self, ctx: DeleteContext, current: State) -> State | None:
        name = current["name"]
        dropped = self.run(
            ctx.diagnostics, f"drop schema {name}", statement("DROP SCHEMA IF EXISTS {}", name)
        )
        return current if dropped is None else None


class PgRole(PgResource):
    """`pg_role`: a role of the server; `name` forces a replacement, `login` is changed in place
    (unset is NOLOGIN, PostgreSQL's default), and `password` is sensitive and write-only: set with
    ALTER ROLE, never read back, kept in the state as configured."""

    @classmethod
    def get_name(cls) -> str:
        return "role"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=0,
            attributes=[
                Attribute("id", String(), computed=True),
                Attribute("name", String(), required=True, requires_replace=True),
                Attribute("login", Bool(), optional=True),
                Attribute("password", String(), optional=True, sensitive=True),
            ],
        )

    @staticmethod
    def alter(name: str, state: State) -> Composed:
        login = "LOGIN" if state.get("login") else "NOLOGIN"
        return statement(
            f"ALTER ROLE {{}} {login} PASSWORD {{password}}", name, password=state.get("password")
        )

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        name = planned["name"]
        created = self.run(
            ctx.diagnostics,
            f"create role {name}",
            statement("CREATE ROLE {}", name),
            self.alter(name, planned),
        )
        return None if created is None else {**planned, "id": name}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        name = current["name"]
        query = statement("SELECT rolcanlogin FROM pg_roles WHERE rolname = {name}", name=name)
        rows = self.run(ctx.diagnostics, f"read role {name}", query)
        if rows is None:
            return current
        if not rows:
            return None
        login = rows[0][0]
        if not login and current.get("login") is None:
            login = None  # unset is NOLOGIN: what is there is what the configuration asks
        return {**current, "id": name, "login": login}

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        name = planned["name"]
        if self.run(ctx.diagnostics, f"alter role {name}", self.alter(name, planned)) is None:
            return current
        return {**planned, "id": name}

    def delete(self, ctx: DeleteContext, current: State) -> State | None:
        name = current["name"]
        dropped = self.run(ctx.diagnostics, f"drop role {name}", statement("DROP ROLE IF EXISTS {}", name))
        return current if dropped is None else None


if __name__ == "__main__":
    runner.run_provider(PgProvider())
    # Terraform has closed the plugin: skip the interpreter's shutdown, which joins gRPC's threads
    # (a tenth of a second, three times a command)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
