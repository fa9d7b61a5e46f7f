"""Least privilege for pull requests on PostgreSQL: what production's deploy role grants the
role `tidegate ci` connects as (`pull_requests: connection: {role: ...}` in tidegate.yml).

Pull-request environments live in production's warehouse to reuse its snapshots. The CI role
may read everything tidegate keeps there, and write only what a pull request makes:

- state (`_tidegate`): it reads every table; it appends snapshot records and runs; it writes
  environment versions, stored-failure records and locks only of pull-request environments
  (row-level security on the environment's name); nothing else (no UPDATE or DELETE of
  another environment's rows, no DDL).
- snapshot schemas (`tidegate__<schema>`, owned by the deploy role): it creates its tables
  there (and owns them) and reads all of them; it cannot drop or change the deploy role's.
- its own schemas (`<schema>__pr_12`), which it creates (CREATE on the database, granted in
  `infra/*.yml`) and owns.

The deploy role keeps production to itself: before an environment other than a pull request's
points at a snapshot the CI role built, it takes that relation (and any schema the CI role made
that production uses) over, `ALTER ... OWNER TO CURRENT_USER`, and gives the CI role SELECT back.
It can, as a member of the CI role (`GRANT ci TO deploy`, which it makes itself when it
administers the CI role), which also lets the janitor drop what pull requests built.

The deploy role sets all this up itself, once per role and pattern of pull-request names (as
the state's owner, in `StateStore.ensure`), and for each snapshot schema it builds into.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError, StateError

_WRITES = {
    "snapshots": "INSERT",
    "runs": "INSERT",
    "environment_versions": "INSERT",
    "terraform_plans": "INSERT",  # the plans `tidegate ci` shows for review
}
_PER_ENVIRONMENT = ("environment_versions", "locks", "stored_failures")
"""The state tables with an environment column, whose rows the CI role writes only for
pull-request environments."""


@dataclass(frozen=True)
class PullRequestAccess:
    """The CI role and the names of pull-request environments (a POSIX regular expression)."""

    role: str
    pattern: str

    def is_pull_request(self, environment: str) -> bool:
        import re

        return re.match(self.pattern, environment) is not None

    @property
    def stamp(self) -> str:
        """What the grants were made for, kept in the state's `meta` to make them only once."""
        return f"{self.role} {self.pattern}"

    # the state ---------------------------------------------------------------------------

    def grant_state(self, engine: EngineAdapter, schema: str, tables: Iterable[str]) -> bool:
        """Give the CI role its share of the state; False when the role does not exist yet
        (`tidegate infra apply` creates it after the state): the next run grants it."""
        if not self._role_exists(engine):
            return False
        self._join_role(engine)
        role, q = engine.quote(self.role), engine.quote
        per_environment = (
            f"(NOT pg_has_role({_literal(self.role)}, 'MEMBER') OR environment ~ {_literal(self.pattern)})"
        )
        with engine.transaction():
            engine.execute(f"GRANT USAGE ON SCHEMA {q(schema)} TO {role}")
            engine.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(schema)} TO {role}")
            for table in tables:
                relation = f"{q(schema)}.{q(table)}"
                privileges = "INSERT, UPDATE, DELETE" if table in ("locks", "stored_failures") else None
                if privileges or table in _WRITES:
                    engine.execute(f"GRANT {privileges or _WRITES[table]} ON {relation} TO {role}")
                if table not in _PER_ENVIRONMENT:
                    continue
                engine.execute(f"ALTER TABLE {relation} ENABLE ROW LEVEL SECURITY")
                policies = {
                    "tidegate_read": "FOR SELECT USING (true)",
                    "tidegate_insert": f"FOR INSERT WITH CHECK {per_environment}",
                    "tidegate_update": f"FOR UPDATE USING {per_environment} WITH CHECK {per_environment}",
                    "tidegate_delete": f"FOR DELETE USING {per_environment}",
                }
                for name, policy in policies.items():
                    engine.execute(f"DROP POLICY IF EXISTS {q(name)} ON {relation}")
                    engine.execute(f"CREATE POLICY {q(name)} ON {relation} {policy}")
        return True

    def _role_exists(self, engine: EngineAdapter) -> bool:
        return bool(engine.fetch("SELECT 1 FROM pg_roles WHERE rolname = ?", [self.role]).rows)

    def _join_role(self, engine: EngineAdapter) -> None:
        """Make the deploy role a member of the CI role, so it can take over and drop what the
        CI role builds (a superuser already can)."""
        able = engine.fetch(
            "SELECT rolsuper OR pg_has_role(current_user, ?, 'USAGE') FROM pg_roles WHERE rolname = current_user",
            [self.role],
        ).rows
        if able and able[0][0]:
            return
        try:
            engine.execute(f"GRANT {engine.quote(self.role)} TO CURRENT_USER")
        except EngineError as error:
            raise StateError(
                f"the deploy role must be a member of the pull-request role {self.role!r} to take "
                f"over and drop what pull requests build: {error.message}",
                hint=f"as an administrator: GRANT {self.role} TO <the deploy role>",
            ) from None

    # snapshot schemas and what production uses -------------------------------------------

    def share_snapshot_schemas(self, engine: EngineAdapter, schemas: Iterable[str]) -> None:
        """Schemas of snapshots the deploy role builds into: its own (taken over if the CI role
        made one), where the CI role may create tables and read every table."""
        wanted = sorted(set(schemas))
        if not wanted:
            return
        rows = engine.fetch(
            "SELECT n.nspname, pg_get_userbyid(n.nspowner) = ?, has_schema_privilege(?, n.oid, 'CREATE') "
            "FROM pg_namespace n WHERE n.nspname = ANY(?) AND EXISTS (SELECT FROM pg_roles WHERE rolname = ?)",
            [self.role, self.role, wanted, self.role],  # no role yet: infra apply makes it later
        ).rows
        role = engine.quote(self.role)
        for schema, made_by_ci, shared in rows:
            if shared and not made_by_ci:
                continue
            name = engine.quote(str(schema))
            with engine.transaction():
                if made_by_ci:
                    engine.execute(f"ALTER SCHEMA {name} OWNER TO CURRENT_USER")
                engine.execute(f"GRANT USAGE, CREATE ON SCHEMA {name} TO {role}")
                engine.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {name} TO {role}")
                engine.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {name} GRANT SELECT ON TABLES TO {role}")

    def take_over(self, engine: EngineAdapter, schemas: Iterable[str], relations: Iterable[str]) -> None:
        """Before an environment other than a pull request's uses them: the schemas of its views
        and the relations it reads, those the CI role made, become the deploy role's (the CI
        role keeps reading the relations). Inside the caller's transaction."""
        role = engine.quote(self.role)
        made = engine.fetch(
            "SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY(?) AND pg_get_userbyid(n.nspowner) = ?",
            [sorted(set(schemas)), self.role],
        ).rows
        for (schema,) in made:
            engine.execute(f"ALTER SCHEMA {engine.quote(str(schema))} OWNER TO CURRENT_USER")
        built = engine.fetch(
            "SELECT c.oid::regclass::text, c.relkind FROM pg_class c "
            "WHERE c.oid IN (SELECT to_regclass(r) FROM unnest(?::text[]) AS r) AND pg_get_userbyid(c.relowner) = ?",
            [sorted(set(relations)), self.role],
        ).rows
        for relation, kind in built:
            what = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(str(kind), "TABLE")
            engine.execute(f"ALTER {what} {relation} OWNER TO CURRENT_USER")
            engine.execute(f"GRANT SELECT ON {relation} TO {role}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
