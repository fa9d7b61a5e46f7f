"""Parsing a model's rendered SQL: one query, errors with the line, a canonical text."""

from __future__ import annotations

import pytest

from tidegate.errors import ProjectError
from tidegate.project.sql import normalize, parse_query


@pytest.mark.parametrize(
    ("sql", "line", "words"),
    [
        ("select a\nfrom t\nwhere b = = 1", 3, ["SQL syntax error"]),
        ("select a,\nfrom where", 2, ["SQL syntax error"]),
        ("select 1;\nselect 2", None, ["exactly one SQL statement, found 2"]),
        ("", None, ["found 0"]),
        ("create table x as select 1", None, ["not CREATE"]),
        ("select 'unterminated", None, ["SQL syntax error"]),
    ],
)
def test_bad_sql_is_a_project_error_of_the_model(sql: str, line: int | None, words: list[str]) -> None:
    with pytest.raises(ProjectError) as info:
        parse_query(sql, "duckdb", path="models/a.sql", model="a")
    assert (info.value.path, info.value.line, info.value.model) == ("models/a.sql", line, "a")
    for word in words:
        assert word in info.value.message


def test_normalize_drops_comments_whitespace_and_keyword_case() -> None:
    one = parse_query("select a, sum(b) as s from t -- c\n group by a", "duckdb", path="x")
    two = parse_query("SELECT a,\n  SUM(b) AS s /* c */\nFROM t GROUP BY a;", "duckdb", path="x")
    assert normalize(one, "duckdb") == normalize(two, "duckdb") == "SELECT a, SUM(b) AS s FROM t GROUP BY a"


def test_values_and_with_are_queries() -> None:
    assert parse_query("with x as (select 1 as a) select * from x", "duckdb", path="x")
    values = parse_query("values (1, 'a'), (2, 'b')", "duckdb", path="x")
    assert normalize(values, "duckdb") == "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS _values"
