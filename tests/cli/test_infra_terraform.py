"""`tidegate infra drift|plan ENV` with ENV's Terraform roots beside infra/*.yml, on the real
Terraform of the kit: drift made by hand (a schema's comment changed with SQL) is listed with
exit 1, and the plan shows each resource change of the root, destructive ones marked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cli.conftest import invoke
from tests.conftest import CONFIG
from tests.infra.terraform.kit import TerraformKit, TerraformNames
from tidegate.infra.terraform.roots import root_files
from tidegate.infra.terraform.workflow import Settings, apply_root
from tidegate.project.config import load_config

RESOURCES = """
    resource "pg_schema" "a" {
      name    = "{p}a"
      comment = "one"
    }

    resource "pg_schema" "b" {
      name = "{p}b"
    }
"""


def write_root(project: Path, kit: TerraformKit, names: TerraformNames, resources: str) -> None:
    folder = project / "terraform" / "prod"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(kit.main_tf(names.state_schema, resources.replace("{p}", names.prefix)))


def test_drift_and_plan_of_a_root_beside_infra_files(
    make_project: Callable[..., Path], terraform_env: TerraformKit, terraform_names: TerraformNames
) -> None:
    kit, p = terraform_env, terraform_names.prefix
    config = CONFIG + (
        f'terraform:\n  binary: "{kit.binary}"\n'
        "  roots:\n    - {path: terraform/prod, environment: prod}\n"
        "    - {path: terraform/dev, environment: dev}\n"  # another environment's root: never run
    )
    project = make_project({"infra/schemas.yml": "schemas:\n  - name: raw\n"}, config=config)
    write_root(project, kit, terraform_names, RESOURCES)
    terraform = load_config(project).terraform
    apply_root(
        project,
        root_files(project, terraform.roots[0]),
        Settings.of(terraform, project),
        None,
        allow_unreviewed=True,
    )

    clean = invoke(project, "infra", "drift", "prod", "--json")
    assert clean.code == 0, clean.all
    assert clean.json()["terraform"] == [{"root": "terraform/prod", "drifted": []}]

    kit.sql(f"COMMENT ON SCHEMA \"{p}a\" IS 'by hand'")
    drifted = invoke(project, "infra", "drift", "prod", "--json")
    assert drifted.code == 1, drifted.all
    document = drifted.json()
    assert document["drift"] is True and document["changed"] == []  # infra/*.yml has no drift
    assert document["terraform"] == [
        {"root": "terraform/prod", "drifted": ["pg_schema.a (changed: comment)"]}
    ]
    assert "Terraform drift in root terraform/prod" in drifted.stderr
    assert "pg_schema.a (changed: comment)" in drifted.stderr

    write_root(project, kit, terraform_names, RESOURCES.replace('"one"', '"two"').replace("{p}b", "{p}b2"))
    planned = invoke(project, "infra", "plan", "prod", "--json")
    assert planned.code == 0, planned.all
    plan = planned.json()
    assert [change["name"] for change in plan["changes"]] == ["raw"]  # infra/*.yml, side by side
    [root] = plan["terraform_roots"]
    assert (root["root"], root["counts"], root["blocked"]) == (
        "terraform/prod",
        {"update": 1, "replace": 1},
        ["pg_schema.b"],
    )
    changes: dict[str, Any] = {change["address"]: change for change in root["changes"]}
    assert changes["pg_schema.a"]["attributes"] == [{"name": "comment", "before": "by hand", "after": "two"}]
    assert changes["pg_schema.b"]["replaced_by"] == ["name"]
    shown = planned.stderr
    assert "Terraform root terraform/prod (prod)" in shown
    assert "-/+ pg_schema.b (replace)  DESTRUCTIVE" in shown
    assert "comment: 'by hand' -> 'two'" in shown
    assert "name: " in shown and "(forces replacement)" in shown
    assert "destructive change(s) CI would fail: pg_schema.b" in shown
