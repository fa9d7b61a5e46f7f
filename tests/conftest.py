"""Shared fixtures: small projects written into a temporary directory, on embedded DuckDB."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.infra.terraform.kit import terraform_env, terraform_kit, terraform_names
from tests.stores import gcs_bucket, gcs_server, s3_bucket, s3_server
from tidegate.context import Context
from tidegate.state.views import INTERNAL_PREFIX

Row = tuple[object, ...]

# The Terraform kit's fixtures (tests/infra/terraform/kit.py) and the object stores DAGs ship
# to (tests/stores.py), for every test
__all__ = [
    "gcs_bucket",
    "gcs_server",
    "s3_bucket",
    "s3_server",
    "terraform_env",
    "terraform_kit",
    "terraform_names",
]

CONFIG = """\
name: test
dialect: duckdb
environments:
  prod: {engine: duckdb, path: warehouse.duckdb, threads: 2, lock_timeout: 5s}
  dev: {engine: duckdb, path: warehouse.duckdb, threads: 2, lock_timeout: 5s}
promotion: [dev, prod]
"""

# A small layered project: a seed, a staging view, an intermediate table and two marts.
LAYERED = {
    "seeds/raw_orders.csv": "id,customer_id,amount,status\n1,1,10,paid\n2,1,20,paid\n3,2,5,refunded\n4,3,7,paid\n",
    "models/stg_orders.sql": """
        {{ config(materialized='view') }}
        select id as order_id, customer_id, amount, status from {{ ref('raw_orders') }}
    """,
    "models/customer_totals.sql": """
        select customer_id, sum(amount) as total, count(*) as orders
        from {{ ref('stg_orders') }} where status = 'paid' group by customer_id
    """,
    "models/big_customers.sql": """
        select customer_id, total from {{ ref('customer_totals') }} where total > 8
    """,
    "models/order_count.sql": "select count(*) as n from {{ ref('stg_orders') }}",
    "models/schema.yml": """
        version: 2
        models:
          - name: customer_totals
            description: Paid totals per customer.
            columns:
              - name: customer_id
                data_tests: [unique, not_null]
    """,
}

# LAYERED whose orders carry the day they were placed (a date column through the staging view),
# and whose staging view accepts two statuses: the engine suites' project, plus their own models
DATED_LAYERED = {
    **LAYERED,
    "seeds/raw_orders.csv": "id,customer_id,amount,status,ordered_on\n"
    "1,1,10,paid,2024-01-05\n2,1,20,paid,2024-01-06\n3,2,5,refunded,2024-02-01\n4,3,7,paid,2024-02-03\n",
    "models/stg_orders.sql": """
        {{ config(materialized='view') }}
        select id as order_id, customer_id, amount, status, ordered_on from {{ ref('raw_orders') }}
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: customer_totals
            columns:
              - name: customer_id
                data_tests: [unique, not_null]
          - name: stg_orders
            columns:
              - name: status
                data_tests:
                  - accepted_values: {values: [paid, refunded]}
    """,
}

# Changes the tests make to LAYERED again and again
COUNT_REFUNDS = {  # breaking: customer_totals counts refunded orders too
    "models/customer_totals.sql": """
        select customer_id, sum(amount) as total, count(*) as orders
        from {{ ref('stg_orders') }} group by customer_id
    """
}
ADD_BIGGEST = {  # not breaking: customer_totals gains a column big_customers does not read
    "models/customer_totals.sql": """
        select customer_id, sum(amount) as total, count(*) as orders, max(amount) as biggest
        from {{ ref('stg_orders') }} where status = 'paid' group by customer_id
    """
}
TIMES_TEN = {"models/order_count.sql": "select count(*) * 10 as n from {{ ref('stg_orders') }}"}

# A unit test of LAYERED's order_count: two staged orders count 2
COUNTS_ORDERS = {
    "models/unit.yml": """
        unit_tests:
          - name: counts_orders
            model: order_count
            given:
              - input: ref('stg_orders')
                rows: [{order_id: 1}, {order_id: 2}]
            expect:
              rows: [{n: 2}]
    """
}


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def edit(root: Path, name: str, old: str, new: str) -> None:
    """Replace `old`, which the file must hold, by `new` in a file of the project."""
    path = root / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new))


def rows(ctx: Context, sql: str, environment: str = "prod", *, as_written: bool = False) -> list[Row]:
    """What `sql` returns in an environment, its model names read through the environment's views;
    `as_written=True` runs it unchanged on the environment's warehouse, for relations named in
    full (snapshot tables, stored failures, views of another environment)."""
    result = ctx.engine(environment).fetch(sql) if as_written else ctx.query(environment, sql)
    return result.rows


def plain_numbers(fetched: list[Row]) -> list[Row]:
    """Whole numbers as int, other numbers as float: a sum or a count is an int on one engine, a
    Decimal or a float on another, and results must compare the same on every engine."""
    return [tuple(_plain(value) for value in row) for row in fetched]


def _plain(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return value
    number = float(value)
    return int(value) if number.is_integer() else number


def build_prod(root: Path, open_context: Callable[..., Context], **options: object) -> Context:
    """A context on the project, prod built from it as its first version."""
    ctx = open_context(root, **options)
    _, result = ctx.plan_and_apply("prod")
    assert result is not None and result.version == 1
    return ctx


def internal_relations(ctx: Context) -> set[tuple[str, str]]:
    """The schema and name of every relation in prod's internal schemas: its snapshots."""
    return {(schema, name) for schema, name, _ in ctx.engine("prod").relations(INTERNAL_PREFIX)}


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a project: `make_project({path: text}, config=...)` returns its root."""

    def make(files: dict[str, str], config: str = CONFIG) -> Path:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        (root / "tidegate.yml").write_text(config)
        write_files(root, files)
        return root

    return make


# A dbt project named shop: tables by default, one DuckDB target
DBT_PROJECT = """\
name: shop
profile: shop
models:
  shop:
    +materialized: table
"""
DBT_PROFILES = """\
shop:
  target: dev
  outputs:
    dev: {type: duckdb, path: warehouse.duckdb, schema: main}
"""


@pytest.fixture
def make_dbt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """`make_dbt({path: text}, profiles=...)` writes a dbt project, shop unless the files replace
    its dbt_project.yml or profiles.yml (a text of None leaves a file out), where dbt finds no
    profiles but the project's own; returns its root."""
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def make(files: dict[str, str | None], profiles: str = DBT_PROFILES) -> Path:
        root = tmp_path / "project"
        merged = {"dbt_project.yml": DBT_PROJECT, "profiles.yml": profiles, **files}
        write_files(root, {name: text for name, text in merged.items() if text is not None})
        return root

    return make


@pytest.fixture
def layered(make_project: Callable[..., Path]) -> Path:
    return make_project(LAYERED)


@pytest.fixture
def open_context() -> Iterator[Callable[[Path], Context]]:
    """Open contexts on a project; each is closed at the end of the test."""
    opened: list[Context] = []

    def open_(root: Path, **options: object) -> Context:
        context = Context(root, **options)  # type: ignore[arg-type]
        opened.append(context)
        return context

    yield open_
    for context in opened:
        context.close()
