"""A local forge: the GitHub and GitLab REST endpoints tidegate's forge clients call, served by a
real threaded HTTP server on 127.0.0.1, recording every request it receives.

GitHub (under any prefix, e.g. `/api/v3` as GitHub Enterprise has it):
  POST  /repos/{repo}/statuses/{sha}               state error|failure|pending|success, context
  GET   /repos/{repo}/issues/{n}/comments          paginated (per_page, page, Link rel="next")
  POST  /repos/{repo}/issues/{n}/comments          {"body"}
  PATCH /repos/{repo}/issues/comments/{id}         {"body"}
GitLab (under any prefix, `/api/v4` at `gitlab_url`; the project as its URL-encoded path or id):
  POST  /projects/{id}/statuses/{sha}              state pending|running|success|failed|canceled|
                                                   skipped, name; the same pending or running
                                                   state twice is refused with 400, as GitLab does
  GET   /projects/{id}/merge_requests/{iid}/notes  paginated, newest first (Link, X-Next-Page)
  POST  /projects/{id}/merge_requests/{iid}/notes  {"body"}
  PUT   /projects/{id}/merge_requests/{iid}/notes/{note_id}
Every request needs the token: `Authorization: Bearer` (or `token`) on GitHub, `PRIVATE-TOKEN`
(or `Authorization: Bearer`) on GitLab; without it the answer is 401, as each forge words it.

    with FakeForge() as forge:            # or the `fake_forge` fixture of tests/server/conftest.py
        client = forge_for(forge.config("github"))   # needs TOKEN in $TOKEN_VARIABLE
        ...
        forge.statuses(sha), forge.comments(7), forge.requests
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from tidegate.project.controller import ForgeConfig

TOKEN = "forge-token-0123456789-SECRET"
TOKEN_VARIABLE = "TIDEGATE_TEST_FORGE_TOKEN"
GITHUB_STATES = {"error", "failure", "pending", "success"}
GITLAB_STATES = {"pending", "running", "success", "failed", "canceled", "skipped"}
GITLAB_SAME_STATE = {"pending": "enqueue", "running": "run"}

Kind = Literal["github", "gitlab"]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    """As sent, without the query: `/repos/acme/data/statuses/abc`, `/api/v4/projects/acme%2Fdata/...`."""
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: Any
    """The JSON sent, None without a body."""


@dataclass(frozen=True)
class Status:
    forge: Kind
    context: str
    """GitHub's `context`, GitLab's `name`."""
    state: str
    """As the forge names it (`failure` on GitHub, `failed` on GitLab)."""
    description: str | None
    target_url: str | None


@dataclass
class Comment:
    """A pull request's issue comment (GitHub) or a merge request's note (GitLab)."""

    id: int
    body: str
    system: bool = False
    """A note GitLab writes itself ("added 1 commit")."""


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


class FakeForge:
    def __init__(self, repo: str = "acme/data", *, project_id: int = 42, page_size: int = 100) -> None:
        self.repo = repo
        self.project_id = project_id
        self.page_size = page_size
        """The most items a page holds whatever `per_page` asks (100 on both forges)."""
        self.url = ""
        self.requests: list[Recorded] = []
        self._statuses: dict[str, list[Status]] = {}
        self._comments: dict[int, list[Comment]] = {}
        self._ids = itertools.count(1001)
        self._failure: _Answer | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- what tests use ----------------------------------------------------------------------

    @property
    def github_url(self) -> str:
        return self.url

    @property
    def gitlab_url(self) -> str:
        return self.url + "/api/v4"

    def config(self, kind: Kind, api_url: str | None = None) -> ForgeConfig:
        """`controller: forge:` pointing at this forge, its token read from TOKEN_VARIABLE."""
        default = self.github_url if kind == "github" else self.gitlab_url
        return ForgeConfig(
            kind=kind, repo=self.repo, token=f"${{{TOKEN_VARIABLE}}}", api_url=api_url or default
        )

    def statuses(self, sha: str) -> list[Status]:
        """Every status posted for `sha`, oldest first."""
        with self._lock:
            return list(self._statuses.get(sha, []))

    def comments(self, number: int) -> list[Comment]:
        """The comments (notes) on pull (merge) request `number` now, oldest first."""
        with self._lock:
            return [Comment(c.id, c.body, c.system) for c in self._comments.get(number, [])]

    def add_comment(self, number: int, body: str, *, system: bool = False) -> Comment:
        """A comment someone else wrote on pull request `number`."""
        with self._lock:
            comment = Comment(next(self._ids), body, system)
            self._comments.setdefault(number, []).append(comment)
            return comment

    def fail(self, status: int | None, message: str = "Server Error") -> None:
        """Answer every request with `status` and `message` from now on (None: answer again)."""
        self._failure = None if status is None else _Answer(status, {"message": message})

    # -- serving -----------------------------------------------------------------------------

    def start(self) -> FakeForge:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._answer))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeForge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: Recorded) -> _Answer:
        with self._lock:
            self.requests.append(request)
            if self._failure is not None:
                return self._failure
            for method, pattern, kind, endpoint in self._routes():
                match = re.fullmatch(pattern, request.path)
                if match and method == request.method:
                    if not self._authorized(kind, request.headers):
                        return _unauthorized(kind)
                    if not self._ours(kind, match["repo"]):
                        return _not_found(kind)
                    return endpoint(request, match)
            return _Answer(404, {"message": "Not Found"})

    def _routes(self) -> list[tuple[str, str, Kind, Callable[[Recorded, re.Match[str]], _Answer]]]:
        github = r"(?:/[^/]+)*/repos/(?P<repo>[^/]+/[^/]+)"
        gitlab = r"(?:/[^/]+)*/projects/(?P<repo>[^/]+)"
        return [
            ("POST", rf"{github}/statuses/(?P<sha>\w+)", "github", self._github_status),
            ("GET", rf"{github}/issues/(?P<number>\d+)/comments", "github", self._list_comments),
            ("POST", rf"{github}/issues/(?P<number>\d+)/comments", "github", self._create_comment),
            ("PATCH", rf"{github}/issues/comments/(?P<id>\d+)", "github", self._edit_comment),
            ("POST", rf"{gitlab}/statuses/(?P<sha>\w+)", "gitlab", self._gitlab_status),
            ("GET", rf"{gitlab}/merge_requests/(?P<number>\d+)/notes", "gitlab", self._list_comments),
            ("POST", rf"{gitlab}/merge_requests/(?P<number>\d+)/notes", "gitlab", self._create_comment),
            ("PUT", rf"{gitlab}/merge_requests/\d+/notes/(?P<id>\d+)", "gitlab", self._edit_comment),
        ]

    def _authorized(self, kind: Kind, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if kind == "gitlab":
            return headers.get("private-token") == TOKEN or given == f"Bearer {TOKEN}"
        return given in (f"Bearer {TOKEN}", f"token {TOKEN}")

    def _ours(self, kind: Kind, repo: str) -> bool:
        if kind == "github":
            return repo == self.repo
        return repo in (quote(self.repo, safe=""), str(self.project_id))

    # -- endpoints (called with the lock held) ---------------------------------------------------

    def _github_status(self, request: Recorded, match: re.Match[str]) -> _Answer:
        body = request.body or {}
        description = body.get("description")
        if body.get("state") not in GITHUB_STATES or len(description or "") > 140:
            return _Answer(422, {"message": "Validation Failed"})
        status = Status(
            "github", body.get("context") or "default", body["state"], description, body.get("target_url")
        )
        self._statuses.setdefault(match["sha"], []).append(status)
        return _Answer(201, {"id": next(self._ids), "state": status.state, "context": status.context})

    def _gitlab_status(self, request: Recorded, match: re.Match[str]) -> _Answer:
        body = request.body or {}
        state = body.get("state")
        if state not in GITLAB_STATES:
            return _Answer(400, {"error": "state does not have a valid value"})
        name = body.get("name") or body.get("context") or "default"
        known = [s for s in self._statuses.get(match["sha"], []) if s.context == name]
        if known and known[-1].state == state and state in GITLAB_SAME_STATE:
            event = GITLAB_SAME_STATE[state]
            return _Answer(400, {"message": f"Cannot transition status via :{event} from :{state}"})
        status = Status("gitlab", name, state, body.get("description"), body.get("target_url"))
        self._statuses.setdefault(match["sha"], []).append(status)
        return _Answer(201, {"id": next(self._ids), "status": state, "name": name})

    def _list_comments(self, request: Recorded, match: re.Match[str]) -> _Answer:
        items = list(self._comments.get(int(match["number"]), []))
        if "/merge_requests/" in request.path:
            items.reverse()  # GitLab lists notes newest first
        size = min(int(request.query.get("per_page", "30")), self.page_size)
        page = int(request.query.get("page", "1"))
        shown = items[(page - 1) * size : page * size]
        headers: list[tuple[str, str]] = [("X-Page", str(page))]
        if page * size < len(items):
            following = f"{self.url}{request.path}?per_page={size}&page={page + 1}"
            headers += [("Link", f'<{following}>; rel="next"'), ("X-Next-Page", str(page + 1))]
        return _Answer(200, [_shown(c) for c in shown], tuple(headers))

    def _create_comment(self, request: Recorded, match: re.Match[str]) -> _Answer:
        body = (request.body or {}).get("body")
        if not isinstance(body, str) or not body:
            return _Answer(422, {"message": "Validation Failed"})
        comment = Comment(next(self._ids), body)
        self._comments.setdefault(int(match["number"]), []).append(comment)
        return _Answer(201, _shown(comment))

    def _edit_comment(self, request: Recorded, match: re.Match[str]) -> _Answer:
        body = (request.body or {}).get("body")
        for comment in itertools.chain.from_iterable(self._comments.values()):
            if comment.id == int(match["id"]) and isinstance(body, str) and body:
                comment.body = body
                return _Answer(200, _shown(comment))
        return _Answer(404, {"message": "Not Found"})


def _shown(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "body": comment.body, "system": comment.system}


def _not_found(kind: Kind) -> _Answer:
    return _Answer(404, {"message": "Not Found" if kind == "github" else "404 Project Not Found"})


def _unauthorized(kind: Kind) -> _Answer:
    if kind == "github":
        return _Answer(
            401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        )
    return _Answer(401, {"message": "401 Unauthorized"})


def _handler(answer: Callable[[Recorded], _Answer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query)),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=json.loads(raw) if raw else None,
            )
            reply = answer(request)
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `requests`, not a log."""

    return Handler
