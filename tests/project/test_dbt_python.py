"""dbt's Python models (`def model(dbt, session)`) as dbt-duckdb runs them: `dbt.ref` and
`dbt.source` read the environment's relations, `dbt.config.get` the model's configs,
`dbt.is_incremental` is true when a run adds to an incremental model's table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.context import Context
from tidegate.errors import ProjectError
from tidegate.project import load_project
from tidegate.project.model import Kind

PROJECT = """\
name: shop
profile: shop
models:
  shop:
    +team: data
"""
SOURCES = """\
sources:
  - name: raw
    schema: raw
    tables: [{name: numbers}]
models:
  - name: numbers
    versions:
      - v: 1
"""
RAW = "create schema raw; create table raw.numbers as select * from (values (1), (2), (3)) t(id)"


@pytest.fixture
def make(make_dbt: Callable[..., Path]) -> Callable[..., Path]:
    """`make(files)`: the project above, with raw.numbers in its warehouse."""

    def make(files: dict[str, str]) -> Path:
        root = make_dbt({"dbt_project.yml": PROJECT, **files})
        import duckdb

        with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
            connection.execute(RAW)
        return root

    return make


MODELS = {
    "models/sources.yml": SOURCES,
    "models/numbers_v1.sql": "select id from {{ source('raw', 'numbers') }}",
    "models/doubled.py": """\
        def model(dbt, session):
            dbt.config(materialized="table", meta={"owner": "analytics"})
            numbers = dbt.ref("shop", "numbers", v=1)
            raw = dbt.source("raw", "numbers")
            total = raw.aggregate("count(*) as n").fetchall()[0][0]
            return session.sql(
                "select id * 2 as id, "
                f"'{dbt.config.get('team')}' as team, '{dbt.config.get('unique_key', 'none')}' as key, "
                f"'{dbt.config.meta_get('owner')}' as owner, '{dbt.this.identifier}' as this, "
                f"{total} as total from numbers"
            )
        """,
    "models/reads_python.sql": "select * from {{ ref('doubled') }}",
}


def test_a_dbt_python_model_reads_what_its_code_asks_for(make: Callable[..., Path]) -> None:
    root = make(MODELS)
    project = load_project(root)
    doubled = project.models["doubled"]
    assert (doubled.kind, doubled.refs, doubled.sources) == (Kind.TABLE, ("numbers_v1",), ("raw.numbers",))
    assert doubled.dbt_python is not None
    assert doubled.dbt_python.refs == {"shop.numbers.v1": "numbers_v1"}
    # as dbt: a config the model does not set is get's default, not None
    assert doubled.dbt_python.config == {"team": "data", "unique_key": "none"}
    with Context(root) as context:
        context.plan_and_apply("prod")
        rows = context.query("prod", "select * from main.reads_python order by id").rows
    assert rows == [(n * 2, "data", "none", "analytics", "doubled", 3) for n in (1, 2, 3)]


INCREMENTAL = """\
def model(dbt, session):
    dbt.config(materialized="incremental", unique_key="id")
    numbers = dbt.source("raw", "numbers")
    if dbt.is_incremental:
        return numbers.filter("id > 2").project("id, 'run' as how")
    return numbers.project("id, 'build' as how")
"""


def test_an_incremental_python_model_adds_what_a_run_selects(make: Callable[..., Path]) -> None:
    root = make(
        {
            "models/sources.yml": SOURCES,
            "models/numbers_v1.sql": "select 1 as id",
            "models/inc.py": INCREMENTAL,
        }
    )
    assert load_project(root).models["inc"].kind is Kind.INCREMENTAL
    with Context(root) as context:
        context.plan_and_apply("prod")
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb")) as connection:
        connection.execute("insert into raw.numbers values (4), (5)")
    with Context(root) as context:
        context.run("prod")
        rows = context.query("prod", "select id, how from main.inc order by id").rows
    assert rows == [(1, "build"), (2, "build"), (3, "run"), (4, "run"), (5, "run")]  # 3: replaced


@pytest.mark.parametrize(
    ("code", "message", "line"),
    [
        (
            "def model(dbt, session):\n    name = 'x'\n    return dbt.ref(name)",
            "dbt.ref() takes literal arguments",
            3,
        ),
        ("def model(dbt):\n    return dbt.ref('x')", "def model(dbt, session)", 1),
        (
            "def model(dbt, session):\n    return dbt.source('raw', 'nope')",
            "dbt.source('raw', 'nope') is not declared",
            2,
        ),
        ("def model(dbt, session):\n    return dbt.ref('numbers', v=7)", "numbers has versions 1", 2),
        (
            "def model(dbt, session):\n    dbt.config(materialized='view')\n    return None",
            "not 'view'",
            None,
        ),
        (
            "def model(dbt, session):\n    dbt.config(materialized='incremental', merge_update_columns=['a'])\n"
            "    return None",
            "merge_update_columns is not supported",
            None,
        ),
    ],
)
def test_what_dbt_refuses_in_a_python_model_names_its_line(
    make: Callable[..., Path], code: str, message: str, line: int | None
) -> None:
    root = make(
        {"models/sources.yml": SOURCES, "models/numbers_v1.sql": "select 1 as id", "models/p.py": code}
    )
    with pytest.raises(ProjectError) as raised:
        load_project(root)
    assert message in raised.value.message
    assert (raised.value.path, raised.value.line, raised.value.model) == ("models/p.py", line, "p")


def test_tidegates_own_python_models_still_take_their_parents(make: Callable[..., Path]) -> None:
    root = make(
        {
            "models/numbers.sql": "select 1 as id",
            "models/t.py": "def model(numbers):\n    return numbers.project('id + 1 as id')\n",
        }
    )
    model = load_project(root).models["t"]
    assert (model.refs, model.dbt_python) == (("numbers",), None)
