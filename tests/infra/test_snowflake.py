"""Infrastructure plans rendered as Snowflake SQL (issue 7, item 5), against a saved state file.

Each scenario declares `infra/*.yml`, compares it with a state and renders the statements as a
plan prints them; the text must equal `golden/snowflake/<scenario>.sql` exactly. Run with
TIDEGATE_UPDATE_GOLDEN=1 to rewrite the golden files, then review their diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_files
from tidegate.errors import ConfigError, PlanError
from tidegate.infra import dialects
from tidegate.infra.dialects import MASK
from tidegate.infra.dialects.snowflake import SnowflakeDialect
from tidegate.infra.diff import Impact, InfraDiff, Managed, compare
from tidegate.infra.files import load_infra
from tidegate.infra.resources import Inventory, Kind

GOLDEN = Path(__file__).parent / "golden" / "snowflake"

WAREHOUSE = {
    "infra/warehouse.yml": """
        databases:
          - name: "shop_{{ env }}"
            owner: transformer
            comment: Orders and customers
        schemas:
          - name: analytics
            owner: transformer
            comment: "The analysts' marts"
          - name: "shop_{{ env }}.staging"
            owner: transformer
        roles:
          - name: transformer
          - name: reporting
          - name: analyst
            member_of: [reporting]
            comment: Reads the marts
        users:
          - name: ci_bot
            password: ${CI_BOT_PASSWORD}
            roles: [transformer]
            comment: Runs tidegate in CI
    """,
    "infra/grants.yml": """
        grants:
          - to: reporting
            privileges: [connect]
            on: {database: "shop_{{ env }}"}
          - to: transformer
            privileges: [connect, create]
            on: {database: "shop_{{ env }}"}
          - to: [analyst, public]
            privileges: [usage]
            on: {schema: analytics}
          - to: transformer
            privileges: [all]
            on: {schema: analytics}
          - to: analyst
            privileges: [select]
            on: {all_tables_in_schema: analytics}
          - to: reporting
            privileges: [select]
            on: {table: analytics.daily_revenue}
          - to: ci_bot
            privileges: [select, insert]
            on: {table: "shop_{{ env }}.staging.orders"}
    """,
}


def declared(tmp_path: Path, files: dict[str, str]) -> Inventory:
    write_files(tmp_path, files)
    return load_infra(tmp_path, "prod")


def users(*inventories: Inventory) -> frozenset[str]:
    """The roles that log in, declared or in the warehouse (a dropped user is revoked as a user)."""
    return frozenset(r.name for i in inventories for r in i.of_kind(Kind.ROLE) if r.get("login"))


def rendered(diff: InfraDiff, *inventories: Inventory) -> str:
    return "".join(
        f"{s.shown};\n" for s in dialects.statements(diff.changes, "snowflake", users(*inventories))
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("TIDEGATE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.is_file(), f"{path} is missing: run with TIDEGATE_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(), f"differs from {path} (TIDEGATE_UPDATE_GOLDEN=1 rewrites it)"


def state_of(desired: Inventory, edits: dict[tuple[str, str], dict[str, Any] | None]) -> Inventory:
    """A saved state file: the declarations as a previous apply made them, but for `edits`
    (None: not in the warehouse). Passwords are never in a state."""
    entries = {(e["kind"], e["name"]): e for e in desired.to_json()}
    for key, edit in edits.items():
        if edit is None:
            del entries[key]
        else:
            entries[key] = {**entries[key], **edit}
    return Inventory.from_json(
        [{k: v for k, v in e.items() if k != "password_env"} for e in entries.values()]
    )


def test_creating_everything_from_an_empty_state(tmp_path: Path) -> None:
    desired = declared(tmp_path, WAREHOUSE)
    empty = Inventory.from_json([])
    check_golden("create", rendered(compare(desired, empty, {}, production=False), desired))


def test_an_update_changes_owners_privileges_comments_and_memberships(tmp_path: Path) -> None:
    desired = declared(tmp_path, WAREHOUSE)
    actual = state_of(
        desired,
        {
            ("schema", "analytics"): {"owner": "analyst"},
            ("role", "ci_bot"): {"comment": "Runs dbt"},
            ("grant", "transformer:schema:analytics"): {"privileges": ["usage"]},
            ("grant", "analyst:all_tables_in_schema:analytics"): {"privileges": ["insert", "select"]},
            ("grant", "reporting:table:analytics.daily_revenue"): {"privileges": ["insert"]},
            ("membership", "reporting:analyst"): None,
            ("membership", "transformer:ci_bot"): None,
        },
    )
    managed = {key: Managed(item) for key, item in actual.resources.items()}
    diff = compare(desired, actual, managed, production=True)
    check_golden("update", rendered(diff, desired, actual))


def test_dropping_managed_resources_leaves_the_others_alone(tmp_path: Path) -> None:
    desired = declared(tmp_path, WAREHOUSE)
    gone = Inventory.from_json(
        [
            {"kind": "database", "name": "shop_legacy"},
            {"kind": "schema", "name": "scratch", "owner": "intern"},
            {"kind": "schema", "name": "old_marts"},
            {"kind": "role", "name": "intern", "login": False},
            {"kind": "role", "name": "old_bot", "login": True},
            {"kind": "membership", "name": "reporting:old_bot", "group": "reporting", "role": "old_bot"},
            {
                "kind": "grant",
                "name": "intern:all_tables_in_schema:analytics",
                "grantee": "intern",
                "target": "all_tables_in_schema",
                "object": "analytics",
                "privileges": ["select"],
            },
            {
                "kind": "grant",
                "name": "old_bot:table:analytics.daily_revenue",
                "grantee": "old_bot",
                "target": "table",
                "object": "analytics.daily_revenue",
                "privileges": ["select"],
            },
        ]
    )
    by_hand = {"kind": "role", "name": "dba", "login": False}  # in the warehouse, never managed
    actual = Inventory.from_json([*desired.to_json(), *gone.to_json(), by_hand])
    managed = {key: Managed(item) for key, item in [*desired.resources.items(), *gone.resources.items()]}
    impact = Impact(objects_in_schema=lambda schema: 3 if schema == "scratch" else 0)
    diff = compare(desired, actual, managed, production=True, impact=impact)
    assert [item.name for item in diff.unmanaged] == ["dba"]
    check_golden("drop", rendered(diff, desired, actual))


def grant_statements(tmp_path: Path, grant: str, *, before: list[str] | None = None) -> list[str]:
    """The statements of one grant to `analyst`, which the warehouse lacks or has with `before`."""
    desired = declared(tmp_path, {**WAREHOUSE, "infra/grants.yml": f"grants:\n  - to: analyst\n{grant}"})
    entries = desired.to_json()
    actual = [e for e in entries if e["kind"] != "grant"]
    if before is not None:
        actual += [{**e, "privileges": before} for e in entries if e["kind"] == "grant"]
    diff = compare(desired, Inventory.from_json(actual), {}, production=False)
    return [s.shown for s in dialects.statements(diff.changes, "snowflake", users(desired))]


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        (
            "    privileges: [connect]\n    on: {database: shop}",
            ['GRANT USAGE ON DATABASE "SHOP" TO ROLE "ANALYST"'],
        ),
        (
            "    privileges: [create]\n    on: {database: shop}",
            ['GRANT CREATE SCHEMA ON DATABASE "SHOP" TO ROLE "ANALYST"'],
        ),
        (
            "    privileges: [all]\n    on: {schema: shop.marts}",
            ['GRANT CREATE TABLE, CREATE VIEW, USAGE ON SCHEMA "SHOP"."MARTS" TO ROLE "ANALYST"'],
        ),
        (
            "    privileges: [select, insert, update, delete, truncate, references]\n    on: {table: marts.orders}",
            [
                'GRANT DELETE, INSERT, REFERENCES, SELECT, TRUNCATE, UPDATE ON TABLE "MARTS"."ORDERS" TO ROLE "ANALYST"'
            ],
        ),
        (
            "    privileges: [select]\n    on: {all_tables_in_schema: shop.marts}",
            [
                'GRANT SELECT ON ALL TABLES IN SCHEMA "SHOP"."MARTS" TO ROLE "ANALYST"',
                'GRANT SELECT ON FUTURE TABLES IN SCHEMA "SHOP"."MARTS" TO ROLE "ANALYST"',
            ],
        ),
    ],
)
def test_privileges_are_snowflakes(tmp_path: Path, grant: str, expected: list[str]) -> None:
    assert grant_statements(tmp_path, grant) == expected


def test_an_update_grants_what_is_new_and_revokes_what_is_gone(tmp_path: Path) -> None:
    statements = grant_statements(
        tmp_path, "    privileges: [usage]\n    on: {schema: marts}", before=["create", "usage"]
    )
    assert statements == ['REVOKE CREATE TABLE, CREATE VIEW ON SCHEMA "MARTS" FROM ROLE "ANALYST"']


@pytest.mark.parametrize(
    ("grant", "message", "hint"),
    [
        ("    privileges: [connect, temp]\n    on: {database: shop}", "no 'temporary' privilege", "create"),
        (
            "    privileges: [select, trigger]\n    on: {table: marts.orders}",
            "no 'trigger' privilege",
            "triggers",
        ),
    ],
)
def test_a_privilege_snowflake_lacks_names_its_file_and_line(
    tmp_path: Path, grant: str, message: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as error:
        grant_statements(tmp_path, grant)
    assert message in error.value.message and hint in (error.value.hint or "")
    assert (error.value.path, error.value.line) == ("infra/grants.yml", 2)


def test_what_only_roles_can_have_is_refused_for_a_user(tmp_path: Path) -> None:
    future = "    privileges: [select]\n    on: {all_tables_in_schema: marts}"
    files = {**WAREHOUSE, "infra/grants.yml": f"grants:\n  - to: ci_bot\n{future}"}
    desired = declared(tmp_path, files)
    changes = compare(desired, Inventory.from_json([]), {}, production=False).changes
    with pytest.raises(ConfigError, match="future tables only to roles") as error:
        dialects.statements(changes, "snowflake", users(desired))
    assert error.value.path == "infra/grants.yml"

    owned = WAREHOUSE["infra/warehouse.yml"].replace("owner: transformer", "owner: ci_bot")
    desired = declared(tmp_path, {**WAREHOUSE, "infra/warehouse.yml": owned})
    changes = compare(desired, Inventory.from_json([]), {}, production=False).changes
    with pytest.raises(ConfigError, match="only roles own objects"):
        dialects.statements(changes, "snowflake", users(desired))


def test_a_role_cannot_become_a_user(tmp_path: Path) -> None:
    desired = declared(tmp_path, WAREHOUSE)
    actual = state_of(desired, {("role", "ci_bot"): {"login": False}})
    changes = compare(desired, actual, {}, production=False).changes
    with pytest.raises(PlanError, match="different objects") as error:
        dialects.statements(changes, "snowflake", users(desired))
    assert error.value.path == "infra/warehouse.yml"


def test_a_password_is_masked_and_read_from_the_environment_when_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "It's a\\secret"
    monkeypatch.setenv("CI_BOT_PASSWORD", secret)
    desired = declared(tmp_path, WAREHOUSE)
    statements = dialects.statements(
        compare(desired, Inventory.from_json([]), {}, production=False).changes, "snowflake"
    )
    (user,) = [s for s in statements if s.secret_env]
    assert user.shown == f"CREATE USER \"CI_BOT\" PASSWORD = {MASK} COMMENT = 'Runs tidegate in CI'"
    assert all(secret not in s.shown and "secret" not in s.sql for s in statements)
    # Snowflake reads backslash escapes in string literals: both quote and backslash are escaped
    assert (
        user.executable()
        == "CREATE USER \"CI_BOT\" PASSWORD = 'It''s a\\\\secret' COMMENT = 'Runs tidegate in CI'"
    )

    monkeypatch.delenv("CI_BOT_PASSWORD")
    with pytest.raises(ConfigError, match="CI_BOT_PASSWORD"):
        user.executable()


def test_every_statement_commits_on_its_own(tmp_path: Path) -> None:
    desired = declared(tmp_path, WAREHOUSE)
    statements = dialects.statements(
        compare(desired, Inventory.from_json([]), {}, production=False).changes, "snowflake"
    )
    assert statements and not any(s.transactional for s in statements)
    assert isinstance(dialects.dialect("snowflake"), SnowflakeDialect)
