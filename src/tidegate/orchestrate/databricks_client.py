"""The Jobs API 2.1 and Repos API 2.0 endpoints tidegate uses, and what they answer: one-time
runs (`tidegate databricks run`), jobs as code and workspace repos (`tidegate deploy`).

Requests go through databricks-sdk's `ApiClient` (authentication, retries of 429 and 5xx, the
error JSON `{"error_code", "message"}` turned into exception classes); bodies stay plain JSON, so
fields of a job that the installed SDK does not model are copied as they are. The SDK is imported
only when a client is made, so the command line starts fast. Credentials come from
DATABRICKS_HOST and DATABRICKS_TOKEN only, and no message ever contains the token.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tidegate.errors import ConfigError, TidegateError
from tidegate.project.dsn import scrub

API = "/api/2.1/jobs"
REPOS = "/api/2.0/repos"
_PAGE = 100
"""Jobs per page of `jobs/list` (its maximum)."""
TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
# SUCCESS_WITH_FAILURES: failures the job allows (run_if), its leaf tasks succeeded.
SUCCESS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})


@dataclass(frozen=True)
class Credentials:
    """The workspace and its token, from DATABRICKS_HOST and DATABRICKS_TOKEN only."""

    host: str
    token: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Credentials:
        host = env.get("DATABRICKS_HOST", "").strip()
        token = env.get("DATABRICKS_TOKEN", "").strip()
        missing = [
            name for name, value in (("DATABRICKS_HOST", host), ("DATABRICKS_TOKEN", token)) if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                "tidegate needs the workspace's URL and a token to run Databricks jobs",
                hint="export DATABRICKS_HOST=https://<workspace>.cloud.databricks.com and "
                "DATABRICKS_TOKEN (a personal access token or a service principal's), from your CI's secrets",
            )
        return cls(workspace_url(host), token)

    @property
    def shown_host(self) -> str:
        """The host as messages show it: without any user information (a password) in it."""
        return shown_host(self.host)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What no message may contain: the token, and any user information in the host."""
        userinfo = urlsplit(self.host).netloc.rpartition("@")[0]
        return tuple(s for s in (self.token, userinfo, userinfo.partition(":")[2]) if s)


def workspace_url(host: str) -> str:
    """DATABRICKS_HOST as a URL: https:// unless it names its scheme, no trailing slash."""
    host = host.strip()
    return ("https://" + host if "://" not in host else host).rstrip("/")


def shown_host(host: str) -> str:
    """A workspace URL without its user information: `https://***@acme.cloud.databricks.com`."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/]*@", r"\1***@", host, flags=re.IGNORECASE)


def submit_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The body of `jobs/runs/submit` for a run: its payload and an idempotency token, so that
    the SDK's retries of the request start one run only."""
    return {**payload, "idempotency_token": f"tidegate-{uuid.uuid4().hex}"}


@dataclass(frozen=True)
class TaskState:
    key: str
    lifecycle: str
    result: str | None
    message: str
    url: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_key": self.key,
            "state": self.lifecycle,
            "result": self.result,
            "message": self.message,
            "url": self.url,
        }


@dataclass(frozen=True)
class RunState:
    """One answer of `jobs/runs/get`: the run's life-cycle state, its result once terminal."""

    run_id: int
    lifecycle: str
    result: str | None
    message: str
    url: str | None
    tasks: tuple[TaskState, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.lifecycle in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.lifecycle == "TERMINATED" and self.result in SUCCESS

    @property
    def verdict(self) -> str:
        """The result once there is one (SUCCESS, FAILED, CANCELED...), else the life-cycle state."""
        return self.result or self.lifecycle

    @classmethod
    def from_api(cls, run: Mapping[str, Any]) -> RunState:
        lifecycle, result, message = _state(run)
        tasks = tuple(
            TaskState(str(task.get("task_key", "")), *_state(task), task.get("run_page_url"))
            for task in run.get("tasks") or []
        )
        return cls(int(run["run_id"]), lifecycle, result, message, run.get("run_page_url"), tasks)


class JobsClient:
    """The Jobs API 2.1 endpoints tidegate uses, through databricks-sdk's `ApiClient`."""

    def __init__(self, credentials: Credentials, *, retry_timeout: int = 300) -> None:
        from databricks.sdk.core import ApiClient, Config

        from tidegate import __version__

        # The SDK logs (e.g. a failed probe of the host's metadata) but installs no handler:
        # without one Python would print its warnings on stderr, in the middle of our output.
        sdk_logger = logging.getLogger("databricks")
        if not any(isinstance(handler, logging.NullHandler) for handler in sdk_logger.handlers):
            sdk_logger.addHandler(logging.NullHandler())
        _check_reachable(credentials.host, credentials.shown_host)
        try:
            config = Config(
                host=credentials.host,
                token=credentials.token,
                auth_type="pat",
                product="tidegate",
                product_version=__version__,
                retry_timeout_seconds=retry_timeout,
            )
        except ValueError as error:
            raise ConfigError(
                f"cannot use DATABRICKS_HOST and DATABRICKS_TOKEN: {scrub(str(error), credentials.secrets)}"
            ) from None
        self.host = credentials.shown_host
        self._secrets = credentials.secrets
        self._api = ApiClient(config)

    def get_job(self, job_id: int) -> dict[str, Any]:
        """The job and its definition (`settings`). Version 2.1 answers with all of its tasks
        and clusters at once (2.2 pages lists of more than 100)."""
        from databricks.sdk.errors import BadRequest, NotFound

        try:
            return self._call("GET", "get", query={"job_id": job_id})
        except (NotFound, BadRequest) as error:
            raise ConfigError(
                f"job {job_id} does not exist in {self.host}, or this token cannot see it: {self.explain(error)}",
                hint="--job-id is the number in the job's URL (.../jobs/<id>)",
            ) from None
        except OSError as error:
            raise self._error(error, f"read job {job_id}") from None

    def submit(self, payload: Mapping[str, Any]) -> int:
        """Start a one-time run; its id."""
        try:
            return int(self._call("POST", "runs/submit", body=submit_body(payload))["run_id"])
        except OSError as error:
            raise self._error(error, "submit the run") from None

    def get_run(self, run_id: int) -> RunState:
        return RunState.from_api(self._call("GET", "runs/get", query={"run_id": run_id}))

    def cancel_run(self, run_id: int) -> None:
        """Ask Databricks to cancel the run; it is cancelled asynchronously."""
        self._call("POST", "runs/cancel", body={"run_id": run_id})

    # -- jobs as code ------------------------------------------------------------------

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job of the workspace this token can see, with its settings but not its tasks
        (`jobs/list` has no filter on tags: tidegate filters what it lists)."""
        jobs: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": _PAGE}
        try:
            while True:
                page = self._call("GET", "list", query=query)
                jobs += page.get("jobs") or []
                if not page.get("has_more") or not page.get("next_page_token"):
                    return jobs
                query["page_token"] = page["next_page_token"]
        except OSError as error:
            raise self._error(error, "list the jobs") from None

    def read_job(self, job_id: int) -> dict[str, Any]:
        try:
            return self._call("GET", "get", query={"job_id": job_id})
        except OSError as error:
            raise self._error(error, f"read job {job_id}") from None

    def create_job(self, settings: Mapping[str, Any]) -> int:
        try:
            return int(self._call("POST", "create", body=dict(settings))["job_id"])
        except OSError as error:
            raise self._error(error, f"create job {settings.get('name')!r}") from None

    def reset_job(self, job_id: int, settings: Mapping[str, Any]) -> None:
        """Replace all of the job's settings (`jobs/reset`; `jobs/update` would merge them)."""
        try:
            self._call("POST", "reset", body={"job_id": job_id, "new_settings": dict(settings)})
        except OSError as error:
            raise self._error(error, f"reset job {job_id}") from None

    def delete_job(self, job_id: int) -> None:
        try:
            self._call("POST", "delete", body={"job_id": job_id})
        except OSError as error:
            raise self._error(error, f"delete job {job_id}") from None

    # -- repos --------------------------------------------------------------------------

    def find_repo(self, path: str) -> dict[str, Any] | None:
        """The repo at exactly `path` (`GET /api/2.0/repos?path_prefix=`, which lists every repo
        whose path starts with it), or None."""
        query: dict[str, Any] = {"path_prefix": path}
        try:
            while True:
                page = self._do("GET", REPOS, query=query)
                for repo in page.get("repos") or []:
                    if str(repo.get("path", "")).rstrip("/") == path:
                        return repo
                if not page.get("next_page_token"):
                    return None
                query["next_page_token"] = page["next_page_token"]
        except OSError as error:
            raise self._error(error, f"look up the repo {path}") from None

    def checkout_branch(self, repo_id: int, branch: str) -> dict[str, Any]:
        """Check the repo out at the tip of `branch` (`PATCH /api/2.0/repos/{id}`, which pulls),
        then read it back: its `head_commit_id` is the commit it holds now."""
        try:
            self._do("PATCH", f"{REPOS}/{repo_id}", body={"branch": branch})
            return self._do("GET", f"{REPOS}/{repo_id}")
        except OSError as error:
            raise self._error(error, f"update repo {repo_id} to branch {branch}") from None

    def _call(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        return self._do(method, f"{API}/{path}", query=query, body=body)

    def _do(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        answer = self._api.do(method, path, query=query, body=body)
        return answer if isinstance(answer, dict) else {}

    def explain(self, error: BaseException) -> str:
        """What went wrong, as the API or the network said it, never with the token."""
        return scrub(str(error) or type(error).__name__, self._secrets)

    def _error(self, error: OSError, doing: str) -> TidegateError:
        from databricks.sdk.errors import PermissionDenied, Unauthenticated

        if isinstance(error, (Unauthenticated, PermissionDenied)):
            return ConfigError(
                f"Databricks refused to {doing}: {self.explain(error)}",
                hint="check DATABRICKS_TOKEN: it may have expired, or lack permission on the job",
            )
        return ConfigError(
            f"cannot {doing} on {self.host}: {self.explain(error)}",
            hint="check DATABRICKS_HOST (the workspace's URL) and what tidegate sent (the job's file)",
        )


def _check_reachable(host: str, shown: str) -> None:
    """Fail fast on a wrong DATABRICKS_HOST: the SDK retries connection errors, first while
    probing the host's metadata, for minutes. Skipped behind a proxy, which may be the only way out."""
    import urllib.request

    parts = urlsplit(host)
    if not parts.hostname or urllib.request.getproxies():
        return
    port = parts.port or (80 if parts.scheme == "http" else 443)
    try:
        socket.create_connection((parts.hostname, port), timeout=15).close()
    except OSError as error:
        raise ConfigError(
            f"cannot reach the Databricks workspace {shown}: {error.strerror or error}",
            hint="check DATABRICKS_HOST: the workspace's URL, e.g. https://<workspace>.cloud.databricks.com",
        ) from None


def _state(item: Mapping[str, Any]) -> tuple[str, str | None, str]:
    state = item.get("state") or {}
    return (
        str(state.get("life_cycle_state") or "PENDING"),
        state.get("result_state"),
        str(state.get("state_message") or ""),
    )
