"""Who is looking at the dashboard: the sessions people open by logging in, kept in memory (a
restart logs everyone out, which is safer than a file of live session ids), and what every page
shows of the visitor (`page_context`).

A session has a random id (the cookie's value), a CSRF token of its own that every form POST
must carry back, and a level: `write` (logged in with the API token) or `read` (the read token).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from starlette.requests import Request

COOKIE = "tidegate_session"
LIFETIME = 12 * 3600
"""Seconds a session lasts after logging in: a forgotten browser does not stay logged in forever."""

Level = Literal["read", "write"]

SECTIONS = {"runs": "/runs", "pulls": "/pulls", "models": "/models", "drift": "/drift"}
"""The navigation's sections by the first segment of a path; anything else is Environments (`/`)."""


@dataclass(frozen=True)
class Session:
    id: str
    level: Level
    csrf: str
    expires: float

    @property
    def writes(self) -> bool:
        return self.level == "write"


class Sessions:
    """The open sessions of this process; safe to use from the server's threads."""

    def __init__(self) -> None:
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, level: Level) -> Session:
        session = Session(
            secrets.token_urlsafe(32), level, secrets.token_urlsafe(32), time.monotonic() + LIFETIME
        )
        with self._lock:
            self._open = {key: kept for key, kept in self._open.items() if kept.expires > time.monotonic()}
            self._open[session.id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        """The live session of a cookie's value, None for an unknown or expired one."""
        if not session_id:
            return None
        with self._lock:
            session = self._open.get(session_id)
        return session if session is not None and session.expires > time.monotonic() else None

    def close(self, session_id: str) -> None:
        with self._lock:
            self._open.pop(session_id, None)


def visitor(request: Request) -> Session | None:
    """The session the gate found for this request (`auth.Gate` attaches it)."""
    found = getattr(request.state, "session", None)
    return found if isinstance(found, Session) else None


def page_context(request: Request) -> dict[str, Any]:
    """What every page shows: who is logged in (`write`, `read` or None), its forms' CSRF
    token, where it is (`path`) and which section of the navigation that is (`nav`)."""
    session = visitor(request)
    path = request.url.path
    return {
        "user": session.level if session else None,
        "csrf": session.csrf if session else "",
        "path": path,
        "nav": SECTIONS.get(path.strip("/").split("/")[0], "/"),
    }
