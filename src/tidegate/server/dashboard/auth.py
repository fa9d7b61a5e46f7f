"""Who may do what on the dashboard: reading is open unless `controller.read_token` is set;
changing anything needs the API token, given once in a login form that sets an HttpOnly,
SameSite session cookie, and a CSRF token in every form POST.

(Interface first; helper dash-core completes it.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from tidegate.server.controller import Controller

Page = Callable[["Request"], Awaitable["Response"]]


class Gate:
    """Wraps page handlers: `read` for pages, `write` for form POSTs."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def read(self, handler: Page) -> Page:
        return handler

    def write(self, handler: Page) -> Page:
        async def refused(request: Request) -> Response:
            from starlette.responses import PlainTextResponse

            return PlainTextResponse("log in first", status_code=401)

        return refused


def routes(gate: Gate) -> list[BaseRoute]:
    return []


def page_context(request: Request) -> dict[str, Any]:
    """What every page shows: who is logged in, its forms' CSRF token, where it is."""
    return {"user": None, "csrf": "", "path": request.url.path, "nav": request.url.path}
