"""The controller's HTTP face: webhooks, the JSON API and `/metrics`, as one Starlette app
built by `create_app(controller)`, so tests start it on any controller.

Webhooks are verified before anything else (a bad signature gets 401 and runs nothing); a
delivery id seen before is answered without running again. Every POST of the API needs the API
token (`Authorization: Bearer ...`, compared in constant time); reads need the read token when
one is set. Errors are JSON: `{"error": ..., "message": ..., "hint": ...}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from tidegate import __version__
from tidegate.errors import ConfigError, StateError, TidegateError
from tidegate.project.controller import expanded
from tidegate.server import dashboard
from tidegate.server.controller import Controller

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

Endpoint = Callable[["Request"], Awaitable["Response"]]
Handler = Callable[["Request", Any], dict[str, Any]]
"""An API call: the request and its JSON body (`{}` without one) to a JSON document."""


def create_app(controller: Controller, *, background: bool = True) -> Starlette:
    """The app; with `background` its lifespan starts the controller's loop and stops it (the
    runs at work finish) when the server shuts down."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    api = _Api(controller)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        from starlette.concurrency import run_in_threadpool

        if background:
            await run_in_threadpool(controller.start)
        yield
        if background:
            await run_in_threadpool(controller.stop)

    routes = [
        Route("/hooks/github", api.webhook("github"), methods=["POST"]),
        Route("/hooks/gitlab", api.webhook("gitlab"), methods=["POST"]),
        Route("/api/health", api.read(api.health)),
        Route("/api/environments", api.read(api.environments)),
        Route("/api/environments/{env}/history", api.read(api.history)),
        Route("/api/environments/{env}/sync", api.write(api.sync), methods=["POST"]),
        Route("/api/environments/{env}/rollback", api.write(api.rollback), methods=["POST"]),
        Route("/api/environments/{env}/unpin", api.write(api.unpin), methods=["POST"]),
        Route("/api/runs", api.read(api.runs)),
        Route("/api/runs/{id:int}", api.read(api.run)),
        Route("/api/drift", api.read(api.drift)),
        Route("/metrics", api.metrics),
        *dashboard.routes(controller),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _error(status: int, error: str, message: str, hint: str | None = None) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": error, "message": message, "hint": hint}, status_code=status)


def _bearer(request: Request, *tokens: str | None) -> bool:
    """Whether the request carries one of `tokens` (compared in constant time); never without one."""
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return False
    return any(token and hmac.compare_digest(value.encode(), token.encode()) for token in tokens)


class _Api:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        settings = controller.settings
        self.api_token = expanded(settings.api_token)
        self.read_token = expanded(settings.read_token)
        self.webhook_secret = expanded(settings.webhook_secret)

    # access ------------------------------------------------------------------------------

    def read(self, handler: Handler) -> Endpoint:
        """A GET of the API: open, unless a read token is set (the API token also reads)."""
        return self._guarded(handler, self.readable)

    def readable(self, request: Request) -> bool:
        """Reads are open, unless a read token is set (the API token also reads)."""
        return not self.read_token or _bearer(request, self.read_token, self.api_token)

    def write(self, handler: Handler) -> Endpoint:
        """A POST of the API: the API token, always (none configured: every POST is refused)."""
        return self._guarded(handler, lambda request: _bearer(request, self.api_token))

    def _guarded(self, handler: Handler, allowed: Callable[[Request], bool]) -> Endpoint:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        async def endpoint(request: Request) -> Response:
            if not allowed(request):
                return _error(401, "Unauthorized", "a valid `Authorization: Bearer <token>` is required")
            try:
                body = await request.json() if request.method == "POST" and await request.body() else {}
            except ValueError:
                return _error(400, "BadRequest", "the body is not JSON")
            try:
                document = await run_in_threadpool(handler, request, body)
            except TidegateError as error:
                status = (
                    404 if isinstance(error, StateError) else 400 if isinstance(error, ConfigError) else 409
                )
                return JSONResponse(error.to_dict(), status_code=status)
            return JSONResponse(document)

        return endpoint

    # webhooks ----------------------------------------------------------------------------

    def webhook(self, forge: str) -> Endpoint:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        async def endpoint(request: Request) -> Response:
            from tidegate.server import webhooks

            metrics = self.controller.metrics.deliveries
            body = await _limited_body(request, webhooks.MAX_BODY)
            if body is None:
                metrics.labels(forge=forge, result="rejected").inc()
                return _error(413, "WebhookRejected", f"the body is over {webhooks.MAX_BODY} bytes")
            parse = webhooks.github_event if forge == "github" else webhooks.gitlab_event
            try:
                received = parse(
                    {k.lower(): v for k, v in request.headers.items()}, body, self.webhook_secret
                )
            except webhooks.WebhookRejected as error:
                metrics.labels(forge=forge, result="rejected").inc()
                return _error(error.status, "WebhookRejected", error.message)
            if received is None:
                metrics.labels(forge=forge, result="ignored").inc()
                return JSONResponse({"accepted": False, "reason": "nothing to do"}, status_code=202)
            delivery = received.delivery
            if delivery is not None and not self.controller.store.first_delivery(delivery):
                metrics.labels(forge=forge, result="duplicate").inc()
                return JSONResponse({"accepted": False, "reason": f"delivery {delivery} seen before"})
            queued = await run_in_threadpool(self.controller.handle, received)
            metrics.labels(forge=forge, result="accepted").inc()
            return JSONResponse({"accepted": True, "runs": [run.summary() for run in queued]})

        return endpoint

    # the API -----------------------------------------------------------------------------

    def health(self, request: Request, body: Any) -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    def environments(self, request: Request, body: Any) -> dict[str, Any]:
        return {"environments": self.controller.environments.listed()}

    def history(self, request: Request, body: Any) -> dict[str, Any]:
        environment = request.path_params["env"]
        return {"environment": environment, "history": self.controller.environments.history(environment)}

    def runs(self, request: Request, body: Any) -> dict[str, Any]:
        try:
            limit = max(1, min(int(request.query_params.get("limit", "50")), 1000))
        except ValueError:
            raise ConfigError("limit must be a whole number") from None
        listed = self.controller.store.runs(request.query_params.get("env") or None, limit)
        return {"runs": [run.summary() for run in listed]}

    def run(self, request: Request, body: Any) -> dict[str, Any]:
        found = self.controller.store.run(request.path_params["id"])
        if found is None:
            raise StateError(f"no run {request.path_params['id']}")
        return found.to_dict()

    def drift(self, request: Request, body: Any) -> dict[str, Any]:
        """Checked now for every environment not at work (and healed with `self_heal`)."""
        self.controller.environments.check_drift()
        return {"drift": self.controller.environments.drift()}

    def sync(self, request: Request, body: Any) -> dict[str, Any]:
        return {"run": self.controller.sync(request.path_params["env"]).summary()}

    def rollback(self, request: Request, body: Any) -> dict[str, Any]:
        version = body.get("version") if isinstance(body, dict) else None
        if version is not None and not isinstance(version, int):
            raise ConfigError('"version" must be a version number, e.g. {"version": 3}')
        return self.controller.environments.rollback(request.path_params["env"], version)

    def unpin(self, request: Request, body: Any) -> dict[str, Any]:
        return self.controller.environments.unpin(request.path_params["env"])

    async def metrics(self, request: Request) -> Response:
        """Prometheus' format; a read like any other (Prometheus sends the token with
        `authorization: {credentials: ...}` in its scrape config)."""
        from starlette.responses import Response

        if not self.readable(request):
            return _error(401, "Unauthorized", "a valid `Authorization: Bearer <token>` is required")
        content, media_type = self.controller.metrics.exposition()
        return Response(content, media_type=media_type)


async def _limited_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` bytes (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
