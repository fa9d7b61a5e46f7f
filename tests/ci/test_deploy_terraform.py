"""`tidegate deploy` applies the environment's Terraform roots before its models: the plan
reviewed for exactly the root's files, a stale one only when planning again makes the same
changes, nothing unreviewed unless `--allow-unreviewed` (recorded). Real Terraform, the kit's
provider on the local PostgreSQL, state in the pg backend."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import Ran, invoke
from tests.infra.terraform.kit import TerraformKit, TerraformNames
from tidegate.context import Context
from tidegate.infra.terraform.workflow import Settings, environment_roots, plan_root
from tidegate.state.records import ReviewedPlan

ROOT = "terraform/staging"
RESOURCES = """
resource "pg_schema" "a" {
  name    = "{p}a"
  comment = "one"
}

resource "pg_schema" "b" {
  name    = "{p}b"
  comment = "keep"
}
"""


@dataclass(frozen=True)
class Project:
    """A project in Git whose staging (main's environment) has one Terraform root."""

    repo: Path
    kit: TerraformKit
    names: TerraformNames

    def write_root(self, resources: str, folder: Path | None = None) -> None:
        folder = folder or self.repo / ROOT
        folder.mkdir(parents=True, exist_ok=True)
        text = self.kit.main_tf(self.names.state_schema, resources.replace("{p}", self.names.prefix))
        (folder / "main.tf").write_text(text)

    def change_root(self, old: str, new: str, message: str) -> None:
        main = self.repo / ROOT / "main.tf"
        prefix = self.names.prefix
        main.write_text(main.read_text().replace(old.replace("{p}", prefix), new.replace("{p}", prefix)))
        commit(self.repo, message)

    def review(self, number: int, *, allowed: bool = False) -> ReviewedPlan:
        """What `tidegate ci` keeps for pull request `number` at HEAD: the root's plan."""
        with Context(self.repo) as session:
            config = session.config.terraform
            [files] = environment_roots(self.repo, session.config, "staging")
            planned = plan_root(self.repo, files, Settings.of(config, self.repo), allow_destroy=allowed)
            reviewed = planned.reviewed(f"pr {number}", git(self.repo, "rev-parse", "HEAD"), allowed=allowed)
            session.state("staging").record_reviewed_plan(reviewed)
        return reviewed

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """SQL by hand in the database the provider manages."""
        return self.kit.sql(statement.replace("{p}", self.names.prefix))

    def comment(self, name: str) -> str | None:
        rows = self.sql(
            f"SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = '{{p}}{name}'"
        )
        return rows[0][0] if rows else None

    def history(self) -> list[dict[str, Any]]:
        ran = invoke(self.repo, "history", "staging", "--json")
        return ran.json() if ran.code == 0 else []


def deploy(project: Project, *args: str) -> Ran:
    return invoke(project.repo, "deploy", "--branch", "main", "--json", *args)


@pytest.fixture
def project(tmp_path: Path, terraform_env: TerraformKit, terraform_names: TerraformNames) -> Project:
    repo = make_repository(tmp_path / "repo")
    with (repo / "tidegate.yml").open("a") as config:
        config.write(
            f"terraform:\n  binary: {terraform_env.binary}\n"
            f"  roots:\n    - {{path: {ROOT}, environment: staging}}\n"
        )
    made = Project(repo, terraform_env, terraform_names)
    made.write_root(RESOURCES)
    commit(repo, "a Terraform root for staging")
    return made


@pytest.fixture
def bootstrapped(project: Project, tmp_path: Path) -> tuple[Project, Path]:
    """The root applied once by hand from a copy of it (the copy, initialised, is returned: it
    stands for whoever else runs Terraform on the same state)."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project.repo / ROOT, elsewhere)
    project.kit.run(elsewhere, "init", "-input=false")
    project.kit.run(elsewhere, "apply", "-input=false", "-auto-approve")
    assert project.comment("a") == "one"
    return project, elsewhere


def changes(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(change["action"], change["address"]) for change in record["changes"]]


def test_the_reviewed_plan_is_applied_before_the_models(project: Project) -> None:
    reviewed = project.review(1)

    ran = deploy(project)

    assert ran.code == 0, ran.all
    record = ran.json()
    [root] = record["terraform"]
    assert (root["root"], root["outcome"], root["destroyed"]) == (ROOT, "applied", [])
    assert changes(root) == [("create", "pg_schema.a"), ("create", "pg_schema.b")]
    assert root["reviewed"]["source"] == "pr 1"
    assert root["reviewed"]["plan_sha256"] == reviewed.plan_sha256
    assert (project.comment("a"), project.comment("b")) == ("one", "keep")
    assert record["version"] == 1 and record["built"] and record["allow_unreviewed"] is False
    lines = [line.strip() for line in ran.stderr.splitlines()]
    assert f"Terraform {ROOT}: applied the plan reviewed in pr 1 (2 to create)" in lines
    assert lines.index("+ pg_schema.a (create)") < next(
        i for i, line in enumerate(lines) if line.startswith("Deployed")
    )


def test_nothing_unreviewed_is_applied_unless_allowed_and_recorded(project: Project) -> None:
    refused = deploy(project)

    assert refused.code == 1, refused.all
    assert f"{ROOT}: no plan was reviewed for these files" in refused.stderr
    assert "pg_schema.a (create), pg_schema.b (create)" in refused.stderr
    assert "--allow-unreviewed" in refused.stderr
    assert project.comment("a") is None
    assert project.history() == []  # the models wait for their infrastructure

    ran = deploy(project, "--allow-unreviewed")

    assert ran.code == 0, ran.all
    record = ran.json()
    assert record["allow_unreviewed"] is True
    [root] = record["terraform"]
    assert (root["outcome"], root["reviewed"]) == ("applied unreviewed", None)
    assert project.comment("a") == "one"
    assert f"--allow-unreviewed: {ROOT}" in project.history()[-1]["message"]


def test_a_stale_plan_that_plans_again_the_same_changes_is_applied(
    bootstrapped: tuple[Project, Path],
) -> None:
    project, elsewhere = bootstrapped
    project.change_root('"one"', '"two"', "comment two")
    project.review(2)
    # meanwhile someone changes the schema by hand and refreshes the state: the saved plan is
    # stale, but planning again still changes the comment to "two" and nothing else
    project.sql("COMMENT ON SCHEMA {p}a IS 'by hand'")
    project.kit.run(elsewhere, "apply", "-input=false", "-refresh-only", "-auto-approve")

    ran = deploy(project)

    assert ran.code == 0, ran.all
    [root] = ran.json()["terraform"]
    assert (root["outcome"], root["reviewed"]["source"]) == ("applied again", "pr 2")
    assert changes(root) == [("update", "pg_schema.a")]
    assert project.comment("a") == "two"
    assert "the reviewed plan is stale, planning again" in ran.stderr


def test_a_stale_plan_that_plans_other_changes_is_refused(bootstrapped: tuple[Project, Path]) -> None:
    project, elsewhere = bootstrapped
    project.change_root('"one"', '"two"', "comment two")
    project.review(2)
    # meanwhile another apply changes schema b: planning again would change b back too
    main = elsewhere / "main.tf"
    main.write_text(main.read_text().replace('"keep"', '"other"'))
    project.kit.run(elsewhere, "apply", "-input=false", "-auto-approve")

    ran = deploy(project)

    assert ran.code == 1, ran.all
    assert "the plan reviewed in pr 2 went stale, and planning again makes changes it did not" in ran.stderr
    assert "pg_schema.b (update)" in ran.stderr
    assert (project.comment("a"), project.comment("b")) == ("one", "other")
    assert project.history() == []


def test_a_reviewed_replacement_needs_allow_destroy_and_is_recorded(
    bootstrapped: tuple[Project, Path],
) -> None:
    project, _ = bootstrapped
    project.change_root('"{p}a"', '"{p}c"', "rename a")
    project.review(3)  # CI showed the replacement and did not allow it

    refused = deploy(project)

    assert refused.code == 1, refused.all
    assert f"{ROOT}: the reviewed plan (pr 3) destroys what CI did not allow" in refused.stderr
    assert project.comment("a") == "one"

    ran = deploy(project, "--allow-destroy")

    assert ran.code == 0, ran.all
    [root] = ran.json()["terraform"]
    assert (root["outcome"], root["destroyed"]) == ("applied", ["pg_schema.a"])
    assert (project.comment("a"), project.comment("c")) == (None, "one")
    assert f"terraform destroyed: pg_schema.a ({ROOT})" in project.history()[-1]["message"]
    assert "-/+ pg_schema.a (replace)  DESTRUCTIVE" in ran.stderr


def test_a_failed_apply_stops_before_the_models_and_a_rerun_finishes(project: Project) -> None:
    project.review(1)
    project.sql('CREATE SCHEMA "{p}a"')  # made by hand after the review: creating it fails

    failed = deploy(project)

    assert failed.code == 1, failed.all
    assert f"{ROOT}/main.tf:" in failed.stderr and "already exists" in failed.stderr
    assert project.history() == []

    project.sql('DROP SCHEMA "{p}a"')
    ran = deploy(project)

    assert ran.code == 0, ran.all
    [root] = ran.json()["terraform"]
    assert root["outcome"] == "applied again"
    assert changes(root) == [("create", "pg_schema.a")]
    assert (project.comment("a"), project.comment("b")) == ("one", "keep")
    assert project.history()[-1]["version"] == 1


def test_deploy_help_names_allow_unreviewed() -> None:
    assert "--allow-unreviewed" in invoke(None, "deploy", "--help").stdout
