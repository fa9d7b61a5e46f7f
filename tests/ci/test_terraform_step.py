"""`tidegate ci` on Terraform roots, with a real Terraform, a real provider and remote state in
PostgreSQL (the kit of tests/infra/terraform/kit.py): each touched root planned for review and
kept, destructive changes failing unless allowed, a broken root named by file and line without
hiding the others, `terraform fmt` as lint, and sensitive values in no report.

One pull request tells the story (a Terraform plan costs about a second): it replaces a schema,
changes a role's password, adds an unformatted file and breaks a second root; then it is fixed
and changes the second root only through its variables in tidegate.yml; then it is allowed.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.ci.repos import PIPELINE_CONFIG, ci, commit, git, make_repository
from tests.cli.conftest import invoke
from tests.conftest import CONFIG, write_files
from tests.infra.terraform.kit import TerraformKit, TerraformNames
from tidegate.infra.terraform.roots import root_files
from tidegate.plan.session import Session
from tidegate.project.config import load_config

WAREHOUSE, REPORTING = "terraform/warehouse", "terraform/reporting"
FIRST_SECRET, SECOND_SECRET = "hunter2-first-7391", "hunter2-second-8402"

WAREHOUSE_TF = """
    resource "pg_schema" "landing" {
      name    = "{p}landing"
      comment = "raw files"
    }

    resource "pg_role" "loader" {
      name     = "{p}loader"
      login    = true
      password = "{secret}"
    }
"""
REPORTING_TF = """
    variable "comment" {
      type = string
    }

    resource "pg_schema" "reporting" {
      name    = "{p}reporting"
      comment = var.comment
    }
"""
UNFORMATTED = 'resource "pg_schema" "archive" {\nname = "{p}archive"\n}\n'
BROKEN = 'resource "pg_schema" "broken" {\n  name =\n}\n'


def config(kit: TerraformKit, comment: str) -> str:
    return PIPELINE_CONFIG + (
        "terraform:\n"
        f"  binary: {kit.binary}\n"
        "  roots:\n"
        f"    - {{path: {WAREHOUSE}, environment: prod}}\n"
        f"    - {{path: {REPORTING}, environment: prod, vars: {{comment: {comment}}}}}\n"
    )


def write_root(kit: TerraformKit, folder: Path, state: str, resources: str, **values: str) -> None:
    for name, value in values.items():
        resources = resources.replace(f"{{{name}}}", value)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(kit.main_tf(state, resources))


def apply_by_hand(kit: TerraformKit, folder: Path, tmp_path: Path, *args: str) -> None:
    """What production holds before the pull request: the root applied by Terraform itself, in
    a copy (so nothing of Terraform's lands in the repository)."""
    copy = tmp_path / "applied" / folder.name
    shutil.copytree(folder, copy)
    kit.run(copy, "init", "-input=false")
    kit.run(copy, "apply", "-input=false", "-auto-approve", *args)


@pytest.fixture
def repo(tmp_path: Path, terraform_env: TerraformKit, terraform_names: TerraformNames) -> Path:
    """main with two roots of prod applied, and a branch `feature` checked out."""
    kit, p = terraform_env, terraform_names.prefix
    root = make_repository(tmp_path / "repo")
    (root / "tidegate.yml").write_text(config(kit, "one"))
    write_root(kit, root / WAREHOUSE, terraform_names.state_schema, WAREHOUSE_TF, p=p, secret=FIRST_SECRET)
    write_root(kit, root / REPORTING, terraform_names.state("reporting"), REPORTING_TF, p=p)
    apply_by_hand(kit, root / WAREHOUSE, tmp_path)
    apply_by_hand(kit, root / REPORTING, tmp_path, "-var=comment=one")
    commit(root, "two Terraform roots")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def steps(ran: Any) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in ran.json()["steps"]}


def roots(step: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {root["root"]: root for root in step["data"]["roots"]}


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def test_a_replacement_fails_ci_naming_it_until_allowed_and_the_plan_is_kept_for_the_deploy(
    repo: Path, terraform_env: TerraformKit, terraform_names: TerraformNames, tmp_path: Path
) -> None:
    kit, p, state = terraform_env, terraform_names.prefix, terraform_names.state_schema
    warehouse = repo / WAREHOUSE
    changed = WAREHOUSE_TF.replace('"{p}landing"', '"{p}landing_v2"')
    write_root(kit, warehouse, state, changed, p=p, secret=SECOND_SECRET)
    (warehouse / "extra.tf").write_text(UNFORMATTED.replace("{p}", p))
    with (repo / REPORTING / "main.tf").open("a") as main_tf:
        main_tf.write(BROKEN)
    commit(repo, "replace the landing schema, a new password, an archive, a broken root")
    reports = {kind: tmp_path / f"report.{kind}" for kind in ("md", "junit", "github")}

    ran = ci(repo, "--json", *(f"--report={kind}={path}" for kind, path in reports.items()))

    assert ran.code == 2, ran.all  # the broken root is bad input; the replacement fails too
    found = steps(ran)
    terraform = found["terraform"]
    assert (terraform["status"], terraform["exit_code"]) == ("failed", 2)
    blocked = next(f for f in terraform["findings"] if f["severity"] == "error" and "landing" in f["message"])
    assert (blocked["path"], blocked["line"]) == (
        f"{WAREHOUSE}/main.tf",
        line_of(warehouse / "main.tf", 'resource "pg_schema" "landing" {'),
    )
    assert "pg_schema.landing" in blocked["message"] and "--allow-destroy" in blocked["message"]
    broken = next(f for f in terraform["findings"] if f["path"] == f"{REPORTING}/main.tf")
    assert broken["line"] == line_of(repo / REPORTING / "main.tf", "  name =")
    planned = roots(terraform)
    assert planned[WAREHOUSE]["blocked"] == ["pg_schema.landing"]
    assert planned[WAREHOUSE]["counts"] == {"create": 1, "update": 1, "replace": 1}
    assert "error" in planned[REPORTING] and "changes" not in planned[REPORTING]
    lint = found["lint"]
    assert lint["status"] == "failed"
    assert [(f["path"], f["line"], f["title"]) for f in lint["findings"]] == [
        (f"{REPORTING}/main.tf", broken["line"], "terraform syntax"),
        (f"{WAREHOUSE}/extra.tf", 2, "terraform fmt"),
    ]
    markdown = reports["md"].read_text()
    assert "| -/+ replace | pg_schema.landing |" in markdown
    assert "(forces replacement) | ⚠️ DESTRUCTIVE: not allowed |" in markdown
    assert "| ~ update | pg_role.loader | password: (sensitive) → (sensitive) |" in markdown
    cases = {case.get("name"): case for case in ET.parse(reports["junit"]).getroot().iter("testcase")}
    assert cases[WAREHOUSE].find("failure") is not None and cases[REPORTING].find("failure") is not None
    for text in [ran.stdout, ran.stderr, *(path.read_text() for path in reports.values())]:
        assert FIRST_SECRET not in text and SECOND_SECRET not in text

    # fixed: the second root now changes only through its variables in tidegate.yml
    git(repo, "checkout", "main", "--", f"{REPORTING}/main.tf")
    (warehouse / "extra.tf").write_text(UNFORMATTED.replace("{p}", p).replace("\nname", "\n  name"))
    (repo / "tidegate.yml").write_text(config(kit, "two"))
    commit(repo, "fix the broken root, format, a new comment for reporting")

    ran = ci(repo, "--json")

    assert ran.code == 1, ran.all
    found = steps(ran)
    assert found["lint"]["status"] == "passed"
    terraform = found["terraform"]
    assert "pg_schema.landing" in terraform["summary"] and "not allowed" in terraform["summary"]
    reporting = roots(terraform)[REPORTING]
    assert [(c["address"], c["action"], c["attributes"]) for c in reporting["changes"]] == [
        ("pg_schema.reporting", "update", [{"name": "comment", "before": "one", "after": "two"}])
    ]

    ran = ci(repo, "--json", "--allow-destroy")

    assert ran.code == 0, ran.all
    terraform = steps(ran)["terraform"]
    assert terraform["status"] == "passed"
    assert "(destroys pg_schema.landing: allowed)" in terraform["summary"]
    landing = next(f for f in terraform["findings"] if "pg_schema.landing" in f["message"])
    assert landing["severity"] == "warning" and "allowed by --allow-destroy" in landing["message"]
    shown = roots(terraform)[WAREHOUSE]
    files = root_files(repo, load_config(repo).terraform.roots[0])
    assert shown["content_key"] == files.key and shown["reviewed"]["allowed"] is True
    session = Session(repo)
    try:
        kept = session.state("prod").reviewed_plan(WAREHOUSE, files.key)
    finally:
        session.close()
    assert kept is not None
    assert (kept.allowed, kept.source, kept.git_commit) == (True, "pr 7", git(repo, "rev-parse", "HEAD"))
    assert kept.plan_sha256 == shown["reviewed"]["plan_sha256"]
    assert FIRST_SECRET not in kept.plan_json and SECOND_SECRET not in kept.plan_json
    assert json.loads(kept.plan_json)["resource_changes"]


def test_terraform_fmt_lints_the_files_of_roots_their_modules_and_variables_files(
    tmp_path: Path, terraform_kit: TerraformKit
) -> None:
    project = tmp_path / "project"
    settings = (
        f"terraform:\n  binary: {terraform_kit.binary}\n"
        "  roots: [{path: tf/app, environment: prod, var_files: [../shared.tfvars]}]\n"
    )
    write_files(
        project,
        {
            "tidegate.yml": CONFIG + settings,
            "tf/app/main.tf": 'module "db" {\n  source = "../modules/db"\n}\n',
            "tf/modules/db/main.tf": 'variable "size" {\n  type = string\n}\n\nlocals {\nx = 1\n}\n',
            "tf/shared.tfvars": "size =\n",
            "tf/app/.terraform/modules/cached.tf": "x=1\n",
            "elsewhere/loose.tf": "x=1\n",
        },
    )

    ran = invoke(project, "lint", "--json")

    assert ran.code == 1, ran.all
    report = ran.json()
    assert [(f["path"], f["line"], f["code"], f["tool"]) for f in report["findings"]] == [
        ("tf/modules/db/main.tf", 6, "fmt", "terraform"),
        ("tf/shared.tfvars", 1, "syntax", "terraform"),
    ]
    assert {"tf/app/main.tf", "tf/modules/db/main.tf", "tf/shared.tfvars"} <= set(report["paths"])
    assert not {"elsewhere/loose.tf", "tf/app/.terraform/modules/cached.tf"} & set(report["paths"])
    assert invoke(project, "lint", str(project / "tf/app/main.tf")).code == 0
