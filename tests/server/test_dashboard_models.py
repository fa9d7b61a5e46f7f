"""The dashboard's model pages over real HTTP, behind a real uvicorn: the models of the project
deployed to an environment, and one model's SQL, columns, tests, the snapshot each environment
uses, the dashboards it reaches and its lineage drawn as SVG (models upstream and downstream,
columns where the SQL resolves them). And the layered layout the SVG is drawn with: every edge
left to right, no two nodes on top of each other."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

import pytest

from tests.ci.repos import DASHBOARD
from tests.server.gitops import SECRETS, Served, World, eventually, exported, make_world
from tidegate.server.controller import Controller
from tidegate.server.dashboard import lineage_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Served]]:
    """The layered project with a dashboard, deployed to staging (prod is not deployed yet)."""
    with exported(SECRETS):
        world = make_world(tmp_path_factory.mktemp("models"))
        head = world.push(DASHBOARD, "a sales dashboard")
        served = Served(lambda url: Controller(world.project, world.state, base_url=url))
        try:
            eventually(lambda: served.http.environment("staging")["commit"] == head, what="staging")
            yield world, served
        finally:
            served.stop()


def page(served: Served, path: str) -> tuple[int, str]:
    status, body = served.http.get(path)
    assert isinstance(body, str)
    return status, body


def lineage(html: str) -> ElementTree.Element:
    """The page's lineage graph (SVG is XML)."""
    found = re.search(r'<svg id="lineage".*?</svg>', html, re.S)
    assert found, "no svg#lineage on the page"
    return ElementTree.fromstring(found.group(0))


def test_the_models_page_lists_every_model_of_the_deployed_project(served: tuple[World, Served]) -> None:
    _, server = served
    status, html = page(server, "/models?env=staging")
    assert status == 200
    assert 'id="models"' in html
    rows = re.findall(r'<tr data-model="([^"]+)">', html)
    assert rows == ["big_customers", "customer_totals", "order_count", "raw_orders", "stg_orders"]
    assert re.search(r'data-model="raw_orders">.*?class="kind">seed<', html, re.S)


def test_a_model_shows_its_sql_columns_tests_snapshots_and_dashboards(served: tuple[World, Served]) -> None:
    _, server = served
    status, html = page(server, "/models/customer_totals?env=staging")
    assert status == 200
    sql = re.search(r'<pre id="sql">(.*?)</pre>', html, re.S)
    assert (
        sql and "sum(amount) as total" in sql.group(1).lower() and "from stg_orders" in sql.group(1).lower()
    )
    columns = re.search(r'<table id="columns">(.*?)</table>', html, re.S)
    assert columns and re.findall(r'<tr data-column="([^"]+)">', columns.group(1)) == [
        "customer_id",
        "total",
        "orders",
    ]
    assert "stg_orders.amount" in columns.group(1)  # total reads it
    tests = re.search(r'<table id="tests">(.*?)</table>', html, re.S)
    assert tests and "unique" in tests.group(1) and "not_null" in tests.group(1)
    snapshots = dict(re.findall(r'<tr data-environment="([^"]+)">(.*?)</tr>', html, re.S))
    assert set(snapshots) == {"prod", "staging"}
    assert "not deployed" in snapshots["prod"]
    assert re.search(r'class="fingerprint"><code>\w+</code>', snapshots["staging"])
    dashboards = re.search(r'<div id="dashboards">(.*?)</div>', html, re.S)
    assert dashboards and 'data-dashboard="sales"' in dashboards.group(1)


def test_the_lineage_graph_draws_the_models_upstream_and_downstream(served: tuple[World, Served]) -> None:
    _, server = served
    _, html = page(server, "/models/customer_totals?env=staging")
    svg = lineage(html)
    nodes = {node.get("data-node") for node in svg.iter(f"{SVG}g") if "node" in (node.get("class") or "")}
    assert nodes == {"raw_orders", "stg_orders", "customer_totals", "big_customers"}
    edges = [edge for edge in svg.iter(f"{SVG}path") if "edge" in (edge.get("class") or "").split()]
    models = {(e.get("data-from"), e.get("data-to")) for e in edges if "column" not in e.get("class", "")}
    assert models == {
        ("raw_orders", "stg_orders"),
        ("stg_orders", "customer_totals"),
        ("customer_totals", "big_customers"),
    }
    columns = {(e.get("data-from"), e.get("data-to")) for e in edges if "column" in e.get("class", "")}
    assert ("stg_orders.amount", "customer_totals.total") in columns
    assert ("customer_totals.total", "big_customers.total") in columns
    assert ("customer_totals.customer_id", "big_customers.customer_id") in columns


def test_an_unknown_model_or_environment_is_not_found(served: tuple[World, Served]) -> None:
    _, server = served
    assert page(server, "/models/no_such_model?env=staging")[0] == 404
    assert page(server, "/models/customer_totals?env=nowhere")[0] == 404
    status, html = page(server, "/models")  # prod first: nothing deployed there yet
    assert status == 200 and "Nothing is deployed to prod" in html


# the layout --------------------------------------------------------------------------------

GRAPHS = {
    "chain": ["a>b", "b>c", "c>d"],
    "diamond": ["a>b", "a>c", "b>d", "c>d"],
    "skip a layer": ["a>b", "b>c", "a>c"],
    "two roots, one sink": ["a>c", "b>c", "c>d", "b>d"],
    "wide": [f"root>leaf{i}" for i in range(8)] + ["leaf3>end", "leaf7>end"],
    "unconnected": [],
}


@pytest.mark.parametrize("name", GRAPHS)
def test_every_edge_goes_left_to_right_and_no_two_nodes_overlap(name: str) -> None:
    edges = [tuple(edge.split(">")) for edge in GRAPHS[name]]
    names = sorted({n for edge in edges for n in edge} | {"alone"})
    nodes = [lineage_svg.Node(n, columns=("x", "y") if n.endswith("1") else ()) for n in names]
    drawn = lineage_svg.layout(nodes, edges)
    boxes = drawn.boxes
    assert set(boxes) == set(names)
    for parent, child in edges:
        assert boxes[parent].x + boxes[parent].width < boxes[child].x, f"{parent} -> {child}"
    for first in boxes.values():
        for second in boxes.values():
            if first is not second:
                apart = (
                    first.x + first.width <= second.x
                    or second.x + second.width <= first.x
                    or first.y + first.height <= second.y
                    or second.y + second.height <= first.y
                )
                assert apart, f"{first.node.name} overlaps {second.node.name}"
        assert first.x + first.width <= drawn.width and first.y + first.height <= drawn.height
    svg = ElementTree.fromstring(lineage_svg.svg(drawn, edges))
    assert len([p for p in svg.iter(f"{SVG}path")]) == len(edges)
