"""The `tidegate infra` commands around a plan: a saved state in another dialect, a Terraform
plan reviewed alongside, and the Terraform hand-over, on an embedded-DuckDB project."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import invoke
from tests.infra.test_terraform import PLAN

INFRA = """
roles:
  - name: transformer
users:
  - name: loader
    password: ${LOADER_PASSWORD}
    roles: [transformer]
schemas:
  - name: raw
    owner: transformer
grants:
  - {to: transformer, privileges: [usage], on: {schema: raw}}
"""


def test_a_saved_state_is_planned_in_snowflake(make_project: Callable[..., Path], tmp_path: Path) -> None:
    project = make_project({"infra/warehouse.yml": INFRA})
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            [{"kind": "role", "name": "transformer", "login": False}, {"kind": "schema", "name": "raw"}]
        )
    )

    ran = invoke(project, "infra", "plan", "prod", "--dialect", "snowflake", "--state", str(state), "--json")

    assert ran.code == 0, ran.all
    plan = ran.json()
    assert plan["dialect"] == "snowflake"
    assert plan["counts"] == {"create": 3, "update": 1, "delete": 0}
    assert 'GRANT ROLE "TRANSFORMER" TO USER "LOADER"' in plan["statements"]
    assert not [
        s for s in plan["statements"] if "LOADER_PASSWORD" in s or ("PASSWORD = '" in s and "****" not in s)
    ]


def test_a_state_file_without_a_dialect_is_bad_input(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    project = make_project({"infra/warehouse.yml": INFRA})
    ran = invoke(project, "infra", "plan", "prod", "--state", str(tmp_path / "state.json"))
    assert ran.code == 2 and "--dialect and --state go together" in ran.stderr


def test_a_terraform_plan_is_reviewed_alongside(make_project: Callable[..., Path], tmp_path: Path) -> None:
    project = make_project({"infra/schemas.yml": "schemas:\n  - name: raw\n"})
    terraform_plan = tmp_path / "tfplan.json"
    terraform_plan.write_text(json.dumps(PLAN))

    ran = invoke(project, "infra", "plan", "prod", "--terraform-plan", str(terraform_plan))
    document = invoke(
        project, "infra", "plan", "prod", "--terraform-plan", str(terraform_plan), "--json"
    ).json()

    assert ran.code == 0, ran.all
    assert "Terraform plan:" in ran.stdout
    assert document["terraform"]["counts"]
    assert [c["name"] for c in document["changes"]] == ["raw"]


def test_the_export_is_terraform_json(make_project: Callable[..., Path], tmp_path: Path) -> None:
    project = make_project({"infra/schemas.yml": "schemas:\n  - name: raw\n"})
    out = tmp_path / "main.tf.json"

    ran = invoke(project, "infra", "export", "prod", "--format", "terraform", "--out", str(out))

    assert ran.code == 0, ran.all
    document = json.loads(out.read_text())
    assert document["terraform"]["required_providers"]["postgresql"]["source"] == "cyrilgdn/postgresql"
    assert "postgresql_schema" in document["resource"]
