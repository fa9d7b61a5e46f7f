"""tidegate as a team runs it for GitOps: `tidegate serve`, told of each change by a signed webhook.

Why a world of its own: the controller watches a remote (here a local bare repository), keeps its
own clone, and tells a forge (here the fake GitHub of the controller's tests, served in this
process) what it found. Timed from the sending of the webhook to what a person waits for:

- CI: a signed ``pull_request`` webhook (opened) to the commit status ``tidegate/ci`` posted at
  the forge with its verdict;
- deployment: the pull request merged into ``main`` (a merge commit, whose snapshots the pull
  request's CI built already), a ``push`` webhook, to prod's views switched to it (read through
  the controller's API), with nothing built.

The server is a real ``tidegate serve`` (uvicorn) in a subprocess, started once: what is measured
is a controller that has been up a while, with what it keeps between runs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from measure import REPO_DIR, BenchError, checked, child_env, run_process
from peers.base import Change, Sample

if str(REPO_DIR) not in sys.path:  # the fake forge of the controller's tests
    sys.path.insert(0, str(REPO_DIR))

from tests.server.forge_server import TOKEN, TOKEN_VARIABLE, FakeForge

SECRET = "bench-webhook-secret"
API_TOKEN = "bench-api-token"
REPO = "acme/data"
PROD = "prod"
CONFIG = """\
environments:
  prod: {{engine: duckdb, path: {warehouse}, threads: {threads}}}
branches: {{main: prod}}
controller:
  repository: ../remote.git
  poll: 1h
  drift: {{interval: 1h}}
  webhook_secret: ${{BENCH_WEBHOOK_SECRET}}
  api_token: ${{BENCH_API_TOKEN}}
"""
FORGE = """\
  forge:
    kind: github
    repo: {repo}
    token: ${{{variable}}}
    api_url: {url}
"""
STARTUP_SECONDS = 60.0
RUN_SECONDS = 300.0


class ServedController:
    """`remote.git` (bare), `people` (the clone changes are pushed from), `project` (the directory
    `tidegate serve --project` is given: its warehouse and, uncommitted, where its forge is)."""

    def __init__(self, bin_dir: Path, root: Path, git_env: dict[str, str]) -> None:
        self.bin = bin_dir
        self.root = root
        self.env = child_env(
            {**git_env, "BENCH_WEBHOOK_SECRET": SECRET, "BENCH_API_TOKEN": API_TOKEN, TOKEN_VARIABLE: TOKEN}
        )
        self.forge = FakeForge(REPO)
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def people(self) -> Path:
        return self.root / "people"

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def server_log(self) -> Path:
        return self.root / "serve.log"

    # setting up ----------------------------------------------------------------------------

    def setup(self, project: Path, warehouse: str, threads: int) -> None:
        """The project (a copy of the CLI peer's, committed on main) pushed to a bare remote and
        cloned as the controller's project; prod deployed there once, the way a team starts."""
        self.root.mkdir(parents=True)
        self._git(self.root, "clone", "-q", "-b", "main", str(project), str(self.people))
        (self.people / "tidegate.yml").write_text(CONFIG.format(warehouse=warehouse, threads=threads))
        self._git(self.people, "add", "-A")
        self._git(self.people, "commit", "-q", "-m", "the controller keeps prod at main")
        self._git(self.root, "clone", "-q", "--bare", str(self.people), str(self.root / "remote.git"))
        self._git(self.people, "remote", "set-url", "origin", str(self.root / "remote.git"))
        self._git(self.people, "fetch", "-q", "origin")
        self._git(self.root, "clone", "-q", str(self.root / "remote.git"), str(self.project))
        self.forge.start()
        with (self.project / "tidegate.yml").open("a") as config:
            config.write(FORGE.format(repo=REPO, variable=TOKEN_VARIABLE, url=self.forge.github_url))
        tidegate = [str(self.bin / "tidegate"), "deploy", "--branch", "main"]
        checked(run_process(tidegate, self.project, env=self.env), "`tidegate deploy --branch main`")

    def start(self) -> None:
        """`tidegate serve` in a subprocess, up once it answers and has caught up with main."""
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        args = [str(self.bin / "tidegate"), "serve", "--project", str(self.project), "--port", str(port)]
        with self.server_log.open("ab") as log:
            self.server = subprocess.Popen(
                args, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        head = self._git(self.people, "rev-parse", "main")
        self._until(lambda: self._prod().get("commit") == head, STARTUP_SECONDS, "the controller to start")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; the forge last."""
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None
        self.forge.stop()

    # the measures --------------------------------------------------------------------------

    def ci(self, change: Change) -> Sample:
        """A pull request with `change`, opened: webhook sent, `tidegate/ci` verdict posted."""
        branch = f"pr-{change.number}"
        self._git(self.people, "checkout", "-q", "-B", branch, "main")
        (self.people / change.path).write_text(change.text)
        self._git(self.people, "commit", "-q", "-am", f"change {change.number}")
        self._git(self.people, "push", "-q", "origin", branch)
        head = self._git(self.people, "rev-parse", "HEAD")
        payload = {
            "action": "opened",
            "number": change.number,
            "pull_request": {
                "number": change.number,
                "head": {"sha": head, "ref": branch},
                "base": {"ref": "main"},
            },
        }
        started = time.perf_counter()
        self._webhook("pull_request", payload)
        verdict = self._until(lambda: self._ci_verdict(head), RUN_SECONDS, "the CI verdict")
        seconds = time.perf_counter() - started
        run = self._finished_run(f"pr_{change.number}")
        if run.get("status") not in ("success", "failed") or "plan" not in _steps(run):
            raise BenchError(f"the controller's CI did not run its steps: {json.dumps(run)[:500]}")
        built = _built(run)
        timings = ", ".join(f"{name} {secs:.2f}" for name, secs in _steps(run).items())
        detail = (
            f"webhook to `tidegate/ci` {verdict.state} ({verdict.description}); {built} snapshots built; "
            f"steps (s): {timings}"
        )
        return Sample(seconds, self._peak_mib(), detail)

    def deploy(self, change: Change) -> Sample:
        """The pull request of `change` merged into main and pushed: webhook sent, prod switched."""
        branch = f"pr-{change.number}"
        self._git(self.people, "checkout", "-q", "main")
        self._git(self.people, "merge", "-q", "--no-ff", "-m", f"merge {branch}", branch)
        self._git(self.people, "push", "-q", "origin", "main")
        head = self._git(self.people, "rev-parse", "HEAD")
        payload = {"ref": "refs/heads/main", "before": "0" * 40, "after": head, "deleted": False}
        started = time.perf_counter()
        self._webhook("push", payload)
        self._until(lambda: self._prod().get("commit") == head, RUN_SECONDS, "prod to switch")
        seconds = time.perf_counter() - started
        run = self._finished_run(PROD)
        built = (run.get("report") or {}).get("built")
        if run.get("status") != "success" or built != []:
            raise BenchError(f"the merge was not a deployment with nothing to build: {json.dumps(run)[:500]}")
        detail = (
            f"push webhook to prod at v{run['report'].get('version')} (read through /api/environments), "
            f"nothing built; the deployment itself {run.get('seconds') or 0:.2f} s"
        )
        return Sample(seconds, self._peak_mib(), detail)

    # talking to the controller -------------------------------------------------------------

    def _webhook(self, kind: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "x-github-event": kind,
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": signature,
        }
        status, answer = self._http("POST", "/hooks/github", body, headers)
        if status != 200 or not answer.get("accepted"):
            raise BenchError(f"the controller did not accept the {kind} webhook: {status} {answer}")

    def _ci_verdict(self, sha: str) -> Any:
        final = [s for s in self.forge.statuses(sha) if s.context == "tidegate/ci" and s.state != "pending"]
        return final[-1] if final else None

    def _prod(self) -> dict[str, Any]:
        status, document = self._http("GET", "/api/environments")
        if status != 200:
            return {}
        return next((e for e in document["environments"] if e["name"] == PROD), {})

    def _last_run(self, environment: str) -> dict[str, Any]:
        _, listed = self._http("GET", f"/api/runs?env={environment}&limit=1")
        if not listed.get("runs"):
            raise BenchError(f"the controller lists no run of {environment}")
        _, run = self._http("GET", f"/api/runs/{listed['runs'][0]['id']}")
        return dict(run)

    def _finished_run(self, environment: str) -> dict[str, Any]:
        """The environment's last run once recorded as finished: the controller tells the forge
        and switches the environment before it writes the run's end (untimed)."""
        return dict(
            self._until(
                lambda: (run := self._last_run(environment)).get("finished_at") and run,
                RUN_SECONDS,
                f"the run of {environment} to be recorded",
            )
        )

    def _http(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=RUN_SECONDS) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")
        except OSError:  # not listening yet
            return 0, {}

    def _until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """The first truthy result of `check`, polled every few milliseconds (the figure's grain)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server is not None and self.server.poll() is not None:
                raise BenchError(f"tidegate serve exited {self.server.returncode}:\n{self._log_tail()}")
            found = check()
            if found:
                return found
            time.sleep(0.005)
        raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self._log_tail()}")

    def _peak_mib(self) -> float:
        """The server's own peak resident memory so far (VmHWM), in MiB."""
        assert self.server is not None
        for line in Path(f"/proc/{self.server.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.server_log.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def _git(self, cwd: Path, *args: str) -> str:
        return checked(run_process(["git", *args], cwd, env=self.env), f"git {args[0]}").stdout.strip()


def _steps(run: dict[str, Any]) -> dict[str, float]:
    return {step["name"]: step["seconds"] for step in run.get("steps") or []}


def _built(run: dict[str, Any]) -> int:
    """Snapshots the CI run's plan built, as its report says."""
    steps = {step["name"]: step for step in (run.get("report") or {}).get("steps") or []}
    return len((steps.get("plan") or {}).get("data", {}).get("built", []))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
