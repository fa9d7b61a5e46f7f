"""Bad input the loader and the compiler once let through as internal errors (exit 3): each
exits 2 naming the file, and the line where one is known."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import LAYERED


def _exit_2(root: Path, *expected: str) -> str:
    ran = invoke(root, "plan", "prod")
    output = ran.stdout + ran.stderr
    assert ran.code == 2, output
    assert "internal error" not in output and "Traceback" not in output
    for text in expected:
        assert text in output
    return output


BAD_COLUMN = """\
version: 2
models:
  - name: customer_totals
    columns:
      - name: id id
        data_tests: [not_null]
"""


def test_a_generic_test_on_a_column_that_is_not_sql_names_the_properties_line(
    make_project: Callable[..., Path],
) -> None:
    root = make_project({**LAYERED, "models/schema.yml": BAD_COLUMN})
    _exit_2(root, "models/schema.yml:6", "not_null_customer_totals_id id", "SQL syntax error")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("models/order_count.sql", b"select count(*) as n\n-- caf\xe9\nfrom {{ ref('stg_orders') }}", 2),
        ("models/schema.yml", b"version: 2\n\n# caf\xe9\nmodels: []\n", 3),
        ("tidegate.yml", b"# caf\xe9\n", 1),
        ("macros/helpers.sql", b"{% macro m() %}caf\xe9{% endmacro %}", 1),
        ("tests/assert_positive.sql", b"select 1\n-- caf\xe9\n", 2),
    ],
)
def test_a_file_that_is_not_utf8_is_named(
    make_project: Callable[..., Path], name: str, text: bytes, line: int
) -> None:
    """Latin-1 text (\\xe9 is é) is not UTF-8: the file and line are named, not a decoding error."""
    root = make_project(LAYERED)
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "tidegate.yml":
        text += path.read_bytes()
    path.write_bytes(text)
    output = _exit_2(root, f"{name}:{line}", "not UTF-8")
    assert "UnicodeDecodeError" not in output


@pytest.mark.parametrize(
    ("seed", "line", "words"),
    [
        (b"", 1, "the file is empty"),  # DuckDB made it a table of one column
        (b"id,customer_id,,status\n1,1,10,paid\n", 1, "column 3 of the header has no name"),
        (b'id,customer_id,amount,status\n1,1,10,"paid\n2,1,20,paid\n', 2, "never closed"),
        (b"id,customer_id,amount,status\n1,1,10,paid,extra\n", 2, "5 field(s)"),
    ],
)
def test_a_seed_file_duckdb_would_misread_is_named_with_its_line(
    make_project: Callable[..., Path], seed: bytes, line: int, words: str
) -> None:
    root = make_project(LAYERED)
    (root / "seeds/raw_orders.csv").write_bytes(seed)
    _exit_2(root, f"seeds/raw_orders.csv:{line}", words)


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("models/order_count.sql", "{{ config(schema='a\"b') }} select 1 as n", "schema 'a\"b'"),
        ("models/order_count.sql", '{{ config(alias="x\'y") }} select 1 as n', 'alias "x\'y"'),
        ("models/order_count.sql", "{{ config(alias='a.b') }} select 1 as n", "alias 'a.b'"),
        ("models/order_count.sql", "{{ config(schema='x y') }} select 1 as n", "schema 'x y'"),
        (
            "models/order_count.py",
            'config = {"alias": "a;b"}\ndef model():\n    return None\n',
            "alias 'a;b'",
        ),
    ],
)
def test_a_schema_or_alias_that_is_not_a_plain_name_is_refused(
    make_project: Callable[..., Path], name: str, text: str, words: str
) -> None:
    """As `schema:` of tidegate.yml and the names dbt's macros make: letters, digits and _."""
    files = {k: v for k, v in LAYERED.items() if k != "models/order_count.sql"}
    root = make_project({**files, name: text})
    _exit_2(root, name, words, "not a valid name")
