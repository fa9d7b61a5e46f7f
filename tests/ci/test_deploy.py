"""`tidegate deploy`: merged commits reach their environments, building only what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import Ran, invoke
from tests.conftest import edit


def deploy(root: Path, *args: str) -> Ran:
    return invoke(root, "deploy", *args, "--json")


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    """main deployed to staging, then production (the same commit) to prod."""
    root = make_repository(tmp_path / "repo")
    assert deploy(root, "--branch", "main").code == 0
    git(root, "branch", "production")
    ran = deploy(root, "--branch", "production")
    assert ran.code == 0, ran.all
    return root


def test_a_branch_deploys_its_environment_at_its_head(tmp_path: Path) -> None:
    root = make_repository(tmp_path / "repo")
    head = git(root, "rev-parse", "HEAD")

    ran = deploy(root, "--branch", "main")

    assert ran.code == 0, ran.all
    record = ran.json()
    assert (record["environment"], record["commit"], record["version"]) == ("staging", head, 1)
    assert "customer_totals" in record["built"]
    history = invoke(root, "history", "staging", "--json").json()
    assert history[-1]["git_commit"] == head


def test_promoting_the_same_commit_builds_nothing(deployed: Path) -> None:
    prod = invoke(deployed, "history", "prod", "--json").json()

    assert len(prod) == 1
    assert invoke(deployed, "query", "prod", "select n from order_count", "--json").json()["rows"] == [[4]]


def test_a_merged_pull_request_builds_nothing_new_on_its_way_to_prod(deployed: Path) -> None:
    git(deployed, "checkout", "-q", "-b", "feature")
    edit(deployed, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(deployed, "one more order")
    ci = invoke(deployed, "ci", "--base", "main", "--pr", "3", "--json")
    assert ci.code == 0, ci.all
    built_in_ci = next(s for s in ci.json()["steps"] if s["name"] == "plan")["data"]["built"]
    assert built_in_ci

    git(deployed, "checkout", "-q", "main")
    git(deployed, "merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #3")
    to_staging = deploy(deployed, "--branch", "main")
    git(deployed, "checkout", "-q", "production")
    git(deployed, "merge", "-q", "--no-ff", "main", "-m", "release")
    to_prod = deploy(deployed, "--branch", "production")

    assert to_staging.code == 0 and to_prod.code == 0, to_staging.all + to_prod.all
    assert to_staging.json()["built"] == [] and to_prod.json()["built"] == []
    assert invoke(deployed, "query", "prod", "select n from order_count", "--json").json()["rows"] == [[5]]


def test_prod_refuses_what_staging_never_ran(deployed: Path) -> None:
    git(deployed, "checkout", "-q", "production")
    edit(deployed, "models/order_count.sql", "count(*) as n", "count(*) + 0 as n")
    commit(deployed, "hotfix straight to production")

    ran = deploy(deployed, "--branch", "production")

    assert ran.code == 1, ran.all
    assert "order_count" in ran.stderr and "staging" in ran.stderr
    assert len(invoke(deployed, "history", "prod", "--json").json()) == 1


def test_a_deployment_can_be_rolled_back(deployed: Path) -> None:
    edit(deployed, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(deployed, "one more order")
    assert deploy(deployed, "--branch", "main").code == 0

    assert invoke(deployed, "rollback", "staging").code == 0

    rows = invoke(deployed, "query", "staging", "select n from order_count", "--json").json()["rows"]
    assert rows == [[4]]


def test_an_unmapped_branch_is_bad_input(deployed: Path) -> None:
    ran = deploy(deployed, "--branch", "nightly")

    assert ran.code == 2
    assert "nightly" in ran.stderr and "branches" in ran.stderr


def test_env_and_ref_deploy_a_tag(deployed: Path) -> None:
    git(deployed, "tag", "v1")

    ran = deploy(deployed, "--env", "dev", "--ref", "v1")

    assert ran.code == 0, ran.all
    assert ran.json()["built"] == []


def test_the_infrastructure_is_applied_before_the_models(deployed: Path) -> None:
    git(deployed, "checkout", "-q", "main")
    (deployed / "infra").mkdir()
    (deployed / "infra" / "schemas.yml").write_text("schemas:\n  - name: landing\n")
    commit(deployed, "a landing schema")

    ran = deploy(deployed, "--branch", "main")

    assert ran.code == 0, ran.all
    infra = ran.json()["infra"]
    assert (infra["create"], infra["update"], infra["delete"], infra["destroyed"]) == (1, 0, 0, [])
    assert [(c["action"], c["label"]) for c in infra["changes"]] == [("create", "schema landing")]
    schemas = invoke(
        deployed,
        "query",
        "staging",
        "select schema_name from duckdb_schemas() where schema_name = 'landing'",
        "--json",
    ).json()
    assert schemas["rows"] == [["landing"]]
    again = deploy(deployed, "--branch", "main").json()["infra"]
    assert (again["create"], again["update"], again["delete"], again["changes"]) == (0, 0, 0, [])


def test_the_infrastructure_changes_are_listed(deployed: Path) -> None:
    git(deployed, "checkout", "-q", "main")
    (deployed / "infra").mkdir()
    (deployed / "infra" / "schemas.yml").write_text("schemas:\n  - name: landing\n")
    commit(deployed, "a landing schema")

    ran = invoke(deployed, "deploy", "--branch", "main")

    assert ran.code == 0, ran.all
    lines = [line.strip() for line in ran.stdout.splitlines()]
    assert lines.index("Infrastructure of staging (duckdb)") < lines.index(
        "+ schema landing  (infra/schemas.yml:2)"
    )
    assert "Applied: 1 created, 0 updated, 0 deleted" in lines


@pytest.fixture
def landing_with_a_table(deployed: Path) -> Path:
    """staging has a managed schema holding a table, and main no longer declares the schema."""
    import duckdb

    git(deployed, "checkout", "-q", "main")
    (deployed / "infra").mkdir()
    (deployed / "infra" / "schemas.yml").write_text("schemas:\n  - name: landing\n")
    commit(deployed, "a landing schema")
    assert deploy(deployed, "--branch", "main").code == 0
    with duckdb.connect(str(deployed / "warehouse.duckdb")) as warehouse:
        warehouse.execute("create table landing.files as select 1 as id")
    (deployed / "infra" / "schemas.yml").write_text("schemas: []\n")
    commit(deployed, "no landing schema")
    return deployed


def test_a_destructive_infrastructure_change_stops_the_deployment(landing_with_a_table: Path) -> None:
    versions = len(invoke(landing_with_a_table, "history", "staging", "--json").json())

    ran = deploy(landing_with_a_table, "--branch", "main")

    assert ran.code == 1, ran.all
    assert "the infrastructure plan destroys: schema landing" in ran.stderr
    assert "deploy again with --allow-destroy" in ran.stderr
    assert len(invoke(landing_with_a_table, "history", "staging", "--json").json()) == versions
    rows = invoke(landing_with_a_table, "query", "staging", "select id from landing.files", "--json")
    assert rows.json()["rows"] == [[1]]


def test_allow_destroy_lets_it_through_and_the_record_says_so(landing_with_a_table: Path) -> None:
    edit(landing_with_a_table, "models/order_count.sql", "count(*) as n", "count(*) as n, 1 as one")
    commit(landing_with_a_table, "and a model change")

    ran = deploy(landing_with_a_table, "--branch", "main", "--allow-destroy")

    assert ran.code == 0, ran.all
    record = ran.json()
    assert record["allow_destroy"] is True
    assert (record["infra"]["delete"], record["infra"]["destroyed"]) == (1, ["schema landing"])
    last = invoke(landing_with_a_table, "history", "staging", "--json").json()[-1]
    assert "--allow-destroy: schema landing" in last["message"]
    gone = invoke(landing_with_a_table, "query", "staging", "select id from landing.files")
    assert gone.code != 0


def test_deploy_help_names_allow_destroy() -> None:
    ran = invoke(None, "deploy", "--help")

    assert "--allow-destroy" in ran.stdout


def test_a_deployment_never_acts_through_the_pull_request_connection(tmp_path: Path) -> None:
    """`pull_requests: connection:` is what `tidegate ci` reaches the warehouse with; a deploy
    keeps the environment's own connection (production's role)."""
    root = make_repository(tmp_path / "repo")
    with (root / "tidegate.yml").open("a") as config:
        config.write(
            "pull_requests:\n  connection: {engine: duckdb, path: pull_requests.duckdb, lock_timeout: 5s}\n"
        )
    commit(root, "pull requests reach their own warehouse")

    ran = deploy(root, "--branch", "main")

    assert ran.code == 0, ran.all
    assert not (root / "pull_requests.duckdb").exists()
    assert invoke(root, "query", "staging", "select n from order_count", "--json").json()["rows"] == [[4]]
