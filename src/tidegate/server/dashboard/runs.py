"""The runs of the controller on the dashboard: the list (`/runs`, 50 a page), one run
(`/runs/{id}`: its steps with their timings, its log, its CI report), the log of a run at work
as server-sent events (`/runs/{id}/events`), and the open pull requests (`/pulls`).

A run's page shows the log so far without JavaScript; `static/live.js` follows the events to
append each new line. The stream polls the controller's live log (`Controller.live_log`), never
blocking the event loop, and ends with an `end` event carrying the final status once the store
has the run's whole log. Starlette stops it when the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tidegate.server.dashboard import render
from tidegate.server.dashboard.pulls import PullRequests
from tidegate.server.dashboard.report import report_html
from tidegate.server.store import Run, RunKind

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from tidegate.server.controller import Controller
    from tidegate.server.dashboard.auth import Gate

PAGE_SIZE = 50
POLL_SECONDS = 0.25
"""How often a stream looks for new lines."""
HEARTBEAT_SECONDS = 15.0
"""A comment line this often keeps proxies from closing a quiet stream."""


def routes(controller: Controller, gate: Gate) -> list[BaseRoute]:
    from starlette.routing import Route

    pages = _RunPages(controller)
    return [
        Route("/runs", gate.read(pages.listed)),
        Route("/runs/{id:int}", gate.read(pages.run)),
        Route("/runs/{id:int}/events", gate.read(pages.events)),
        Route("/pulls", gate.read(pages.pulls)),
    ]


def log_lines(run: Run, live: list[str] | None) -> list[str]:
    """The run's log as lines: what it said so far while it works (`live`), else as stored."""
    return ("\n".join(live) if live is not None else run.log).splitlines()


class _RunPages:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.pull_requests = PullRequests(controller)
        controller.after_pass.append(self.pull_requests.refresh)
        controller.after_run.append(
            lambda run, status: self.pull_requests.refresh() if run.kind is not RunKind.DEPLOY else None
        )  # a deployment moves no pull-request environment: only CI and teardown runs do

    async def listed(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        page = _page_number(request.query_params.get("page"))
        found = await run_in_threadpool(
            self.controller.store.runs, None, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE
        )
        return render.page(
            request,
            "runs.html",
            runs=found[:PAGE_SIZE],
            page=page,
            more=len(found) > PAGE_SIZE,
        )

    async def run(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        number = int(request.path_params["id"])
        live = self.controller.live_log(number)
        found = await run_in_threadpool(self.controller.store.run, number)
        if found is None:
            return render.page(request, "run.html", status=404, number=number, run=None)
        lines = log_lines(found, live)
        return render.page(
            request,
            "run.html",
            number=number,
            run=found,
            lines=lines,
            live=live is not None or not found.status.finished,
            report=report_html(found.comment) if found.comment else None,
            record=json.dumps(found.report, indent=2, ensure_ascii=False, default=str)
            if found.report
            else None,
        )

    async def events(self, request: Request) -> Response:
        """`text/event-stream`: each line of the log past `?from=` (or the `Last-Event-ID` a
        reconnecting browser sends), then `event: end` with the run's final status."""
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import PlainTextResponse, StreamingResponse

        number = int(request.path_params["id"])
        if await run_in_threadpool(self.controller.store.run, number) is None:
            return PlainTextResponse(f"no run {number}", status_code=404)
        start = _count(request.headers.get("last-event-id") or request.query_params.get("from"))
        return StreamingResponse(
            self._stream(number, start),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def _stream(self, number: int, sent: int) -> AsyncIterator[str]:
        from starlette.concurrency import run_in_threadpool

        yield f"retry: 2000\n: run {number}\n\n"
        beat = time.monotonic()
        while True:
            # the live log before the store: a run recorded since has its whole log there
            live = self.controller.live_log(number)
            run = await run_in_threadpool(self.controller.store.run, number)
            if run is None:
                return
            lines = log_lines(run, live)
            for index in range(sent, len(lines)):
                yield f"id: {index + 1}\ndata: {lines[index]}\n\n"
            sent = max(sent, len(lines))
            if live is None and run.status.finished:
                yield f"event: end\ndata: {run.status.value}\n\n"
                return
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                beat = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)

    async def pulls(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        listed = await run_in_threadpool(self.pull_requests.open)
        return render.page(request, "pulls.html", pulls=listed, ttl=self.controller.config.pull_requests.ttl)


def _page_number(given: str | None) -> int:
    """`?page=`: 1 unless a whole number from 1."""
    return int(given) if given and given.isdigit() and int(given) >= 1 else 1


def _count(given: str | None) -> int:
    """A count of lines the client has already (`?from=`, `Last-Event-ID`): 0 unless a whole number."""
    return int(given) if given and given.isdigit() else 0
