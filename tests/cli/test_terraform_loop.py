"""The whole Terraform loop through the command line, as a team lives it: a root bootstrapped
with `--allow-unreviewed`, a pull request that replaces a resource (CI fails naming it until it
is allowed), its merge applying exactly the plan CI reviewed, drift made by hand, and a reviewed
plan gone stale whose new plan differs, which the deploy refuses.

A real Terraform, a real provider from a filesystem mirror and remote state in PostgreSQL (the
kit of tests/infra/terraform/kit.py); `main` deploys staging (tests/ci/repos.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import Ran, invoke
from tests.infra.terraform.kit import TerraformKit, TerraformNames

ROOT = "terraform/warehouse"
SCHEMA = """
    resource "pg_schema" "a" {{
      name    = "{name}"
      comment = "{comment}"
    }}
"""


def write_root(repo: Path, kit: TerraformKit, names: TerraformNames, *, name: str, comment: str) -> None:
    folder = repo / ROOT
    folder.mkdir(parents=True, exist_ok=True)
    resources = SCHEMA.format(name=f"{names.prefix}{name}", comment=comment)
    (folder / "main.tf").write_text(kit.main_tf(names.state_schema, resources))


def schemas(kit: TerraformKit, names: TerraformNames) -> dict[str, str | None]:
    """The provider's schemas of this test as PostgreSQL holds them: name -> comment."""
    rows = kit.sql(
        "SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname LIKE %s",
        [f"{names.prefix}%"],
    )
    return {name.removeprefix(names.prefix): comment for name, comment in rows}


def by_hand(kit: TerraformKit, names: TerraformNames, sql: str) -> None:
    kit.sql(sql.replace("{p}", names.prefix))


def pull_request(repo: Path, number: int, *args: str) -> Ran:
    return invoke(repo, "ci", "--base", "main", "--head", f"pr{number}", "--pr", str(number), "--json", *args)


def terraform_step(ran: Ran) -> dict[str, Any]:
    [step] = [step for step in ran.json()["steps"] if step["name"] == "terraform"]
    return step


def merge(repo: Path, number: int) -> None:
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", f"pr{number}", "-m", f"Merge pull request #{number}")


def deploy(repo: Path, *args: str) -> Ran:
    return invoke(repo, "deploy", "--branch", "main", "--json", *args)


def test_pull_request_review_merge_apply_drift_and_a_stale_plan(
    tmp_path: Path, terraform_env: TerraformKit, terraform_names: TerraformNames
) -> None:
    kit, names = terraform_env, terraform_names
    repo = make_repository(tmp_path / "repo")
    with (repo / "tidegate.yml").open("a") as config:
        config.write(
            f"terraform:\n  binary: {kit.binary}\n  roots:\n    - {{path: {ROOT}, environment: staging}}\n"
        )
    write_root(repo, kit, names, name="a", comment="one")
    commit(repo, "a Terraform root")

    # bootstrap: nothing was reviewed, so only --allow-unreviewed applies it, and says so
    refused = deploy(repo)
    assert refused.code == 1, refused.all
    assert f"{ROOT}: no plan was reviewed" in refused.stderr and "pg_schema.a (create)" in refused.stderr
    assert schemas(kit, names) == {}
    bootstrapped = deploy(repo, "--allow-unreviewed")
    assert bootstrapped.code == 0, bootstrapped.all
    assert [r["outcome"] for r in bootstrapped.json()["terraform"]] == ["applied unreviewed"]
    assert schemas(kit, names) == {"a": "one"}

    # a pull request renames the schema: a replacement, which fails CI naming it until allowed
    git(repo, "checkout", "-q", "-b", "pr1")
    write_root(repo, kit, names, name="a_v2", comment="one")
    commit(repo, "rename the schema")
    failed = pull_request(repo, 1)
    assert failed.code == 1, failed.all
    step = terraform_step(failed)
    assert step["status"] == "failed" and "pg_schema.a" in step["summary"]
    [root] = step["data"]["roots"]
    assert [(c["address"], c["action"]) for c in root["changes"]] == [("pg_schema.a", "replace")]
    assert root["blocked"] == ["pg_schema.a"]
    allowed = pull_request(repo, 1, "--allow-destroy")
    assert allowed.code == 0, allowed.all
    reviewed = terraform_step(allowed)["data"]["roots"][0]["reviewed"]
    assert reviewed["allowed"] and reviewed["source"] == "pr 1"

    # the merge commit finds the plan reviewed for the same files and applies exactly it
    merge(repo, 1)
    deployed = deploy(repo)
    assert deployed.code == 0, deployed.all
    [applied] = deployed.json()["terraform"]
    assert applied["outcome"] == "applied"
    assert applied["reviewed"]["plan_sha256"] == reviewed["plan_sha256"]
    assert applied["destroyed"] == ["pg_schema.a"]
    assert schemas(kit, names) == {"a_v2": "one"}

    # drift made by hand is reported, and left alone
    by_hand(kit, names, "COMMENT ON SCHEMA {p}a_v2 IS 'by hand'")
    drift = invoke(repo, "infra", "drift", "staging", "--json")
    assert drift.code == 1, drift.all
    assert drift.json()["terraform"] == [{"root": ROOT, "drifted": ["pg_schema.a (changed: comment)"]}]
    by_hand(kit, names, "COMMENT ON SCHEMA {p}a_v2 IS 'one'")

    # a reviewed plan goes stale: someone drops the schema and records that in the state
    git(repo, "checkout", "-q", "-b", "pr2")
    write_root(repo, kit, names, name="a_v2", comment="two")
    commit(repo, "a better comment")
    assert pull_request(repo, 2).code == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo / ROOT, elsewhere)
    kit.run(elsewhere, "init", "-input=false")
    by_hand(kit, names, "DROP SCHEMA {p}a_v2")
    kit.run(elsewhere, "apply", "-input=false", "-auto-approve", "-refresh-only")
    merge(repo, 2)
    stale = deploy(repo)
    assert stale.code == 1, stale.all
    message = json.loads(stale.stdout)["message"]
    assert "the plan reviewed in pr 2 went stale" in message and "pg_schema.a (create)" in message
    assert schemas(kit, names) == {}  # nothing applied blindly
