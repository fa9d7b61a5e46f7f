"""Breaking or non-breaking, as a table of behaviour: old query, new query, expected category."""

from __future__ import annotations

import pytest

from tidegate.plan.categorizer import categorize, reads_changed_columns

NON_BREAKING = [
    # (old, new, added columns)
    ("select x, y from t", "select x, y, z from t", ("z",)),
    ("select x, y from t", "select x, z, y from t", ("z",)),
    ("select x, y from t", "select x, y, z + 1 as z1, 'a' as label from t", ("z1", "label")),
    ("SELECT x, y FROM t", "select x, y, z from t", ("z",)),
    (
        "select x, count(*) as n from t group by x",
        "select x, count(*) as n, sum(y) as total from t group by x",
        ("total",),
    ),
    ("select x from t where x > 1", "select x, x * 2 as doubled from t where x > 1", ("doubled",)),
    (
        "select a.x from a join b on a.id = b.id",
        "select a.x, b.y from a join b on a.id = b.id",
        ("y",),
    ),
    ("select x from t", "select x, row_number() over (order by x) as rn from t", ("rn",)),
    (
        "with c as (select x, y from t) select x from c",
        "with c as (select x, y from t) select x, y from c",
        ("y",),
    ),
    (
        "select x, count(*) as n from t group by all",
        "select x, count(*) as n, max(y) as biggest from t group by all",
        ("biggest",),
    ),
    (
        "select x, sum(y) as s from t group by 1",
        "select x, sum(y) as s, 1 as one from t group by 1",
        ("one",),
    ),
]

BREAKING = [
    ("added filter", "select x, y from t", "select x, y from t where x > 1"),
    ("changed filter", "select x from t where x > 1", "select x from t where x > 2"),
    ("filter with an added column", "select x from t", "select x, y from t where y is not null"),
    (
        "changed grouping",
        "select x, count(*) as c from t group by x",
        "select x, count(*) as c from t group by x, y",
    ),
    (
        "added column that adds grouping",
        "select x, count(*) as c from t group by x",
        "select x, count(*) as c, y from t group by x, y",
    ),
    (
        "inner to left join",
        "select a.x from a join b on a.id = b.id",
        "select a.x from a left join b on a.id = b.id",
    ),
    ("added join", "select a.x from a", "select a.x, b.y from a join b on a.id = b.id"),
    ("distinct added", "select x from t", "select distinct x from t"),
    ("column added to distinct", "select distinct x from t", "select distinct x, y from t"),
    ("distinct on", "select x from t", "select distinct on (x) x, y from t"),
    ("removed column", "select x, y from t", "select x from t"),
    ("renamed column", "select x, y from t", "select x, y as y2 from t"),
    ("changed expression", "select x, y from t", "select x, y + 1 as y from t"),
    ("reordered columns", "select x, y from t", "select y, x from t"),
    ("added unnest", "select x from t", "select x, unnest(items) as item from t"),
    ("limit", "select x from t", "select x, 1 as y from t limit 5"),
    ("qualify", "select x from t", "select x, 1 as y from t qualify row_number() over () = 1"),
    (
        "changed cte",
        "with c as (select x from t) select x from c",
        "with c as (select x from t where x > 0) select x, 1 as one from c",
    ),
    (
        "union gains a column",
        "select x from t union all select x from u",
        "select x, 1 as y from t union all select x, 1 as y from u",
    ),
    ("becomes a union", "select x from t", "select x from t union all select x from u"),
    ("different table", "select x from t", "select x, y from u"),
    ("identical", "select x from t", "select x from t"),
    ("aggregate added to a row query", "select 1 as a from t", "select 1 as a, count(*) as n from t"),
    (
        "group by all gains a grouping column",
        "select x, count(*) as c from t group by all",
        "select x, count(*) as c, y from t group by all",
    ),
    (
        "positional group by shifted",
        "select x, sum(y) as s from t group by 1",
        "select z, x, sum(y) as s from t group by 1",
    ),
    (
        "positional order by shifted under a limit",
        "select x, y from t order by 2 limit 3",
        "select x, z, y from t order by 2 limit 3",
    ),
    (
        "order by all under a limit",
        "select x from t order by all limit 3",
        "select x, y from t order by all limit 3",
    ),
]


@pytest.mark.parametrize(("old", "new", "added"), NON_BREAKING)
def test_only_added_projections_are_non_breaking(old: str, new: str, added: tuple[str, ...]) -> None:
    category = categorize(old, new, "duckdb")
    assert category.breaking is False, category.reason
    assert category.added_columns == added


@pytest.mark.parametrize(("case", "old", "new"), BREAKING, ids=[case for case, _, _ in BREAKING])
def test_other_changes_are_breaking(case: str, old: str, new: str) -> None:
    category = categorize(old, new, "duckdb")
    assert category.breaking is True
    assert category.added_columns == ()


def test_without_a_previous_query_or_on_unparsable_sql_the_change_is_breaking() -> None:
    assert categorize(None, "select 1 as x", "duckdb").breaking
    assert categorize("", "select 1 as x", "duckdb").breaking
    assert categorize("select x from t", "select x, from from where", "duckdb").breaking


PARENT = "__tgref__orders"

READS = [
    ("select star", f"select * from {PARENT}", True),
    ("qualified star", f"select o.* from {PARENT} as o", True),
    ("star in a subquery", f"select x from (select * from {PARENT}) as s", True),
    ("names the added column", f"select id, discount from {PARENT}", True),
    ("qualified added column", f"select o.id from {PARENT} as o where o.discount > 0", True),
    ("added column in a cte", f"with c as (select discount from {PARENT}) select 1 as one from c", True),
    ("other columns only", f"select id, amount from {PARENT}", False),
    ("count star", f"select count(*) as n from {PARENT}", False),
    (
        "count star with a join",
        f"select count(*) as n from {PARENT} as o join __tgref__x as x on o.id = x.id",
        False,
    ),
    ("does not read the parent", "select discount from __tgref__other", True),
]


@pytest.mark.parametrize(("case", "child", "reads"), READS, ids=[case for case, _, _ in READS])
def test_reads_changed_columns(case: str, child: str, reads: bool) -> None:
    assert reads_changed_columns(child, "orders", ("discount",), "duckdb") is reads
