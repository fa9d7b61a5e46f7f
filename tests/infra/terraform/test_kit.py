"""The Terraform test kit works end to end: the real binary installs the Python provider from the
filesystem mirror, keeps its state in the pg backend, and plans, applies, updates in place,
replaces, sees drift made by hand and fails an apply with PostgreSQL's error as a diagnostic."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.infra.terraform.kit import TerraformKit, TerraformNames


def sql(kit: TerraformKit, statement: str) -> list[tuple[Any, ...]]:
    """Run SQL by hand in the database the provider manages."""
    import psycopg

    with psycopg.connect(kit.dsn, autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def state_names(kit: TerraformKit, schema: str) -> list[tuple[Any, ...]]:
    """The workspaces whose state the pg backend keeps in `schema`."""
    import psycopg

    with psycopg.connect(kit.backend_dsn) as connection:
        return connection.execute(f'SELECT name FROM "{schema}".states').fetchall()


def planned(kit: TerraformKit, root: Path) -> dict[str, dict[str, Any]]:
    """`plan -out`, then the change of each resource in the saved plan (`show -json`), by address."""
    kit.run(root, "plan", "-input=false", "-out=tfplan")
    shown = json.loads(kit.run(root, "show", "-json", "tfplan").stdout)
    return {change["address"]: change["change"] for change in shown["resource_changes"]}


def actions(changes: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {address: change["actions"] for address, change in changes.items()}


def write_root(kit: TerraformKit, root: Path, names: TerraformNames, resources: str) -> None:
    root.mkdir(exist_ok=True)
    (root / "main.tf").write_text(kit.main_tf(names.state_schema, resources.replace("{p}", names.prefix)))


def test_plan_apply_update_replace_and_drift(
    terraform_kit: TerraformKit, terraform_names: TerraformNames, tmp_path: Path
) -> None:
    kit, p, root = terraform_kit, terraform_names.prefix, tmp_path / "root"
    resources = """
        resource "pg_schema" "a" {
          name    = "{p}a"
          comment = "one"
        }

        resource "pg_role" "r" {
          name     = "{p}r"
          login    = true
          password = "s3cret"
        }
    """
    write_root(kit, root, terraform_names, resources)
    kit.run(root, "init", "-input=false")
    kit.run(root, "fmt", "-check")
    changes = planned(kit, root)
    assert actions(changes) == {"pg_schema.a": ["create"], "pg_role.r": ["create"]}
    assert changes["pg_role.r"]["after_sensitive"] == {"password": True}
    kit.run(root, "apply", "-input=false", "tfplan")
    assert state_names(kit, terraform_names.state_schema) == [("default",)]
    assert sql(kit, f"SELECT obj_description('{p}a'::regnamespace, 'pg_namespace')") == [("one",)]
    assert sql(kit, f"SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '{p}r'") == [
        (True, True)
    ]

    resources = resources.replace('"one"', '"two"').replace("true", "false")
    write_root(kit, root, terraform_names, resources)
    assert actions(planned(kit, root)) == {"pg_schema.a": ["update"], "pg_role.r": ["update"]}
    kit.run(root, "apply", "-input=false", "tfplan")
    assert sql(kit, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{p}r'") == [(False,)]

    write_root(kit, root, terraform_names, resources.replace('"{p}a"', '"{p}b"'))
    assert actions(planned(kit, root)) == {"pg_schema.a": ["delete", "create"], "pg_role.r": ["no-op"]}
    kit.run(root, "apply", "-input=false", "tfplan")
    assert sql(kit, f"SELECT nspname FROM pg_namespace WHERE nspname LIKE '{p}%'") == [(f"{p}b",)]
    assert kit.run(root, "plan", "-input=false", "-detailed-exitcode").returncode == 0

    sql(kit, f"COMMENT ON SCHEMA {p}b IS 'by hand'")
    sql(kit, f"DROP ROLE {p}r")
    drift = kit.run(
        root, "plan", "-input=false", "-refresh-only", "-detailed-exitcode", "-no-color", check=False
    )
    assert drift.returncode == 2, drift.stdout + drift.stderr
    assert '"two" -> "by hand"' in drift.stdout
    assert "pg_role.r has been deleted" in drift.stdout
    assert "Warning" not in drift.stdout  # no "Using default upgrade" on reading the state


def test_failing_apply_is_an_error_diagnostic(
    terraform_env: TerraformKit, terraform_names: TerraformNames, tmp_path: Path
) -> None:
    """Terraform started with the test's own environment (`terraform_env` set it), as tidegate
    starts it, finds the provider; PostgreSQL's error fails the apply as an error diagnostic."""
    kit, p, root = terraform_env, terraform_names.prefix, tmp_path / "root"
    sql(kit, f"CREATE SCHEMA {p}taken")
    write_root(kit, root, terraform_names, 'resource "pg_schema" "taken" {\n  name = "{p}taken"\n}\n')
    terraform = str(kit.binary)
    subprocess.run([terraform, "init", "-input=false"], cwd=root, check=True, capture_output=True)
    failed = subprocess.run(
        [terraform, "apply", "-input=false", "-auto-approve", "-json"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    messages = [json.loads(line) for line in failed.stdout.splitlines() if line.startswith("{")]
    errors = [m["diagnostic"] for m in messages if m.get("type") == "diagnostic" and m["@level"] == "error"]
    assert [error["severity"] for error in errors] == ["error"]
    assert f'schema "{p}taken" already exists' in errors[0]["summary"]
    assert errors[0]["range"]["filename"] == "main.tf"
