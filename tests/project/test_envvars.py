"""`env_var()` in models: dbt's secret variables are refused, and the values a model's SQL
renders are masked in everything tidegate keeps (cache, saved plans, state, reports) while the
warehouse runs the real SQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import invoke
from tests.conftest import LAYERED, edit
from tidegate.errors import ConfigError
from tidegate.project.envvars import conceal, marker, mask, reveal

TOKEN = "tok-5c1e7a9e-very-secret"
FILTER = "models/paid_orders.sql"
MODEL = f"""\
select order_id, amount from {{{{ ref('stg_orders') }}}}
where status = 'paid' and length('{{{{ env_var("MY_TOKEN") }}}}') = {len(TOKEN)}
"""


@pytest.mark.parametrize(
    "name, value, sql",
    [
        ("MY_TOKEN", TOKEN, f"select '{TOKEN}' as t"),
        ("A__B", "s3cr3t", "select 's3cr3t' || 's3cr3t__' as t"),  # `__` in the name and after
        ("LIMIT_N", "1000", "select * from t limit 1000"),
    ],
)
def test_masking_and_revealing_give_back_the_sql(
    name: str, value: str, sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    masked = mask(sql, {name: value})
    assert value not in masked and marker(name) in masked
    assert reveal(masked) == sql
    assert conceal(f"error near {value}", masked) == f"error near {marker(name)}"


def test_short_values_are_kept_and_an_unset_variable_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mask("select 1 as dev", {"FLAG": "1", "TARGET": "dev"}) == "select 1 as dev"
    monkeypatch.delenv("MY_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="MY_TOKEN"):
        reveal(f"select '{marker('MY_TOKEN')}'")


def test_a_secret_variable_in_a_model_is_refused_with_its_line(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_ENV_SECRET_TOKEN", TOKEN)
    root = make_project(
        {"models/a.sql": "select 1 as x\nwhere '{{ env_var('DBT_ENV_SECRET_TOKEN') }}' <> ''\n"}
    )

    ran = invoke(root, "plan", "prod", "--json")

    assert ran.code == 2
    assert "models/a.sql:2" in ran.stderr
    assert "allowed only in profiles.yml or packages.yml" in ran.stderr
    assert TOKEN not in ran.all


def test_a_new_value_is_a_new_snapshot(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    root = make_project({**LAYERED, FILTER: MODEL})
    assert invoke(root, "plan", "prod", "--auto-apply").code == 0

    monkeypatch.setenv("MY_TOKEN", TOKEN + "-rotated")
    plan = invoke(root, "plan", "prod", "--json").json()

    assert [b["model"] for b in plan["builds"]] == ["paid_orders"]


def test_no_file_nor_state_row_keeps_a_value_a_model_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan --out, apply of the saved plan, `tidegate ci` with every report: the token is
    used (the model's rows need it) and written nowhere."""
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    root = make_repository(tmp_path / "repo")
    (root / FILTER).write_text(MODEL)
    commit(root, "paid orders, for holders of the token")
    assert invoke(root, "plan", "staging", "--out", str(root / "plan.json")).code == 0
    applied = invoke(root, "apply", str(root / "plan.json"))  # a clean commit of main: staging takes it
    assert applied.code == 0, applied.all
    git(root, "branch", "production")
    assert invoke(root, "deploy", "--branch", "production").code == 0  # what staging built
    git(root, "checkout", "-q", "-b", "feature")
    edit(root, FILTER, "amount from", "amount, order_id * 2 as twice from")
    commit(root, "a column more")

    ran = invoke(
        root, "ci", "--base", "main", "--head", "HEAD", "--pr", "3",
        "--report", f"json={root / 'report.json'}", "--report", f"junit={root / 'junit.xml'}",
        "--report", f"md={root / 'report.md'}",
    )  # fmt: skip

    assert ran.code == 0, ran.all
    assert TOKEN not in ran.all
    rows = invoke(root, "query", "pr_3", "select count(*) from paid_orders", "--json").json()["rows"]
    assert rows == [[3]]  # the real value ran: the filter kept the paid orders
    builds = json.loads((root / "plan.json").read_text())["builds"]
    assert marker("MY_TOKEN") in next(b["sql"] for b in builds if b["model"] == "paid_orders")
    warehouse = root / "warehouse.duckdb"
    leaking = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path != warehouse and TOKEN.encode() in path.read_bytes()
    ]
    assert leaking == []
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '_tidegate'"
        ).fetchall()]  # fmt: skip
        for table in tables:
            text = json.dumps(connection.execute(f"SELECT * FROM _tidegate.{table}").fetchall(), default=str)
            assert TOKEN not in text, table
