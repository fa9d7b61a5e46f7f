"""Least privilege on PostgreSQL: `tidegate ci` connects as a role of its own (declared in
infra/*.yml, as the README shows), builds and checks a pull request with it, and that role can
change nothing of production: not its views, not its snapshots (also those a pull request built,
once production uses them), not its state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ci.repos import commit, git
from tests.cli.conftest import invoke
from tests.conftest import LAYERED, edit, write_files
from tests.engines.conftest import PG_ADMIN_DSN, drop_databases_and_roles, postgres_admin, require_postgres

CONFIG = """\
name: shop
dialect: duckdb
environments:
  prod: {engine: postgres, dsn: "${PROD_DSN}", threads: 2, lock_timeout: 5s}
pull_requests:
  connection: {engine: postgres, dsn: "${PULL_REQUEST_DSN}", role: {p}ci, threads: 2, lock_timeout: 5s}
"""

INFRA = """\
schemas:
  - name: analytics           # production's views
roles:
  - name: {p}ci
    comment: tidegate ci, for pull requests
users:
  - name: {p}ci_bot           # the login in PULL_REQUEST_DSN; it acts as {p}ci (role: in tidegate.yml)
    password: ${CI_BOT_PASSWORD}
    roles: [{p}ci]
grants:
  - to: {p}ci                 # create: its pull requests' own schemas (analytics__pr_12...)
    privileges: [connect, create, temporary]
    on: {database: {p}db}
  - to: {p}ci                 # read production's views, for the data diff
    privileges: [usage]
    on: {schema: analytics}
  - to: {p}ci
    privileges: [select]
    on: {all_tables_in_schema: analytics}
"""


@dataclass(frozen=True)
class Warehouse:
    prefix: str
    database: str

    def dsn(self, user: str) -> str:
        return PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgres@", f"{user}@") + f"/{self.database}"

    @property
    def deploy(self) -> str:
        return f"{self.prefix}deploy"

    @property
    def ci(self) -> str:
        return f"{self.prefix}ci"


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    """A database owned by a deploy role that is no superuser (it may create roles, as the one
    that runs `tidegate infra apply`); every role the test makes is dropped after it."""
    require_postgres()
    prefix = f"tg{uuid.uuid4().hex[:8]}_"
    found = Warehouse(prefix, f"{prefix}db")
    postgres_admin(f'CREATE ROLE "{found.deploy}" LOGIN CREATEROLE')
    postgres_admin(f'CREATE DATABASE "{found.database}" OWNER "{found.deploy}"')
    yield found
    drop_databases_and_roles(prefix)


def as_ci(warehouse: Warehouse, sql: str) -> Any:
    """Run SQL connected as the CI bot acting as the CI role, as `tidegate ci` does; the error
    PostgreSQL raises, or the rows."""
    import psycopg

    dsn = warehouse.dsn(f"{warehouse.prefix}ci_bot")
    with psycopg.connect(dsn, autocommit=True, options=f"-c role={warehouse.ci}") as connection:
        try:
            cursor = connection.execute(sql)
        except psycopg.Error as error:
            return error
        return cursor.fetchall() if cursor.description else []


def refused(warehouse: Warehouse, sql: str) -> bool:
    import psycopg

    outcome = as_ci(warehouse, sql)
    return isinstance(outcome, psycopg.errors.InsufficientPrivilege)


def _physical(root: Path, model: str) -> str:
    from tidegate.context import Context

    with Context(root) as context:
        physical = context.current("prod").models[model].physical
    assert physical is not None
    return physical


@pytest.fixture
def project(tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Production deployed by the deploy role (infrastructure first, then models), on `main`;
    a branch `feature` checked out."""
    root = tmp_path / "repo"
    files = {"tidegate.yml": CONFIG, "infra/ci.yml": INFRA}
    write_files(root, {**LAYERED, **{k: v.replace("{p}", warehouse.prefix) for k, v in files.items()}})
    (root / ".gitignore").write_text(".tidegate/\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "the project")
    monkeypatch.setenv("PROD_DSN", warehouse.dsn(warehouse.deploy))
    monkeypatch.setenv("CI_BOT_PASSWORD", "not-checked-with-trust-auth")
    for command in (["infra", "apply", "prod"], ["plan", "prod", "--auto-apply"]):
        ran = invoke(root, *command)
        assert ran.code == 0, ran.all
    git(root, "checkout", "-q", "-b", "feature")
    return root


def run_ci(root: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`tidegate ci` with the CI connection's secret only: production's is not there."""
    with monkeypatch.context() as patch:
        patch.delenv("PROD_DSN")
        patch.setenv("PULL_REQUEST_DSN", warehouse.dsn(f"{warehouse.prefix}ci_bot"))
        return invoke(root, "ci", "--base", "main", "--head", "HEAD", "--pr", "5", *args)


def test_ci_runs_as_its_own_role_and_cannot_change_production(
    project: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _physical(project, "customer_totals")
    edit(
        project, "models/customer_totals.sql", "count(*) as orders", "count(*) as orders, max(amount) as top"
    )
    commit(project, "the biggest order of each customer")

    ran = run_ci(project, warehouse, monkeypatch, "--json")

    assert ran.code == 0, ran.all
    steps = {step["name"]: step for step in ran.json()["steps"]}
    assert steps["plan"]["data"]["built"] == ["customer_totals"]
    assert steps["diff"]["status"] == "passed"  # it read production's view
    assert "0 to create, 0 to update, 0 to delete" in steps["infra"]["summary"]  # as production sees it
    built = _latest_snapshot(warehouse, "customer_totals")
    owner = f"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('{built}')"
    assert as_ci(warehouse, owner) == [(warehouse.ci,)]  # `role:`: the CI role's, not its login's
    assert as_ci(warehouse, "SELECT current_user")[0][0] == warehouse.ci

    attempts = [
        "CREATE OR REPLACE VIEW analytics.customer_totals AS SELECT 1 AS customer_id",
        "DROP VIEW analytics.customer_totals",
        "ALTER VIEW analytics.customer_totals RENAME TO gone",
        f"DROP TABLE {before}",
        f"ALTER TABLE {before} ADD COLUMN x int",
        f"INSERT INTO {before} (customer_id) VALUES (99)",
        f"TRUNCATE {before}",
        "DROP SCHEMA tidegate__analytics CASCADE",
        "UPDATE _tidegate.environment_versions SET models = '{}' WHERE environment = 'prod'",
        "DELETE FROM _tidegate.environment_versions WHERE environment = 'prod'",
        "INSERT INTO _tidegate.environment_versions VALUES ('prod', 99, now(), 'apply', NULL, NULL, NULL, NULL, '{}')",
        "DELETE FROM _tidegate.snapshots",
        "UPDATE _tidegate.snapshots SET physical = NULL",
        "ALTER TABLE _tidegate.environment_versions DISABLE ROW LEVEL SECURITY",
        "DROP SCHEMA _tidegate CASCADE",
        f"SET ROLE {warehouse.deploy}",
    ]
    assert [sql for sql in attempts if not refused(warehouse, sql)] == []
    assert as_ci(warehouse, f"SELECT count(*) FROM {before}")[0][0] == 2  # it reads them

    # merged: production reuses the snapshot the pull request built, and takes it over
    git(project, "checkout", "-q", "main")
    git(project, "merge", "-q", "--ff-only", "feature")
    deployed = invoke(project, "plan", "prod", "--auto-apply")
    assert deployed.code == 0, deployed.all
    assert _physical(project, "customer_totals") == built
    assert as_ci(warehouse, owner) == [(warehouse.deploy,)]
    assert [
        sql for sql in (f"DROP TABLE {built} CASCADE", f"DELETE FROM {built}") if not refused(warehouse, sql)
    ] == []
    assert as_ci(warehouse, f"SELECT count(*) FROM {built}")[0][0] == 2


def _latest_snapshot(warehouse: Warehouse, model: str) -> str:
    rows = as_ci(
        warehouse,
        f"SELECT physical FROM _tidegate.snapshots WHERE model = '{model}' ORDER BY created_at DESC LIMIT 1",
    )
    return str(rows[0][0])


def test_closing_a_pull_request_and_the_janitor_need_no_more(
    project: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(
        project,
        "models/customer_totals.sql",
        "count(*) as orders",
        "count(*) as orders, min(amount) as least",
    )
    commit(project, "the smallest order of each customer")
    assert run_ci(project, warehouse, monkeypatch).code == 0

    with monkeypatch.context() as patch:
        patch.delenv("PROD_DSN")
        patch.setenv("PULL_REQUEST_DSN", warehouse.dsn(f"{warehouse.prefix}ci_bot"))
        closed = invoke(project, "ci", "--close", "--pr", "5", "--json")
    assert closed.code == 0 and closed.json()["closed"] is True, closed.all

    janitor = invoke(project, "janitor", "--retention", "0s", "--json")  # as the deploy role
    assert janitor.code == 0, janitor.all
    assert as_ci(warehouse, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%\\_\\_pr\\_5'")[0][0] == 0


def test_the_ci_connection_never_creates_the_state(
    tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    with psycopg.connect(warehouse.dsn(warehouse.deploy), autocommit=True) as deploy:
        deploy.execute(f'CREATE ROLE "{warehouse.ci}" LOGIN')
        deploy.execute(f'GRANT CREATE ON DATABASE "{warehouse.database}" TO "{warehouse.ci}"')
    root = tmp_path / "repo"
    write_files(root, {**LAYERED, "tidegate.yml": CONFIG.replace("{p}", warehouse.prefix)})
    git(root, "init", "-q", "-b", "main")
    commit(root, "the project")
    monkeypatch.setenv("PULL_REQUEST_DSN", warehouse.dsn(warehouse.ci))
    git(root, "checkout", "-q", "-b", "feature")
    edit(root, "models/order_count.sql", "count(*) as n", "count(*) as n, 1 as one")
    commit(root, "a constant")

    ran = invoke(root, "ci", "--base", "main", "--head", "HEAD", "--pr", "5", "--json")

    assert ran.code == 2  # a warehouse not set up yet: configuration, not a failed check
    plan = next(step for step in ran.json()["steps"] if step["name"] == "plan")
    assert "does not create it" in plan["summary"]
    with psycopg.connect(warehouse.dsn(warehouse.deploy)) as deploy:
        assert deploy.execute("SELECT count(*) FROM pg_namespace WHERE nspname = '_tidegate'").fetchone() == (
            0,
        )
