"""Fingerprints: what changes a model's data changes its fingerprint, and nothing else does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LAYERED, write_files
from tidegate.graph import Fingerprint, Graph, fingerprint_project
from tidegate.project import load_project


def fingerprints(root: Path) -> dict[str, Fingerprint]:
    return fingerprint_project(Graph(load_project(root).models))


def changed(root: Path, files: dict[str, str]) -> set[str]:
    """The models whose data fingerprint changes when `files` are written over the project."""
    before = fingerprints(root)
    write_files(root, files)
    after = fingerprints(root)
    return {name for name in after if before[name].data != after[name].data}


def test_fingerprints_are_stable_and_distinct(layered: Path) -> None:
    first, second = fingerprints(layered), fingerprints(layered)
    assert first == second
    assert len({fp.data for fp in first.values()}) == len(first)
    assert all(len(fp.data) == 16 and len(fp.metadata) == 16 for fp in first.values())


def test_formatting_comments_keyword_case_and_description_keep_the_data_fingerprint(layered: Path) -> None:
    before = fingerprints(layered)
    write_files(
        layered,
        {
            "models/customer_totals.sql": """
                {# a Jinja comment #}
                -- a SQL comment
                SELECT customer_id,  /* the key */
                       SUM(amount)   AS total,
                       COUNT(*)      AS orders
                FROM   {{ ref('stg_orders') }}
                WHERE  status = 'paid'
                GROUP  BY customer_id;
            """,
            "models/schema.yml": LAYERED["models/schema.yml"].replace(
                "Paid totals per customer.", "Changed."
            ),
        },
    )
    after = fingerprints(layered)
    assert {name: fp.data for name, fp in after.items()} == {name: fp.data for name, fp in before.items()}
    assert after["customer_totals"].metadata != before["customer_totals"].metadata
    assert after["big_customers"].metadata == before["big_customers"].metadata


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "models/customer_totals.sql": "select customer_id, sum(amount) as total, count(*) as orders from {{ ref('stg_orders') }} group by customer_id"
            },
            {"customer_totals", "big_customers"},
        ),
        (
            {
                "models/order_count.sql": "{{ config(materialized='view') }} select count(*) as n from {{ ref('stg_orders') }}"
            },
            {"order_count"},
        ),
        (
            {"seeds/raw_orders.csv": LAYERED["seeds/raw_orders.csv"] + "5,3,1,paid\n"},
            {"raw_orders", "stg_orders", "customer_totals", "big_customers", "order_count"},
        ),
        (
            {
                "models/stg_orders.sql": "{{ config(materialized='view', schema='staging') }} select id as order_id, customer_id, amount, status from {{ ref('raw_orders') }}"
            },
            {"stg_orders", "customer_totals", "big_customers", "order_count"},
        ),
        (
            {
                "models/big_customers.sql": "select customer_id, total from {{ ref('customer_totals') }} where total > 9"
            },
            {"big_customers"},
        ),
    ],
)
def test_data_changes_change_the_model_and_everything_downstream(
    layered: Path, files: dict[str, str], expected: set[str]
) -> None:
    assert changed(layered, files) == expected


def test_seed_column_types_change_the_seed(layered: Path) -> None:
    files = {
        "seeds/props.yml": "seeds:\n  - name: raw_orders\n    config: {column_types: {amount: double}}\n"
    }
    assert "raw_orders" in changed(layered, files)


def test_incremental_config_changes_the_fingerprint(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "models/src.sql": "select 1 as id, 2 as day",
            "models/events.sql": "{{ config(materialized='incremental', unique_key='id') }} select * from {{ ref('src') }}",
        }
    )
    events = "{{{{ config(materialized='incremental', {}) }}}} select * from {{{{ ref('src') }}}}{}"
    assert changed(root, {"models/events.sql": events.format("unique_key=['id', 'day']", "")}) == {"events"}
    assert changed(root, {"models/events.sql": events.format("incremental_strategy='append'", "")}) == {
        "events"
    }
    is_incremental = "{% if is_incremental() %} where id > 1 {% endif %}"
    assert changed(
        root, {"models/events.sql": events.format("incremental_strategy='append'", is_incremental)}
    ) == {"events"}
    assert changed(
        root, {"models/events.sql": "{{ config(materialized='table') }} select * from {{ ref('src') }}"}
    ) == {"events"}


def test_vars_that_change_the_sql_change_the_fingerprint(make_project: Callable[..., Path]) -> None:
    root = make_project({"models/a.sql": "select * from range(10) where range > {{ var('min', 3) }}"})
    base = fingerprint_project(Graph(load_project(root).models))["a"].data
    same = fingerprint_project(Graph(load_project(root, variables={"min": 3}).models))["a"].data
    other = fingerprint_project(Graph(load_project(root, variables={"min": 4}).models))["a"].data
    assert base == same != other


# Generated queries, each written many ways: keyword case, whitespace and comments must not count.
KEYWORDS = [
    "select",
    "as",
    "from",
    "where",
    "and",
    "group",
    "by",
    "order",
    "sum",
    "count",
    "distinct",
    "limit",
    "desc",
]
columns = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True)


@st.composite
def queries(draw: st.DrawFn) -> list[str]:
    """The tokens of a query over `{{ ref('src') }}`."""
    names = draw(columns)
    grouped = draw(st.booleans())
    selected: list[str] = []
    for index, name in enumerate(names):
        if index:
            selected.append(",")
        selected.append(name)
    if grouped:
        selected += [",", "sum", "(", draw(st.sampled_from(["a", "b", "c", "d"])), ")", "as", "total"]
    tokens = ["select", *(["distinct"] if draw(st.booleans()) and not grouped else []), *selected]
    tokens += ["from", "{{ ref('src') }}"]
    if draw(st.booleans()):
        tokens += [
            "where",
            names[0],
            ">",
            str(draw(st.integers(0, 9))),
            "and",
            names[-1],
            "is",
            "not",
            "null",
        ]
    if grouped:
        tokens += ["group", "by", *selected[: len(names) * 2 - 1]]
    if draw(st.booleans()):
        tokens += ["order", "by", names[0], *(["desc"] if draw(st.booleans()) else []), "limit", "5"]
    return tokens


separators = st.sampled_from([" ", "  ", "\n", "\t", "\n    ", " /* note */ ", " -- note\n", "\n\n"])


@st.composite
def written(draw: st.DrawFn, tokens: list[str]) -> str:
    """`tokens` with random keyword case and random whitespace and comments between them."""
    parts = []
    for token in tokens:
        if token in KEYWORDS or token in ("is", "not", "null"):
            token = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in token)
        parts += [token, draw(separators)]
    return draw(separators) + "".join(parts)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_queries_written_differently_have_one_fingerprint(
    make_project: Callable[..., Path], data: st.DataObject
) -> None:
    tokens = data.draw(queries())
    plain = " ".join(tokens)
    root = make_project({"models/src.sql": "select 1 as a, 2 as b, 3 as c, 4 as d", "models/q.sql": plain})
    expected = fingerprints(root)["q"].data
    variant = data.draw(written(tokens))
    write_files(root, {"models/q.sql": variant})
    assert fingerprints(root)["q"].data == expected, variant
