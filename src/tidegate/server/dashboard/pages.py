"""The environments the controller keeps, their history and the levers on them, and the drift
and infrastructure pages: the same data and the same controller methods as the JSON API
(`Environments.summary`, `history`, `rollback`, `unpin`, `Controller.sync`, `check_drift`).

Everything that reads a warehouse or git runs in the threadpool: a page never blocks the event
loop. A lever answers with a redirect (303) back to the environment's page, where its history
shows what it did; a refusal of the controller (an unknown version, a dropped snapshot) is a
page with its message and hint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tidegate.errors import ConfigError, StateError, TidegateError
from tidegate.server.dashboard.auth import form
from tidegate.server.dashboard.render import page
from tidegate.server.store import RunKind

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from tidegate.git.repository import Commit, Repository
    from tidegate.server.controller import Controller
    from tidegate.server.dashboard.auth import Gate

RUNS_SEARCHED = 50
"""How many of an environment's latest runs are searched for its last infrastructure plan."""


def routes(controller: Controller, gate: Gate) -> list[BaseRoute]:
    from starlette.routing import Route

    pages = _Pages(controller)
    controller.after_run.append(lambda run, status: pages.read_ahead(run.environment))
    controller.after_pass.append(pages.read_all_ahead)
    return [
        Route("/", gate.read(pages.environments)),
        Route("/environments/{env}", gate.read(pages.environment)),
        Route("/environments/{env}/rollback", gate.write(pages.rollback), methods=["POST"]),
        Route("/environments/{env}/sync", gate.write(pages.sync), methods=["POST"]),
        Route("/environments/{env}/unpin", gate.write(pages.unpin), methods=["POST"]),
        Route("/drift", gate.read(pages.drift)),
        Route("/drift/check", gate.write(pages.check_drift), methods=["POST"]),
    ]


class _Pages:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.commits = Commits(controller)

    def read_ahead(self, environment: str) -> None:
        """The history of an environment a run just changed, read now rather than by the
        next page (versions never change: the page reads it only when a new one appears)."""
        if environment in self.controller.environments.bound:
            self.controller.environments.history(environment, fresh=False)

    def read_all_ahead(self) -> None:
        for environment in sorted(self.controller.environments.bound):
            self.read_ahead(environment)

    # reading -----------------------------------------------------------------------------

    async def environments(self, request: Request) -> Response:
        def read() -> list[dict[str, Any]]:
            return [self._described(entry) for entry in self.controller.environments.listed(fresh=False)]

        return await _answer(request, read, lambda listed: ("environments.html", {"environments": listed}))

    async def environment(self, request: Request) -> Response:
        name = request.path_params["env"]

        def read() -> dict[str, Any]:
            environments = self.controller.environments
            environments.require_bound(name)
            entry = self._described(environments.summary(name, environments.known(name)))
            history = environments.history(name, fresh=False)
            compared = _compared(history, request.query_params.get("from"), request.query_params.get("to"))
            return {"environment": entry, "history": history[::-1], **compared}

        return await _answer(request, read, lambda found: ("environment.html", found))

    async def drift(self, request: Request) -> Response:
        """What the last check found (the controller checks every `drift.interval`; a check of
        2,000 models takes a second, more than a page may), with each environment's last
        infrastructure plan (from its last deployment's report). `check_drift` checks now."""

        def read() -> dict[str, Any]:
            environments = self.controller.environments
            if environments.drift_checked is None:
                environments.check_drift()
            infra = {name: self._last_infra(name) for name in sorted(environments.bound)}
            return {"drift": environments.drift(), "checked": environments.drift_checked, "infra": infra}

        return await _answer(request, read, lambda found: ("drift.html", found))

    async def check_drift(self, request: Request) -> Response:
        """Compare every environment not at work with its recorded version now (healing it
        with `self_heal`), then back to the drift page."""
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import RedirectResponse

        await run_in_threadpool(self.controller.environments.check_drift)
        return RedirectResponse("/drift", status_code=303)

    def _described(self, entry: dict[str, Any]) -> dict[str, Any]:
        """An environment's entry with its commit's message and author, from git."""
        return {**entry, "described": self.commits.get(entry["commit"])}

    def _last_infra(self, environment: str) -> dict[str, Any] | None:
        """The last deployment whose report says what it did to the infrastructure: infra/*.yml's
        plan, and what each Terraform root of the environment got."""
        for run in self.controller.store.runs(environment, RUNS_SEARCHED):
            if run.kind is RunKind.DEPLOY and run.report is not None and "infra" in run.report:
                terraform = run.report.get("terraform") or []
                return {"run": run.summary(), "plan": run.report["infra"], "terraform": terraform}
        return None

    # levers ------------------------------------------------------------------------------

    async def rollback(self, request: Request) -> Response:
        name = request.path_params["env"]
        chosen = (await form(request)).get("version", "").strip()
        if chosen and not chosen.isdigit():
            return _failed(request, ConfigError(f"{chosen!r} is not a version number"))
        version = int(chosen) if chosen else None
        return await _act(request, name, lambda: self.controller.environments.rollback(name, version))

    async def sync(self, request: Request) -> Response:
        name = request.path_params["env"]
        return await _act(request, name, lambda: self.controller.sync(name))

    async def unpin(self, request: Request) -> Response:
        name = request.path_params["env"]
        return await _act(request, name, lambda: self.controller.environments.unpin(name))


class Commits:
    """Each commit's message and author, read from the controller's working copy once (a
    commit never changes); None while the copy is not cloned or the commit is unknown."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._repository: Repository | None = None
        self._known: dict[str, Commit] = {}
        self._lock = threading.Lock()

    def get(self, sha: str | None) -> Commit | None:
        if not sha:
            return None
        with self._lock:
            if sha in self._known:
                return self._known[sha]
        try:
            if self._repository is None:
                self._repository = self.controller.copy.repository()
            found = self._repository.commit(sha)
        except TidegateError:
            return None
        with self._lock:
            self._known[sha] = found
        return found


def _compared(history: list[dict[str, Any]], start: str | None, end: str | None) -> dict[str, Any]:
    """`?from=A&to=B`: which models were added, removed or changed (another snapshot: their
    data differ) from version A to version B."""
    if start is None or end is None:
        return {"changes": None, "start": None, "end": None}
    versions = {str(version["version"]): version for version in history}
    for given in (start, end):
        if given not in versions:
            raise ConfigError(
                f"there is no version {given!r} to compare", hint="pick versions from the history"
            )
    before, after = versions[start]["models"], versions[end]["models"]
    changes = [
        (model, "added" if model not in before else "removed" if model not in after else "changed")
        for model in sorted(before.keys() | after.keys())
        if before.get(model) != after.get(model) or (model in before) != (model in after)
    ]
    return {"changes": changes, "start": int(start), "end": int(end)}


async def _answer(
    request: Request, read: Callable[[], Any], shown: Callable[[Any], tuple[str, dict[str, Any]]]
) -> Response:
    """`read` in the threadpool, then its page, or the page of the error it raised."""
    from starlette.concurrency import run_in_threadpool

    try:
        found = await run_in_threadpool(read)
    except TidegateError as error:
        return _failed(request, error)
    template, context = shown(found)
    return page(request, template, **context)


async def _act(request: Request, environment: str, lever: Callable[[], Any]) -> Response:
    """Pull a lever in the threadpool, then back to the environment's page (303)."""
    from urllib.parse import quote

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse

    try:
        await run_in_threadpool(lever)
    except TidegateError as error:
        return _failed(request, error)
    return RedirectResponse(f"/environments/{quote(environment, safe='')}", status_code=303)


def _failed(request: Request, error: TidegateError) -> Response:
    """The API's statuses: 404 for what does not exist, 400 for bad input, 409 otherwise."""
    status = 404 if isinstance(error, StateError) else 400 if isinstance(error, ConfigError) else 409
    title = {404: "Not found", 400: "Not valid"}.get(status, "Not done")
    return page(request, "message.html", status=status, title=title, message=error.message, hint=error.hint)
