"""A local Databricks workspace for the tests: a real HTTP server (Starlette served by uvicorn in a
thread) implementing, as documented, the endpoints tidegate uses, with Databricks' error JSON
(`{"error_code", "message"}`):

- Jobs API 2.1: `jobs/get`, `jobs/list` (paged by `page_token`, without tasks unless
  `expand_tasks`), `jobs/create`, `jobs/reset`, `jobs/delete`, `jobs/runs/submit|get|cancel`.
  Like a real workspace it fills in the settings a job leaves out (`format`, `run_as`, a task's
  `run_if`...), so comparisons must not take them for changes.
- Repos API 2.0: `GET /api/2.0/repos?path_prefix=` (paged by `next_page_token`),
  `GET|PATCH /api/2.0/repos/{id}`. The Git provider behind the repos is `heads` (branch -> the
  commit at its tip), which a test sets from its real git repository.

Only GitHub, GitLab and Databricks may be faked this way; everything else is the real server."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "dapi-0123456789abcdef-SECRET"
SUCCESS = [("PENDING", None, "Waiting for cluster"), ("RUNNING", None, ""), ("TERMINATED", "SUCCESS", "")]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class Workspace:
    """The jobs, runs and repos of one workspace, and every request it received (`calls`).

    A submitted run walks through the states of the next script in `scripts` (the default one
    succeeds), one step per `runs/get`, staying on the last; a step may give tasks their own
    state. `runs/cancel` ends it CANCELED."""

    def __init__(self) -> None:
        self.url = ""
        self.jobs: dict[int, dict[str, Any]] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.scripts: list[list[tuple[Any, ...]]] = []
        self._steps: dict[int, list[tuple[Any, ...]]] = {}
        self._tokens: dict[str, int] = {}
        self._next_run = 9000
        self.broken_after_submit = False
        self.repos: dict[int, dict[str, Any]] = {}
        self.heads: dict[str, str] = {}
        """The Git provider: each branch's tip, what a repo checked out at the branch holds."""
        self.page_size = 2
        """Items per page of the lists, small so that paging is exercised."""
        self._next_job = 100

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/2.1/jobs/get", self._guard(self.get_job), methods=["GET"]),
                Route("/api/2.1/jobs/list", self._guard(self.list_jobs), methods=["GET"]),
                Route("/api/2.1/jobs/create", self._guard(self.create_job), methods=["POST"]),
                Route("/api/2.1/jobs/reset", self._guard(self.reset_job), methods=["POST"]),
                Route("/api/2.1/jobs/delete", self._guard(self.delete_job), methods=["POST"]),
                Route("/api/2.0/repos", self._guard(self.list_repos), methods=["GET"]),
                Route("/api/2.0/repos/{repo_id:int}", self._guard(self.get_repo), methods=["GET"]),
                Route("/api/2.0/repos/{repo_id:int}", self._guard(self.update_repo), methods=["PATCH"]),
                Route("/api/2.1/jobs/runs/submit", self._guard(self.submit), methods=["POST"]),
                Route("/api/2.1/jobs/runs/get", self._guard(self.get_run), methods=["GET"]),
                Route("/api/2.1/jobs/runs/cancel", self._guard(self.cancel), methods=["POST"]),
            ]
        )

    def paths(self) -> list[str]:
        return [call.path.removeprefix("/api/2.1/jobs/") for call in self.calls]

    def writes(self) -> list[str]:
        """The requests that changed something: `POST create`, `PATCH /api/2.0/repos/7`..."""
        return [
            f"{call.method} {call.path.removeprefix('/api/2.1/jobs/')}"
            for call in self.calls
            if call.method in ("POST", "PATCH")
        ]

    def add_repo(self, path: str, branch: str = "main", head: str = "0" * 40) -> int:
        repo_id = 7000 + len(self.repos)
        self.repos[repo_id] = {
            "id": repo_id,
            "path": path,
            "url": "https://github.com/acme/lakehouse",
            "provider": "gitHub",
            "branch": branch,
            "head_commit_id": head,
        }
        return repo_id

    def job_named(self, name: str) -> dict[str, Any]:
        (job,) = [job for job in self.jobs.values() if job["settings"]["name"] == name]
        return job

    def submitted(self) -> dict[str, Any]:
        (body,) = [call.body for call in self.calls if call.path.endswith("runs/submit")]
        return body

    def _guard(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> JSONResponse:
            body = await request.json() if request.method in ("POST", "PATCH") else None
            query = {**request.query_params, **{k: str(v) for k, v in request.path_params.items()}}
            self.calls.append(Call(request.method, request.url.path, query, body))
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return _error(401, "UNAUTHENTICATED", "Invalid access token.")
            return handler(query, body)

        return endpoint

    def get_job(self, query: dict[str, str], body: Any) -> JSONResponse:
        job = self.jobs.get(int(query.get("job_id", "0")))
        if job is None:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Job {query.get('job_id')} does not exist.")
        return JSONResponse(job)

    def list_jobs(self, query: dict[str, str], body: Any) -> JSONResponse:
        limit = int(query.get("limit", "20"))
        if not 0 < limit <= 100:
            return _error(400, "INVALID_PARAMETER_VALUE", "limit must be between 1 and 100")
        start = int(query.get("page_token") or 0)
        ids = sorted(self.jobs, reverse=True)  # the most recently created first
        page = ids[start : start + min(limit, self.page_size)]
        expand = query.get("expand_tasks") == "true"
        listed = [_listed(self.jobs[job_id], expand) for job_id in page]
        answer: dict[str, Any] = {"has_more": start + len(page) < len(ids)}
        if listed:
            answer["jobs"] = listed
        if answer["has_more"]:
            answer["next_page_token"] = str(start + len(page))
        return JSONResponse(answer)

    def create_job(self, query: dict[str, str], body: dict[str, Any]) -> JSONResponse:
        problem = _invalid_settings(body)
        if problem:
            return _error(400, "INVALID_PARAMETER_VALUE", problem)
        self._next_job += 1
        self.jobs[self._next_job] = {
            "job_id": self._next_job,
            "creator_user_name": "tidegate-ci@example.com",
            "created_time": int(time.time() * 1000),
            "settings": _as_stored(body),
        }
        return JSONResponse({"job_id": self._next_job})

    def reset_job(self, query: dict[str, str], body: dict[str, Any]) -> JSONResponse:
        job = self.jobs.get(int(body.get("job_id") or 0))
        if job is None:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Job {body.get('job_id')} does not exist.")
        settings = body.get("new_settings")
        problem = (
            "new_settings is required" if not isinstance(settings, dict) else _invalid_settings(settings)
        )
        if problem:
            return _error(400, "INVALID_PARAMETER_VALUE", problem)
        job["settings"] = _as_stored(settings)
        return JSONResponse({})

    def delete_job(self, query: dict[str, str], body: dict[str, Any]) -> JSONResponse:
        if self.jobs.pop(int(body.get("job_id") or 0), None) is None:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Job {body.get('job_id')} does not exist.")
        return JSONResponse({})

    def list_repos(self, query: dict[str, str], body: Any) -> JSONResponse:
        prefix = query.get("path_prefix") or "/Repos"
        matching = [repo for _, repo in sorted(self.repos.items()) if repo["path"].startswith(prefix)]
        start = int(query.get("next_page_token") or 0)
        page = matching[start : start + self.page_size]
        answer: dict[str, Any] = {"repos": copy.deepcopy(page)}
        if start + len(page) < len(matching):
            answer["next_page_token"] = str(start + len(page))
        return JSONResponse(answer)

    def get_repo(self, query: dict[str, str], body: Any) -> JSONResponse:
        repo = self.repos.get(int(query["repo_id"]))
        if repo is None:
            return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Repo {query['repo_id']} does not exist.")
        return JSONResponse(copy.deepcopy(repo))

    def update_repo(self, query: dict[str, str], body: dict[str, Any]) -> JSONResponse:
        """Check out a branch (pulling its tip) or a tag: exactly one of them."""
        repo = self.repos.get(int(query["repo_id"]))
        if repo is None:
            return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Repo {query['repo_id']} does not exist.")
        if ("branch" in body) == ("tag" in body):
            return _error(400, "INVALID_PARAMETER_VALUE", "Exactly one of branch or tag must be specified.")
        branch = body.get("branch")
        if branch not in self.heads:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Branch {branch} does not exist in the remote.")
        repo.update(branch=branch, head_commit_id=self.heads[branch])
        return JSONResponse({})

    def submit(self, query: dict[str, str], body: dict[str, Any]) -> JSONResponse:
        token = str(body.get("idempotency_token"))
        if token in self._tokens:
            return JSONResponse({"run_id": self._tokens[token]})
        source = body.get("git_source") or {}
        refs = [key for key in ("git_branch", "git_tag", "git_commit") if key in source]
        if source and (len(refs) != 1 or not source.get("git_url") or not source.get("git_provider")):
            return _error(
                400, "INVALID_PARAMETER_VALUE", "git_source needs git_url, git_provider and one ref"
            )
        tasks = body.get("tasks") or []
        for task in tasks:
            if "job_cluster_key" in task or "task_key" not in task:
                return _error(400, "INVALID_PARAMETER_VALUE", "Invalid task for a one-time run")
        self._next_run += 1
        run_id = self._next_run
        self._tokens[token] = run_id
        self._steps[run_id] = self.scripts.pop(0) if self.scripts else list(SUCCESS)
        self.runs[run_id] = {
            "job_id": 5550000 + run_id,
            "run_id": run_id,
            "run_name": body.get("run_name", "Untitled"),
            "run_page_url": f"{self.url}/?o=1#job/{5550000 + run_id}/run/{run_id}",
            "run_type": "SUBMIT_RUN",
            "state": {},
            "tasks": [
                {"run_id": run_id * 10 + i, "task_key": task["task_key"], "state": {}}
                for i, task in enumerate(tasks)
            ],
        }
        return JSONResponse({"run_id": run_id})

    def get_run(self, query: dict[str, str], body: Any) -> JSONResponse:
        run_id = int(query.get("run_id", "0"))
        if self.broken_after_submit:
            return _error(500, "INTERNAL_ERROR", "The service at /api/2.1/jobs/runs/get is unavailable.")
        run = self.runs.get(run_id)
        if run is None:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        steps = self._steps[run_id]
        step = steps.pop(0) if len(steps) > 1 else steps[0]
        lifecycle, result, message, *tasks = step
        _set_state(run, lifecycle, result, message)
        for task in run["tasks"]:
            own = tasks[0].get(task["task_key"]) if tasks else None
            _set_state(task, *(own or (lifecycle, result, "")))
            task["run_page_url"] = f"{run['run_page_url']}/task/{task['task_key']}"
        return JSONResponse(copy.deepcopy(run))

    def cancel(self, query: dict[str, str], body: dict[str, Any]) -> JSONResponse:
        run_id = int(body["run_id"])
        if run_id not in self.runs:
            return _error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        self._steps[run_id] = [("TERMINATED", "CANCELED", "Run cancelled.")]
        return JSONResponse({})


def _invalid_settings(settings: dict[str, Any]) -> str | None:
    """What `jobs/create` and `jobs/reset` refuse, as a real workspace does."""
    if len(settings.get("tags") or {}) > 25:
        return "A job can have at most 25 tags."
    source = settings.get("git_source")
    if source is not None:
        refs = [key for key in ("git_branch", "git_tag", "git_commit") if key in source]
        if len(refs) != 1 or not source.get("git_url") or not source.get("git_provider"):
            return "git_source needs git_url, git_provider and exactly one of git_branch, git_tag, git_commit"
    clusters = {cluster.get("job_cluster_key") for cluster in settings.get("job_clusters") or []}
    for task in settings.get("tasks") or []:
        if "task_key" not in task:
            return "Every task needs a task_key."
        if "job_cluster_key" in task and task["job_cluster_key"] not in clusters:
            return f"Task {task['task_key']} names a job cluster the job does not define."
    return None


def _as_stored(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as the workspace keeps and returns them: its defaults filled in, tasks in
    the order of their keys."""
    stored = {
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "timeout_seconds": 0,
        "email_notifications": {},
        "webhook_notifications": {},
        "run_as": {"user_name": "tidegate-ci@example.com"},
        **copy.deepcopy(settings),
    }
    tasks = [
        {"run_if": "ALL_SUCCESS", "timeout_seconds": 0, "email_notifications": {}, **task}
        for task in stored.get("tasks") or []
    ]
    for task in tasks:
        if "notebook_task" in task and stored.get("git_source"):
            task["notebook_task"] = {"source": "GIT", **task["notebook_task"]}
    stored["tasks"] = sorted(tasks, key=lambda task: str(task.get("task_key")))
    return stored


def _listed(job: dict[str, Any], expand: bool) -> dict[str, Any]:
    """A job as `jobs/list` shows it: without its tasks and clusters unless expanded."""
    listed = copy.deepcopy(job)
    if not expand:
        for key in ("tasks", "job_clusters"):
            listed["settings"].pop(key, None)
    return listed


def _set_state(item: dict[str, Any], lifecycle: str, result: str | None, message: str) -> None:
    item["state"] = {"life_cycle_state": lifecycle, "state_message": message}
    if result:
        item["state"]["result_state"] = result


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


@contextmanager
def serving(fake: Workspace) -> Iterator[Workspace]:
    """The workspace served on 127.0.0.1 (its `url` set) while the block runs."""
    config = uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the local Databricks workspace did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(10)
