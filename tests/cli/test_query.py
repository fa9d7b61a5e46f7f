"""`tidegate query` and `tidegate show`: read an environment by its model names."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import invoke


def test_query_json_is_exactly_columns_and_rows(built: Path) -> None:
    ran = invoke(
        built, "query", "prod", "select customer_id, total from customer_totals order by 1", "--json"
    )
    assert ran.code == 0, ran.all
    assert ran.json() == {"columns": ["customer_id", "total"], "rows": [[1, 30], [3, 7]]}
    assert ran.stderr == ""


def test_query_resolves_model_names_in_the_environment(built: Path) -> None:
    (built / "models" / "order_count.sql").write_text(
        "select count(*) + 100 as n from {{ ref('stg_orders') }}"
    )
    assert invoke(built, "plan", "dev", "--auto-apply").code == 0
    sql = "select n from order_count"
    assert invoke(built, "query", "prod", sql, "--json").json()["rows"] == [[4]]
    assert invoke(built, "query", "dev", sql, "--json").json()["rows"] == [[104]]
    # A CTE named like a model shadows it; a qualified name is left alone.
    cte = "with order_count as (select 7 as n) select n from order_count"
    assert invoke(built, "query", "dev", cte, "--json").json()["rows"] == [[7]]
    qualified = "select n from analytics.order_count"
    assert invoke(built, "query", "dev", qualified, "--json").json()["rows"] == [[4]]


def test_query_human_table_and_limit(built: Path) -> None:
    ran = invoke(built, "query", "prod", "select order_id from stg_orders order by 1", "--limit", "2")
    assert ran.code == 0, ran.all
    lines = [line.strip() for line in ran.stdout.splitlines()]
    assert lines[:3] == ["order_id", "1", "2"]
    assert "2 of 4 row(s)" in ran.stdout
    ran = invoke(built, "query", "prod", "select order_id from stg_orders", "--limit", "0", "--json")
    assert ran.json() == {"columns": ["order_id"], "rows": []}
    assert invoke(built, "query", "prod", "select 1", "--limit", "-1").code == 2


def test_values_are_shown_as_they_are(built: Path) -> None:
    sql = "select '[bold]x[/bold]' as a, '[/]' as b, null as c"
    ran = invoke(built, "query", "prod", sql)
    assert ran.code == 0, ran.all
    assert "[bold]x[/bold]" in ran.stdout
    assert "[/]" in ran.stdout
    assert "NULL" in ran.stdout
    assert invoke(built, "query", "prod", sql, "--json").json()["rows"] == [["[bold]x[/bold]", "[/]", None]]


def test_bad_sql_is_bad_input(built: Path) -> None:
    ran = invoke(built, "query", "prod", "select * from no_such_table")
    assert ran.code == 2
    assert "no_such_table" in ran.stderr
    assert "Traceback" not in ran.all
    ran = invoke(built, "query", "prod", "select from where (", "--json")
    assert ran.code == 2
    assert "syntax error" in ran.json()["message"]


def test_query_of_a_missing_environment(built: Path) -> None:
    ran = invoke(built, "query", "dev", "select 1")
    assert ran.code == 2
    assert "'dev' does not exist" in ran.stderr
    assert "tidegate plan dev" in ran.stderr


def test_show_limits_rows(built: Path) -> None:
    ran = invoke(built, "show", "prod", "stg_orders", "--limit", "3", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["columns"] == ["order_id", "customer_id", "amount", "status"]
    assert len(ran.json()["rows"]) == 3
    ran = invoke(built, "show", "prod", "stg_orders")
    assert "4 row(s)" in ran.stdout
    assert "refunded" in ran.stdout


def test_show_unknown_model_exits_2(built: Path) -> None:
    ran = invoke(built, "show", "prod", "nope")
    assert ran.code == 2
    assert "no model 'nope'" in ran.stderr


def test_a_syntax_error_in_a_query_says_what_is_wrong(built: Path) -> None:
    ran = invoke(built, "query", "prod", "select *\nfrom stg_orders\nwhere", "--json")
    assert ran.code == 2
    message = ran.json()["message"]
    assert message == (
        "SQL syntax error near 'where': expected a condition after WHERE, but the query ends there "
        "(line 3 of the query)"
    )
