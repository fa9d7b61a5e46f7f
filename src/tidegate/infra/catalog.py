"""What a warehouse has, read from its live catalog as the same resources the files declare.

PostgreSQL: roles and users, memberships, databases, the current database's schemas, and grants
on them and their tables; a grant on all tables in a schema is the schema's default privileges
(for tables the connection's role creates) together with the privileges every existing table
has. What the server makes itself is left out: `pg_*` roles, the bootstrap superuser and the
connection's own role (as owners too), system schemas, `public`, tidegate's own schemas, and
PUBLIC's default privileges on databases.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol

from tidegate.engines.base import EngineAdapter
from tidegate.errors import ConfigError
from tidegate.infra.resources import Inventory, Kind, Resource, grant, membership, resource
from tidegate.project.engines import DUCKDB, POSTGRES
from tidegate.state.store import SCHEMA as STATE_SCHEMA
from tidegate.state.views import INTERNAL_PREFIX

_SYSTEM_ROLE = "(r.rolname LIKE 'pg\\_%' OR r.oid = 10 OR r.rolname = {me})"
_DEPLOYER = f"coalesce((SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = '{STATE_SCHEMA}'), current_user)"
"""The role that owns tidegate's state: production's deploy role (the connection's before
there is a state)."""
_GRANT_SCHEMAS = (
    "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' "
    f"AND n.nspname <> '{STATE_SCHEMA}' AND n.nspname NOT LIKE '{STATE_SCHEMA}\\_%' "
    f"AND n.nspname NOT LIKE '{INTERNAL_PREFIX.replace('_', chr(92) + '_')}%'"
)
"""Schemas whose grants are read: `public` too, which is not a schema to create or drop."""
_USER_SCHEMAS = (
    "n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'public') "
    f"AND n.nspname <> '{STATE_SCHEMA}' AND n.nspname NOT LIKE '{STATE_SCHEMA}\\_%' "
    f"AND n.nspname NOT LIKE '{INTERNAL_PREFIX.replace('_', chr(92) + '_')}%'"
)
_PRIVILEGES = {"TEMPORARY": "temporary", "TEMP": "temporary"}


class Catalog(Protocol):
    dialect: str
    databases_dir: str | None
    """Where an embedded engine keeps its databases' files (None: the server keeps them)."""

    def read(self) -> Inventory: ...

    def objects_in_schema(self, schema: str) -> int | None: ...

    def objects_owned_by(self, role: str) -> int | None: ...

    def dependents_outside(self, schema: str) -> list[str]: ...


def catalog_for(engine: EngineAdapter, *, as_deployer: bool = False) -> Catalog:
    """The catalog of the warehouse; `as_deployer`: seen as the deploy role sees it (the role
    left out as the applier's own is the state's owner, not the connection's, which is the
    pull-request role's when `tidegate ci` plans production's infrastructure)."""
    catalog = _CATALOGS.get(engine.spec.name)
    if catalog is None:
        raise ConfigError(f"tidegate infra does not manage {engine.dialect} warehouses yet")
    return catalog(engine, as_deployer=as_deployer)


class PostgresCatalog:
    dialect = "postgres"
    databases_dir: str | None = None

    def __init__(self, engine: EngineAdapter, *, as_deployer: bool = False) -> None:
        self.engine = engine
        self._me = _DEPLOYER if as_deployer else "current_user"
        self._system = _SYSTEM_ROLE.format(me=self._me)

    def _rows(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.engine.fetch(sql, parameters or []).rows

    def read(self) -> Inventory:
        items = [*self._roles(), *self._memberships(), *self._databases(), *self._schemas()]
        items += self._database_grants() + self._schema_grants() + self._table_grants()
        return Inventory.of(items)

    def _owner(self, column: str) -> str:
        """The owner's name, NULL for a role the server made (a system role, or the connection's)."""
        return (
            f"(SELECT CASE WHEN {self._system} THEN NULL ELSE r.rolname END "
            f"FROM pg_roles r WHERE r.oid = {column})"
        )

    def _roles(self) -> list[Resource]:
        rows = self._rows(
            "SELECT r.rolname, r.rolcanlogin, shobj_description(r.oid, 'pg_authid') "
            f"FROM pg_roles r WHERE NOT {self._system}"
        )
        return [
            resource(Kind.ROLE, name, login=bool(login), comment=comment) for name, login, comment in rows
        ]

    def _memberships(self) -> list[Resource]:
        rows = self._rows(
            "SELECT g.rolname, m.rolname FROM pg_auth_members a "
            "JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
            f"WHERE NOT {self._system.replace('r.', 'g.')} AND NOT {self._system.replace('r.', 'm.')}"
        )
        return [membership(group, member) for group, member in rows]

    def _databases(self) -> list[Resource]:
        rows = self._rows(
            f"SELECT d.datname, {self._owner('d.datdba')}, shobj_description(d.oid, 'pg_database') "
            "FROM pg_database d WHERE NOT d.datistemplate AND d.datname <> 'postgres'"
        )
        return [resource(Kind.DATABASE, name, owner=owner, comment=comment) for name, owner, comment in rows]

    def _schemas(self) -> list[Resource]:
        rows = self._rows(
            f"SELECT n.nspname, {self._owner('n.nspowner')}, obj_description(n.oid, 'pg_namespace') "
            f"FROM pg_namespace n WHERE {_USER_SCHEMAS}"
        )
        return [resource(Kind.SCHEMA, name, owner=owner, comment=comment) for name, owner, comment in rows]

    def _acl(self, sql: str) -> dict[tuple[str, str], set[str]]:
        """(grantee, object) -> privileges, from a query of (object, grantee oid, privilege);
        grants to the roles the server made are left out."""
        names = {
            oid: name
            for oid, name in self._rows(f"SELECT oid, rolname FROM pg_roles r WHERE NOT {self._system}")
        }
        found: dict[tuple[str, str], set[str]] = defaultdict(set)
        for obj, grantee, privilege in self._rows(sql):
            name = "public" if grantee == 0 else names.get(grantee)
            if name is None:  # a role the server made
                continue
            found[(name, obj)].add(_PRIVILEGES.get(privilege, privilege.lower()))
        return found

    def _database_grants(self) -> list[Resource]:
        acl = self._acl(
            "SELECT d.datname, a.grantee, a.privilege_type FROM pg_database d, aclexplode(d.datacl) a "
            "WHERE NOT d.datistemplate AND a.grantee <> d.datdba"
        )
        items = []
        for (grantee, obj), privileges in sorted(acl.items()):
            if grantee == "public":  # PostgreSQL gives PUBLIC connect and temporary by default
                privileges = privileges - {"connect", "temporary"}
            if privileges:
                items.append(grant(grantee, "database", obj, privileges))
        return items

    def _schema_grants(self) -> list[Resource]:
        acl = self._acl(
            "SELECT n.nspname, a.grantee, a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a "
            f"WHERE {_GRANT_SCHEMAS} AND a.grantee <> n.nspowner"
        )
        return [
            grant(grantee, "schema", obj, privileges) for (grantee, obj), privileges in sorted(acl.items())
        ]

    def _table_grants(self) -> list[Resource]:
        tables = self._acl(
            "SELECT n.nspname || '.' || c.relname, a.grantee, a.privilege_type "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            f"WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND {_GRANT_SCHEMAS} AND a.grantee <> c.relowner"
        )
        future = self._acl(
            "SELECT n.nspname, a.grantee, a.privilege_type FROM pg_default_acl d "
            "JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a "
            "WHERE d.defaclobjtype = 'r' AND (d.defaclrole = n.nspowner "
            f"OR d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = {self._me})) "
            f"AND {_GRANT_SCHEMAS}"
        )
        in_schema: dict[str, list[str]] = defaultdict(list)
        for (table,) in self._rows(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND {_GRANT_SCHEMAS}"
        ):
            in_schema[table.split(".", 1)[0]].append(table)
        items = []
        covered: dict[tuple[str, str], set[str]] = {}
        for (grantee, schema), privileges in sorted(future.items()):
            for table in in_schema.get(schema, []):
                privileges = privileges & tables.get((grantee, table), set())
            if privileges:
                covered[(grantee, schema)] = privileges
                items.append(grant(grantee, "all_tables_in_schema", schema, privileges))
        for (grantee, table), privileges in sorted(tables.items()):
            own = privileges - covered.get((grantee, table.split(".", 1)[0]), set())
            if own:
                items.append(grant(grantee, "table", table, own))
        return items

    def objects_in_schema(self, schema: str) -> int:
        rows = self._rows(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')",
            [schema],
        )
        return int(rows[0][0])

    def dependents_outside(self, schema: str) -> list[str]:
        """Views in other schemas that read the schema's relations: DROP SCHEMA ... CASCADE
        would drop them too."""
        rows = self._rows(
            "SELECT DISTINCT dn.nspname || '.' || dc.relname FROM pg_depend d "
            "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class dc ON dc.oid = r.ev_class "
            "JOIN pg_namespace dn ON dn.oid = dc.relnamespace JOIN pg_class sc ON sc.oid = d.refobjid "
            "JOIN pg_namespace sn ON sn.oid = sc.relnamespace "
            "WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass "
            "AND sn.nspname = ? AND dn.nspname <> ? ORDER BY 1",
            [schema, schema],
        )
        return [str(name) for (name,) in rows]

    def objects_owned_by(self, role: str) -> int:
        rows = self._rows(
            "SELECT (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) "
            "+ (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid) "
            "+ (SELECT count(*) FROM pg_database d WHERE d.datdba = r.oid) FROM pg_roles r WHERE r.rolname = ?",
            [role],
        )
        return int(rows[0][0]) if rows else 0


class DuckDBCatalog:
    """DuckDB has schemas, and databases: files in the warehouse's databases folder, which
    every connection attaches; no roles, users, grants or owners."""

    dialect = "duckdb"

    def __init__(self, engine: EngineAdapter, *, as_deployer: bool = False) -> None:
        """`as_deployer` changes nothing: without roles, every connection sees the same."""
        self.engine = engine
        self.databases_dir = engine.databases_dir

    def read(self) -> Inventory:
        rows = self.engine.fetch(
            "SELECT schema_name, comment FROM duckdb_schemas() "
            "WHERE database_name = current_database() AND NOT internal "
            f"AND schema_name NOT IN ('main', '{STATE_SCHEMA}') AND schema_name NOT LIKE '{INTERNAL_PREFIX}%'"
        ).rows
        items = [resource(Kind.SCHEMA, name, comment=comment) for name, comment in rows]
        if self.databases_dir and Path(self.databases_dir).is_dir():
            items += [
                resource(Kind.DATABASE, file.stem)
                for file in sorted(Path(self.databases_dir).glob("*.duckdb"))
            ]
        return Inventory.of(items)

    def objects_in_schema(self, schema: str) -> int:
        rows = self.engine.fetch(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND database_name = current_database()",
            [schema],
        ).rows
        views = self.engine.fetch(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = ? AND NOT internal "
            "AND database_name = current_database()",
            [schema],
        ).rows
        return int(rows[0][0]) + int(views[0][0])

    def objects_owned_by(self, role: str) -> int:
        return 0

    def dependents_outside(self, schema: str) -> list[str]:
        return []  # DuckDB does not track what views read


_CATALOGS: dict[str, type[PostgresCatalog | DuckDBCatalog]] = {
    POSTGRES.name: PostgresCatalog,
    DUCKDB.name: DuckDBCatalog,
}
"""The catalog of each engine's warehouse that `tidegate infra` manages, by engine name."""


class StateFileCatalog:
    """A warehouse as a saved state file describes it (`Inventory.to_json`), for planning in a
    dialect tidegate cannot reach from here (Snowflake) or for reviewing offline."""

    def __init__(self, path: Path, dialect: str) -> None:
        self.path = path
        self.dialect = dialect
        self.databases_dir: str | None = None

    def read(self) -> Inventory:
        import json

        try:
            data = json.loads(self.path.read_text())
        except OSError as error:
            raise ConfigError(f"cannot read the state file: {error.strerror}", path=self.path) from None
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"the state file is not JSON: {error.msg}", path=self.path, line=error.lineno
            ) from None
        if not isinstance(data, list):
            raise ConfigError("a state file is a JSON list of resources", path=self.path)
        try:
            return Inventory.from_json(data)
        except (KeyError, ValueError, TypeError) as error:
            raise ConfigError(f"a resource of the state file is invalid: {error}", path=self.path) from None

    def objects_in_schema(self, schema: str) -> int | None:
        return None  # a state file does not say: a drop is destructive

    def objects_owned_by(self, role: str) -> int | None:
        return None

    def dependents_outside(self, schema: str) -> list[str]:
        return []
