"""Planning infrastructure: what changes, in which order, and what counts as destructive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidegate.errors import PlanError
from tidegate.infra.diff import Change, Impact, Managed, compare
from tidegate.infra.resources import ORDER, Inventory, Kind, Resource, grant, membership, resource

ROLES = ["a", "b", "c"]


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    items: list[Resource] = []
    for name in draw(st.lists(st.sampled_from(ROLES), unique=True)):
        items.append(resource(Kind.ROLE, name, login=draw(st.booleans())))
    for name in draw(st.lists(st.sampled_from(["s1", "s2"]), unique=True)):
        items.append(resource(Kind.SCHEMA, name, owner=draw(st.sampled_from([None, *ROLES]))))
    for group, member in draw(
        st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(ROLES)), unique=True)
    ):
        items.append(membership(group, member))
    for grantee, obj in draw(
        st.lists(st.tuples(st.sampled_from(ROLES), st.sampled_from(["s1", "s2"])), unique=True)
    ):
        privileges = draw(st.sets(st.sampled_from(["usage", "create"]), min_size=1))
        items.append(grant(grantee, "schema", obj, privileges))
    return Inventory.of(items)


def applied(actual: Inventory, changes: list[Change]) -> Inventory:
    """What the warehouse has once the changes ran."""
    found = dict(actual.resources)
    for change in changes:
        if change.action == "delete":
            del found[change.resource.key]
        else:
            merged = dict(found[change.resource.key].attributes) if change.action == "update" else {}
            merged.update(dict(change.resource.attributes))
            found[change.resource.key] = resource(change.resource.kind, change.resource.name, **merged)
    return Inventory(found)


@given(inventories(), inventories(), st.data())
def test_applying_a_plan_leaves_nothing_to_plan(
    desired: Inventory, actual: Inventory, data: st.DataObject
) -> None:
    remembered = (
        data.draw(st.lists(st.sampled_from(sorted(actual.resources)), unique=True)) if len(actual) else []
    )
    managed = {key: Managed(actual.resources[key]) for key in remembered}
    diff = compare(desired, actual, managed, production=False)
    after = applied(actual, diff.changes)

    again = compare(
        desired, after, {**managed, **{k: Managed(v) for k, v in desired.resources.items()}}, production=False
    )
    assert again.changes == []
    # only what is declared or was managed changed; the rest is untouched
    for key, item in actual.resources.items():
        if key not in desired.resources and key not in managed:
            assert after.resources[key] == item
    # roles exist before what refers to them, and are dropped after
    kinds = [ORDER.index(change.resource.kind) for change in diff.changes if change.action != "delete"]
    assert kinds == sorted(kinds)
    drops = [ORDER.index(change.resource.kind) for change in diff.changes if change.action == "delete"]
    assert drops == sorted(drops, reverse=True)


def test_revoking_in_production_is_destructive_and_not_elsewhere() -> None:
    before = Inventory.of([grant("a", "schema", "s", ["usage", "create"])])
    after = Inventory.of([grant("a", "schema", "s", ["usage"])])
    [prod] = compare(after, before, {}, production=True).changes
    [dev] = compare(after, before, {}, production=False).changes
    assert prod.destructive == "revokes create in production" and dev.destructive is None


def test_dropping_a_role_that_owns_objects_is_destructive() -> None:
    role = resource(Kind.ROLE, "owner")
    diff = compare(
        Inventory(),
        Inventory.of([role]),
        {role.key: Managed(role)},
        production=False,
        impact=Impact(objects_owned_by=lambda r: 3),
    )
    [drop] = diff.changes
    assert drop.action == "delete" and drop.destructive == "drops a role that owns 3 object(s)"


def test_what_another_environment_still_manages_is_not_dropped() -> None:
    role = resource(Kind.ROLE, "shared")
    diff = compare(Inventory(), Inventory.of([role]), {role.key: Managed(role, ("dev",))}, production=False)
    assert diff.changes == []


def test_prevent_destroy_refuses_the_plan() -> None:
    kept = resource(Kind.SCHEMA, "finance", prevent_destroy=True)
    with pytest.raises(PlanError, match="prevent_destroy"):
        compare(Inventory(), Inventory.of([kept]), {kept.key: Managed(kept)}, production=False)


def test_an_attribute_the_declaration_leaves_out_is_not_managed() -> None:
    declared = resource(Kind.SCHEMA, "s")
    found = resource(Kind.SCHEMA, "s", owner="x", comment="by hand")
    assert compare(Inventory.of([declared]), Inventory.of([found]), {}, production=True).changes == []
