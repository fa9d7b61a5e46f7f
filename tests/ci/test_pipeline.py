"""`tidegate ci` on real git repositories: what a pull request builds, checks and reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.ci.repos import branch_off_production, ci, commit, git, make_repository, rename_total
from tests.cli.conftest import invoke
from tests.conftest import edit


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main with production built from it, and a branch `feature` checked out."""
    return branch_off_production(make_repository(tmp_path / "repo"))


def test_a_non_breaking_change_builds_one_table_and_passes(repo: Path) -> None:
    edit(
        repo, "models/customer_totals.sql", "count(*) as orders", "count(*) as orders, max(amount) as biggest"
    )
    commit(repo, "add a column")

    ran = ci(repo, "--json")

    assert ran.code == 0, ran.all
    report = ran.json()
    assert report["passed"] is True
    plan = next(step for step in report["steps"] if step["name"] == "plan")
    assert plan["data"]["built"] == ["customer_totals"]
    assert report["environment"] == "pr_7"
    assert "models/customer_totals.sql" in report["changed_files"]


def test_the_pull_request_environment_holds_the_change_and_prod_does_not(repo: Path) -> None:
    edit(repo, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(repo, "one more order")

    assert ci(repo).code == 0

    pr = invoke(repo, "query", "pr_7", "select n from order_count", "--json").json()
    prod = invoke(repo, "query", "prod", "select n from order_count", "--json").json()
    assert (pr["rows"], prod["rows"]) == ([[5]], [[4]])


def test_a_column_rename_that_breaks_a_dashboard_fails_and_names_it(repo: Path, tmp_path: Path) -> None:
    rename_total(repo)
    commit(repo, "rename total")

    ran = ci(repo, "--report", f"md={tmp_path / 'r.md'}", "--report", f"junit={tmp_path / 'j.xml'}")

    assert ran.code == 1, ran.all
    markdown = (tmp_path / "r.md").read_text()
    assert "sales" in markdown and "top_customers" in markdown and "total" in markdown
    suites = ET.parse(tmp_path / "j.xml").getroot()
    failures = [case.get("name") for case in suites.iter("testcase") if case.find("failure") is not None]
    assert any("top_customers" in (name or "") for name in failures), failures


def test_a_failing_data_test_fails_ci_with_an_annotation_on_the_file(repo: Path) -> None:
    edit(repo, "models/customer_totals.sql", "group by customer_id", "group by customer_id, amount")
    commit(repo, "break uniqueness")

    ran = ci(repo, "--report", "github")

    assert ran.code == 1, ran.all
    assert "::error file=models/schema.yml" in ran.stdout


def test_bad_sql_in_the_pull_request_is_reported_with_its_file(repo: Path) -> None:
    edit(repo, "models/order_count.sql", "select count(*)", "select count(*) frm")
    commit(repo, "typo")

    ran = ci(repo, "--json")

    assert ran.code in (1, 2), ran.all
    report = ran.json()
    assert report["passed"] is False
    findings = [f for step in report["steps"] for f in step["findings"]]
    assert any(f["path"] == "models/order_count.sql" for f in findings), findings


def test_a_ref_to_no_model_is_bad_input_named_by_file_and_line_everywhere(repo: Path, tmp_path: Path) -> None:
    edit(repo, "models/big_customers.sql", "ref('customer_totals')", "ref('customer_total')")
    commit(repo, "a typo in a ref")

    ran = ci(repo, "--json", "--report", f"md={tmp_path / 'r.md'}")

    assert ran.code == 2, ran.all
    assert "✗ Plan and build: stopped: models/big_customers.sql:1: ref('customer_total')" in ran.stderr
    report = ran.json()
    assert (report["passed"], report["exit_code"]) == (False, 2)
    plan = next(step for step in report["steps"] if step["name"] == "plan")
    assert plan["exit_code"] == 2
    assert plan["summary"].startswith("stopped: models/big_customers.sql:1: ")
    assert [(f["path"], f["line"]) for f in plan["findings"]] == [("models/big_customers.sql", 1)]
    assert "| `models/big_customers.sql` | 1 |" in (tmp_path / "r.md").read_text()


def test_properties_left_for_a_deleted_model_are_bad_input_naming_the_yaml_line(repo: Path) -> None:
    git(repo, "rm", "-q", "models/big_customers.sql", "models/customer_totals.sql")
    commit(repo, "drop the customer models, forget their properties")

    ran = ci(repo)

    assert ran.code == 2, ran.all
    assert "stopped: models/schema.yml:3: properties are declared for 'customer_totals'" in ran.stderr
    assert "bad input (exit 2)" in ran.stderr


def test_a_configuration_that_does_not_load_at_head_is_bad_input_and_still_gets_a_report(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "tidegate.yml").write_text((repo / "tidegate.yml").read_text() + "environments: [\n")
    head = commit(repo, "break the configuration")
    git(repo, "checkout", "-q", "main")  # head is read from git, into a temporary folder

    ran = invoke(
        repo, "ci", "--base", "main", "--head", head, "--pr", "7", "--report", f"md={tmp_path / 'r.md'}"
    )

    assert ran.code == 2, ran.all
    assert "✗ Project configuration: stopped: tidegate.yml:" in ran.stderr  # not the temporary folder's
    assert "tidegate-" not in ran.all
    assert "| ❌ | Project configuration | stopped: tidegate.yml:" in (tmp_path / "r.md").read_text()


def test_failed_checks_alone_exit_1(repo: Path) -> None:
    edit(repo, "models/customer_totals.sql", "group by customer_id", "group by customer_id, amount")
    commit(repo, "break uniqueness")

    ran = ci(repo, "--json")

    assert (ran.code, ran.json()["exit_code"]) == (1, 1), ran.all


def test_a_pull_request_that_conflicts_with_its_base_passes_with_a_warning_naming_the_files(
    repo: Path, tmp_path: Path
) -> None:
    edit(repo, "models/big_customers.sql", "total > 8", "total >= 8")
    commit(repo, "big from 8")
    git(repo, "checkout", "-q", "main")
    edit(repo, "models/big_customers.sql", "total > 8", "total > 9")
    commit(repo, "meanwhile on main: big above 9")
    git(repo, "checkout", "-q", "feature")

    ran = ci(repo, "--json", "--report", f"md={tmp_path / 'r.md'}", "--report", "github")

    assert ran.code == 0, ran.all  # the forge refuses to merge it; CI says why, and checks the head
    assert "This pull request conflicts with its base: merging it into main conflicts in " in ran.stderr
    assert "models/big_customers.sql" in ran.stderr
    markdown = (tmp_path / "r.md").read_text()
    assert "> ⚠️ **This pull request conflicts with its base**: merging it into main conflicts in " in markdown
    assert "::warning title=This pull request conflicts with its base::" in ran.stdout
    report = json.loads(ran.stdout[ran.stdout.index("{") :])
    assert report["conflicts"] == ["models/big_customers.sql"]
    assert report["notices"][0]["severity"] == "warning"


def test_a_pull_request_that_merges_cleanly_has_no_warning(repo: Path) -> None:
    edit(repo, "models/big_customers.sql", "total > 8", "total >= 8")
    commit(repo, "big from 8")
    git(repo, "checkout", "-q", "main")
    edit(repo, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(repo, "meanwhile on main, elsewhere")
    git(repo, "checkout", "-q", "feature")

    report = ci(repo, "--json").json()

    assert (report["conflicts"], report["notices"]) == ([], [])


@pytest.mark.parametrize("checked_out", [True, False], ids=["head-checked-out", "head-from-git"])
def test_a_committed_tidegate_folder_is_ignored_with_a_warning(repo: Path, checked_out: bool) -> None:
    assert ci(repo).code == 0  # the cache is written
    cache = repo / ".tidegate" / "cache"
    assert {p.name for p in cache.iterdir()} >= {"sql.json", "yaml.bin"}
    (cache / "sql.json").write_text("{not json")
    git(repo, "add", "--force", ".tidegate")
    head = commit(repo, "commit the cache by mistake")
    if not checked_out:
        git(repo, "checkout", "-q", "main")

    ran = invoke(repo, "ci", "--base", "main", "--head", head, "--pr", "7", "--json")

    assert ran.code == 0, ran.all
    notice = ran.json()["notices"][0]
    assert (notice["path"], notice["title"]) == (".tidegate", "tidegate's local folder is committed")
    assert "git rm -r --cached .tidegate" in ran.stderr
    assert ci(repo).code == 0  # again, now that the committed cache was written to by the first run


def test_head_can_be_another_commit_and_the_working_tree_is_left_alone(repo: Path) -> None:
    edit(repo, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    head = commit(repo, "one more order")
    git(repo, "checkout", "-q", "main")
    (repo / "scratch.txt").write_text("mine")

    ran = invoke(repo, "ci", "--base", "main", "--head", head, "--pr", "8", "--json")

    assert ran.code == 0, ran.all
    assert (repo / "scratch.txt").read_text() == "mine"
    assert git(repo, "status", "--porcelain") == "?? scratch.txt"
    rows = invoke(repo, "query", "pr_8", "select n from order_count", "--json").json()["rows"]
    assert rows == [[5]]


def test_close_tears_the_environment_down(repo: Path) -> None:
    edit(repo, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(repo, "one more order")
    assert ci(repo).code == 0

    closed = invoke(repo, "ci", "--close", "--pr", "7", "--json")

    assert closed.code == 0 and closed.json()["closed"] is True
    assert "pr_7" not in [e["environment"] for e in invoke(repo, "envs", "--json").json()]


def test_an_unknown_base_is_bad_input(repo: Path) -> None:
    ran = invoke(repo, "ci", "--base", "nope", "--pr", "7")

    assert ran.code == 2
    assert "nope" in ran.stderr


def test_the_report_is_json_with_every_step(repo: Path) -> None:
    edit(repo, "models/order_count.sql", "count(*) as n", "count(*) as n, 1 as one")
    commit(repo, "add a constant")

    report = json.loads(ci(repo, "--json").stdout)

    assert [s["name"] for s in report["steps"]][:4] == ["lint", "dags", "plan", "tests"]
    assert all(isinstance(s["seconds"], float) for s in report["steps"])


def test_the_infrastructure_plan_of_production_is_in_the_report(repo: Path) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / "schemas.yml").write_text("schemas:\n  - name: landing\n  - name: archive\n")
    commit(repo, "two schemas")

    ran = ci(repo, "--json")

    assert ran.code == 0, ran.all
    infra = next(step for step in ran.json()["steps"] if step["name"] == "infra")
    assert infra["summary"] == "prod: 2 to create, 0 to update, 0 to delete"
    assert [c["name"] for c in infra["data"]["changes"]] == ["archive", "landing"]
    markdown = ci(repo, "--report", "md").stdout
    assert "Infrastructure plan" in markdown and "schema landing" in markdown


def test_broken_infrastructure_files_fail_ci_naming_the_file(repo: Path) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / "roles.yml").write_text(
        "grants:\n  - {to: nobody, privileges: [select], on: {schema: s}}\n"
    )
    commit(repo, "a grant to a role nobody declared")

    ran = ci(repo, "--json")

    assert ran.code == 2, ran.all  # bad input, like any file of the pull request that does not load
    infra = next(step for step in ran.json()["steps"] if step["name"] == "infra")
    assert infra["status"] == "failed"
    assert infra["findings"][0]["path"] == "infra/roles.yml" and infra["findings"][0]["line"] == 2


def test_a_dag_in_the_configured_folder_is_linted_and_checked(repo: Path) -> None:
    config = (repo / "tidegate.yml").read_text() + "orchestration: {airflow: {dags: airflow/dags}}\n"
    (repo / "tidegate.yml").write_text(config)
    (repo / "airflow/dags").mkdir(parents=True)
    (repo / "airflow/dags/daily.py").write_text("import os\n")
    commit(repo, "a DAG file")

    report = ci(repo, "--json").json()

    steps = {step["name"]: step for step in report["steps"]}
    assert [(f["path"], f["title"]) for f in steps["lint"]["findings"]] == [
        ("airflow/dags/daily.py", "ruff F401")
    ]
    assert steps["dags"]["status"] == "passed"
    assert steps["dags"]["data"]["files"] == ["airflow/dags/daily.py"]
