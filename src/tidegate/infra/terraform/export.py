"""Handing over to Terraform, and reading its plans back.

`export_terraform` writes what `infra/*.yml` declares for one environment as a `.tf.json`
document for the community PostgreSQL provider (cyrilgdn/postgresql), so a team can move to
Terraform without declaring everything again. `read_terraform_plan` reads the JSON of
`terraform show -json PLANFILE`, so a team that keeps Terraform reviews its plan in tidegate's.

Choices of the export:
- Connection settings and secrets are variables, never values: `postgresql_host`, `_port`,
  `_username`, `_database` (where schemas and their grants live), `_sslmode`, `_password`; a
  user's password is a variable named after its environment variable (`CI_BOT_PASSWORD`, set as
  `TF_VAR_CI_BOT_PASSWORD`). Secrets are sensitive and ephemeral, and passwords go in the
  provider's write-only `password_wo`, so neither the plan file nor the state holds one
  (Terraform 1.11 and provider 1.26 or later). `table_owner` is the role whose new tables get
  an all-tables grant's privileges (tidegate's ALTER DEFAULT PRIVILEGES applies to tables that
  the applying role creates).
- Addresses are the names made valid Terraform identifiers (`[a-z0-9_]`, not starting with a
  digit), suffixed `_2`, `_3`... when two names collide; memberships are `MEMBER_in_GROUP`,
  grants `GRANTEE_TARGET_OBJECT`. Resources refer to the roles, databases and schemas they use
  (`${postgresql_role.analyst.name}`), which orders them as tidegate does.
- The export hands over a warehouse tidegate already made, so each database, schema and role
  comes with an `import` block (Terraform 1.5+): the first `terraform apply` adopts them rather
  than failing to create what exists. Grants and memberships need none: granting again is
  harmless.
- Memberships are `postgresql_grant_role` resources, so the member's `postgresql_role` ignores
  changes to its `roles` argument (the provider's documented way to use both);
  `prevent_destroy: true` becomes the lifecycle argument of the same name.
- What the provider cannot express is listed in the document's root "//" comment, after a first
  line saying where the file comes from: comments (the provider has no argument for them), and
  a table grant to a role that also has an all-tables grant in that schema (the provider checks
  that every table has exactly the all-tables privileges, so the two would undo each other).
"""

from __future__ import annotations

import re
from typing import Any

from tidegate.errors import ConfigError
from tidegate.infra.resources import ORDER, Inventory, Kind, Resource

TYPES = {
    Kind.DATABASE: "postgresql_database",
    Kind.SCHEMA: "postgresql_schema",
    Kind.ROLE: "postgresql_role",
    Kind.MEMBERSHIP: "postgresql_grant_role",
    Kind.GRANT: "postgresql_grant",
}
DEFAULT_PRIVILEGES = "postgresql_default_privileges"
_DATABASE = "${var.postgresql_database}"
IMPORTED = (Kind.DATABASE, Kind.SCHEMA, Kind.ROLE)
REQUIRED = {
    "required_version": ">= 1.11",
    "required_providers": {"postgresql": {"source": "cyrilgdn/postgresql", "version": ">= 1.26.0"}},
}
_CONNECTION: dict[str, dict[str, Any]] = {
    "postgresql_host": {"type": "string", "description": "The PostgreSQL server's address."},
    "postgresql_port": {"type": "number", "default": 5432},
    "postgresql_username": {"type": "string", "description": "The role Terraform connects as."},
    "postgresql_database": {
        "type": "string",
        "description": "The database Terraform connects to, where the schemas and their grants are.",
    },
    "postgresql_sslmode": {"type": "string", "default": "require"},
    "postgresql_password": {"type": "string", "sensitive": True, "ephemeral": True},
}
_TABLE_OWNER = {
    "type": "string",
    "description": "The role that creates tables (the one models run as): the tables it creates "
    "from now on get the privileges of each all-tables grant.",
}
_RESERVED = {"source", "version", "providers", "count", "for_each", "lifecycle", "depends_on", "locals"}


def export_terraform(inventory: Inventory, environment: str) -> dict[str, Any]:
    """The `.tf.json` document that declares `inventory` (the resources of `environment`)."""
    export = _Export(inventory)
    items = sorted(inventory.resources.values(), key=lambda r: (ORDER.index(r.kind), r.name))
    for item in items:  # every address first, so that any resource can refer to any other
        export.name(item)
    for item in items:
        export.add(item)
    document: dict[str, Any] = {
        "//": [f"Written by tidegate from infra/*.yml for the environment {environment}.", *export.notes],
        "terraform": REQUIRED,
        "variable": export.variables,
        "provider": {
            "postgresql": {
                "host": "${var.postgresql_host}",
                "port": "${var.postgresql_port}",
                "username": "${var.postgresql_username}",
                "database": _DATABASE,
                "sslmode": "${var.postgresql_sslmode}",
                "password": "${var.postgresql_password}",
            }
        },
    }
    if export.resources:
        document["resource"] = export.resources
    if export.imports:
        document["import"] = export.imports
    return document


class _Export:
    """The variables, resources and notes of a document: every address is given (`name`) before
    any resource is written (`add`), so references never depend on the order of the two."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.variables: dict[str, dict[str, Any]] = dict(_CONNECTION)
        self.notes: list[str] = []
        self.imports: list[dict[str, str]] = []
        self.labels: dict[tuple[str, str], str] = {}
        """The address label of each (resource type, tidegate name)."""
        self.taken: dict[str, set[str]] = {}
        self.members = {item.get("role") for item in inventory.of_kind(Kind.MEMBERSHIP)}

    def name(self, item: Resource) -> None:
        kinds = [TYPES[item.kind]]
        if item.get("target") == "all_tables_in_schema":
            kinds.append(DEFAULT_PRIVILEGES)
        for kind in kinds:
            taken = self.taken.setdefault(kind, set())
            label = base = _identifier(_label(item))
            count = 1
            while label in taken:
                count += 1
                label = f"{base}_{count}"
            taken.add(label)
            self.labels[(kind, item.name)] = label

    def add(self, item: Resource) -> None:
        body: dict[str, Any]
        if item.kind is Kind.DATABASE:
            body = {"name": item.name, **self._owner(item)}
        elif item.kind is Kind.SCHEMA:
            body = {"name": item.name, "database": _DATABASE, **self._owner(item)}
        elif item.kind is Kind.ROLE:
            body = self._role(item)
        elif item.kind is Kind.MEMBERSHIP:
            body = {
                "role": self._ref(Kind.ROLE, item.get("role")),
                "grant_role": self._ref(Kind.ROLE, item.get("group")),
            }
        else:
            body = self._grant(item)
        if item.get("comment") is not None:
            self.notes.append(
                f"{item.label}: its comment is not exported (the provider has no argument for comments)"
            )
        self._put(TYPES[item.kind], item, body)
        if item.kind in IMPORTED:  # the provider knows a schema as DATABASE.SCHEMA
            address = f"{TYPES[item.kind]}.{self.labels[(TYPES[item.kind], item.name)]}"
            name = f"{_DATABASE}.{item.name}" if item.kind is Kind.SCHEMA else item.name
            self.imports.append({"to": address, "id": name})

    def _put(self, kind: str, item: Resource, body: dict[str, Any]) -> None:
        if item.prevent_destroy:
            body.setdefault("lifecycle", {})["prevent_destroy"] = True
        self.resources.setdefault(kind, {})[self.labels[(kind, item.name)]] = body

    def _ref(self, kind: Kind, name: str) -> str:
        """A reference to the resource that declares `name` (so it is made first), else the name."""
        label = self.labels.get((TYPES[kind], name))
        return name if label is None else f"${{{TYPES[kind]}.{label}.name}}"

    def _owner(self, item: Resource) -> dict[str, Any]:
        return {} if item.get("owner") is None else {"owner": self._ref(Kind.ROLE, item.get("owner"))}

    def _role(self, item: Resource) -> dict[str, Any]:
        body: dict[str, Any] = {"name": item.name, "login": bool(item.get("login"))}
        env = item.get("password_env")
        if env is not None:
            if env in {*_CONNECTION, "table_owner", *_RESERVED}:
                raise ConfigError(
                    f"{item.label}: its password variable {env} cannot be a Terraform variable of that name",
                    **_at(item),
                )
            self.variables[env] = {
                "type": "string",
                "sensitive": True,
                "ephemeral": True,
                "description": f"The password of {item.name}: the value of ${env}, which tidegate reads.",
            }
            body.update(password_wo=f"${{var.{env}}}", password_wo_version="1")
        if item.name in self.members:  # its memberships are postgresql_grant_role resources
            body["lifecycle"] = {"ignore_changes": ["roles"]}
        return body

    def _grant(self, item: Resource) -> dict[str, Any]:
        target, obj = item.get("target"), item.get("object")
        privileges = sorted(p.upper() for p in item.get("privileges"))
        body: dict[str, Any] = {"database": _DATABASE, "role": self._ref(Kind.ROLE, item.get("grantee"))}
        if target == "database":
            body.update(database=self._ref(Kind.DATABASE, obj), object_type="database")
        elif target == "schema":
            body.update(schema=self._ref(Kind.SCHEMA, obj), object_type="schema")
        elif target == "table":
            schema, table = obj.rsplit(".", 1) if "." in obj else ("public", obj)
            body.update(schema=self._ref(Kind.SCHEMA, schema), object_type="table", objects=[table])
            self._check_overlap(item, schema)
        else:  # existing tables (objects = [] is all of them), and those created from now on
            body.update(schema=self._ref(Kind.SCHEMA, obj), object_type="table", objects=[])
            future = {**body, "owner": "${var.table_owner}", "privileges": privileges}
            del future["objects"]
            self.variables["table_owner"] = _TABLE_OWNER
            self._put(DEFAULT_PRIVILEGES, item, future)
        return {**body, "privileges": privileges}

    def _check_overlap(self, item: Resource, schema: str) -> None:
        wide = self.inventory.get(Kind.GRANT, f"{item.get('grantee')}:all_tables_in_schema:{schema}")
        if wide is not None:
            self.notes.append(
                f"{item.label} and the {wide.label}: the provider checks that every table of {schema} has "
                "exactly the all-tables privileges, so the two would undo each other; merge them"
            )


def _label(item: Resource) -> str:
    if item.kind is Kind.MEMBERSHIP:
        return f"{item.get('role')}_in_{item.get('group')}"
    if item.kind is Kind.GRANT:
        return f"{item.get('grantee')}_{item.get('target')}_{item.get('object')}"
    return item.name


def _identifier(text: str) -> str:
    """A valid Terraform name: letters, digits and underscores, not starting with a digit."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "_"
    return f"_{name}" if name[0].isdigit() else name


def _at(item: Resource) -> dict[str, Any]:
    return {"path": item.location.path, "line": item.location.line} if item.location else {}
