"""The lineage of a project's changes against production: its base SQL from what prod was built from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LAYERED, build_prod, edit
from tests.graph.test_lineage import DASHBOARD, summary
from tidegate.ci.lineage import compare
from tidegate.context import Context
from tidegate.graph import resolver
from tidegate.graph.lineage import ColumnRef, Lineage, QueryRef

# --- against a warehouse: the base is what prod was built from -------------------------------


@pytest.fixture
def prod(make_project: Callable[..., Path], open_context: Callable[..., Context]) -> Path:
    root = make_project({**LAYERED, "dashboards/d.yml": DASHBOARD})
    build_prod(root, open_context)
    return root


def test_renaming_a_column_a_dashboard_reads(prod: Path, open_context: Callable[..., Context]) -> None:
    edit(prod, "models/customer_totals.sql", "sum(amount) as total", "sum(amount) as revenue")
    lineage = compare(open_context(prod), "prod")
    change = lineage.change("customer_totals", "total")
    assert change is not None and (change.change, change.column, change.previous) == (
        "renamed",
        "revenue",
        "total",
    )
    assert change.downstream == (
        ColumnRef("big_customers", "customer_id"),
        ColumnRef("big_customers", "total"),
    )
    assert change.queries == (QueryRef("everything", "all_rows"), QueryRef("totals", "by_customer"))


def test_adding_a_column_breaks_nothing_downstream(prod: Path, open_context: Callable[..., Context]) -> None:
    edit(
        prod, "models/customer_totals.sql", "count(*) as orders", "count(*) as orders, max(amount) as biggest"
    )
    lineage = compare(open_context(prod), "prod")
    assert summary(lineage, "customer_totals") == {("biggest", "added")}
    assert lineage.impacted == () and lineage.queries == ()


def test_changing_an_expression_reaches_downstream_columns(
    prod: Path, open_context: Callable[..., Context]
) -> None:
    edit(prod, "models/stg_orders.sql", "amount,", "amount * 100 as amount,")
    lineage = compare(open_context(prod), "prod")
    assert summary(lineage, "stg_orders") == {("amount", "modified")}
    assert set(lineage.impacted) == {
        ColumnRef("customer_totals", "total"),
        ColumnRef("big_customers", "total"),
        ColumnRef("big_customers", "customer_id"),  # filtered on total > 8
    }
    assert "order_count" not in lineage.impacted_models  # counts rows, reads no column
    assert lineage.dashboards == ("everything", "totals")


def test_a_changed_seed_is_changed_as_a_whole(prod: Path, open_context: Callable[..., Context]) -> None:
    edit(prod, "seeds/raw_orders.csv", "4,3,7,paid", "4,3,70,paid")
    lineage = compare(open_context(prod), "prod")
    raw = next(m for m in lineage.changed if m.model == "raw_orders")
    assert raw.whole and raw.reason == "a seed's data changed"
    assert ColumnRef("customer_totals", "total") in lineage.impacted


def test_nothing_changed(prod: Path, open_context: Callable[..., Context]) -> None:
    assert compare(open_context(prod), "prod") == Lineage()


def test_a_lineage_again_parses_only_queries_never_resolved(
    prod: Path, open_context: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a lineage resolved is kept (`.tidegate/cache`): the same change again is the same
    lineage without parsing anything, and another change parses only its own new query."""
    edit(prod, "models/customer_totals.sql", "sum(amount) as total", "sum(amount) as revenue")
    first = compare(open_context(prod), "prod")
    parsed: list[str] = []
    parse_one = resolver.parse_one

    def counting(sql: str, **options: Any) -> Any:
        parsed.append(sql)
        return parse_one(sql, **options)

    monkeypatch.setattr(resolver, "parse_one", counting)
    assert compare(open_context(prod), "prod") == first
    assert parsed == []
    edit(prod, "models/customer_totals.sql", "sum(amount) as revenue", "sum(amount) + 1 as total")
    compare(open_context(prod), "prod")  # downstream resolved over customer_totals' columns as they are
    parsed.clear()
    edit(prod, "models/customer_totals.sql", "+ 1", "+ 2")
    second = compare(open_context(prod), "prod")
    assert summary(second, "customer_totals") == {("total", "modified")}
    assert (
        second.change("customer_totals", "total").queries == first.change("customer_totals", "total").queries
    )
    assert len(parsed) == 1
