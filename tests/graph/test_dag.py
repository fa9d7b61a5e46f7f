"""The model graph: a deterministic topological order, closures, and cycles named with their files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidegate.errors import ProjectError
from tidegate.graph import Graph
from tidegate.project import load_project
from tidegate.project.model import Kind, Language, Location, Model


def model(name: str, *refs: str) -> Model:
    return Model(name, Kind.VIEW, Language.SQL, "analytics", Location(f"models/{name}.sql"), refs=refs)


def graph_of(edges: dict[str, tuple[str, ...]]) -> Graph:
    return Graph({name: model(name, *refs) for name, refs in edges.items()})


def test_layered_project_is_ordered_parents_first(layered: Path) -> None:
    graph = Graph(load_project(layered).models)
    assert graph.order == ("raw_orders", "stg_orders", "customer_totals", "order_count", "big_customers")
    assert graph.parents["customer_totals"] == ("stg_orders",)
    assert sorted(graph.children["stg_orders"]) == ["customer_totals", "order_count"]


def test_closures(layered: Path) -> None:
    graph = Graph(load_project(layered).models)
    assert graph.downstream(["stg_orders"]) == {"customer_totals", "big_customers", "order_count"}
    assert graph.downstream(["big_customers"]) == set()
    assert graph.upstream(["big_customers"]) == {"customer_totals", "stg_orders", "raw_orders"}
    assert graph.upstream(["raw_orders", "order_count"]) == {"raw_orders", "stg_orders"}
    assert graph.sort(["big_customers", "raw_orders", "order_count"]) == [
        "raw_orders",
        "order_count",
        "big_customers",
    ]


def test_order_does_not_depend_on_the_order_models_were_found() -> None:
    """Plans and builds must be reproducible whatever order the file system lists files in."""
    edges = {"d": ("b", "c"), "b": ("a",), "c": ("a",), "a": (), "e": ()}
    forward = graph_of(edges).order
    backward = graph_of(dict(reversed(list(edges.items())))).order
    assert forward == backward == ("a", "e", "b", "c", "d")


def test_a_ref_used_twice_is_one_edge() -> None:
    graph = graph_of({"a": (), "b": ("a", "a")})
    assert graph.order == ("a", "b")
    assert graph.downstream(["a"]) == {"b"} and graph.upstream(["b"]) == {"a"}


@pytest.mark.parametrize(
    ("edges", "cycle", "files"),
    [
        ({"a": ("b",), "b": ("a",)}, "a -> b -> a", ["models/a.sql", "models/b.sql"]),
        ({"a": ("a",)}, "a -> a", ["models/a.sql"]),
        (
            {"a": ("c",), "b": ("a",), "c": ("b",), "d": ("a",), "e": ()},
            "a -> b -> c -> a",
            ["models/a.sql", "models/b.sql", "models/c.sql"],
        ),
        ({"x": ("y",), "y": ("z",), "z": ("y",)}, "y -> z -> y", ["models/y.sql", "models/z.sql"]),
    ],
)
def test_cycles_are_named_with_their_files(
    edges: dict[str, tuple[str, ...]], cycle: str, files: list[str]
) -> None:
    with pytest.raises(ProjectError) as info:
        graph_of(edges)
    assert cycle in info.value.message
    for file in files:
        assert file in info.value.message
    assert info.value.path == files[0]


def test_a_cycle_in_a_project_on_disk(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "models/a.sql": "select * from {{ ref('c') }}",
            "models/b.sql": "select * from {{ ref('a') }}",
            "models/c.sql": "select * from {{ ref('b') }}",
        }
    )
    with pytest.raises(ProjectError, match=r"a -> b -> c -> a \(models/a.sql, models/b.sql, models/c.sql\)"):
        Graph(load_project(root).models)


def test_an_unknown_parent_is_a_project_error_not_a_key_error() -> None:
    with pytest.raises(ProjectError, match="ref\\('ghost'\\)") as info:
        graph_of({"a": ("ghost",)})
    assert info.value.path == "models/a.sql"


@st.composite
def dags(draw: st.DrawFn) -> dict[str, tuple[str, ...]]:
    """A random DAG, acyclic by construction: node i only refs nodes before it; names are
    shuffled so that alphabetical order says nothing about the edges."""
    size = draw(st.integers(1, 25))
    names = draw(st.permutations([f"m{i:02d}" for i in range(size)]))
    edges: dict[str, tuple[str, ...]] = {}
    for index, name in enumerate(names):
        parents = draw(st.lists(st.sampled_from(names[:index]), max_size=4)) if index else []
        edges[name] = tuple(parents)
    return edges


def reachable(edges: dict[str, tuple[str, ...]], start: str) -> set[str]:
    """Brute force: every model whose refs lead, directly or not, to `start`."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, parents in edges.items():
            if name not in found and any(parent == start or parent in found for parent in parents):
                found.add(name)
                changed = True
    return found


@settings(max_examples=50, deadline=None)
@given(dags())
def test_random_dags_order_respects_every_edge_and_closures_match_brute_force(
    edges: dict[str, tuple[str, ...]],
) -> None:
    graph = graph_of(edges)
    assert sorted(graph.order) == sorted(edges)
    position = {name: index for index, name in enumerate(graph.order)}
    for name, parents in edges.items():
        for parent in parents:
            assert position[parent] < position[name]
        assert graph.downstream([name]) == reachable(edges, name)
        assert graph.upstream([name]) == {other for other in edges if name in reachable(edges, other)}
    assert graph_of(dict(reversed(list(edges.items())))).order == graph.order
