"""Who may do what on the dashboard: reading is open unless the controller has a read token;
changing anything needs the API token, given once in a login form that sets an HttpOnly,
SameSite=Strict session cookie, and every form POST carries its session's CSRF token.

The tokens are the API's (`controller.api_token`, `controller.read_token` in tidegate.yml),
compared in constant time; a session logged in with the read token reads, one logged in with the
API token also acts. A refusal is a page, not a traceback: 401 without a session that may act,
403 without the right CSRF field, and nothing is changed in either case.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from tidegate.project.controller import expanded
from tidegate.server.dashboard.render import page
from tidegate.server.dashboard.sessions import COOKIE, LIFETIME, Level, Session, Sessions

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from tidegate.server.controller import Controller

Page = Callable[["Request"], Awaitable["Response"]]

MAX_FORM = 64 * 1024
"""Bytes a form POST may send: the dashboard's forms hold a few short fields."""


class Gate:
    """Wraps page handlers: `read` for pages, `write` for form POSTs."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.api_token = expanded(controller.settings.api_token)
        self.read_token = expanded(controller.settings.read_token)
        self.sessions = Sessions()

    def level_of(self, token: str) -> Level | None:
        """What a token given at login allows; both are compared, in constant time."""
        writes = _same(token, self.api_token)
        reads = _same(token, self.read_token)
        return "write" if writes else "read" if reads else None

    def attach(self, request: Request) -> Session | None:
        """Find the request's session (its cookie) and keep it on the request for the page."""
        session = self.sessions.find(request.cookies.get(COOKIE))
        request.state.session = session
        return session

    def read(self, handler: Page) -> Page:
        """A page: open, unless a read token is set; then it needs a session (else the login
        form, which comes back here)."""

        async def guarded(request: Request) -> Response:
            from starlette.responses import RedirectResponse

            if self.attach(request) is None and self.read_token:
                back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(back, safe='')}", status_code=303)
            return await handler(request)

        return guarded

    def write(self, handler: Page) -> Page:
        """A form POST: a session logged in with the API token, and its CSRF token in the
        form's `csrf` field; the handler reads the fields with `form(request)`."""

        async def guarded(request: Request) -> Response:
            session = self.attach(request)
            if session is None or not session.writes:
                return refused(request, 401, "Log in with the API token to change anything.")
            if not await _csrf_matches(request, session):
                return refused(request, 403, "The form's CSRF token is missing or wrong: reload the page.")
            return await handler(request)

        return guarded


async def form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form POST (read once, kept on the request); {} for a body
    over `MAX_FORM` bytes or of another type."""
    kept = getattr(request.state, "form", None)
    if isinstance(kept, dict):
        return kept
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = await request.body()
        if len(body) <= MAX_FORM:
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    request.state.form = fields
    return fields


def refused(request: Request, status: int, message: str) -> Response:
    titles = {401: "Log in first", 403: "Refused"}
    return page(request, "message.html", status=status, title=titles[status], message=message, login=True)


def routes(gate: Gate) -> list[BaseRoute]:
    from starlette.routing import Route

    async def login(request: Request) -> Response:
        from starlette.responses import RedirectResponse

        gate.attach(request)
        if request.method == "GET":
            return _login_page(request, _local(request.query_params.get("next")))
        fields = await form(request)
        target = _local(fields.get("next"))
        if not _same_origin(request):
            return refused(request, 403, "The login form was sent from another site.")
        level = gate.level_of(fields.get("token", ""))
        if level is None:
            return _login_page(request, target, status=401, error="That token is not this controller's.")
        session = gate.sessions.open(level)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=LIFETIME,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        from starlette.responses import RedirectResponse

        session = gate.attach(request)
        if session is None:
            return refused(request, 401, "You are not logged in.")
        if not await _csrf_matches(request, session):
            return refused(request, 403, "The form's CSRF token is missing or wrong: reload the page.")
        gate.sessions.close(session.id)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return [Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"])]


def _login_page(request: Request, target: str, *, status: int = 200, error: str | None = None) -> Response:
    return page(request, "login.html", status=status, next=target, error=error)


async def _csrf_matches(request: Request, session: Session) -> bool:
    return _same((await form(request)).get("csrf", ""), session.csrf)


def _same(given: str, expected: str | None) -> bool:
    """Constant-time equality; never true without an expected value or a given one."""
    return bool(given) and expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def _local(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never `//elsewhere`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _same_origin(request: Request) -> bool:
    """A browser's POST names the site its form came from; one from another site is refused
    (a form without a session has no CSRF token to check)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.headers.get("host", "")
