"""The statements each dialect writes for a change, chosen by what the change destroys (its
structured `destroys`), never by the wording of the reason a plan shows."""

from __future__ import annotations

import pytest

from tidegate.infra import dialects
from tidegate.infra.diff import Impact, Managed, compare
from tidegate.infra.resources import Inventory, Kind, resource


def dropped(kind: Kind, name: str, dialect: str, *, count: int | None) -> list[str]:
    """The statements that drop a managed `kind` no file declares any more, when the warehouse
    says it holds or owns `count` objects (None: a state file, which does not say)."""
    item = resource(kind, name)
    diff = compare(
        Inventory(),
        Inventory.of([item]),
        {item.key: Managed(item)},
        production=False,
        impact=Impact(objects_in_schema=lambda _: count, objects_owned_by=lambda _: count),
    )
    return [statement.shown for statement in dialects.statements(diff.changes, dialect)]


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (3, ['REASSIGN OWNED BY "etl" TO CURRENT_USER', 'DROP OWNED BY "etl"', 'DROP ROLE "etl"']),
        (None, ['REASSIGN OWNED BY "etl" TO CURRENT_USER', 'DROP OWNED BY "etl"', 'DROP ROLE "etl"']),
        (0, ['DROP ROLE "etl"']),
    ],
    ids=["owns objects", "state file: may own objects", "owns nothing"],
)
def test_a_postgres_role_hands_over_what_it_owns_or_may_own_before_it_is_dropped(
    count: int | None, expected: list[str]
) -> None:
    assert dropped(Kind.ROLE, "etl", "postgres", count=count) == expected


@pytest.mark.parametrize(
    ("dialect", "count", "expected"),
    [
        ("postgres", 2, 'DROP SCHEMA "staging" CASCADE'),
        ("postgres", None, 'DROP SCHEMA "staging" CASCADE'),
        ("postgres", 0, 'DROP SCHEMA "staging"'),
        ("snowflake", 2, 'DROP SCHEMA "STAGING" CASCADE'),
        ("snowflake", None, 'DROP SCHEMA "STAGING" CASCADE'),
        ("snowflake", 0, 'DROP SCHEMA "STAGING" RESTRICT'),
    ],
)
def test_a_schema_that_holds_or_may_hold_tables_is_dropped_with_them(
    dialect: str, count: int | None, expected: str
) -> None:
    assert dropped(Kind.SCHEMA, "staging", dialect, count=count) == [expected]
