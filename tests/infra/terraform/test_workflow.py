"""Plan a root for review, apply what was reviewed, look for drift: on the real Terraform 1.0.3,
the kit's provider (PostgreSQL schemas and roles) and state in the pg backend.

Each test is one story, as a team lives it, sharing Terraform's runs (about a second each)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.terraform.kit import SOURCE, TerraformKit, TerraformNames
from tidegate.errors import CheckFailed, TerraformApplyFailed, TerraformError
from tidegate.infra.terraform.roots import RootFiles, root_files
from tidegate.infra.terraform.workflow import (
    RootPlan,
    Settings,
    apply_root,
    drift_root,
    plan_root,
)
from tidegate.project.shipping import TerraformRoot

ROLE_PASSWORD, VARIABLE_PASSWORD = "rolepw-7f3a", "varpw-91c2"


@dataclass
class Warehouse:
    """A project with one root, `terraform/warehouse`, whose main.tf the test rewrites."""

    kit: TerraformKit
    names: TerraformNames
    project: Path
    root: TerraformRoot
    settings: Settings

    def write(self, resources: str) -> RootFiles:
        """main.tf with these resources (`{p}` is the test's prefix); the root's files now."""
        text = self.kit.main_tf(self.names.state_schema, resources.replace("{p}", self.names.prefix))
        (self.project / self.root.path / "main.tf").write_text(text)
        return root_files(self.project, self.root)

    def line(self, text: str) -> int:
        """The number of the first line of main.tf holding `text`."""
        lines = (self.project / self.root.path / "main.tf").read_text().splitlines()
        return next(number for number, line in enumerate(lines, start=1) if text in line)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        return self.kit.sql(statement.replace("{p}", self.names.prefix))

    def comment(self, schema: str) -> str | None:
        rows = self.sql(f"SELECT obj_description('{{p}}{schema}'::regnamespace, 'pg_namespace')")
        return rows[0][0]

    def schemas(self) -> list[str]:
        rows = self.sql("SELECT nspname FROM pg_namespace WHERE nspname LIKE '{p}%' ORDER BY 1")
        return [name.removeprefix(self.names.prefix) for (name,) in rows]

    def record_by_hand(self) -> None:
        """What another machine does: `terraform apply -refresh-only` on the root, which
        writes what it reads into the state (a new serial: saved plans made before go stale)."""
        shutil.rmtree(self.project.parent / "elsewhere", ignore_errors=True)
        elsewhere = shutil.copytree(self.project, self.project.parent / "elsewhere") / self.root.path
        self.kit.run(elsewhere, "init", "-input=false")
        self.kit.run(
            elsewhere, "apply", "-input=false", "-refresh-only", "-auto-approve", "-var-file=v.tfvars"
        )


@pytest.fixture
def warehouse(terraform_env: TerraformKit, terraform_names: TerraformNames, tmp_path: Path) -> Warehouse:
    project = tmp_path / "project"
    folder = project / "terraform/warehouse"
    folder.mkdir(parents=True)
    (folder / "variables.tf").write_text(
        'variable "comment" {\n  type = string\n}\n\n'
        'variable "password" {\n  type      = string\n  sensitive = true\n}\n'
    )
    # a variables file sets both; `vars:` in tidegate.yml wins for the comment
    (folder / "v.tfvars").write_text(f'comment  = "from the file"\npassword = "{VARIABLE_PASSWORD}"\n')
    root = TerraformRoot(
        path="terraform/warehouse", environment="prod", vars={"comment": "one"}, var_files=["v.tfvars"]
    )
    settings = Settings(executable=str(terraform_env.binary), lock_timeout="10s")
    return Warehouse(terraform_env, terraform_names, project, root, settings)


SCHEMA_A = """
resource "pg_schema" "a" {
  name    = "{p}a"
  comment = var.comment
}
"""
ROLE_R = f"""
resource "pg_role" "r" {{
  name     = "{{p}}r"
  login    = true
  password = "{ROLE_PASSWORD}"
}}
"""
ROLE_V = """
resource "pg_role" "v" {
  name     = "{p}v"
  login    = false
  password = var.password
}
"""
MODULE_C = """
module "extra" {
  source = "../../shared/extra"
  name   = "{p}c"
}
"""
EXTRA = f"""terraform {{
  required_providers {{
    pg = {{ source = "{SOURCE}" }}
  }}
}}

variable "name" {{
  type = string
}}

resource "pg_schema" "c" {{
  name = var.name
}}
"""


def assert_no_secret(*documents: Any) -> None:
    text = json.dumps(documents, default=str)
    assert ROLE_PASSWORD not in text and VARIABLE_PASSWORD not in text


def test_create_update_replace_delete_through_review(warehouse: Warehouse) -> None:
    files = warehouse.write(SCHEMA_A + ROLE_R + ROLE_V)
    planned = plan_root(warehouse.project, files, warehouse.settings)
    assert isinstance(planned, RootPlan)
    assert planned.plan.counts == {"create": 3} and planned.blocked == ()
    assert planned.unformatted == ()
    assert_no_secret(planned.plan_json, planned.to_dict())
    assert '"(sensitive)"' in planned.plan_json
    reviewed = planned.reviewed("pr 1", "abc123", allowed=False)
    assert reviewed.allowed and reviewed.content_key == files.key
    assert_no_secret(reviewed.to_dict())

    applied = apply_root(warehouse.project, files, warehouse.settings, reviewed)
    assert (applied.outcome, applied.destroyed) == ("applied", ())
    assert warehouse.schemas() == ["a"] and warehouse.comment("a") == "one"  # vars win over the file
    assert_no_secret(applied.to_dict())

    # replace (a new name), delete, update in place; and a file `terraform fmt` would rewrite
    files = warehouse.write(SCHEMA_A.replace('"{p}a"', '"{p}b"') + ROLE_V.replace("false", "true"))
    (warehouse.project / warehouse.root.path / "extra.tf").write_text("locals {\n  x   = 1\n}\n")
    files = root_files(warehouse.project, warehouse.root)
    settings = Settings(warehouse.settings.executable, "10s", allow_destroy=("pg_role.*",))
    planned = plan_root(warehouse.project, files, settings)
    assert {c.address: c.action for c in planned.plan.changes} == {
        "pg_schema.a": "replace",
        "pg_role.r": "delete",
        "pg_role.v": "update",
    }
    assert [c.address for c in planned.blocked] == ["pg_schema.a"]  # pg_role.* is allowed
    assert planned.unformatted == ("terraform/warehouse/extra.tf",)
    assert_no_secret(planned.plan_json, planned.to_dict())
    with pytest.raises(CheckFailed, match="destroys what CI did not allow"):
        apply_root(warehouse.project, files, settings, planned.reviewed("pr 2", None, allowed=False))
    assert warehouse.schemas() == ["a"]  # nothing ran
    reviewed = planned.reviewed("pr 2", None, allowed=True)  # tidegate ci --allow-destroy
    applied = apply_root(warehouse.project, files, settings, reviewed)
    assert applied.outcome == "applied"
    assert sorted(applied.destroyed) == ["pg_role.r", "pg_schema.a"]
    assert warehouse.schemas() == ["b"]
    assert warehouse.sql("SELECT rolname FROM pg_roles WHERE rolname = '{p}r'") == []

    # applied once more (a deploy run again): the saved plan is stale, nothing is left to do
    again = apply_root(warehouse.project, files, settings, reviewed)
    assert (again.outcome, again.plan.changes) == ("no changes", ())


def test_a_stale_plan_is_applied_again_only_with_the_same_changes(warehouse: Warehouse) -> None:
    (warehouse.project / "shared/extra").mkdir(parents=True)
    (warehouse.project / "shared/extra/main.tf").write_text(EXTRA)  # a local module
    files = warehouse.write(SCHEMA_A + MODULE_C)
    assert files.folders == ("terraform/warehouse", "shared/extra")
    with pytest.raises(CheckFailed) as refused:
        apply_root(warehouse.project, files, warehouse.settings, None)
    assert refused.value.exit_code == 1 and refused.value.path == "terraform/warehouse"
    assert "no plan was reviewed" in refused.value.message
    assert refused.value.message.endswith(": module.extra.pg_schema.c (create), pg_schema.a (create)")
    bootstrap = apply_root(warehouse.project, files, warehouse.settings, None, allow_unreviewed=True)
    assert (bootstrap.outcome, bootstrap.reviewed) == ("applied unreviewed", None)
    assert warehouse.schemas() == ["a", "c"]

    # reviewed: comment "one" -> "two"; meanwhile the comment is changed by hand and recorded
    warehouse.root = TerraformRoot(**{**warehouse.root.model_dump(), "vars": {"comment": "two"}})
    files = root_files(warehouse.project, warehouse.root)
    reviewed = plan_root(warehouse.project, files, warehouse.settings).reviewed("pr 3", None, allowed=False)
    warehouse.sql("COMMENT ON SCHEMA {p}a IS 'by hand'")
    assert [str(item) for item in drift_root(warehouse.project, files, warehouse.settings)] == [
        "pg_schema.a (changed: comment)"
    ]
    warehouse.record_by_hand()
    progress: list[str] = []
    applied = apply_root(warehouse.project, files, warehouse.settings, reviewed, progress=progress.append)
    assert applied.outcome == "applied again"  # "by hand" -> "two" is the reviewed change
    assert "stale" in progress[-1]
    assert warehouse.comment("a") == "two"

    # reviewed: comment "three"; meanwhile schema c is dropped by hand and that is recorded
    warehouse.root = TerraformRoot(**{**warehouse.root.model_dump(), "vars": {"comment": "three"}})
    files = root_files(warehouse.project, warehouse.root)
    reviewed = plan_root(warehouse.project, files, warehouse.settings).reviewed("pr 4", None, allowed=False)
    warehouse.sql("DROP SCHEMA {p}c")
    warehouse.record_by_hand()
    with pytest.raises(CheckFailed) as refused:
        apply_root(warehouse.project, files, warehouse.settings, reviewed)
    assert refused.value.message == (
        "terraform/warehouse: the plan reviewed in pr 4 went stale, and planning again makes changes it "
        "did not: module.extra.pg_schema.c (create)"
    )
    assert warehouse.comment("a") == "two" and warehouse.schemas() == ["a"]  # nothing applied


def test_a_failed_apply_names_the_resource_and_a_rerun_finishes(warehouse: Warehouse) -> None:
    warehouse.sql("CREATE SCHEMA {p}taken")
    files = warehouse.write(
        'resource "pg_schema" "fine" {\n  name = "{p}fine"\n}\n\n'
        'resource "pg_schema" "taken" {\n  name = "{p}taken"\n}\n'
    )
    reviewed = plan_root(warehouse.project, files, warehouse.settings).reviewed("pr 5", None, allowed=False)
    with pytest.raises(TerraformApplyFailed) as failed:
        apply_root(warehouse.project, files, warehouse.settings, reviewed)
    assert failed.value.exit_code == 1
    assert (failed.value.path, failed.value.line) == ("terraform/warehouse/main.tf", warehouse.line("taken"))
    assert failed.value.message.startswith("terraform/warehouse: pg_schema.taken: could not create schema")
    assert warehouse.schemas() == ["fine", "taken"]

    warehouse.sql("DROP SCHEMA {p}taken")
    rerun = apply_root(warehouse.project, files, warehouse.settings, reviewed)
    assert rerun.outcome == "applied again"  # what was left of the reviewed plan
    assert [c.address for c in rerun.plan.changes] == ["pg_schema.taken"]
    assert warehouse.schemas() == ["fine", "taken"]


def test_a_syntax_error_names_the_root_file_and_line(warehouse: Warehouse) -> None:
    files = warehouse.write('resource "pg_schema" "a" {\n  name = \n}\n')
    call: Callable[[], object]
    for call in (
        lambda: plan_root(warehouse.project, files, warehouse.settings),
        lambda: drift_root(warehouse.project, files, warehouse.settings),
    ):
        with pytest.raises(TerraformError) as error:
            call()
        assert (error.value.path, error.value.line) == (
            "terraform/warehouse/main.tf",
            warehouse.line('resource "pg_schema" "a"') + 1,
        )
        assert error.value.message.startswith("terraform/warehouse: Invalid expression")
    assert not (warehouse.project / "terraform/warehouse/.terraform").exists()
