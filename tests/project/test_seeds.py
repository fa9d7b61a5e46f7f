"""A seed's file is read and checked once, before any engine loads it: a bad one is an error of
the project naming the file and the line; its `column_types` are one SQL type each, of columns
the file has."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tidegate.errors import ConfigError, ProjectError, TidegateError
from tidegate.project import Project
from tidegate.project.datatypes import column_type
from tidegate.project.seeds import read_seed


@pytest.mark.parametrize(
    ("data", "header", "rows"),
    [
        (b"a,b\n1,2\n3,4\n", ("a", "b"), [["1", "2"], ["3", "4"]]),
        (b"a,b\n", ("a", "b"), []),
        (b"a,b\r\n1,2\r\n", ("a", "b"), [["1", "2"]]),
        (b"\xef\xbb\xbfa,b\n1,2\n", ("a", "b"), [["1", "2"]]),  # a byte order mark
        (b"a,b\n1,2\n\n3,4\n", ("a", "b"), [["1", "2"], ["3", "4"]]),  # blank lines are skipped
        (
            b'a,b\n1,"x\ny"\n2,"p,q"\n3,"say ""hi"""\n',
            ("a", "b"),
            [["1", "x\ny"], ["2", "p,q"], ["3", 'say "hi"']],
        ),
    ],
)
def test_a_good_file_reads_as_its_header_and_rows(
    data: bytes, header: tuple[str, ...], rows: list[list[str]]
) -> None:
    table = read_seed(data, "seeds/s.csv")
    assert (table.header, table.rows) == (header, rows)


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"a,b\n1,2\n3\n4,5\n", 3, ["1 field(s) on this line", "header has 2"]),
        (b"a,b\n1,2\n4,5,6\n", 3, ["3 field(s)"]),
        (b'a,b\n1,"two\nlines"\n3,4,5\n', 4, ["3 field(s)"]),  # the line a row starts on
        (b"a,b\n1,caf\xe9\n", 2, ["not UTF-8", "0xe9"]),
        (b"", 1, ["empty", "header"]),
        (b"\na,b\n", 1, ["first line is empty"]),
        (b"a,a,b\n1,2,3\n", 1, ["column 'a' twice (columns 1 and 2)"]),
        (b"id,ID\n1,2\n", 1, ["'id' and 'ID'", "differ only in case"]),
        (b"a,,b\n1,2,3\n", 1, ["column 2 of the header has no name"]),
        (b'a,b\n1,2\n3,"open\n4,5\n', 3, ["quoted value starts on this line and is never closed"]),
        (b'a,b\n1,"x"y\n', 2, ["cannot read the CSV"]),
    ],
)
def test_a_bad_file_is_an_error_at_its_line(data: bytes, line: int, words: list[str]) -> None:
    with pytest.raises(ProjectError) as raised:
        read_seed(data, "seeds/s.csv")
    assert (raised.value.path, raised.value.line, raised.value.exit_code) == ("seeds/s.csv", line, 2)
    for word in words:
        assert word in raised.value.message


def test_the_delimiter_splits_the_fields() -> None:
    assert read_seed(b"a;b\n1;2,5\n", "s.csv", ";").rows == [["1", "2,5"]]
    with pytest.raises(ProjectError, match="quote a value that holds ';'"):
        read_seed(b"a;b\n1;2;5\n", "s.csv", ";")


PROPERTIES = """\
version: 2
seeds:
  - name: prices
    config:
      column_types:
        id: integer
        price: {price}
"""


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (
            "'integer, x text); create table injected (y int); create table z (id integer'",
            ["is not one SQL type"],
        ),
        ("int; drop table prices", ["is not one SQL type"]),
        ("int default 1", ["is not one SQL type"]),
        ("'''int'''", ["is not one SQL type"]),
        ("3", ["3 is not a SQL type"]),
    ],
)
def test_a_column_type_that_is_not_one_type_is_refused_at_its_line(
    load_error: Callable[..., TidegateError], kind: str, words: list[str]
) -> None:
    error = load_error(
        {"seeds/prices.csv": "id,price\n1,2.5\n", "seeds/prices.yml": PROPERTIES.format(price=kind)},
        expected=ConfigError,
    )
    assert (error.path, error.line, error.model) == ("seeds/prices.yml", 7, "prices")
    assert "column_types of column 'price'" in error.message
    for word in words:
        assert word in error.message


def test_column_types_name_columns_of_the_file(load_error: Callable[..., TidegateError]) -> None:
    error = load_error(
        {"seeds/prices.csv": "id,amount\n1,2.5\n", "seeds/prices.yml": PROPERTIES.format(price="double")},
        expected=ConfigError,
    )
    assert (error.path, error.line) == ("seeds/prices.yml", 7)
    assert (
        "names column 'price', which the seed's file does not have (its columns: id, amount)" in error.message
    )


def test_types_of_the_dialect_and_plain_type_names_are_kept(load: Callable[..., Project]) -> None:
    project = load(
        {
            "seeds/prices.csv": "id,price,tag\n1,2.5,x\n",
            "seeds/prices.yml": PROPERTIES.format(price="decimal(10, 2)") + "        tag: citext\n",
        }
    )
    assert dict(project.models["prices"].column_types) == {
        "id": "integer",
        "price": "decimal(10, 2)",
        "tag": "citext",
    }


@pytest.mark.parametrize(
    ("text", "write", "spelled"),
    [
        ("double", "postgres", "DOUBLE PRECISION"),
        ("VARCHAR", "spark", "STRING"),
        ("DECIMAL(10,2)", "spark", "DECIMAL(10, 2)"),
        ("integer", "duckdb", "integer"),  # the engine's own dialect: as written
        ("int -- a comment", "duckdb", "INT"),  # but never a comment, which would hide the rest of the DDL
        ("citext", "postgres", "citext"),  # a name sqlglot does not know is the engine's
    ],
)
def test_a_column_type_is_spelled_as_the_engine_spells_it(text: str, write: str, spelled: str) -> None:
    assert column_type(text, "duckdb", write) == spelled


def test_a_seed_is_read_once_per_content(
    load: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a large seed costs more than the rest of its load: a file already checked is not
    read again, and a changed one is."""
    from tidegate.project import seeds

    read: list[str] = []

    def counted(data: bytes, shown: str, delimiter: str = ",") -> seeds.SeedTable:
        read.append(shown)
        return read_seed(data, shown, delimiter)

    monkeypatch.setattr(seeds, "read_seed", counted)
    files = {"seeds/prices.csv": "id,price\n1,2.5\n"}
    assert dict(load(files).models["prices"].column_types) == {}
    load(files)
    assert read == ["seeds/prices.csv"]

    with pytest.raises(ProjectError, match="3 field"):
        load({"seeds/prices.csv": "id,price\n1,2.5,7\n"})
    assert read == ["seeds/prices.csv", "seeds/prices.csv"]
