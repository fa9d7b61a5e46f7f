"""`tidegate databricks run --dry-run`: the requests a run would send, built offline.

A dry run is for checking, before anything runs, what would be submitted: in a pull request, on
a laptop without the workspace's token, or with a workspace that is not reachable from here. So
it needs no credentials and opens no connection. A one-time run of a notebook or Python file is
known entirely from the repository; a job's run copies the job's tasks, which only the workspace
knows: the job's definition is then read from a file (`--job-json`, the answer of `jobs/get`),
or the dry run shows the `jobs/get` request and says the body of `runs/submit` comes from its
answer. Values that look like secrets (a password or token in a cluster's settings) are masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tidegate.errors import ConfigError
from tidegate.orchestrate.databricks import GitCommit, Submission
from tidegate.orchestrate.databricks_client import API, shown_host, submit_body, workspace_url
from tidegate.project.dsn import MASK

# A setting whose value is a secret: a password, token or key, as Spark settings name them
# (`fs.azure.account.key.<account>`, `fs.s3a.secret.key`), not a reference to a secret scope
# (`{{secrets/scope/key}}`), which holds none.
_SECRET_NAME = re.compile(
    r"password|passwd|secret|token|credential|(api|private|account|sas)[_.-]?key", re.IGNORECASE
)
_SECRET_REFERENCE = re.compile(r"^\{\{\s*secrets/[^}]+\}\}$")
_NOT_SECRET = frozenset({"idempotency_token"})


@dataclass(frozen=True)
class Request:
    """One request to the Jobs API: method, path, query and JSON body."""

    method: str
    path: str
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None

    def line(self, host: str | None) -> str:
        query = "&".join(f"{key}={value}" for key, value in self.query.items())
        return f"{self.method} {host or ''}{self.path}{'?' + query if query else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": dict(self.query), "body": self.body}


@dataclass(frozen=True)
class DryRun:
    """What `databricks run` would do: the run it stands for and its requests, in order."""

    what: str
    commit: GitCommit | None
    sha: str
    ref: str
    requests: tuple[Request, ...]
    host: str | None = None
    """DATABRICKS_HOST when set, its user information masked; the requests go there."""
    job_id: int | None = None
    note: str | None = None
    """What the dry run could not show, and how to see it."""

    @property
    def complete(self) -> bool:
        return self.note is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "name": self.what,
            "job_id": self.job_id,
            "host": self.host,
            "commit": self.commit.to_dict() if self.commit else {"sha": self.sha, "ref": self.ref},
            "requests": [request.to_dict() for request in self.requests],
            "complete": self.complete,
            "note": self.note,
        }

    def render(self) -> str:
        """The requests as text: a line each, then the body as indented JSON."""
        lines = []
        for request in self.requests:
            lines.append(request.line(self.host))
            if request.body is not None:
                lines.append(json.dumps(request.body, indent=2))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def of_submission(submission: Submission, host: str | None) -> DryRun:
    """The requests of a run whose body is known: `jobs/get` first for a job, then `runs/submit`."""
    requests = []
    if submission.job_id is not None:
        requests.append(Request("GET", f"{API}/get", {"job_id": submission.job_id}))
    requests.append(Request("POST", f"{API}/runs/submit", body=mask_secrets(submit_body(submission.payload))))
    job = submission.job_id
    return DryRun(
        f"job {job} ({submission.name})" if job is not None else submission.name,
        submission.commit,
        submission.commit.sha,
        submission.commit.ref,
        tuple(requests),
        _shown(host),
        submission.job_id,
    )


def of_unread_job(job_id: int, sha: str, ref: str, host: str | None) -> DryRun:
    """A job's run when its definition was not given: the body of `runs/submit` is the job's
    tasks pinned to the commit, which only `jobs/get` tells."""
    return DryRun(
        f"job {job_id}",
        None,
        sha,
        ref,
        (Request("GET", f"{API}/get", {"job_id": job_id}), Request("POST", f"{API}/runs/submit")),
        _shown(host),
        job_id,
        note="The body of runs/submit is the job's tasks pinned to the commit, built from the answer "
        "of jobs/get; give --job-json FILE (the job as jobs/get returns it, e.g. `databricks jobs get "
        f"{job_id} --output json`) to see it without contacting the workspace.",
    )


def load_job(text: str, source: str, job_id: int) -> dict[str, Any]:
    """A job's definition from JSON: the answer of `jobs/get` (`{"job_id", "settings"}`) or its
    settings alone."""
    try:
        job = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"not valid JSON: {error.msg}", path=source, line=error.lineno) from None
    if not isinstance(job, dict):
        raise ConfigError("a job must be a JSON object (the answer of jobs/get)", path=source)
    if "settings" not in job:
        job = {"job_id": job_id, "settings": job}
    if int(job.get("job_id") or job_id) != job_id:
        raise ConfigError(f"the file holds job {job['job_id']}, not job {job_id}", path=source)
    if not isinstance(job["settings"], dict):
        raise ConfigError("the job's settings must be a JSON object", path=source)
    return {**job, "job_id": job_id}


def mask_secrets(value: Any, name: str = "") -> Any:
    """`value` with every string under a secret-looking name replaced by `***`."""
    if isinstance(value, Mapping):
        return {key: mask_secrets(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, name) for item in value]
    if (
        isinstance(value, str)
        and name not in _NOT_SECRET
        and _SECRET_NAME.search(name)
        and not _SECRET_REFERENCE.match(value)
    ):
        return MASK
    return value


def _shown(host: str | None) -> str | None:
    """DATABRICKS_HOST (when set) as the requests would go to it, and as it may be printed."""
    return shown_host(workspace_url(host)) if host and host.strip() else None
