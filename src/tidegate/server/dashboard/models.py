"""The model pages: every model of the project deployed to an environment (`/models`), and one
model (`/models/{name}`): its SQL, columns, tests, the snapshot each environment uses, the
dashboards and exposures it reaches, and its lineage upstream and downstream drawn as SVG
(`lineage_svg`), column by column between the model and its neighbours where the SQL says.

The project shown is the one deployed to the chosen environment (`?env=`, the first kept
environment by default): its commit's files as the controller keeps them (`Warm`), loaded once
per commit and kept with the columns resolved so far, so a page loads nothing the last page of
that commit loaded.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tidegate.errors import TidegateError
from tidegate.graph.lineage import ALL, ColumnRef
from tidegate.graph.resolver import Parser, Side
from tidegate.project.model import REF_PREFIX, Language
from tidegate.server.dashboard import lineage_svg
from tidegate.server.store import RunKind, RunStatus

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from tidegate.plan.session import Loaded
    from tidegate.server.controller import Controller
    from tidegate.server.dashboard.auth import Gate
    from tidegate.state import SnapshotRecord

KEEP = 4
"""Commits whose projects stay loaded for the pages (each environment's, and a few more)."""
DEPTH = 2
"""How many models upstream and downstream the graph draws unless `?depth=` says."""
MOST_NODES = 40
"""The nearest models drawn on each side; the page counts those left out."""
_REF = re.compile(re.escape(REF_PREFIX) + r"(\w+)")


class NotFound(Exception):
    """An environment the controller does not keep, or a model its project does not have."""


@dataclass
class Shown:
    """The project at one commit, with the columns resolved so far (under `lock`: pages of
    the same commit render in several threads)."""

    commit: str
    loaded: Loaded
    side: Side
    lock: threading.Lock = field(default_factory=threading.Lock)
    tables: dict[str, str] = field(default_factory=dict)

    def table(self, environment: str) -> str:
        """The rows of `/models` (2,000 models take 0.1 s to render), rendered once per environment."""
        with self.lock:
            if environment not in self.tables:
                from tidegate.server.dashboard.render import templates

                models = sorted(self.loaded.project.models.values(), key=lambda model: model.name)
                template = templates().get_template("models_table.html")
                self.tables[environment] = template.render(models=models, environment=environment)
            return self.tables[environment]

    def columns(self, model: str) -> Mapping[str, frozenset[ColumnRef]] | None:
        """Each output column of `model` and the model columns it reads; None when unknown."""
        with self.lock:
            query = self.side.query(model)
        if query is None or query.columns is None:
            return None
        return {name: info.reads for name, info in query.columns.items()}


class Catalog:
    """The projects the pages show, one per deployed commit (the last `KEEP`), and the
    snapshots each environment's version uses (read once per version)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._shown: OrderedDict[str, Shown] = OrderedDict()
        self._versions: dict[tuple[str, int], dict[str, SnapshotRecord]] = {}
        self._lock = threading.Lock()

    @property
    def environments(self) -> list[str]:
        return sorted(self.controller.environments.bound)

    def environment(self, asked: str | None) -> str:
        kept = self.environments
        if asked is None and kept:
            return kept[0]
        if asked not in kept:
            raise NotFound(f"the controller keeps no environment {asked!r}")
        return asked

    def shown(self, environment: str) -> Shown | None:
        """The project deployed to `environment`; None before its first deployment."""
        commit = self.controller.environments.known(environment).commit
        if commit is None:
            return None
        with self._lock:
            if commit in self._shown:
                self._shown.move_to_end(commit)
                return self._shown[commit]
        warm = self.controller.warm
        with warm.trees.files(self.controller.copy.repository(), commit) as files:
            loaded = warm.loaded(files)
        shown = Shown(commit, loaded, Side(loaded.project, Parser(loaded.project.dialect), {}, None))
        with self._lock:
            self._shown[commit] = shown
            while len(self._shown) > KEEP:
                self._shown.popitem(last=False)
        return shown

    def prepare(self, environment: str) -> None:
        """Make the pages of the project deployed to `environment` fast before anyone asks: load
        it, read each environment's snapshots, and resolve every model's columns (upstream
        first), in a thread of its own that yields between models. The first page of a commit
        of 2,000 models would otherwise take seconds."""

        def work() -> None:
            shown = self.shown(environment)
            if shown is None:
                return
            for kept in self.environments:  # the snapshots each environment's version uses
                version = self.controller.environments.known(kept).version
                if version is not None:
                    self._records(kept, version)
            for name in shown.loaded.graph.order:
                if self.controller.stopping:
                    return
                shown.columns(name)
                time.sleep(0.001)  # the controller's runs and pages first

        self.controller.in_background(work, f"tidegate-models-{environment}")

    def snapshots(self, model: str) -> list[dict[str, Any]]:
        """The snapshot of `model` each kept environment's current version uses."""
        rows = []
        for environment in self.environments:
            live = self.controller.environments.known(environment)
            records = self._records(environment, live.version) if live.version is not None else {}
            rows.append({"environment": environment, "version": live.version, "record": records.get(model)})
        return rows

    def _records(self, environment: str, version: int) -> dict[str, SnapshotRecord]:
        key = (environment, version)
        if key not in self._versions:
            try:
                with self.controller.environments.context() as ctx:
                    current = ctx.current(environment)
            except TidegateError:
                return {}
            self._versions[(environment, current.version)] = current.models
        return self._versions.get(key, {})


# pages -------------------------------------------------------------------------------------


def index(catalog: Catalog, asked: str | None) -> dict[str, Any]:
    environment = catalog.environment(asked)
    shown = catalog.shown(environment)
    return {
        "environment": environment,
        "environments": catalog.environments,
        "shown": shown,
        "count": len(shown.loaded.project.models) if shown else 0,
        "table": shown.table(environment) if shown else "",
    }


def detail(catalog: Catalog, name: str, asked: str | None, depth: int) -> dict[str, Any]:
    environment = catalog.environment(asked)
    shown = catalog.shown(environment)
    if shown is None or name not in shown.loaded.project.models:
        raise NotFound(f"no model {name!r} is deployed to {environment}")
    project = shown.loaded.project
    model = project.models[name]
    graph = shown.loaded.graph
    downstream = graph.downstream([name])
    return {
        "environment": environment,
        "environments": catalog.environments,
        "shown": shown,
        "model": model,
        "sql": _sql(model.python_source if model.language is Language.PYTHON else model.sql),
        "columns": _columns(shown, name),
        "tests": [test for test in project.tests if name in test.models],
        "unit_tests": [test for test in project.unit_tests if test.model == name],
        "snapshots": catalog.snapshots(name),
        "dashboards": [
            (dashboard, sorted({*dashboard.refs} & ({name} | downstream)))
            for dashboard in project.dashboards
            if name in dashboard.refs or downstream & set(dashboard.refs)
        ],
        "exposures": [
            (exposure, sorted({*exposure.refs} & ({name} | downstream)))
            for exposure in project.exposures
            if name in exposure.refs or downstream & set(exposure.refs)
        ],
        "depth": depth,
        **_lineage(shown, name, environment, depth),
    }


def _sql(sql: str) -> str:
    """The model's rendered SQL with each ref's placeholder as the model's name."""
    return _REF.sub(lambda match: match.group(1), sql.strip())


def _columns(shown: Shown, name: str) -> list[dict[str, Any]]:
    """Declared columns (description, type) and resolved ones (what each reads), in query order."""
    declared = {column.name: column for column in shown.loaded.project.models[name].columns}
    resolved = shown.columns(name) or {}
    names = [*resolved, *(column for column in declared if column not in resolved)]
    return [
        {
            "name": column,
            "declared": declared.get(column),
            "reads": sorted(str(ref) for ref in resolved.get(column, ())),
        }
        for column in names
    ]


def _nearest(edges: Mapping[str, Any], start: str, depth: int) -> list[str]:
    """Models within `depth` steps along `edges`, nearest first, at most `MOST_NODES`."""
    found: dict[str, int] = {start: 0}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if found[current] == depth:
            continue
        for neighbour in edges[current]:
            if neighbour not in found:
                found[neighbour] = found[current] + 1
                queue.append(neighbour)
    return [name for name in found if name != start]


def _lineage(shown: Shown, name: str, environment: str, depth: int) -> dict[str, Any]:
    """The graph around `name`: models up to `depth` steps each way (the nearest `MOST_NODES`
    on each side), column edges between the model and its parents and children."""
    graph = shown.loaded.graph
    upstream, downstream = _nearest(graph.parents, name, depth), _nearest(graph.children, name, depth)
    drawn = {name, *upstream[:MOST_NODES], *downstream[:MOST_NODES]}
    edges = sorted(
        (parent, child) for child in drawn for parent in set(graph.parents[child]) if parent in drawn
    )
    column_edges = _column_edges(shown, name, drawn)
    listed: dict[str, list[str]] = {}
    for (parent, read), (child, column) in column_edges:
        for model, field_name in ((parent, read), (child, column)):
            if field_name not in listed.setdefault(model, []):
                listed[model].append(field_name)
    own = shown.columns(name)
    if own is not None:
        listed[name] = list(own)
    kinds = shown.loaded.project.models
    nodes = [
        lineage_svg.Node(
            model,
            kinds[model].kind.value,
            tuple(listed.get(model, ())),
            href=f"/models/{model}?env={environment}",
            focus=model == name,
        )
        for model in sorted(drawn)
    ]
    drawing = lineage_svg.layout(nodes, edges)
    return {
        "lineage": lineage_svg.svg(drawing, edges, column_edges),
        "upstream": upstream,
        "downstream": downstream,
        "left_out": len(upstream) + len(downstream) - (len(drawn) - 1),
    }


def _column_edges(shown: Shown, name: str, drawn: set[str]) -> list[lineage_svg.ColumnEdge]:
    """The model's columns from the columns of its parents they read, and its children's
    columns from the model's: where the SQL resolves column by column (never `ALL`)."""
    graph = shown.loaded.graph
    edges: list[lineage_svg.ColumnEdge] = []
    for column, reads in (shown.columns(name) or {}).items():
        edges += [
            ((ref.model, ref.column), (name, column))
            for ref in sorted(reads)
            if ref.model in drawn and ref.model != name and ref.column != ALL
        ]
    for child in sorted(set(graph.children[name]) & drawn):
        for column, reads in (shown.columns(child) or {}).items():
            edges += [
                ((name, ref.column), (child, column))
                for ref in sorted(reads)
                if ref.model == name and ref.column != ALL
            ]
    return edges


# routes ------------------------------------------------------------------------------------


def routes(controller: Controller, gate: Gate) -> list[BaseRoute]:
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    from tidegate.server.dashboard.render import page

    catalog = Catalog(controller)
    controller.after_run.append(
        lambda run, status: (
            catalog.prepare(run.environment)
            if run.kind is RunKind.DEPLOY and status is RunStatus.SUCCESS
            else None
        )
    )
    for environment in catalog.environments:  # what is deployed already, when the server starts
        catalog.prepare(environment)

    async def models_page(request: Request) -> Response:
        def render() -> Response:
            try:
                view = index(catalog, request.query_params.get("env"))
            except NotFound as missing:
                return page(request, "models_missing.html", status=404, reason=str(missing))
            return page(request, "models.html", **view)

        return await run_in_threadpool(render)

    async def model_page(request: Request) -> Response:
        def render() -> Response:
            try:
                view = detail(
                    catalog,
                    request.path_params["name"],
                    request.query_params.get("env"),
                    _depth(request.query_params.get("depth")),
                )
            except NotFound as missing:
                return page(request, "models_missing.html", status=404, reason=str(missing))
            return page(request, "model.html", **view)

        return await run_in_threadpool(render)

    return [
        Route("/models", gate.read(models_page), methods=["GET"]),
        Route("/models/{name}", gate.read(model_page), methods=["GET"]),
    ]


def _depth(asked: str | None) -> int:
    """`?depth=`: 1 to 6 steps each way."""
    try:
        return min(max(int(asked or DEPTH), 1), 6)
    except ValueError:
        return DEPTH
