"""Git repositories holding a project, for the CI and deployment tests: a main branch with
production built from it, and helpers to make pull-request branches."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli.conftest import Ran, invoke
from tests.conftest import CONFIG, LAYERED, edit, write_files
from tidegate.project.config import load_config

PIPELINE_CONFIG = (
    CONFIG.replace("promotion: [dev, prod]", "promotion: [dev, staging, prod]").replace(
        "  dev: {",
        "  staging: {engine: duckdb, path: warehouse.duckdb, threads: 2, lock_timeout: 5s}\n  dev: {",
    )
    + "branches: {main: staging, production: prod}\n"
    + "deploy: {gates: {prod: [staging]}}\n"
)

DASHBOARD = {
    "dashboards/sales.yml": """
        dashboards:
          - name: sales
            description: Sales by customer
            queries:
              - name: top_customers
                sql: select customer_id, total from {{ ref('customer_totals') }} order by total desc
              - name: order_volume
                sql: select n from {{ ref('order_count') }}
    """,
    ".gitignore": ".tidegate/\n*.duckdb\n*.duckdb.wal\n",
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "Ada",
            "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada",
            "GIT_COMMITTER_EMAIL": "ada@example.com",
            "HOME": str(root),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )
    return done.stdout.strip()


def make_repository(root: Path) -> Path:
    """The layered project with a dashboard, committed on `main`."""
    root.mkdir(parents=True, exist_ok=True)
    write_files(root, {"tidegate.yml": PIPELINE_CONFIG, **LAYERED, **DASHBOARD})
    git(root, "init", "-q", "-b", "main")
    commit(root, "the project")
    return root


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def branch_off_production(root: Path, branch: str = "feature") -> Path:
    """Deploy main to staging and, through a `production` branch at the same commit, to prod
    (prod only changes from Git), then check out a new `branch` from main."""
    deploy_production(root)
    git(root, "checkout", "-q", "-b", branch)
    return root


def deploy_production(root: Path) -> None:
    """Build prod from main. Where Git binds prod (PIPELINE_CONFIG), as a new user's first build
    of a bound environment goes: main deployed to staging, then the same commit to prod through
    the `production` branch (its gate, staging, has every snapshot)."""
    if not load_config(root).branches:
        ran = invoke(root, "plan", "prod", "--auto-apply")  # prod is free
        assert ran.code == 0, ran.all
        return
    staging = invoke(root, "deploy", "--branch", "main")
    assert staging.code == 0, staging.all
    git(root, "branch", "production", "main")
    prod = invoke(root, "deploy", "--branch", "production")
    assert prod.code == 0, prod.all


def ci(root: Path, *args: str) -> Ran:
    """`tidegate ci` for pull request 7, from main to HEAD."""
    return invoke(root, "ci", "--base", "main", "--head", "HEAD", "--pr", "7", *args)


def rename_total(root: Path) -> None:
    """customer_totals.total becomes total_amount and big_customers reads the new name: what
    still reads `total` downstream (a dashboard) breaks."""
    edit(root, "models/customer_totals.sql", "sum(amount) as total", "sum(amount) as total_amount")
    edit(
        root,
        "models/big_customers.sql",
        "select customer_id, total from",
        "select customer_id, total_amount from",
    )
    edit(root, "models/big_customers.sql", "where total > 8", "where total_amount > 8")
