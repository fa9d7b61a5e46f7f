"""A lineage graph drawn as SVG on the server: complete without JavaScript, the same in every
browser, and cheap (no layout library).

The layout is layered: every node goes one layer right of its furthest parent (longest path), so
every edge points left to right; within a layer, nodes are ordered by the mean position of their
parents and children (one sweep each way, which removes most crossings of a lineage's small
graphs) and stacked top to bottom, so no two overlap. A node may list columns: column edges join
the rows of the columns a column reads to its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from html import escape

NODE_WIDTH = 200
LAYER_GAP = 90
NODE_GAP = 18
HEADER = 26
ROW = 18
MARGIN = 12

Edge = tuple[str, str]
"""(parent, child) by node name."""
ColumnEdge = tuple[tuple[str, str], tuple[str, str]]
"""((parent, column), (child, column)): the child's column reads the parent's."""


@dataclass(frozen=True)
class Node:
    name: str
    kind: str = ""
    columns: tuple[str, ...] = ()
    href: str | None = None
    focus: bool = False
    """The model the page is about."""


@dataclass(frozen=True)
class Box:
    """Where a node is drawn."""

    node: Node
    layer: int
    x: int
    y: int

    @property
    def width(self) -> int:
        return NODE_WIDTH

    @property
    def height(self) -> int:
        return HEADER + ROW * len(self.node.columns) + (6 if self.node.columns else 0)

    def column_y(self, column: str) -> int:
        """The middle of a column's row (the header's middle for a column not listed)."""
        if column not in self.node.columns:
            return self.y + HEADER // 2
        return self.y + HEADER + ROW * self.node.columns.index(column) + ROW // 2


@dataclass(frozen=True)
class Layout:
    boxes: dict[str, Box]
    width: int
    height: int


def layers(names: Iterable[str], edges: Iterable[Edge]) -> dict[str, int]:
    """Each node's layer: one past its furthest parent (0 for a node without parents). The
    edges must form no cycle (a project's graph never does)."""
    layer = dict.fromkeys(names, 0)
    parents: dict[str, list[str]] = {name: [] for name in layer}
    for parent, child in edges:
        parents[child].append(parent)
    for name in _ordered(parents):
        layer[name] = max((layer[parent] + 1 for parent in parents[name]), default=0)
    return layer


def _ordered(parents: Mapping[str, Sequence[str]]) -> list[str]:
    """Parents before children (Kahn), deterministic."""
    waiting = {name: len(set(ps)) for name, ps in parents.items()}
    children: dict[str, list[str]] = {name: [] for name in parents}
    for name, ps in parents.items():
        for parent in set(ps):
            children[parent].append(name)
    ready = sorted(name for name, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for child in sorted(children[name]):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order


def layout(nodes: Sequence[Node], edges: Sequence[Edge]) -> Layout:
    """Boxes for `nodes`, layer by layer from the left."""
    layer = layers((node.name for node in nodes), edges)
    by_name = {node.name: node for node in nodes}
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for name in sorted(layer):
        columns[layer[name]].append(name)
    _order_by_neighbours(columns, edges)
    boxes: dict[str, Box] = {}
    height = 0
    for index, names in enumerate(columns):
        y = MARGIN
        for name in names:
            box = Box(by_name[name], index, MARGIN + index * (NODE_WIDTH + LAYER_GAP), y)
            boxes[name] = box
            y += box.height + NODE_GAP
        height = max(height, y - NODE_GAP + MARGIN)
    width = MARGIN * 2 + len(columns) * NODE_WIDTH + max(len(columns) - 1, 0) * LAYER_GAP
    return Layout(boxes, width, height)


def _order_by_neighbours(columns: list[list[str]], edges: Sequence[Edge]) -> None:
    """Order each layer by the mean position of its neighbours in the layer before (a sweep
    to the right), then in the layer after (a sweep back)."""
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for parent, child in edges:
        parents.setdefault(child, []).append(parent)
        children.setdefault(parent, []).append(child)
    for sweep, neighbours in ((range(1, len(columns)), parents), (range(len(columns) - 2, -1, -1), children)):
        for index in sweep:
            position = {name: i for layer in columns for i, name in enumerate(layer)}
            columns[index].sort(key=partial(_mean, position=position, neighbours=neighbours))


def _mean(name: str, position: Mapping[str, int], neighbours: Mapping[str, list[str]]) -> float:
    """Where a node's neighbours are, on average (its own place when it has none there)."""
    near = [position[n] for n in neighbours.get(name, []) if n in position]
    return sum(near) / len(near) if near else float(position[name])


def svg(drawn: Layout, edges: Sequence[Edge], column_edges: Sequence[ColumnEdge] = ()) -> str:
    """The graph as an `<svg id="lineage">` element: `g.node[data-node]` boxes (their columns
    `g.column[data-column="model.column"]`), `path.edge[data-from][data-to]` between models and
    `path.edge.column` between columns."""
    parts = [
        f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" width="{drawn.width}" height="{drawn.height}" '
        f'viewBox="0 0 {drawn.width} {drawn.height}" role="img" aria-label="lineage graph">',
        '<g class="edges">',
    ]
    boxes = drawn.boxes
    for parent, child in edges:
        source, target = boxes[parent], boxes[child]
        d = _curve(source.x + source.width, source.y + HEADER // 2, target.x, target.y + HEADER // 2)
        parts.append(f'<path class="edge" data-from="{_e(parent)}" data-to="{_e(child)}" d="{d}"/>')
    for (parent, read), (child, column) in column_edges:
        source, target = boxes[parent], boxes[child]
        d = _curve(source.x + source.width, source.column_y(read), target.x, target.column_y(column))
        parts.append(
            f'<path class="edge column" data-from="{_e(parent)}.{_e(read)}" '
            f'data-to="{_e(child)}.{_e(column)}" d="{d}"/>'
        )
    parts.append("</g>")
    parts += [_node(box) for box in boxes.values()]
    parts.append("</svg>")
    return "".join(parts)


def _node(box: Box) -> str:
    node = box.node
    classes = "node focus" if node.focus else "node"
    title = f'<text class="name" x="8" y="{HEADER // 2 + 5}">{_e(_clip(node.name, 24))}</text>'
    kind = f'<text class="kind" x="{box.width - 8}" y="{HEADER // 2 + 5}">{_e(node.kind)}</text>'
    header = f"{title}{kind}"
    if node.href:
        header = f'<a href="{_e(node.href)}">{header}</a>'
    rows = "".join(
        f'<g class="column" data-column="{_e(node.name)}.{_e(column)}">'
        f'<rect class="row" x="1" y="{HEADER + ROW * i}" width="{box.width - 2}" height="{ROW}"/>'
        f'<text x="12" y="{HEADER + ROW * i + 13}">{_e(_clip(column, 28))}</text></g>'
        for i, column in enumerate(node.columns)
    )
    return (
        f'<g class="{classes}" data-node="{_e(node.name)}" transform="translate({box.x},{box.y})">'
        f"<title>{_e(node.name)}</title>"
        f'<rect class="box" width="{box.width}" height="{box.height}" rx="4"/>{header}{rows}</g>'
    )


def _curve(x1: int, y1: int, x2: int, y2: int) -> str:
    """A smooth left-to-right path: horizontal where it leaves and where it arrives."""
    bend = max((x2 - x1) // 2, 20)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _e(text: str) -> str:
    return escape(text, quote=True)
