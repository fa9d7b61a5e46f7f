"""Desired against actual: the changes an infrastructure plan makes, and which are destructive.

Only managed resources change: a declared one is created or brought to its declaration; one that
an earlier apply created (the state remembers it) and no file declares any more is dropped.
Everything else the warehouse has is left alone (`tidegate infra drift` lists it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tidegate.errors import PlanError
from tidegate.infra.resources import ORDER, Inventory, Kind, Resource

Action = Literal["create", "update", "delete"]
UNREADABLE = ("password_env",)
"""Attributes a catalog cannot read back: set when the resource is created, never compared."""


class Destruction(enum.Enum):
    """What a destructive change destroys. A dialect writes the change by it (a role that owns
    objects hands them over before it is dropped; a schema that holds tables is dropped with
    CASCADE); the reason of `Destroys` says it to a reviewer."""

    DATABASE = "database"
    """A database, and everything in it."""
    SCHEMA_CONTENTS = "schema_contents"
    """The tables and views a schema holds (or may hold: a state file does not say)."""
    OWNED_OBJECTS = "owned_objects"
    """The objects a role owns (or may own: a state file does not say)."""
    PRODUCTION_ACCESS = "production_access"
    """Access in production: privileges revoked, or a role or a grant dropped."""


@dataclass(frozen=True)
class Destroys:
    """What a change destroys, and why, as a plan shows it."""

    kind: Destruction
    reason: str


@dataclass(frozen=True)
class Change:
    action: Action
    resource: Resource
    """The declaration (create, update), or what the warehouse has (delete)."""
    before: Resource | None = None
    """What the warehouse has, for an update."""
    destroys: Destroys | None = None
    """What the change destroys (data, access), when it does: such changes need
    `--allow-destroy`."""
    sets_password: bool = False
    """An existing user gets the password of its `password_env`: one tidegate never set (a
    user adopted from the warehouse), or another variable's (a rotation)."""

    @property
    def destructive(self) -> str | None:
        """Why the change destroys something, when it does."""
        return self.destroys.reason if self.destroys is not None else None

    @property
    def destruction(self) -> Destruction | None:
        """What the change destroys, when it does."""
        return self.destroys.kind if self.destroys is not None else None

    @property
    def differences(self) -> list[tuple[str, Any, Any]]:
        """(attribute, actual, declared) of an update."""
        if self.before is None:
            return []
        before, after = dict(self.before.attributes), dict(self.resource.attributes)
        found = [
            (key, before.get(key), after[key])
            for key in sorted(after)
            if key not in UNREADABLE and before.get(key) != after[key]
        ]
        if self.sets_password:
            found.append(("password", None, f"${{{after['password_env']}}}"))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.resource.kind.value,
            "name": self.resource.name,
            "label": self.resource.label,
            "attributes": {k: v for k, v in self.resource.attributes if k not in UNREADABLE},
            "changes": [{"attribute": k, "from": a, "to": b} for k, a, b in self.differences],
            "destructive": self.destructive,
            "location": str(self.resource.location) if self.resource.location else None,
        }


@dataclass(frozen=True)
class Managed:
    """What the state remembers of a resource an apply made: its declaration then."""

    resource: Resource
    other_environments: tuple[str, ...] = ()
    """Other environments whose declarations also manage it: it is not dropped while they do."""


@dataclass(frozen=True)
class Impact:
    """What the warehouse says about dropping things, for the safety checks; None when it
    cannot say (a saved state file), which counts as the worst case."""

    objects_in_schema: Callable[[str], int | None] = lambda schema: 0
    objects_owned_by: Callable[[str], int | None] = lambda role: 0
    dependents_outside: Callable[[str], list[str]] = lambda schema: []
    """Views of other schemas that read a schema's relations, which dropping it drops too."""


@dataclass(frozen=True)
class InfraDiff:
    changes: list[Change] = field(default_factory=list)
    unmanaged: list[Resource] = field(default_factory=list)
    """What the warehouse has that no declaration manages (left alone)."""

    @property
    def destructive(self) -> list[Change]:
        return [change for change in self.changes if change.destructive]


def compare(
    desired: Inventory,
    actual: Inventory,
    managed: Mapping[tuple[str, str], Managed],
    *,
    production: bool,
    impact: Impact | None = None,
    passwords: bool = False,
) -> InfraDiff:
    """The changes that bring the managed resources of `actual` to `desired`, in the order they
    must run: creations and updates by kind (roles before what they own), then drops in reverse.
    With `passwords`, `managed` is the state's record, which says whose passwords tidegate set."""
    impact = impact or Impact()
    changes: list[Change] = []
    for kind in ORDER:
        for item in sorted((r for r in desired.resources.values() if r.kind is kind), key=lambda r: r.name):
            current = actual.resources.get(item.key)
            if current is None:
                changes.append(Change("create", item))
            elif _differs(item, current) or (passwords and _password_pending(item, managed.get(item.key))):
                pending = passwords and _password_pending(item, managed.get(item.key))
                change = Change("update", item, current, sets_password=pending)
                changes.append(replace(change, destroys=_revokes(change, production)))
    drops = [
        record
        for key, record in managed.items()
        if key not in desired.resources and key in actual.resources and not record.other_environments
    ]
    kept = [record.resource for record in drops if record.resource.prevent_destroy]
    if kept:
        raise PlanError(
            f"{kept[0].label} has prevent_destroy: true, and no infra file declares it any more",
            path=kept[0].location.path if kept[0].location else None,
            line=kept[0].location.line if kept[0].location else None,
            hint="declare it again, or set prevent_destroy: false and apply before removing it",
        )
    for kind in reversed(ORDER):
        for record in sorted((r for r in drops if r.resource.kind is kind), key=lambda r: r.resource.name):
            current = actual.resources[record.resource.key]
            changes.append(Change("delete", current, None, _destroys(current, production, impact)))
    unmanaged = [
        item
        for key, item in sorted(actual.resources.items())
        if key not in desired.resources and key not in managed
    ]
    return InfraDiff(changes, unmanaged)


def _differs(desired: Resource, actual: Resource) -> bool:
    """An attribute the declaration leaves out (a comment, an owner) is not managed."""
    found = dict(actual.attributes)
    return any(found.get(k) != v for k, v in desired.attributes if k not in UNREADABLE)


def _password_pending(desired: Resource, record: Managed | None) -> bool:
    """A user's password is set when tidegate creates it; an existing one gets it when tidegate
    did not manage it with this variable before (adopted, or the variable changed: a rotation)."""
    wanted = desired.get("password_env")
    return bool(wanted) and (record is None or record.resource.get("password_env") != wanted)


def _revokes(change: Change, production: bool) -> Destroys | None:
    if not production:
        return None
    for attribute, before, after in change.differences:
        if attribute == "privileges" and set(before or ()) - set(after or ()):
            lost = ", ".join(sorted(set(before or ()) - set(after or ())))
            return Destroys(Destruction.PRODUCTION_ACCESS, f"revokes {lost} in production")
    return None


def _destroys(item: Resource, production: bool, impact: Impact) -> Destroys | None:
    if item.kind is Kind.DATABASE:
        return Destroys(Destruction.DATABASE, "drops a database and everything in it")
    if item.kind is Kind.SCHEMA:
        count = impact.objects_in_schema(item.name)
        if count is None:
            return Destroys(
                Destruction.SCHEMA_CONTENTS,
                "drops a schema, and whatever tables it holds (the state file does not say)",
            )
        if not count:
            return None
        outside = impact.dependents_outside(item.name)
        also = (
            f", and {len(outside)} view(s) of other schemas that read them: {', '.join(outside)}"
            if outside
            else ""
        )
        return Destroys(
            Destruction.SCHEMA_CONTENTS, f"drops a schema that holds {count} table(s) or view(s){also}"
        )
    if item.kind is Kind.ROLE:
        count = impact.objects_owned_by(item.name)
        if count is None:
            return Destroys(
                Destruction.OWNED_OBJECTS,
                "drops a role, and the objects it may own (the state file does not say)",
            )
        if count:
            return Destroys(Destruction.OWNED_OBJECTS, f"drops a role that owns {count} object(s)")
        return Destroys(Destruction.PRODUCTION_ACCESS, "drops a role in production") if production else None
    if production:
        return Destroys(Destruction.PRODUCTION_ACCESS, f"revokes in production ({item.label})")
    return None
