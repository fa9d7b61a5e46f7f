"""`tidegate infra import`: the YAML that declares what a live warehouse has, so a team adopting
tidegate starts from an empty plan.

Databases are left out (a team declares the ones it wants tidegate to create), and so are users'
passwords, which no catalog shows: imported users keep theirs.
"""

from __future__ import annotations

from typing import Any

from tidegate.infra.resources import Inventory, Kind, Resource


def import_document(inventory: Inventory) -> dict[str, Any]:
    """The `infra/*.yml` document of `inventory`: roles, users, schemas and grants."""
    groups: dict[str, list[str]] = {}
    for item in inventory.of_kind(Kind.MEMBERSHIP):
        groups.setdefault(item.get("role"), []).append(item.get("group"))
    document: dict[str, list[dict[str, Any]]] = {"roles": [], "users": [], "schemas": [], "grants": []}
    for role in sorted(inventory.of_kind(Kind.ROLE), key=lambda r: r.name):
        login = bool(role.get("login"))
        entry: dict[str, Any] = {"name": role.name}
        if groups.get(role.name):
            entry["roles" if login else "member_of"] = sorted(groups[role.name])
        _comment(entry, role)
        document["users" if login else "roles"].append(entry)
    for schema in sorted(inventory.of_kind(Kind.SCHEMA), key=lambda r: r.name):
        entry = {"name": schema.name}
        if schema.get("owner"):
            entry["owner"] = schema.get("owner")
        _comment(entry, schema)
        document["schemas"].append(entry)
    for item in sorted(inventory.of_kind(Kind.GRANT), key=lambda r: r.name):
        document["grants"].append(
            {
                "to": item.get("grantee"),
                "privileges": list(item.get("privileges")),
                "on": {item.get("target"): item.get("object")},
            }
        )
    return {key: value for key, value in document.items() if value}


def _comment(entry: dict[str, Any], item: Resource) -> None:
    if item.get("comment"):
        entry["comment"] = item.get("comment")


def import_yaml(inventory: Inventory, header: str) -> str:
    import yaml

    body = yaml.safe_dump(import_document(inventory), sort_keys=False, default_flow_style=None, width=100)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body
