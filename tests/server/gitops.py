"""What the controller's tests stand on: a local bare repository as the remote, a clone people
push from, the project directory where the warehouses live, and the controller's app served by
a real uvicorn on 127.0.0.1, spoken to over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ci.repos import PIPELINE_CONFIG, git
from tests.conftest import LAYERED, write_files
from tidegate.server.controller import Controller

SECRET = "controller-webhook-secret"
TOKEN = "controller-api-token"
READ_TOKEN = "controller-read-token"
SECRETS = {"TG_CTL_SECRET": SECRET, "TG_CTL_TOKEN": TOKEN, "TG_CTL_READ": READ_TOKEN}
"""The environment variables the test projects' `controller:` refers to (`read_token:
${TG_CTL_READ}` only where a test appends it)."""

CONTROLLER = """
controller:
  repository: ../remote.git
  poll: {poll}
  webhook_secret: ${{TG_CTL_SECRET}}
  api_token: ${{TG_CTL_TOKEN}}
"""

SLOW_MODEL = {  # a Python model that takes seconds to build: a deployment to catch mid-run
    "models/slow_orders.py": """
        import time


        def model(stg_orders):
            time.sleep(4)
            return stg_orders
    """
}
BROKEN = {"models/order_count.sql": "select count(*) as n from {{ ref('stg_orders') }} where no_such_column"}
TIMES_TEN = {"models/order_count.sql": "select count(*) * 10 as n from {{ ref('stg_orders') }}"}


@dataclass(frozen=True)
class World:
    """`remote.git` (bare), `work` (a clone on main people push from), `project` (the
    project directory the controller is given: its warehouse and its tidegate.yml)."""

    root: Path

    @property
    def remote(self) -> Path:
        return self.root / "remote.git"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def push(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        """Commit `files` on `branch` (created from main when new) and push it; its sha."""
        if branch not in git(self.work, "branch", "--list", branch):
            git(self.work, "branch", branch, "main")
        git(self.work, "checkout", "-q", branch)
        write_files(self.work, files)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", branch)
        sha = git(self.work, "rev-parse", "HEAD")
        git(self.work, "checkout", "-q", "main")
        return sha

    def release(self) -> str:
        """Merge main into `production` (a fast-forward) and push it; the commit released."""
        git(self.work, "push", "-q", "origin", "main:production")
        return git(self.work, "rev-parse", "main")


def postgres_config(dsn: str) -> str:
    """The pipeline's tidegate.yml with prod, staging and dev in the PostgreSQL database `dsn`."""
    line = f'{{engine: postgres, dsn: "{dsn}", threads: 2, lock_timeout: 5s}}'
    lines = [
        f"  {name}: {line}" if name in ("prod", "staging", "dev") else text
        for text in PIPELINE_CONFIG.splitlines()
        for name in [text.strip().split(":")[0]]
    ]
    return "\n".join(lines) + "\n"


def make_world(root: Path, *, poll: str = "1h", config: str = PIPELINE_CONFIG, extra: str = "") -> World:
    """The layered project committed on main and pushed to a bare remote; the project
    directory is a clone of it (`extra` is appended to its tidegate.yml only, e.g. a forge)."""
    world = World(root)
    world.work.mkdir(parents=True)
    write_files(
        world.work,
        {
            "tidegate.yml": config + CONTROLLER.format(poll=poll),
            **LAYERED,
            ".gitignore": ".tidegate/\n*.duckdb\n*.duckdb.wal\n",
        },
    )
    git(world.work, "init", "-q", "-b", "main")
    git(world.work, "add", "-A")
    git(world.work, "commit", "-q", "-m", "the project")
    git(root, "clone", "-q", "--bare", str(world.work), str(world.remote))
    git(world.work, "remote", "add", "origin", str(world.remote))
    git(world.work, "fetch", "-q", "origin")
    git(root, "clone", "-q", str(world.remote), str(world.project))
    if extra:
        with (world.project / "tidegate.yml").open("a") as config_file:
            config_file.write(extra)
    return world


@contextmanager
def exported(variables: dict[str, str]) -> Iterator[None]:
    """`variables` set in the process's environment, then restored (for module-scoped
    fixtures, where monkeypatch is not available)."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Http:
    """JSON over real HTTP to a server at `url`; GETs carry the `reader` token when one is set."""

    def __init__(self, url: str, reader: str | None = None) -> None:
        self.url = url
        self.reader = reader

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return self.request("GET", path, headers=_bearer(token or self.reader))

    def post(self, path: str, document: Any = None, token: str | None = None) -> tuple[int, Any]:
        body = json.dumps(document).encode() if document is not None else None
        return self.request("POST", path, body, {"content-type": "application/json", **_bearer(token)})

    def github(
        self, kind: str, payload: dict[str, Any], *, secret: str = SECRET, delivery: str | None = None
    ) -> tuple[int, Any]:
        """A GitHub delivery, signed with `secret`."""
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "x-github-event": kind,
            "x-github-delivery": delivery or str(uuid.uuid4()),
            "x-hub-signature-256": signature,
        }
        return self.request("POST", "/hooks/github", body, headers)

    def gitlab(
        self, kind: str, payload: dict[str, Any], *, token: str = SECRET, delivery: str | None = None
    ) -> tuple[int, Any]:
        """A GitLab delivery (`kind` as X-Gitlab-Event says it, e.g. "Push Hook") with `token`."""
        headers = {
            "content-type": "application/json",
            "x-gitlab-event": kind,
            "x-gitlab-event-uuid": delivery or str(uuid.uuid4()),
            "x-gitlab-token": token,
        }
        return self.request("POST", "/hooks/gitlab", json.dumps(payload).encode(), headers)

    def environment(self, name: str) -> dict[str, Any]:
        status, document = self.get("/api/environments")
        assert status == 200, document
        return next(e for e in document["environments"] if e["name"] == name)

    def runs(self, environment: str) -> list[dict[str, Any]]:
        status, document = self.get(f"/api/runs?env={environment}&limit=100")
        assert status == 200, document
        return list(document["runs"])


def _bearer(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def push_payload(branch: str, sha: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{branch}", "before": "0" * 39 + "1", "after": sha, "deleted": False}


def pull_request_payload(
    action: str, number: int, head: str, branch: str, base: str = "main"
) -> dict[str, Any]:
    return {
        "action": action,
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head, "ref": branch}, "base": {"ref": base}},
    }


def finished(http: Http, environment: str, sha: str) -> dict[str, Any]:
    """The run of `sha` on `environment`, once it has finished."""

    def done() -> dict[str, Any] | None:
        runs = [r for r in http.runs(environment) if r["commit"] == sha]
        return runs[0] if runs and runs[0]["status"] not in ("queued", "running") else None

    return dict(eventually(done, what=f"the run of {sha[:10]} on {environment}"))


def forge_config(kind: str, repo: str, api_url: str, token_variable: str) -> str:
    """The `forge:` line of `controller:` for a local fake forge."""
    return f"  forge: {{kind: {kind}, repo: {repo}, token: '${{{token_variable}}}', api_url: '{api_url}'}}\n"


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "the condition") -> Any:
    """The first truthy result of `check`, polled until `timeout` seconds (a test that waits
    for a controller's thread; never an assertion on timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Served:
    """The controller's app under a real uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, make_controller: Callable[[str], Controller]) -> None:
        import uvicorn

        from tidegate.server.app import create_app

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.controller = make_controller(self.url)
        config = uvicorn.Config(
            create_app(self.controller), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        eventually(lambda: self.server.started, 30, "the server to start")
        self.http = Http(self.url)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)
