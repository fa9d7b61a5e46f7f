"""The resources of a warehouse, as immutable values with an identity and compared attributes.

The same values describe what the files declare and what the live catalog holds, so a plan is a
comparison of two sets of them. A user is a role that logs in; a role's membership in another
and a grant are resources of their own, so each can be added or revoked alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tidegate.project.model import Location


class Kind(StrEnum):
    DATABASE = "database"
    SCHEMA = "schema"
    ROLE = "role"
    MEMBERSHIP = "membership"
    GRANT = "grant"


ORDER = (Kind.ROLE, Kind.MEMBERSHIP, Kind.DATABASE, Kind.SCHEMA, Kind.GRANT)
"""Creation order: an owner and a grantee exist first; drops go in reverse."""

GRANT_TARGETS = ("database", "schema", "table", "all_tables_in_schema")
PRIVILEGES = {
    "database": ("connect", "create", "temporary"),
    "schema": ("usage", "create"),
    "table": ("select", "insert", "update", "delete", "truncate", "references", "trigger"),
    "all_tables_in_schema": ("select", "insert", "update", "delete", "truncate", "references", "trigger"),
}
"""What can be granted on each kind of object (PostgreSQL's names; `temp` is `temporary`)."""


@dataclass(frozen=True)
class Resource:
    """One resource: `kind` and `name` identify it; `attributes` are what a plan compares.

    Attributes by kind:
    - database, schema: `owner`, `comment`;
    - role: `login`, `comment`, and `password_env` (the environment variable holding a user's
      password: set when the role is created, never read back, stored or printed);
    - membership (name `group:member`): `role` (the member) and `group` (the role it is in);
    - grant (name `grantee:target:object`): `grantee`, `target` (one of GRANT_TARGETS),
      `object` (a database, schema or `schema.table`) and `privileges` (a sorted tuple).
    """

    kind: Kind
    name: str
    attributes: tuple[tuple[str, Any], ...] = ()
    location: Location | None = field(default=None, compare=False)
    prevent_destroy: bool = field(default=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.name)

    def get(self, attribute: str, default: Any = None) -> Any:
        return dict(self.attributes).get(attribute, default)

    @property
    def label(self) -> str:
        """How a plan names the resource."""
        if self.kind is Kind.MEMBERSHIP:
            return f"membership of {self.get('role')} in {self.get('group')}"
        if self.kind is Kind.GRANT:
            return f"grant on {self.get('target').replace('_', ' ')} {self.get('object')} to {self.get('grantee')}"
        return f"{'user' if self.get('login') else self.kind.value} {self.name}"


def resource(
    kind: Kind,
    name: str,
    location: Location | None = None,
    *,
    prevent_destroy: bool = False,
    **attributes: Any,
) -> Resource:
    """A resource with its attributes in a stable order; None attributes are left out."""
    kept = tuple(sorted((key, value) for key, value in attributes.items() if value is not None))
    return Resource(kind, name, kept, location, prevent_destroy)


def membership(group: str, member: str, location: Location | None = None) -> Resource:
    return resource(Kind.MEMBERSHIP, f"{group}:{member}", location, group=group, role=member)


def grant(grantee: str, target: str, obj: str, privileges: Any, location: Location | None = None) -> Resource:
    return resource(
        Kind.GRANT,
        f"{grantee}:{target}:{obj}",
        location,
        grantee=grantee,
        target=target,
        object=obj,
        privileges=tuple(sorted(set(privileges))),
    )


@dataclass(frozen=True)
class Inventory:
    """A set of resources by key: what the files declare, or what a warehouse has."""

    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)

    @classmethod
    def of(cls, items: list[Resource]) -> Inventory:
        return cls({item.key: item for item in items})

    def of_kind(self, kind: Kind) -> list[Resource]:
        return [item for item in self.resources.values() if item.kind is kind]

    def get(self, kind: Kind, name: str) -> Resource | None:
        return self.resources.get((kind.value, name))

    def __len__(self) -> int:
        return len(self.resources)

    def to_json(self) -> list[dict[str, Any]]:
        """The inventory as a saved state file holds it: one object per resource."""
        return [
            {"kind": item.kind.value, "name": item.name, **{k: _jsonable(v) for k, v in item.attributes}}
            for _, item in sorted(self.resources.items())
        ]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Inventory:
        items = []
        for entry in data:
            attributes = {k: v for k, v in entry.items() if k not in ("kind", "name")}
            if "privileges" in attributes:
                attributes["privileges"] = tuple(sorted(attributes["privileges"]))
            items.append(resource(Kind(entry["kind"]), str(entry["name"]), **attributes))
        return cls.of(items)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
