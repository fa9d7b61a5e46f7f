"""`tidegate ci` and what reads the models: dashboards written in plain SQL as BI tools run them,
and dbt exposures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.ci.repos import branch_off_production, ci, commit, git, make_repository, rename_total
from tests.conftest import edit, write_files

BI = {
    "dashboards/sales.yml": """
        dashboards:
          - name: finance
            url: https://bi.example.com/dashboard/12
            queries:
              - name: bare
                sql: select customer_id, total from customer_totals order by total desc
              - name: qualified
                sql: select sum(total) as revenue from analytics.customer_totals
              - name: quoted
                sql: 'select c."total" from "analytics"."customer_totals" as c'
              - name: shouting
                sql: SELECT Total FROM Warehouse.ANALYTICS.Customer_Totals
              - name: catalog
                sql: select count(*) as n from information_schema.tables
          - name: volume
            queries:
              - name: orders
                sql: select n from analytics.order_count
    """,
    "models/exposures.yml": """
        version: 2
        exposures:
          - name: weekly_kpis
            type: dashboard
            maturity: high
            url: https://bi.example.com/kpis
            owner: {name: Ada, email: ada@example.com}
            depends_on:
              - ref('big_customers')
              - source('crm', 'accounts')
          - name: volume_app
            type: application
            owner: {email: apps@example.com}
            depends_on: ["ref('order_count')"]
    """,
    "models/sources.yml": """
        version: 2
        sources:
          - name: crm
            schema: crm
            tables: [{name: accounts}]
    """,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main (the layered project, plain-SQL dashboards, exposures) with production built from
    it, and a branch `feature` checked out."""
    root = make_repository(tmp_path / "repo")
    write_files(root, BI)
    commit(root, "dashboards as the BI tool runs them, and exposures")
    return branch_off_production(root)


def impact(report: dict) -> dict:
    return next(step for step in report["steps"] if step["name"] == "impact")


def test_a_rename_that_breaks_plain_sql_dashboards_fails_naming_each_query(
    repo: Path, tmp_path: Path
) -> None:
    rename_total(repo)
    commit(repo, "rename total")

    ran = ci(repo, "--json", "--report", f"md={tmp_path / 'r.md'}")

    assert ran.code == 1, ran.all
    step = impact(ran.json())
    failed = {(q["dashboard"], q["query"]): q for q in step["data"]["queries"] if not q["passed"]}
    assert set(failed) == {
        ("finance", "bare"),
        ("finance", "qualified"),
        ("finance", "quoted"),
        ("finance", "shouting"),
    }
    assert {q["missing_column"].lower() for q in failed.values()} == {"total"}
    assert "finance" in step["data"]["dashboards"]
    findings = [f for f in step["findings"] if f["title"] == "dashboard broken"]
    assert any(
        "dashboard finance, query bare fails in pr_7: column total is gone" in f["message"] for f in findings
    )
    assert all(f["path"] == "dashboards/sales.yml" for f in findings)
    markdown = (tmp_path / "r.md").read_text()
    assert "finance" in markdown and "shouting" in markdown
    # the query of a table outside the project is left alone, and said
    assert "information_schema.tables" in markdown and "not a model, seed or source" in markdown
    assert {"dashboard": "finance", "query": "catalog", "name": "information_schema.tables"}.items() <= (
        step["data"]["unresolved"][0].items()
    )


def test_plain_sql_queries_run_in_the_pull_requests_environment(repo: Path) -> None:
    edit(repo, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    commit(repo, "one more order")

    ran = ci(repo, "--json")

    assert ran.code == 0, ran.all
    runs = {(q["dashboard"], q["query"]): q for q in impact(ran.json())["data"]["queries"]}
    assert runs["volume", "orders"]["passed"] and runs["volume", "orders"]["base_passed"]
    assert {"bare", "qualified", "quoted", "shouting"} <= {query for _, query in runs}


def test_every_exposure_a_change_reaches_is_listed_with_its_owner_and_url(repo: Path, tmp_path: Path) -> None:
    edit(repo, "models/big_customers.sql", "where total > 8", "where total > 9")
    commit(repo, "a higher bar")

    ran = ci(repo, "--json", "--report", f"md={tmp_path / 'r.md'}", "--report", f"junit={tmp_path / 'j.xml'}")

    assert ran.code == 0, ran.all
    step = impact(ran.json())
    assert "1 exposure(s) reached" in step["summary"]
    (kpis,) = step["data"]["exposures"]
    assert (kpis["exposure"], kpis["type"], kpis["owner"], kpis["url"]) == (
        "weekly_kpis",
        "dashboard",
        "Ada <ada@example.com>",
        "https://bi.example.com/kpis",
    )
    assert (kpis["models"], kpis["path"], kpis["line"]) == (["big_customers"], "models/exposures.yml", 3)
    markdown = (tmp_path / "r.md").read_text()
    assert "weekly_kpis" in markdown and "https://bi.example.com/kpis" in markdown and "Ada" in markdown
    assert "volume_app" not in markdown  # order_count is not downstream of the change
    cases = {case.get("name"): case for case in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    output = cases["exposure weekly_kpis"].findtext("system-out") or ""
    assert "ada@example.com" in output and "https://bi.example.com/kpis" in output


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("removed", ["weekly_kpis", "ref('big_customers')", "names no model"]),
        ("disabled", ["weekly_kpis", "ref('big_customers')", "disabled"]),
    ],
)
def test_removing_or_disabling_what_an_exposure_depends_on_fails(
    repo: Path, change: str, words: list[str]
) -> None:
    path = repo / "models/big_customers.sql"
    if change == "removed":
        path.unlink()
    else:
        path.write_text("{{ config(enabled=false) }}\n" + path.read_text())
    commit(repo, f"{change} big_customers")

    ran = ci(repo, "--json")

    assert ran.code == 2, ran.all  # the project at head no longer loads, as dbt would not parse it
    findings = [f for step in ran.json()["steps"] for f in step["findings"]]
    found = next(f for f in findings if f["path"] == "models/exposures.yml")
    assert found["line"] == 9  # the depends_on entry
    for word in words:
        assert word in found["message"]


def test_removing_a_model_a_plain_sql_dashboard_reads_fails(repo: Path) -> None:
    (repo / "models/order_count.sql").unlink()
    edit(repo, "models/exposures.yml", "ref('order_count')", "ref('customer_totals')")
    commit(repo, "order_count is gone")

    ran = ci(repo, "--json")

    assert ran.code == 1, ran.all
    step = impact(ran.json())
    (failed,) = [q for q in step["data"]["queries"] if not q["passed"]]
    assert (failed["dashboard"], failed["query"], failed["models"]) == ("volume", "orders", ["order_count"])
    assert "analytics.order_count (model order_count), which this change removes" in failed["error"]
    assert json.dumps(step["findings"]).count("dashboard volume, query orders fails") == 1


DBT_PROFILES = """
    tidegate_parity:
      target: prod
      outputs:
        prod: {type: duckdb, path: warehouse.duckdb, schema: main, threads: 2}
"""
DBT_DASHBOARD = """
    dashboards:
      - name: regions
        queries:
          - name: revenue_by_region
            sql: select region, revenue from warehouse.main.region_summary order by revenue desc
"""


def test_a_dbt_projects_exposures_and_plain_sql_dashboards_are_in_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dbt.parity import copy_project

    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    root = copy_project("layered", tmp_path / "repo")  # its models/marts/_exposures.yml
    write_files(
        root,
        {
            "profiles.yml": DBT_PROFILES,
            "dashboards/regions.yml": DBT_DASHBOARD,
            ".gitignore": ".tidegate/\n*.duckdb\n*.duckdb.wal\n",
        },
    )
    git(root, "init", "-q", "-b", "main")
    commit(root, "the dbt project")
    branch_off_production(root)
    edit(root, "models/marts/region_summary.sql", "as revenue", "as revenue_total")
    commit(root, "rename revenue")

    ran = ci(root, "--json")

    assert ran.code == 1, ran.all
    step = impact(ran.json())
    (failed,) = [q for q in step["data"]["queries"] if not q["passed"]]
    assert (failed["dashboard"], failed["query"], failed["missing_column"]) == (
        "regions",
        "revenue_by_region",
        "revenue",
    )
    (exposure,) = step["data"]["exposures"]
    assert (exposure["exposure"], exposure["owner"], exposure["url"]) == (
        "regional_revenue",
        "Sales analytics <sales-analytics@example.com>",
        "https://bi.example.com/dashboards/regional-revenue",
    )
    assert exposure["path"] == "models/marts/_exposures.yml"
