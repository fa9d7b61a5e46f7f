"""Databricks jobs run at exactly the tested commit: `tidegate databricks run`.

How a production job is made to run one commit, and why this way (Jobs API 2.1):

- `POST /api/2.1/jobs/run-now` takes parameters (`job_parameters`, `notebook_params`,
  `python_params`...), `only`, `queue` and `idempotency_token`, but no `git_source`: an existing
  job always checks out the Git reference stored in its settings, usually a branch whose tip may
  have moved since the commit was tested (databricks-sdk's `JobsAPI.run_now` has no such
  parameter either).
- Pinning the job itself (`jobs/update` or `jobs/reset`, then `run-now`) is ruled out: it changes
  the job for everyone, so a scheduled or manual run starting meanwhile would run our commit, and
  two deploys racing would run each other's.
- `POST /api/2.1/jobs/runs/submit` runs a one-time workload and takes `git_source` with
  `git_commit` ("cannot be specified in conjunction with git_branch or git_tag") next to its
  `tasks`. So tidegate reads the job (`GET jobs/get`), submits a copy of its tasks as a one-time
  run whose `git_source` is the job's repository pinned to the commit, follows it with
  `GET jobs/runs/get`, and cancels it with `POST jobs/runs/cancel` when it outlives the timeout or
  the command is interrupted. The job is never modified. This is also how Databricks' own
  `run-notebook` GitHub Action runs a notebook at a commit (runs/submit with git_source).

What a one-time run cannot carry over from the job, and what tidegate does about it:

- `job_clusters`: runs/submit has none, so a task's `job_cluster_key` is replaced by that job
  cluster's `new_cluster` spec (tasks that shared a cluster each get one of the same spec).
- job-level `parameters`: `{{job.parameters.NAME}}` references are replaced by the defaults, and
  notebook tasks receive the parameters as base parameters (as a job pushes them down; the job's
  value wins over a task's parameter of the same name).
- schedule, triggers, `max_concurrent_runs`, tags and the job's permissions do not apply; the run
  is listed among the workspace's job runs under a name that gives the job and the commit, not in
  the job's own history.

Refused with exit code 2, because the run would not be the tested commit: a job without
`git_source`; a task whose code comes from the workspace or a file system (`source: WORKSPACE`,
an absolute path, a `dbfs:/` or cloud URI); a `run_job_task` (the other job runs its own source).
Libraries (wheels, jars) are used as the job names them.

Requests go through `tidegate.orchestrate.databricks_client`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tidegate.errors import CheckFailed, ConfigError
from tidegate.orchestrate.databricks_client import SUCCESS, JobsClient, RunState

if TYPE_CHECKING:
    from tidegate.git.repository import Repository

PROVIDERS = (
    "gitHub",
    "gitHubEnterprise",
    "gitLab",
    "gitLabEnterpriseEdition",
    "bitbucketCloud",
    "bitbucketServer",
    "azureDevOpsServices",
    "awsCodeCommit",
)
_HOSTED = {
    "github.com": "gitHub",
    "gitlab.com": "gitLab",
    "bitbucket.org": "bitbucketCloud",
    "dev.azure.com": "azureDevOpsServices",
    "ssh.dev.azure.com": "azureDevOpsServices",
}
# Job settings that runs/submit accepts as they are.
_RUN_SETTINGS = (
    "timeout_seconds",
    "email_notifications",
    "webhook_notifications",
    "notification_settings",
    "health",
    "queue",
    "run_as",
    "environments",
    "environment_variables",
    "budget_policy_id",
    "usage_policy_id",
    "performance_target",
)
_NOTEBOOK_SUFFIXES = (".py", ".ipynb", ".sql", ".scala", ".r", ".R")
_JOB_PARAMETER = re.compile(r"\{\{\s*job\.parameters\.([\w.-]+)\s*\}\}")
_CANCEL_WAIT = 60.0
"""Seconds to wait, after cancelling a run, for Databricks to report it cancelled."""

Progress = Callable[["RunState", float], None]
"""Called after every poll with the run's state and the seconds since it was submitted."""


@dataclass(frozen=True)
class GitCommit:
    """The commit a run executes, in the repository Databricks clones."""

    url: str
    provider: str
    sha: str
    ref: str

    def to_dict(self) -> dict[str, str]:
        return {"sha": self.sha, "ref": self.ref, "git_url": self.url, "git_provider": self.provider}


@dataclass(frozen=True)
class Submission:
    """A one-time run ready to submit: the body of `jobs/runs/submit` and what it stands for."""

    name: str
    commit: GitCommit
    payload: Mapping[str, Any] = field(hash=False)
    job_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "job_id": self.job_id,
            "commit": self.commit.to_dict(),
            "payload": self.payload,
        }


@dataclass(frozen=True)
class RunResult:
    submission: Submission
    state: RunState
    seconds: float
    timed_out: bool = False
    """The run outlived the timeout and tidegate cancelled it."""

    @property
    def succeeded(self) -> bool:
        return self.state.succeeded and not self.timed_out

    @property
    def exit_code(self) -> int:
        return 0 if self.succeeded else 1

    def describe(self) -> str:
        """What ran: `Databricks run 42 (job 7 "etl" at 1a2b3c4d5e6f)`."""
        what = f'"{self.submission.name}"'
        if self.submission.job_id is not None:
            what = f"job {self.submission.job_id} {what}"
        return f"Databricks run {self.state.run_id} ({what} at {self.submission.commit.sha[:12]})"

    def failure(self) -> RunFailed:
        return RunFailed(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.state.run_id,
            "run_url": self.state.url,
            "run_name": self.submission.payload.get("run_name"),
            "job_id": self.submission.job_id,
            "commit": self.submission.commit.to_dict(),
            "state": self.state.lifecycle,
            "result": self.state.result,
            "message": self.state.message,
            "succeeded": self.succeeded,
            "timed_out": self.timed_out,
            "seconds": round(self.seconds, 3),
            "tasks": [task.to_dict() for task in self.state.tasks],
        }


class RunFailed(CheckFailed):
    """The run failed, was cancelled or skipped, or outlived the timeout. Exit code 1."""

    def __init__(self, result: RunResult) -> None:
        state = result.state
        where = f"; see {state.url}" if state.url else ""
        hint: str | None
        if result.timed_out:
            message = f"{result.describe()} did not finish in time: tidegate cancelled it{where}"
            hint = "raise --timeout if the job needs longer"
        else:
            said = f": {state.message}" if state.message else ""
            message = f"{result.describe()} {state.verdict}{said}{where}"
            failed = [t.key for t in state.tasks if t.result and t.result not in SUCCESS]
            hint = (
                f"failed task(s): {', '.join(failed)}; their logs are on the run's page" if failed else None
            )
        super().__init__(message, hint=hint)
        self.result = result

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "run": self.result.to_dict()}


# -- what runs ---------------------------------------------------------------------------


def resolve_commit(
    repo: Repository,
    ref: str,
    *,
    git_url: str | None = None,
    git_provider: str | None = None,
    job_source: Mapping[str, Any] | None = None,
) -> GitCommit:
    """`ref` as a full sha, in the repository Databricks clones: --git-url, else the job's
    `git_source`, else the `origin` remote (as an https URL without credentials)."""
    sha = repo.resolve(ref)
    job_url = (job_source or {}).get("git_url")
    url = git_url or job_url or repo.remote_url("origin")
    if not url:
        raise ConfigError(
            f"cannot tell which repository Databricks should clone: {repo.root} has no `origin` remote",
            hint="pass --git-url https://github.com/<org>/<repo>",
        )
    provider = git_provider or ((job_source or {}).get("git_provider") if url == job_url else None)
    url = https_url(url)
    return GitCommit(url, canonical_provider(provider) if provider else infer_provider(url), sha, ref)


def job_submission(job: Mapping[str, Any], commit: GitCommit) -> Submission:
    """The one-time run that is `job` at `commit` (see the module's docstring for what changes)."""
    settings = job.get("settings") or {}
    job_id = int(job["job_id"])
    name = str(settings.get("name") or f"job {job_id}")
    tasks = settings.get("tasks") or []
    if not tasks:
        raise ConfigError(f"job {job_id} ({name}) has no tasks to run")
    problems = _unpinnable(settings)
    if problems:
        raise ConfigError(
            f"job {job_id} ({name}) cannot run at a commit: {'; '.join(problems)}",
            hint="give the job a Git source (git_source) and take every task's code from it",
        )
    clusters = {c.get("job_cluster_key"): c.get("new_cluster") for c in settings.get("job_clusters") or []}
    parameters = {str(p["name"]): str(p.get("default", "")) for p in settings.get("parameters") or []}
    payload: dict[str, Any] = {
        "run_name": f"{name} @ {commit.sha[:12]} (tidegate, job {job_id})",
        "git_source": pinned_source(settings["git_source"], commit),
        "tasks": [_run_task(task, clusters, parameters) for task in tasks],
    }
    payload.update({key: copy.deepcopy(settings[key]) for key in _RUN_SETTINGS if key in settings})
    return Submission(name, commit, payload, job_id)


def task_submission(
    repo: Repository,
    commit: GitCommit,
    *,
    notebook: str | None = None,
    python_file: str | None = None,
    cluster_id: str | None = None,
    new_cluster: Mapping[str, Any] | None = None,
) -> Submission:
    """A one-time run of one notebook or Python file of the repository at `commit`, on an
    existing cluster or a new one. Paths are relative to the repository's root."""
    if (notebook is None) == (python_file is None):
        raise ConfigError("give either --notebook or --python-file (or --job-id)")
    if (cluster_id is None) == (new_cluster is None):
        raise ConfigError(
            "a one-time run needs its compute: give either --cluster-id or --new-cluster-json",
            hint="--cluster-id of an all-purpose cluster, or a file with a `new_cluster` spec "
            '(e.g. {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1})',
        )
    path = _repository_path(notebook or python_file or "")
    if notebook is not None:
        found = _committed(repo, commit.sha, _notebook_candidates(path))
        # A notebook in Git is named without its extension, as in the workspace.
        code: dict[str, Any] = {
            "notebook_task": {"notebook_path": _without_suffix(found or path), "source": "GIT"}
        }
    else:
        found = _committed(repo, commit.sha, [path])
        code = {"spark_python_task": {"python_file": path, "source": "GIT"}}
    if found is None:
        raise ConfigError(
            f"{path} is not in the repository at {commit.ref!r} ({commit.sha[:12]})",
            hint="paths are relative to the repository's root, and the file must be committed",
        )
    compute = {"existing_cluster_id": cluster_id} if cluster_id else {"new_cluster": dict(new_cluster or {})}
    key = re.sub(r"[^A-Za-z0-9_-]", "_", PurePosixPath(path).stem)[:100] or "task"
    payload = {
        "run_name": f"{found} @ {commit.sha[:12]} (tidegate)",
        "git_source": {"git_url": commit.url, "git_provider": commit.provider, "git_commit": commit.sha},
        "tasks": [{"task_key": key, **code, **compute}],
    }
    return Submission(found, commit, payload)


# -- running -----------------------------------------------------------------------------


def run(
    client: JobsClient,
    submission: Submission,
    *,
    timeout: float | None = 3600,
    poll_interval: float = 10,
    on_progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Submit the run and wait for it to end; past `timeout` seconds (None: no limit), or when
    interrupted, tidegate cancels it. A failed run is a result, not an exception: see
    `RunResult.failure()`."""
    run_id = client.submit(submission.payload)
    started = clock()
    state: RunState | None = None
    try:
        while True:
            state = client.get_run(run_id)
            if on_progress:
                on_progress(state, clock() - started)
            if state.terminal:
                return RunResult(submission, state, clock() - started)
            left = None if timeout is None else started + timeout - clock()
            if left is not None and left <= 0:
                client.cancel_run(run_id)
                state = _after_cancel(client, state, poll_interval, sleep, clock, on_progress, started)
                return RunResult(submission, state, clock() - started, timed_out=True)
            sleep(poll_interval if left is None else min(poll_interval, left))
    except KeyboardInterrupt:
        _cancel_quietly(client, run_id)
        raise
    except OSError as error:  # the run exists: say where, whatever went wrong after starting it
        url = f" ({state.url})" if state and state.url else ""
        raise CheckFailed(
            f"lost track of Databricks run {run_id}{url}: {client.explain(error)}",
            hint="the run may still be going: look it up among the workspace's job runs",
        ) from None


def _after_cancel(
    client: JobsClient,
    state: RunState,
    poll_interval: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    on_progress: Progress | None,
    started: float,
) -> RunState:
    """The run's state once Databricks has cancelled it (or stopped saying it is cancelling)."""
    give_up = clock() + _CANCEL_WAIT
    while not state.terminal and clock() < give_up:
        sleep(min(poll_interval, 5.0))
        state = client.get_run(state.run_id)
        if on_progress:
            on_progress(state, clock() - started)
    return state


def _cancel_quietly(client: JobsClient, run_id: int) -> None:
    with contextlib.suppress(OSError):  # interrupted while the network is down: nothing more to do
        client.cancel_run(run_id)


# -- helpers -----------------------------------------------------------------------------


def https_url(url: str) -> str:
    """The https URL Databricks clones from, for any URL git accepts for a hosted repository:
    scp-like `git@host:org/repo.git`, `ssh://`, `git://`, or https with credentials (which CI
    systems put in `origin`) removed."""
    text = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$", text)
    if scp and "://" not in text:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh") or not parts.hostname:
            raise ConfigError(
                f"{_without_credentials(text)!r} is not the URL of a hosted repository Databricks can clone",
                hint="pass --git-url https://<host>/<org>/<repo>",
            )
        host, path = parts.hostname, parts.path
        if parts.scheme in ("https", "http") and parts.port:
            host = f"{host}:{parts.port}"
    path = path.strip("/").removesuffix(".git")
    azure = path.removeprefix("v3/").split("/")
    if host == "ssh.dev.azure.com" and len(azure) == 3:  # git@ssh.dev.azure.com:v3/org/project/repo
        host, path = "dev.azure.com", f"{azure[0]}/{azure[1]}/_git/{azure[2]}"
    scheme = "http" if text.startswith("http://") else "https"
    return urlunsplit((scheme, host, "/" + path, "", ""))


def infer_provider(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    provider = _HOSTED.get(host)
    if provider is None and host.endswith(".visualstudio.com"):
        provider = "azureDevOpsServices"
    if provider is None and host.startswith("git-codecommit.") and host.endswith(".amazonaws.com"):
        provider = "awsCodeCommit"
    if provider is None:
        raise ConfigError(
            f"cannot tell the Git provider of {host or url}",
            hint=f"pass --git-provider, one of {', '.join(PROVIDERS)}",
        )
    return provider


def canonical_provider(name: str) -> str:
    """Databricks reads providers case-insensitively; tidegate sends their documented spelling."""
    for provider in PROVIDERS:
        if provider.lower() == name.lower():
            return provider
    raise ConfigError(f"unknown Git provider {name!r}", hint=f"use one of {', '.join(PROVIDERS)}")


def pinned_source(source: Mapping[str, Any], commit: GitCommit) -> dict[str, Any]:
    """The job's Git source at the commit: its branch or tag (and a run's snapshot) replaced,
    anything else kept (such as a sparse checkout)."""
    dropped = ("git_branch", "git_tag", "git_commit", "git_snapshot", "job_source")
    kept = {key: copy.deepcopy(value) for key, value in source.items() if key not in dropped}
    return {**kept, "git_url": commit.url, "git_provider": commit.provider, "git_commit": commit.sha}


def _run_task(
    task: Mapping[str, Any], clusters: Mapping[Any, Any], parameters: Mapping[str, str]
) -> dict[str, Any]:
    """A job's task as a task of runs/submit: no job clusters, job parameters resolved."""
    result = copy.deepcopy(dict(task))
    key = result.pop("job_cluster_key", None)
    if key is not None:
        if clusters.get(key) is None:
            raise ConfigError(
                f"task {result.get('task_key')} runs on job cluster {key!r}, which the job does not define"
            )
        result["new_cluster"] = copy.deepcopy(clusters[key])
    inner = (result.get("for_each_task") or {}).get("task")
    if inner:
        result["for_each_task"]["task"] = _run_task(inner, clusters, parameters)
    if parameters:
        result = _substitute(result, parameters)
        notebook = result.get("notebook_task")
        if notebook is not None:
            notebook["base_parameters"] = {**(notebook.get("base_parameters") or {}), **parameters}
    return result


def _substitute(value: Any, parameters: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _JOB_PARAMETER.sub(lambda m: parameters.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(item, parameters) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, parameters) for key, item in value.items()}
    return value


def _unpinnable(settings: Mapping[str, Any]) -> list[str]:
    """Why parts of the job would not run the commit, if any."""
    if not settings.get("git_source"):
        return ["it has no Git source (git_source), so its tasks read their code from the workspace"]
    problems = []
    for task in _all_tasks(settings.get("tasks") or []):
        key = task.get("task_key")
        if "run_job_task" in task:
            problems.append(f"task {key} runs another job (run_job_task), which runs its own source")
        for kind, path_key, code in _code_of(task):
            path = str(code.get(path_key) or "")
            if code.get("source") == "WORKSPACE" or path.startswith("/") or re.match(r"^\w[\w+.-]*:/", path):
                problems.append(
                    f"task {key} takes its {kind} from the workspace or a file system ({path or 'WORKSPACE'})"
                )
    return problems


def _all_tasks(tasks: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for task in tasks:
        yield task
        inner = (task.get("for_each_task") or {}).get("task")
        if inner:
            yield from _all_tasks([inner])


def _code_of(task: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(kind, path field, settings) of each part of a task that has a code `source`."""
    if "notebook_task" in task:
        yield "notebook", "notebook_path", task["notebook_task"] or {}
    if "spark_python_task" in task:
        yield "Python file", "python_file", task["spark_python_task"] or {}
    if "dbt_task" in task:
        yield "dbt project", "project_directory", task["dbt_task"] or {}
    if "file" in (task.get("sql_task") or {}):
        yield "SQL file", "path", task["sql_task"]["file"] or {}


def _committed(repo: Repository, sha: str, candidates: list[str]) -> str | None:
    """The first of the paths that is a file of the commit."""
    return next((path for path in candidates if repo.has_file(sha, path)), None)


def _repository_path(path: str) -> str:
    clean = PurePosixPath(path.replace("\\", "/"))
    if clean.is_absolute() or ".." in clean.parts or not clean.parts or str(clean) == ".":
        raise ConfigError(
            f"{path!r} is not a path inside the repository",
            hint="give it relative to the repository's root, e.g. notebooks/etl.py",
        )
    return str(clean)


def _notebook_candidates(path: str) -> list[str]:
    if PurePosixPath(path).suffix in _NOTEBOOK_SUFFIXES:
        return [path]
    return [path + suffix for suffix in _NOTEBOOK_SUFFIXES]


def _without_suffix(path: str) -> str:
    pure = PurePosixPath(path)
    return str(pure.with_suffix("")) if pure.suffix in _NOTEBOOK_SUFFIXES else path


def _without_credentials(url: str) -> str:
    return re.sub(r"(://)[^/@]+@", r"\1", url)


def load_cluster_spec(text: str, source: str) -> dict[str, Any]:
    """A `new_cluster` spec from JSON (a file's content): the spec itself or `{"new_cluster": ...}`."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"not valid JSON: {error.msg}", path=source, line=error.lineno) from None
    if isinstance(spec, dict) and isinstance(spec.get("new_cluster"), dict):
        spec = spec["new_cluster"]
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(
            "a new cluster spec must be a JSON object", path=source, hint='e.g. {"spark_version": ...}'
        )
    return spec
