"""`tidegate infra` against the real PostgreSQL server: plan, apply, an empty second plan, drift
made by hand, import, and the safety of destructive changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import write_files
from tests.infra.conftest import psql

pytestmark = pytest.mark.xdist_group("postgres_roles")  # roles belong to the whole server

INFRA = """
schemas:
  - name: analytics
    owner: {p}transformer
    comment: Models for analysts.
  - name: staging
    owner: {p}transformer
roles:
  - name: {p}transformer
  - name: {p}reporting
  - name: {p}analyst
    member_of: [{p}reporting]
    comment: Read-only.
users:
  - name: {p}ci_bot
    password: ${CI_BOT_PASSWORD}
    roles: [{p}transformer]
    only: [prod]
grants:
  - to: {p}reporting
    privileges: [usage]
    on: {schema: analytics}
  - to: {p}reporting
    privileges: [select]
    on: {all_tables_in_schema: analytics}
  - to: {p}transformer
    privileges: [connect, create]
    on: {database: {p}db}
"""


def plan_json(project: Path, env: str = "prod") -> dict:
    result = invoke(project, "infra", "plan", env, "--json")
    assert result.code == 0, result.all
    return json.loads(result.stdout)


@pytest.fixture
def applied(pg_project: Callable[[dict[str, str]], Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CI_BOT_PASSWORD", "s3cret-Value")
    project = pg_project({"infra/warehouse.yml": INFRA})
    result = invoke(project, "infra", "apply", "prod")
    assert result.code == 0, result.all
    return project


def test_plan_apply_then_the_second_plan_is_empty(
    pg_project: Callable[[dict[str, str]], Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_BOT_PASSWORD", "s3cret-Value")
    project = pg_project({"infra/warehouse.yml": INFRA})
    plan = plan_json(project)
    assert plan["counts"] == {"create": 11, "update": 0, "delete": 0}
    assert "s3cret" not in json.dumps(plan)
    assert f"CREATE ROLE \"{prefix}ci_bot\" LOGIN PASSWORD '********'" in plan["statements"]

    applied = invoke(project, "infra", "apply", "prod")
    assert applied.code == 0, applied.all
    assert "s3cret" not in applied.all

    assert plan_json(project)["counts"] == {"create": 0, "update": 0, "delete": 0}
    assert psql(
        project,
        "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN ('analytics', 'staging') ORDER BY 1",
    ) == [
        ("analytics", f"{prefix}transformer"),
        ("staging", f"{prefix}transformer"),
    ]
    assert psql(project, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{prefix}ci_bot'") == [(True,)]
    # the password works, and future tables are readable by the analyst through reporting
    psql(project, "CREATE TABLE analytics.orders AS SELECT 1 AS id")
    assert psql(project, f"SELECT has_table_privilege('{prefix}analyst', 'analytics.orders', 'SELECT')") == [
        (True,)
    ]
    assert psql(
        project, f"SELECT has_table_privilege('{prefix}transformer', 'analytics.orders', 'SELECT')"
    ) == [(False,)]
    # and so are the tables the schema's owner creates (dbt's role, say)
    psql(project, f'SET ROLE "{prefix}transformer"; CREATE TABLE analytics.by_dbt AS SELECT 1 AS id')
    assert psql(project, f"SELECT has_table_privilege('{prefix}analyst', 'analytics.by_dbt', 'SELECT')") == [
        (True,)
    ]
    assert plan_json(project)["counts"] == {"create": 0, "update": 0, "delete": 0}


def test_only_limits_resources_to_environments(applied: Path, prefix: str) -> None:
    dev = plan_json(applied, "dev")
    names = {(c["action"], c["name"]) for c in dev["changes"]}
    assert ("create", f"{prefix}ci_bot") not in names  # only: [prod]; and dev does not drop prod's
    assert not [c for c in dev["changes"] if c["action"] == "delete"]


def test_changes_by_hand_show_as_drift_and_the_plan_restores_them(applied: Path, prefix: str) -> None:
    clean = invoke(applied, "infra", "drift", "prod")
    assert clean.code == 0, clean.all
    psql(applied, f'REVOKE USAGE ON SCHEMA analytics FROM "{prefix}reporting"')
    psql(applied, f'CREATE ROLE "{prefix}intruder"')
    psql(applied, f'GRANT "{prefix}transformer" TO "{prefix}intruder"')
    psql(applied, f'GRANT USAGE ON SCHEMA staging TO "{prefix}intruder"')

    drift = invoke(applied, "infra", "drift", "prod", "--json")
    assert drift.code == 1, drift.all
    found = json.loads(drift.stdout)
    assert [(c["action"], c["name"]) for c in found["changed"]] == [
        ("create", f"{prefix}reporting:schema:analytics")
    ]
    assert sorted(item["name"] for item in found["unmanaged"]) == [
        f"{prefix}intruder:schema:staging",
        f"{prefix}transformer:{prefix}intruder",
    ]
    assert f"{prefix}intruder" in [item["name"] for item in found["not_declared"]]  # listed, left alone
    # the plan restores what is managed and leaves the rest alone
    plan = plan_json(applied)
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [
        ("create", f"{prefix}reporting:schema:analytics")
    ]
    assert invoke(applied, "infra", "apply", "prod").code == 0
    assert psql(applied, f"SELECT rolname FROM pg_roles WHERE rolname = '{prefix}intruder'") == [
        (f"{prefix}intruder",)
    ]


def test_import_then_plan_is_empty(
    pg_project: Callable[[dict[str, str]], Path], prefix: str, tmp_path: Path
) -> None:
    project = pg_project({})
    psql(
        project,
        f'CREATE ROLE "{prefix}owner"; CREATE ROLE "{prefix}reader"; GRANT "{prefix}owner" TO "{prefix}reader"',
    )
    psql(project, f'CREATE SCHEMA sales AUTHORIZATION "{prefix}owner"; CREATE TABLE sales.deals (id int)')
    psql(
        project,
        f'GRANT USAGE ON SCHEMA sales TO "{prefix}reader"; GRANT SELECT ON sales.deals TO "{prefix}reader"',
    )
    psql(project, f'ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT ON TABLES TO "{prefix}reader"')

    imported = invoke(project, "infra", "import", "prod")
    assert imported.code == 0, imported.all
    text = (project / "infra" / "imported.yml").read_text()
    assert f"name: {prefix}reader" in text and "all_tables_in_schema: sales" in text

    plan = plan_json(project)
    assert [c for c in plan["changes"] if prefix in c["name"] or c["name"] == "sales"] == []


def test_dropping_a_schema_that_holds_a_table_needs_allow_destroy(applied: Path, prefix: str) -> None:
    psql(applied, "CREATE TABLE staging.raw AS SELECT 1 AS id")
    write_files(
        applied,
        {
            "infra/warehouse.yml": INFRA.replace("{p}", prefix).replace(
                f"  - name: staging\n    owner: {prefix}transformer\n", ""
            )
        },
    )
    plan = plan_json(applied)
    [drop] = [c for c in plan["changes"] if c["action"] == "delete"]
    assert drop["name"] == "staging" and "holds 1 table" in drop["destructive"]

    refused = invoke(applied, "infra", "apply", "prod")
    assert refused.code == 1 and "--allow-destroy" in refused.all
    assert psql(applied, "SELECT count(*) FROM staging.raw") == [(1,)]

    done = invoke(applied, "infra", "apply", "prod", "--allow-destroy")
    assert done.code == 0, done.all
    assert psql(applied, "SELECT count(*) FROM pg_namespace WHERE nspname = 'staging'") == [(0,)]


def test_a_failing_statement_leaves_nothing_half_applied(applied: Path, prefix: str) -> None:
    broken = (
        INFRA.replace("{p}", prefix)
        + f"""
  - to: {prefix}analyst
    privileges: [select]
    on: {{table: analytics.no_such_table}}
"""
    )
    extra = broken.replace("roles:\n", f"roles:\n  - name: {prefix}newcomer\n", 1)
    write_files(applied, {"infra/warehouse.yml": extra})
    failed = invoke(applied, "infra", "apply", "prod")
    assert failed.code != 0
    assert "no_such_table" in failed.all
    assert psql(applied, f"SELECT count(*) FROM pg_roles WHERE rolname = '{prefix}newcomer'") == [(0,)]
    psql(applied, "CREATE TABLE analytics.no_such_table (id int)")
    assert invoke(applied, "infra", "apply", "prod").code == 0  # a rerun finishes the job
    assert psql(applied, f"SELECT count(*) FROM pg_roles WHERE rolname = '{prefix}newcomer'") == [(1,)]


def test_a_saved_plan_is_refused_once_the_warehouse_moved(applied: Path, prefix: str, tmp_path: Path) -> None:
    saved = tmp_path / "infra-plan.json"
    write_files(applied, {"infra/extra.yml": f"roles:\n  - name: {prefix}late\n"})
    assert invoke(applied, "infra", "plan", "prod", "--out", str(saved)).code == 0
    psql(applied, f'CREATE ROLE "{prefix}late"')
    refused = invoke(applied, "infra", "apply", "prod", "--plan", str(saved))
    assert refused.code == 2 and "changed since it was reviewed" in refused.all


def test_a_database_owned_by_a_role_the_same_apply_creates(
    pg_project: Callable[[dict[str, str]], Path], prefix: str
) -> None:
    project = pg_project(
        {
            "infra/dbs.yml": "roles:\n  - name: {p}owner\ndatabases:\n  - name: {p}shop\n    owner: {p}owner\n"
            "grants:\n  - {to: {p}owner, privileges: [usage], on: {schema: public}}\n"
        }
    )
    saved = project / "plan.json"
    assert invoke(project, "infra", "plan", "prod", "--out", str(saved)).code == 0
    applied = invoke(project, "infra", "apply", "prod", "--plan", str(saved))  # a reviewed plan with a grant
    assert applied.code == 0, applied.all
    assert psql(
        project, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{prefix}shop'"
    ) == [(f"{prefix}owner",)]
    assert plan_json(project)["counts"] == {"create": 0, "update": 0, "delete": 0}  # public's grants are read


def test_dropping_a_schema_names_the_views_of_other_schemas_it_takes_along(
    applied: Path, prefix: str
) -> None:
    psql(applied, "CREATE TABLE staging.raw AS SELECT 1 AS id; CREATE SCHEMA elsewhere")
    psql(applied, "CREATE VIEW elsewhere.reads_raw AS SELECT * FROM staging.raw")
    declared = INFRA.replace("{p}", prefix).replace(
        f"  - name: staging\n    owner: {prefix}transformer\n", ""
    )
    write_files(applied, {"infra/warehouse.yml": declared})
    [drop] = [c for c in plan_json(applied)["changes"] if c["action"] == "delete"]
    assert "elsewhere.reads_raw" in drop["destructive"]


def test_mixed_case_names_are_kept_as_written(
    pg_project: Callable[[dict[str, str]], Path], prefix: str
) -> None:
    project = pg_project({})
    psql(project, f'CREATE ROLE "{prefix}Analyst"; CREATE SCHEMA "Sales"')
    psql(project, f'GRANT USAGE ON SCHEMA "Sales" TO "{prefix}Analyst"')
    assert invoke(project, "infra", "import", "prod").code == 0
    plan = plan_json(project)
    assert [c for c in plan["changes"] if prefix.lower() in c["name"].lower() or c["name"] == "Sales"] == []


def test_an_adopted_user_gets_its_password_and_a_new_variable_rotates_it(
    pg_project: Callable[[dict[str, str]], Path], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_PASSWORD", "first-Secret")
    monkeypatch.setenv("BOT_PASSWORD_2", "second-Secret")
    project = pg_project({"infra/users.yml": "users:\n  - name: {p}bot\n    password: ${BOT_PASSWORD}\n"})
    psql(project, f'CREATE ROLE "{prefix}bot" LOGIN')  # made by hand, without a password

    def password() -> object:
        return psql(project, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{prefix}bot'")[0][0]

    [change] = plan_json(project)["changes"]
    assert change["action"] == "update" and change["changes"] == [
        {"attribute": "password", "from": None, "to": "${BOT_PASSWORD}"}
    ]
    assert invoke(project, "infra", "apply", "prod").code == 0
    first = password()
    assert first is not None and "Secret" not in str(first)  # stored hashed
    assert plan_json(project)["changes"] == []

    write_files(
        project, {"infra/users.yml": f"users:\n  - name: {prefix}bot\n    password: ${{BOT_PASSWORD_2}}\n"}
    )
    assert invoke(project, "infra", "apply", "prod").code == 0
    assert password() != first
