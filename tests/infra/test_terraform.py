"""Handing over to Terraform and reading its plans (issue 7: `infra export --format terraform`,
`infra plan --terraform-plan FILE`).

Terraform cannot download the PostgreSQL provider here, so `terraform validate` cannot run; the
tests that use the installed `terraform` (skipped without it) stick to what works offline:
`terraform providers` parses an exported configuration, and a plan of Terraform's built-in
`terraform_data` resources gives a real `terraform show -json` document.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_files
from tidegate.errors import ConfigError
from tidegate.infra.files import load_infra
from tidegate.infra.resources import Inventory, Kind, grant, resource
from tidegate.infra.terraform.export import export_terraform
from tidegate.infra.terraform.plans import read_terraform_plan

INFRA = {
    "infra/warehouse.yml": """
        databases:
          - name: "shop_{{ env }}"
            owner: transformer
            comment: Orders and customers
        schemas:
          - name: analytics
            owner: transformer
            prevent_destroy: true
          - name: staging
        roles:
          - name: transformer
          - name: reporting
          - name: analyst
            member_of: [reporting]
        users:
          - name: ci_bot
            password: ${CI_BOT_PASSWORD}
            roles: [transformer]
        grants:
          - to: reporting
            privileges: [connect, temp]
            on: {database: "shop_{{ env }}"}
          - to: [analyst, public]
            privileges: [usage]
            on: {schema: analytics}
          - to: analyst
            privileges: [select]
            on: {all_tables_in_schema: analytics}
          - to: reporting
            privileges: [select, insert]
            on: {table: staging.orders}
    """
}
SECRET = "hunter2-do-not-print"


def exported(tmp_path: Path, files: dict[str, str] = INFRA) -> dict[str, Any]:
    write_files(tmp_path, files)
    return export_terraform(load_infra(tmp_path, "prod"), "prod")


def references(document: dict[str, Any]) -> set[str]:
    """Every `${...}` expression in the document's resources and provider blocks."""
    text = json.dumps({"provider": document["provider"], "resource": document["resource"]})
    return set(re.findall(r"\$\{([^}]*)\}", text))


def test_the_export_declares_every_resource(tmp_path: Path) -> None:
    document = exported(tmp_path)
    resources = document["resource"]
    assert {kind: sorted(found) for kind, found in resources.items()} == {
        "postgresql_database": ["shop_prod"],
        "postgresql_role": ["analyst", "ci_bot", "reporting", "transformer"],
        "postgresql_grant_role": ["analyst_in_reporting", "ci_bot_in_transformer"],
        "postgresql_schema": ["analytics", "staging"],
        "postgresql_grant": [
            "analyst_all_tables_in_schema_analytics",
            "analyst_schema_analytics",
            "public_schema_analytics",
            "reporting_database_shop_prod",
            "reporting_table_staging_orders",
        ],
        "postgresql_default_privileges": ["analyst_all_tables_in_schema_analytics"],
    }
    grants = resources["postgresql_grant"]
    assert grants["reporting_database_shop_prod"] == {
        "database": "${postgresql_database.shop_prod.name}",
        "role": "${postgresql_role.reporting.name}",
        "object_type": "database",
        "privileges": ["CONNECT", "TEMPORARY"],
    }
    assert grants["reporting_table_staging_orders"] == {
        "database": "${var.postgresql_database}",
        "role": "${postgresql_role.reporting.name}",
        "schema": "${postgresql_schema.staging.name}",
        "object_type": "table",
        "objects": ["orders"],
        "privileges": ["INSERT", "SELECT"],
    }
    assert grants["public_schema_analytics"]["role"] == "public"  # built in: not a resource
    # existing tables (objects = [] is all of them) and those the table owner creates from now on
    assert grants["analyst_all_tables_in_schema_analytics"]["objects"] == []
    assert resources["postgresql_default_privileges"]["analyst_all_tables_in_schema_analytics"] == {
        "database": "${var.postgresql_database}",
        "role": "${postgresql_role.analyst.name}",
        "schema": "${postgresql_schema.analytics.name}",
        "object_type": "table",
        "owner": "${var.table_owner}",
        "privileges": ["SELECT"],
    }
    assert resources["postgresql_grant_role"]["analyst_in_reporting"] == {
        "role": "${postgresql_role.analyst.name}",
        "grant_role": "${postgresql_role.reporting.name}",
    }
    assert resources["postgresql_database"]["shop_prod"]["owner"] == "${postgresql_role.transformer.name}"
    assert resources["postgresql_schema"]["analytics"]["lifecycle"] == {"prevent_destroy": True}
    roles = resources["postgresql_role"]
    assert roles["analyst"]["lifecycle"] == {"ignore_changes": ["roles"]}  # memberships are grant_role
    assert "lifecycle" not in roles["reporting"] and roles["reporting"]["login"] is False


def test_the_export_adopts_what_exists(tmp_path: Path) -> None:
    """The warehouse already has what tidegate made: Terraform imports it instead of creating it."""
    assert exported(tmp_path)["import"] == [
        *(
            {"to": f"postgresql_role.{name}", "id": name}
            for name in ("analyst", "ci_bot", "reporting", "transformer")
        ),
        {"to": "postgresql_database.shop_prod", "id": "shop_prod"},
        {"to": "postgresql_schema.analytics", "id": "${var.postgresql_database}.analytics"},
        {"to": "postgresql_schema.staging", "id": "${var.postgresql_database}.staging"},
    ]


def test_every_reference_is_to_something_the_document_declares(tmp_path: Path) -> None:
    document = exported(tmp_path)
    declared = {f"var.{name}" for name in document["variable"]} | {
        f"{kind}.{label}.name" for kind, found in document["resource"].items() for label in found
    }
    assert references(document) - declared == set()
    assert {f"{entry['to']}.name" for entry in document["import"]} <= declared
    assert "postgresql_role.analyst.name" in references(document)


def test_secrets_are_sensitive_variables_never_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_BOT_PASSWORD", SECRET)
    document = exported(tmp_path)
    assert SECRET not in json.dumps(document)
    user = document["resource"]["postgresql_role"]["ci_bot"]
    assert user["login"] is True and "password" not in user
    assert (user["password_wo"], user["password_wo_version"]) == ("${var.CI_BOT_PASSWORD}", "1")
    for name in ("CI_BOT_PASSWORD", "postgresql_password"):
        assert (
            document["variable"][name] | {"sensitive": True, "ephemeral": True} == document["variable"][name]
        )
        assert "default" not in document["variable"][name]
    assert document["provider"]["postgresql"]["password"] == "${var.postgresql_password}"


def test_what_the_provider_cannot_say_is_listed_in_the_comment(tmp_path: Path) -> None:
    table = "grants:\n  - to: analyst\n    privileges: [update]\n    on: {table: analytics.orders}\n"
    notes = exported(tmp_path, {**INFRA, "infra/table.yml": table})["//"]
    assert notes[0] == "Written by tidegate from infra/*.yml for the environment prod."
    assert any(note.startswith("database shop_prod: its comment is not exported") for note in notes)
    assert any("analytics.orders" in note and "undo each other" in note for note in notes)


def test_addresses_are_valid_terraform_names_and_unique() -> None:
    inventory = Inventory.of(
        [
            resource(Kind.SCHEMA, "2024-archive"),
            resource(Kind.SCHEMA, "2024_archive"),
            resource(Kind.ROLE, "Data Team", login=False),
            grant("Data Team", "schema", "2024-archive", ["usage"]),
        ]
    )
    document = export_terraform(inventory, "dev")
    assert sorted(document["resource"]["postgresql_schema"]) == ["_2024_archive", "_2024_archive_2"]
    assert list(document["resource"]["postgresql_role"]) == ["data_team"]
    (label,) = document["resource"]["postgresql_grant"]
    assert label == "data_team_schema_2024_archive"
    assert "table_owner" not in document["variable"]  # only asked for when a grant needs it


def test_a_password_variable_must_not_shadow_the_connection(tmp_path: Path) -> None:
    files = {"infra/u.yml": "users:\n  - name: bot\n    password: ${postgresql_password}\n"}
    write_files(tmp_path, files)
    with pytest.raises(ConfigError, match="cannot be a Terraform variable") as error:
        export_terraform(load_infra(tmp_path, "prod"), "prod")
    assert (error.value.path, error.value.line) == ("infra/u.yml", 2)


def terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        ["terraform", *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_terraform_reads_the_exported_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "terraform"
    folder.mkdir()
    (folder / "infra.tf.json").write_text(json.dumps(exported(tmp_path), indent=2))
    result = terraform("providers", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "cyrilgdn/postgresql] >= 1.26.0" in result.stdout


# reading `terraform show -json PLANFILE` ----------------------------------------------------


def change(address: str, actions: list[str], **extra: Any) -> dict[str, Any]:
    kind, name = address.removeprefix("data.").split(".")
    before = None if actions == ["create"] else {"name": name}
    after = None if actions == ["delete"] else {"name": name}
    return {
        "address": address,
        "mode": "data" if address.startswith("data.") else "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/cyrilgdn/postgresql",
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "after_unknown": {"id": True} if after else {},
            "before_sensitive": {},
            "after_sensitive": {} if after else False,
        },
        **extra,
    }


PLAN = {
    "format_version": "1.2",
    "terraform_version": "1.11.4",
    "planned_values": {"root_module": {"resources": []}},
    "resource_changes": [
        change("postgresql_role.analyst", ["no-op"]),
        change("postgresql_grant.analyst_schema_analytics", ["create"]),
        change("postgresql_role.ci_bot", ["update"]),
        change(
            "postgresql_database.shop_prod",
            ["delete", "create"],
            action_reason="replace_because_cannot_update",
        ),
        change("postgresql_schema.staging", ["create", "delete"]),
        change(
            "postgresql_grant.intern_table_orders",
            ["delete"],
            action_reason="delete_because_no_resource_config",
        ),
        change("postgresql_role.old_bot", ["delete"], deposed="4b3a2f10"),
        change("data.postgresql_schemas.all", ["read"], action_reason="read_because_dependency_pending"),
    ],
    "resource_drift": [change("postgresql_role.reporting", ["update"])],
    "prior_state": {"format_version": "1.0", "terraform_version": "1.11.4", "values": {"root_module": {}}},
    "configuration": {"provider_config": {"postgresql": {"name": "postgresql"}}, "root_module": {}},
    "relevant_attributes": [{"resource": "postgresql_role.ci_bot", "attribute": ["name"]}],
    "timestamp": "2026-06-01T09:30:00Z",
    "applyable": True,
    "complete": True,
    "errored": False,
}


def test_a_plan_is_summarised_by_action(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN, indent=2))
    plan = read_terraform_plan(path)
    assert plan.terraform_version == "1.11.4"
    assert plan.counts == {"create": 1, "update": 1, "replace": 2, "delete": 2, "read": 1}
    assert plan.summary == "1 to create, 1 to update, 2 to replace, 2 to delete, 1 to read"
    assert plan.addresses == [  # as Terraform lists them, no-ops and drift left out
        "postgresql_grant.analyst_schema_analytics",
        "postgresql_role.ci_bot",
        "postgresql_database.shop_prod",
        "postgresql_schema.staging",
        "postgresql_grant.intern_table_orders",
        "postgresql_role.old_bot (deposed object 4b3a2f10)",
        "data.postgresql_schemas.all",
    ]
    replaced = plan.changes[2]
    assert (replaced.address, replaced.type, replaced.action) == (
        "postgresql_database.shop_prod",
        "postgresql_database",
        "replace",
    )
    assert replaced.destructive
    assert plan.to_dict()["counts"]["replace"] == 2


def test_a_plan_without_changes(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"format_version": "1.2", "planned_values": {"root_module": {}}}))
    plan = read_terraform_plan(path)
    assert (plan.changes, plan.counts, plan.summary) == ((), {}, "no changes")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{\n  "format_version": "1.2",\n  "resource_changes": [\n}\n', "not JSON", 4),
        ("[]", "no format_version", None),
        ('{"format_version": "2.0", "resource_changes": []}', "2.0 is not supported", None),
        ('{"format_version": "1.0", "values": {"root_module": {}}}', "the JSON of a state", None),
        ('{"format_version": "1.2", "planned_values": {}, "errored": true}', "errored", None),
        ('{"format_version": "1.2", "variables": {}}', "no planned_values", None),
        ('{"format_version": "1.2", "resource_changes": {}}', "not a list", None),
        ('{"format_version": "1.2", "resource_changes": [{"address": "a.b", "change": {}}]}', "[0]", None),
        ('{"format_version": "1.2", "resource_changes": [{"change": {"actions": ["create"]}}]}', "[0]", None),
    ],
)
def test_a_malformed_plan_names_the_file(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        read_terraform_plan(path)
    assert message in error.value.message
    assert (error.value.path, error.value.line) == (str(path), line)


def test_a_missing_plan_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as error:
        read_terraform_plan(tmp_path / "nowhere.json")
    assert error.value.path == str(tmp_path / "nowhere.json")


def test_a_real_terraform_plan(tmp_path: Path) -> None:
    """Terraform's built-in `terraform_data` needs no download: apply four, then plan to keep
    one, update one, replace one, delete one and create one."""
    main = tmp_path / "main.tf"
    main.write_text(
        'resource "terraform_data" "keep" { input = "a" }\n'
        'resource "terraform_data" "change" { input = "a" }\n'
        'resource "terraform_data" "swap" { triggers_replace = "a" }\n'
        'resource "terraform_data" "gone" { input = "a" }\n'
    )
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        result = terraform(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    main.write_text(
        'resource "terraform_data" "keep" { input = "a" }\n'
        'resource "terraform_data" "change" { input = "b" }\n'
        'resource "terraform_data" "swap" { triggers_replace = "b" }\n'
        'resource "terraform_data" "new" { input = "a" }\n'
    )
    assert terraform("plan", "-input=false", "-out=plan.bin", cwd=tmp_path).returncode == 0
    shown = terraform("show", "-json", "plan.bin", cwd=tmp_path)
    (tmp_path / "plan.json").write_text(shown.stdout)
    plan = read_terraform_plan(tmp_path / "plan.json")
    assert plan.counts == {"create": 1, "update": 1, "replace": 1, "delete": 1}
    assert sorted(plan.addresses) == [f"terraform_data.{name}" for name in ("change", "gone", "new", "swap")]
