"""Column-level lineage: what a change does to a model's columns, and who reads them downstream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LAYERED, edit, write_files
from tidegate.context import Context
from tidegate.graph import resolver as lineage_module
from tidegate.graph.fingerprint import query_hash
from tidegate.graph.lineage import ALL, ColumnRef, Lineage, QueryRef, column_lineage

RAW = "seeds/raw.csv"
SOURCE = {
    RAW: "id,amount,status,note\n1,10,paid,a\n2,20,open,b\n",
    "models/src.sql": "select id, amount, status, note from {{ ref('raw') }}",
    "models/other.sql": "select 1 as id, 'x' as other",
}

Lineages = Callable[[dict[str, str], dict[str, str | None]], Lineage]


@pytest.fixture
def lineage_of(make_project: Callable[..., Path], open_context: Callable[..., Context]) -> Lineages:
    """`lineage_of(files, edits)`: the lineage of `edits` (None deletes a file) to a project of
    `files`, the base SQL taken from the project before the edits (no warehouse)."""

    def run(files: dict[str, str], edits: dict[str, str | None]) -> Lineage:
        root = make_project(files)
        before = open_context(root).project
        write_files(root, {name: text for name, text in edits.items() if text is not None})
        for name in [name for name, text in edits.items() if text is None]:
            (root / name).unlink()
        after = open_context(root).project
        changed = {
            name: model.sql or None
            for name, model in before.models.items()
            if name not in after.models or query_hash(after.models[name]) != query_hash(model)
        }
        added = [name for name in after.models if name not in before.models]
        return column_lineage(after, changed, added=added)

    return run


def summary(lineage: Lineage, model: str) -> set[tuple[str, str]]:
    """(column, change) of one changed model, renames as `old->new`."""
    changes = next(m for m in lineage.changed if m.model == model).columns
    return {(f"{c.previous}->{c.column}" if c.previous else c.column, c.change) for c in changes}


# --- the changed model's own columns -------------------------------------------------------

SRC_CHANGES = [
    ("select id, amount, status, note, amount * 2 as doubled from {{ ref('raw') }}", {("doubled", "added")}),
    ("select id, amount, status from {{ ref('raw') }}", {("note", "removed")}),
    ("select id, amount, status, note as remark from {{ ref('raw') }}", {("note->remark", "renamed")}),
    ("select id, amount * 100 as amount, status, note from {{ ref('raw') }}", {("amount", "modified")}),
    ("select id, amount, upper(status) as status, note from {{ ref('raw') }}", {("status", "modified")}),
    (
        "select id, amount, status, note from {{ ref('raw') }} where status = 'paid'",
        {("id", "modified"), ("amount", "modified"), ("status", "modified"), ("note", "modified")},
    ),
    ("with r as (select * from {{ ref('raw') }}) select id, amount, status, note from r", set()),
    (
        "with r as (select id, amount + 1 as amount, status, note from {{ ref('raw') }}) select * from r",
        {("amount", "modified")},
    ),
    ("select note, status, amount, id from {{ ref('raw') }}", set()),
]


@pytest.mark.parametrize(("head", "expected"), SRC_CHANGES)
def test_columns_of_a_changed_model(lineage_of: Lineages, head: str, expected: set[tuple[str, str]]) -> None:
    lineage = lineage_of(SOURCE, {"models/src.sql": head})
    assert summary(lineage, "src") == expected


def test_a_modified_column_says_why(lineage_of: Lineages) -> None:
    rows = lineage_of(SOURCE, {"models/src.sql": SRC_CHANGES[5][0]})
    assert {c.reason for c in rows.changes} == {"its rows changed (joins, filters or grouping)"}
    expression = lineage_of(SOURCE, {"models/src.sql": SRC_CHANGES[3][0]})
    assert [c.reason for c in expression.changes] == ["expression changed"]


# --- downstream ----------------------------------------------------------------------------

AMOUNT_CHANGED = "select id, amount * 100 as amount, status, note from {{ ref('raw') }}"
ID_CHANGED = "select id + 1 as id, amount, status, note from {{ ref('raw') }}"
NOTE_CHANGED = "select id, amount, status, upper(note) as note from {{ ref('raw') }}"
STATUS_CHANGED = "select id, amount, status || '!' as status, note from {{ ref('raw') }}"
ADDED = "select id, amount, status, note, 1 as extra from {{ ref('raw') }}"

DOWNSTREAM = [
    ("star passes an added column on", "select * from {{ ref('src') }}", ADDED, {"extra"}),
    ("no star: an added column reaches nothing", "select id, amount from {{ ref('src') }}", ADDED, set()),
    (
        "through a CTE",
        "with t as (select id, amount * 2 as doubled from {{ ref('src') }}) select id, doubled from t",
        AMOUNT_CHANGED,
        {"doubled"},
    ),
    (
        "an aggregate reads the changed column, the group key does not",
        "select status, sum(amount) as total, count(*) as n from {{ ref('src') }} group by status",
        AMOUNT_CHANGED,
        {"total"},
    ),
    (
        "a filter on the changed column changes every column's rows",
        "select id, note from {{ ref('src') }} where amount > 5",
        AMOUNT_CHANGED,
        {"id", "note"},
    ),
    (
        "a join reads only what it selects",
        "select s.id, o.other from {{ ref('src') }} as s join {{ ref('other') }} as o on o.id = s.id",
        NOTE_CHANGED,
        set(),
    ),
    (
        "a changed join key changes every column's rows",
        "select s.note, o.other from {{ ref('src') }} as s join {{ ref('other') }} as o on o.id = s.id",
        ID_CHANGED,
        {"note", "other"},
    ),
    (
        "unqualified columns of a join are placed by the parents' columns",
        "select amount, other from {{ ref('src') }} join {{ ref('other') }} using (id)",
        AMOUNT_CHANGED,
        {"amount"},
    ),
    (
        "a subquery in a filter",
        "select id, other from {{ ref('other') }} where id in (select id from {{ ref('src') }} "
        "where status = 'paid')",
        STATUS_CHANGED,
        {"id", "other"},
    ),
    (
        "a union, column by position",
        "select id, amount from {{ ref('src') }} union all select id, 0 from {{ ref('other') }}",
        AMOUNT_CHANGED,
        {"amount"},
    ),
    (
        "window functions",
        "select id, row_number() over (partition by status order by amount) as rank from {{ ref('src') }}",
        AMOUNT_CHANGED,
        {"rank"},
    ),
]


@pytest.mark.parametrize(
    ("down", "head", "expected"), [case[1:] for case in DOWNSTREAM], ids=[case[0] for case in DOWNSTREAM]
)
def test_downstream_columns(lineage_of: Lineages, down: str, head: str, expected: set[str]) -> None:
    lineage = lineage_of({**SOURCE, "models/down.sql": down}, {"models/src.sql": head})
    assert {ref.column for ref in lineage.impacted if ref.model == "down"} == expected


def test_downstream_is_transitive_and_each_change_lists_what_it_reaches(lineage_of: Lineages) -> None:
    files = {
        **SOURCE,
        "models/mid.sql": "select id, amount * 2 as doubled, note from {{ ref('src') }}",
        "models/top.sql": "select id, doubled + 1 as plus, note from {{ ref('mid') }}",
    }
    lineage = lineage_of(files, {"models/src.sql": AMOUNT_CHANGED})
    change = lineage.change("src", "amount")
    assert change is not None
    assert change.downstream == (ColumnRef("mid", "doubled"), ColumnRef("top", "plus"))
    assert lineage.impacted_models == ("mid", "top")


def test_a_python_model_downstream_counts_as_reading_everything(lineage_of: Lineages) -> None:
    files = {**SOURCE, "models/py.py": "def model(src):\n    return src\n"}
    lineage = lineage_of(files, {"models/src.sql": NOTE_CHANGED})
    assert ColumnRef("py", ALL) in lineage.impacted


def test_a_changed_python_model_is_changed_as_a_whole(lineage_of: Lineages) -> None:
    files = {
        **SOURCE,
        "models/py.py": "def model(src):\n    return src\n",
        "models/after_py.sql": "select id from {{ ref('py') }}",
    }
    lineage = lineage_of(files, {"models/py.py": "def model(src):\n    return src.limit(1)\n"})
    py = next(m for m in lineage.changed if m.model == "py")
    assert py.whole and summary(lineage, "py") == {(ALL, "modified")}
    assert lineage.impacted == (ColumnRef("after_py", "id"),)


def test_added_and_removed_models(lineage_of: Lineages) -> None:
    files = {**SOURCE, "models/old.sql": "select id, note from {{ ref('src') }}"}
    lineage = lineage_of(
        files, {"models/new.sql": "select id as key from {{ ref('src') }}", "models/old.sql": None}
    )
    assert summary(lineage, "new") == {("key", "added")}
    assert summary(lineage, "old") == {("id", "removed"), ("note", "removed")}
    assert next(m.change for m in lineage.changed if m.model == "old") == "removed"


# --- dashboards ----------------------------------------------------------------------------

DASHBOARD = """
dashboards:
  - name: totals
    queries:
      - name: by_customer
        sql: select customer_id, total from {{ ref('customer_totals') }}
      - name: counts
        sql: select n from {{ ref('order_count') }}
  - name: everything
    queries:
      - name: all_rows
        sql: select * from {{ ref('big_customers') }}
"""


def test_dashboard_queries_reading_a_changed_column_are_impacted(lineage_of: Lineages) -> None:
    files = {**LAYERED, "dashboards/d.yml": DASHBOARD}
    lineage = lineage_of(
        files,
        {
            "models/stg_orders.sql": LAYERED["models/stg_orders.sql"].replace(
                "amount,", "amount * 2 as amount,"
            )
        },
    )
    assert {q.ref for q in lineage.queries} == {
        QueryRef("totals", "by_customer"),
        QueryRef("everything", "all_rows"),
    }
    by_customer = next(q for q in lineage.queries if q.query == "by_customer")
    assert by_customer.reads == (ColumnRef("customer_totals", "total"),)
    assert by_customer.changes == (ColumnRef("stg_orders", "amount"),)
    assert by_customer.path == "dashboards/d.yml" and by_customer.line == 4  # the query's line
    assert lineage.dashboards == ("everything", "totals")


def test_plain_sql_dashboard_queries_are_followed_like_refs(lineage_of: Lineages) -> None:
    plain = DASHBOARD.replace("{{ ref('customer_totals') }}", "Analytics.Customer_Totals")
    files = {**LAYERED, "dashboards/d.yml": plain}
    edit = LAYERED["models/stg_orders.sql"].replace("amount,", "amount * 2 as amount,")
    lineage = lineage_of(files, {"models/stg_orders.sql": edit})
    by_customer = next(q for q in lineage.queries if q.query == "by_customer")
    assert by_customer.reads == (ColumnRef("customer_totals", "total"),)


EXPOSURES = """
exposures:
  - name: board_pack
    type: dashboard
    url: https://bi.example.com/7
    owner: {name: Ada, email: ada@example.com}
    depends_on: ["ref('big_customers')"]
  - name: volume_app
    type: application
    owner: {name: Bob}
    depends_on: ["ref('order_count')"]
"""


def test_exposures_are_downstream_of_the_changes_that_reach_their_models(lineage_of: Lineages) -> None:
    files = {**LAYERED, "models/exposures.yml": EXPOSURES}
    edit = LAYERED["models/customer_totals.sql"].replace("sum(amount)", "sum(amount) + 1")
    lineage = lineage_of(files, {"models/customer_totals.sql": edit})
    (board,) = lineage.exposures  # order_count does not read customer_totals
    assert (board.exposure, board.type, board.owner, board.url) == (
        "board_pack",
        "dashboard",
        "Ada <ada@example.com>",
        "https://bi.example.com/7",
    )
    assert (board.models, board.changes, board.path, board.line) == (
        ("big_customers",),
        (ColumnRef("customer_totals", "total"),),
        "models/exposures.yml",
        2,
    )
    assert lineage.change("customer_totals", "total").exposures == ("board_pack",)
    assert lineage.change("customer_totals", "orders") is None


def test_a_change_no_column_of_an_exposures_models_reads_does_not_reach_it(lineage_of: Lineages) -> None:
    files = {**LAYERED, "models/exposures.yml": EXPOSURES}
    edit = LAYERED["models/customer_totals.sql"].replace("count(*) as orders", "count(*) + 1 as orders")
    assert lineage_of(files, {"models/customer_totals.sql": edit}).exposures == ()


# --- a wide project --------------------------------------------------------------------------


def test_only_what_a_change_reaches_is_resolved(
    make_project: Callable[..., Path], open_context: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 models, 10 branches of 20: a change at the root of one branch resolves that branch."""
    files = {"models/root.sql": "select 1 as id, 10 as amount, 'x' as name"}
    for branch in range(10):
        parent = "root"
        for depth in range(20):
            name = f"b{branch}_{depth:02}"
            files[f"models/{name}.sql"] = (
                f"with t as (select * from {{{{ ref('{parent}') }}}} where id > 0) "
                f"select t.id, t.amount + r.amount as amount, t.name from t join {{{{ ref('root') }}}} as r "
                "on r.id = t.id"
            )
            parent = name
    root = make_project(files)
    before = open_context(root).project.models["b3_00"].sql
    edit(root, "models/b3_00.sql", "t.amount + r.amount", "t.amount - r.amount")
    project = open_context(root).project
    resolved: list[str] = []
    original = lineage_module.Side.analyze

    def counting(self: lineage_module.Side, sql: str) -> object:
        resolved.append(sql)
        return original(self, sql)

    monkeypatch.setattr(lineage_module.Side, "analyze", counting)
    lineage = column_lineage(project, {"b3_00": before})
    assert summary(lineage, "b3_00") == {("amount", "modified")}
    assert lineage.impacted_models == tuple(f"b3_{depth:02}" for depth in range(1, 20))
    assert len(resolved) == 2 + 19  # both sides of the change, then its branch
