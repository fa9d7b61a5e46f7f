"""Read `infra/*.yml` for one environment: `{{ env }}` rendered, `only:` applied, every
reference checked, each problem a ConfigError naming the file and line. Names are kept as
written: statements quote them, so `Sales` and `sales` are different schemas, as in the catalog."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError
from tidegate.infra.resources import (
    GRANT_TARGETS,
    PRIVILEGES,
    Inventory,
    Kind,
    Resource,
    grant,
    membership,
    resource,
)
from tidegate.project.files import read_text
from tidegate.project.model import Location
from tidegate.project.yamlio import LineDict, LineList, load_yaml_text

SECTIONS = ("databases", "schemas", "roles", "users", "grants")
_KEYS = {
    "databases": {"name", "owner", "comment", "only", "prevent_destroy"},
    "schemas": {"name", "owner", "comment", "only", "prevent_destroy"},
    "roles": {"name", "member_of", "comment", "only", "prevent_destroy"},
    "users": {"name", "password", "roles", "comment", "only", "prevent_destroy"},
    "grants": {"to", "privileges", "on", "only", "prevent_destroy"},
}
_SECRET = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ALIASES = {"temp": "temporary"}
BUILTIN_ROLES = ("public",)
"""Roles every warehouse has, which grants may name without declaring them."""


def infra_files(root: Path) -> list[Path]:
    folder = root / "infra"
    return sorted(folder.rglob("*.yml")) + sorted(folder.rglob("*.yaml")) if folder.is_dir() else []


def load_infra(root: Path, environment: str) -> Inventory:
    """The resources the project declares for `environment`."""
    items: list[Resource] = []
    for path in infra_files(root):
        items += _read_file(root, path, environment)
    inventory = _unique(items)
    _check_references(inventory)
    _check_cycles(inventory)
    return inventory


def _read_file(root: Path, path: Path, environment: str) -> list[Resource]:
    import jinja2

    rel = path.relative_to(root).as_posix()
    text = read_text(path, rel, error=ConfigError)
    try:
        rendered = (
            jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(env=environment)
        )
    except jinja2.TemplateError as error:
        raise ConfigError(f"cannot render: {error}", path=rel, line=getattr(error, "lineno", None)) from None
    data = load_yaml_text(rendered, rel) or {}
    if not isinstance(data, dict):
        raise ConfigError("an infra file is a mapping of sections", path=rel, line=1)
    unknown = [key for key in data if key not in SECTIONS]
    if unknown:
        line = data.line_of(unknown[0]) if isinstance(data, LineDict) else None
        raise ConfigError(
            f"unknown section {unknown[0]!r} (one of {', '.join(SECTIONS)})", path=rel, line=line
        )
    items: list[Resource] = []
    for section in SECTIONS:
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise ConfigError(f"{section}: must be a list", path=rel, line=_line(data, section))
        for index, entry in enumerate(entries):
            line = entries.line_of(index) if isinstance(entries, LineList) else None
            where = Location(rel, line)
            if not isinstance(entry, dict):
                raise ConfigError(f"each entry of {section}: is a mapping", path=rel, line=line)
            _check_keys(section, entry, where)
            if not _applies(entry, environment, where):
                continue
            items += _resources(section, entry, where)
    return items


def _line(entry: Any, key: str) -> int | None:
    return entry.line_of(key) if isinstance(entry, LineDict) else None


def _check_keys(section: str, entry: dict[str, Any], where: Location) -> None:
    unknown = sorted(set(entry) - _KEYS[section])
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {section} (known: {', '.join(sorted(_KEYS[section]))})",
            path=where.path,
            line=_line(entry, unknown[0]) or where.line,
        )
    required = "to" if section == "grants" else "name"
    if not entry.get(required):
        raise ConfigError(f"each entry of {section}: needs {required}:", path=where.path, line=where.line)


def _applies(entry: dict[str, Any], environment: str, where: Location) -> bool:
    only = entry.get("only")
    if only is None:
        return True
    names = [only] if isinstance(only, str) else only
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("only: is a list of environments", path=where.path, line=_line(entry, "only"))
    return environment in names


def _names(entry: dict[str, Any], key: str, where: Location) -> list[str]:
    value = entry.get(key) or []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"{key}: is a list of role names", path=where.path, line=_line(entry, key) or where.line
        )
    return list(names)


def _resources(section: str, entry: dict[str, Any], where: Location) -> list[Resource]:
    keep = bool(entry.get("prevent_destroy"))
    comment = None if entry.get("comment") is None else str(entry["comment"])
    if section == "grants":
        return _grants(entry, where, keep)
    name = str(entry["name"])
    if section in ("databases", "schemas"):
        owner = None if entry.get("owner") is None else str(entry["owner"])
        kind = Kind.DATABASE if section == "databases" else Kind.SCHEMA
        return [resource(kind, name, where, prevent_destroy=keep, owner=owner, comment=comment)]
    login = section == "users"
    password_env = _password_env(entry, where) if login else None
    groups = _names(entry, "roles" if login else "member_of", where)
    role = resource(
        Kind.ROLE, name, where, prevent_destroy=keep, login=login, comment=comment, password_env=password_env
    )
    return [role, *(membership(group, name, where) for group in groups)]


def _password_env(entry: dict[str, Any], where: Location) -> str | None:
    password = entry.get("password")
    if password is None:
        return None
    match = _SECRET.match(str(password))
    if not match:
        raise ConfigError(
            "a password is a reference to an environment variable, ${NAME}, never a value",
            path=where.path,
            line=_line(entry, "password") or where.line,
        )
    return match.group(1)


def _grants(entry: dict[str, Any], where: Location, keep: bool) -> list[Resource]:
    target = entry.get("on")
    line = _line(entry, "on") or where.line
    if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in GRANT_TARGETS:
        raise ConfigError(
            "on: names one object: {database|schema|table|all_tables_in_schema: NAME}",
            path=where.path,
            line=line,
        )
    kind, obj = next(iter(target.items()))
    privileges = entry.get("privileges")
    line = _line(entry, "privileges") or where.line
    if not isinstance(privileges, list) or not privileges:
        raise ConfigError("privileges: is a list, such as [select]", path=where.path, line=line)
    wanted = {_ALIASES.get(str(p).lower(), str(p).lower()) for p in privileges}
    if "all" in wanted:
        wanted = (wanted - {"all"}) | set(PRIVILEGES[kind])
    unknown = sorted(wanted - set(PRIVILEGES[kind]))
    if unknown:
        raise ConfigError(
            f"unknown privilege {unknown[0]!r} on a {kind.replace('_', ' ')} "
            f"(one of {', '.join(PRIVILEGES[kind])}, or all)",
            path=where.path,
            line=line,
        )
    if kind == "table" and "." not in str(obj):
        raise ConfigError(
            f"a table is named with its schema (schema.table), not {obj!r}", path=where.path, line=line
        )
    found = []
    for grantee in _names(entry, "to", where):
        item = grant(grantee, kind, str(obj), wanted, where)
        found.append(Resource(item.kind, item.name, item.attributes, item.location, keep))
    return found


def _unique(items: list[Resource]) -> Inventory:
    found: dict[tuple[str, str], Resource] = {}
    for item in items:
        other = found.get(item.key)
        if other is not None and other != item:
            raise ConfigError(
                f"{item.label} is declared twice (also at {other.location})",
                path=item.location.path if item.location else None,
                line=item.location.line if item.location else None,
            )
        found[item.key] = item
    return Inventory(found)


def _check_references(inventory: Inventory) -> None:
    roles = {item.name for item in inventory.of_kind(Kind.ROLE)} | set(BUILTIN_ROLES)
    for item in inventory.resources.values():
        for attribute in ("owner", "group", "role", "grantee"):
            name = item.get(attribute)
            if name is not None and name not in roles:
                raise ConfigError(
                    f"{item.label} refers to the role {name!r}, which no infra file declares for this environment",
                    path=item.location.path if item.location else None,
                    line=item.location.line if item.location else None,
                    hint="declare it under roles: or users:",
                )


def _check_cycles(inventory: Inventory) -> None:
    """A role that is, through its groups, a member of itself is refused (PostgreSQL would too)."""
    groups: dict[str, list[Resource]] = {}
    for item in inventory.of_kind(Kind.MEMBERSHIP):
        groups.setdefault(item.get("role"), []).append(item)

    def visit(role: str, path: list[str]) -> None:
        for link in groups.get(role, []):
            group = link.get("group")
            if group in path:
                cycle = " -> ".join([*path[path.index(group) :], group])
                raise ConfigError(
                    f"roles are members of each other in a cycle: {cycle}",
                    path=link.location.path if link.location else None,
                    line=link.location.line if link.location else None,
                )
            visit(group, [*path, group])

    for role in sorted(groups):
        visit(role, [role])
