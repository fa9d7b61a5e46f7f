"""Parsing a model's rendered SQL: one query, errors with the line, a canonical text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidegate.errors import ProjectError, TidegateError
from tidegate.project.sql import normalize, parse_query
from tidegate.project.syntax import source_line


@pytest.mark.parametrize(
    ("sql", "line", "words"),
    [
        ("select a\nfrom t\nwhere b = = 1", 3, ["SQL syntax error"]),
        ("select a,\nfrom where", 2, ["SQL syntax error"]),
        ("select 1;\nselect 2", None, ["exactly one SQL statement, found 2"]),
        ("", None, ["found 0"]),
        ("create table x as select 1", None, ["not CREATE"]),
        ("select 'unterminated", 1, ["SQL syntax error"]),
    ],
)
def test_bad_sql_is_a_project_error_of_the_model(sql: str, line: int | None, words: list[str]) -> None:
    with pytest.raises(ProjectError) as info:
        parse_query(sql, "duckdb", path="models/a.sql", model="a")
    assert (info.value.path, info.value.line, info.value.model) == ("models/a.sql", line, "a")
    for word in words:
        assert word in info.value.message


@pytest.mark.parametrize(
    ("sql", "line", "said"),
    [
        (
            "select a\nfrom t\nwhere",
            3,
            "near 'where': expected a condition after WHERE, but the query ends there",
        ),
        ("select a from t where a =\n", 1, "near '=': expected an expression after '='"),
        ("select a from t where a = 1 and", 1, "near 'and': expected an expression after 'and'"),
        ("select a from t\norder by", 2, "near 'order by': expected what to sort by after ORDER BY"),
        ("select a from t group by a having", 1, "near 'having': expected a condition after HAVING"),
        ("select 1 union", 1, "near 'union': expected a query after UNION"),
        ("select * from t limit", 1, "near 'limit': expected a number after LIMIT"),
        ("select *\nfrom", 2, "near 'from': expected a table name, but the query ends there"),
        ("select * from where x", 1, "near 'where': expected a table name"),
        ("select * from t join", 1, "near 'join': expected a table name"),
        ("select a b c\nfrom t", 1, "near 'c': it does not belong here"),
        ("select 1 from t)", 1, "near ')': it does not belong here"),
        ("select (1\nfrom t", 2, "near 'from': a parenthesis opened before it is not closed"),
        ("select case when a then 1 from t", 1, "CASE needs an END"),
        ("select cast(a as) from t", 1, "expected a type: CAST(value AS type)"),
        ("with x as (select 1)", 1, "expected a query after the WITH clause"),
        ("select 1,\n  'abc as x\nfrom t", 2, 'near "\'abc as x": a string opened here is never closed'),
        ('select\n"abc', 2, "a quoted name opened here is never closed"),
        ("select 1 /* note\n\n", 1, "a comment opened here is never closed"),
    ],
)
def test_a_syntax_error_says_what_is_wrong_in_the_users_terms(sql: str, line: int, said: str) -> None:
    """Never sqlglot's internals: its class names, its token dumps, its own phrasing."""
    with pytest.raises(ProjectError) as info:
        parse_query(sql, "duckdb", path="models/a.sql", model="a")
    message = info.value.message
    assert info.value.line == line
    assert message.startswith("SQL syntax error") and said in message
    for internal in ("<class", "<Token", "sqlglot", "Required keyword", "TokenType", "Error tokenizing"):
        assert internal not in message


def test_a_syntax_error_names_the_line_of_the_template(load_error: Callable[..., TidegateError]) -> None:
    """Jinja moves lines: a `config()` over three lines renders as one, a macro as several."""
    model = "{{ config(\n    materialized='table'\n) }}\nselect 1 as id\nfrom t\nwhere\n"
    error = load_error({"models/m.sql": model})
    assert (error.path, error.line) == ("models/m.sql", 6)
    macro = "{% macro cols() %}\n  a,\n  b,\n  c\n{% endmacro %}\n"
    error = load_error({"macros/cols.sql": macro, "models/m.sql": "select\n  {{ cols() }}\nfrom t\nwhere\n"})
    assert (error.path, error.line) == ("models/m.sql", 4)


CONFIG_ABOVE = (
    "{{ config(\n  materialized='table'\n) }}\nselect {{ ref('a') }}\nfrom t\nwhere",
    "\nselect __tgref__a\nfrom t\nwhere",
)
MACRO_INSIDE = ("select\n  {{ cols() }}\nfrom t\nwhere", "select\n  \n  a,\n  b\n\nfrom t\nwhere")


@pytest.mark.parametrize(
    ("texts", "line", "of"),
    [
        (CONFIG_ABOVE, 2, 4),  # fewer lines rendered: counted back from the lines that agree
        (CONFIG_ABOVE, 3, 5),
        (CONFIG_ABOVE, 4, 6),
        (MACRO_INSIDE, 1, 1),
        (MACRO_INSIDE, 4, 2),  # more lines rendered: the macro's call
        (MACRO_INSIDE, 7, 4),
    ],
)
def test_a_rendered_line_is_found_in_its_template(texts: tuple[str, str], line: int, of: int) -> None:
    source, rendered = texts
    assert source_line(source, rendered, line) == of


def test_normalize_drops_comments_whitespace_and_keyword_case() -> None:
    one = parse_query("select a, sum(b) as s from t -- c\n group by a", "duckdb", path="x")
    two = parse_query("SELECT a,\n  SUM(b) AS s /* c */\nFROM t GROUP BY a;", "duckdb", path="x")
    assert normalize(one, "duckdb") == normalize(two, "duckdb") == "SELECT a, SUM(b) AS s FROM t GROUP BY a"


def test_values_and_with_are_queries() -> None:
    assert parse_query("with x as (select 1 as a) select * from x", "duckdb", path="x")
    values = parse_query("values (1, 'a'), (2, 'b')", "duckdb", path="x")
    assert normalize(values, "duckdb") == "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS _values"
