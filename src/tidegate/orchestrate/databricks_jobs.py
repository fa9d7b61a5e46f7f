"""Databricks jobs as code: `databricks/jobs/*.yml`, each the settings of one job (Jobs API 2.1,
the body of `jobs/create`), kept by `tidegate deploy` at the deployed commit.

- A file's stem is the job's key, stable across renames of the job. `{{ env }}` is replaced by the
  environment's name; nothing else is templated, because Databricks' own dynamic values
  (`{{job.id}}`, `{{job.parameters.day}}`) use the same braces. `only: [prod]` limits a job to
  some environments, as in infra/*.yml.
- Deploy pins the job's `git_source` to the deployed commit (its branch or tag replaced by
  `git_commit`), so a scheduled run executes exactly what was tested, and tags the job
  `tidegate_managed`, `tidegate_project`, `tidegate_environment`, `tidegate_job` (the key) and
  `tidegate_commit`. The tags are how tidegate finds its jobs again (`jobs/list` cannot filter on
  them): a job without them is never changed or deleted.
- Comparing a job with its file: the workspace fills in settings the file leaves out (`format`,
  `run_as`, a task's `run_if`...), so what the file declares must be there as declared; a
  top-level setting the file does not declare counts too (a `schedule` added by hand), unless it
  is empty or one the workspace sets itself (`_WORKSPACE_SET`). Lists of tasks, clusters,
  parameters and environments are matched by their keys, whatever their order.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from tidegate.errors import CheckFailed, ConfigError
from tidegate.orchestrate.databricks import pinned_source, resolve_commit

if TYPE_CHECKING:
    from tidegate.git.repository import Repository
    from tidegate.orchestrate.databricks_client import JobsClient
    from tidegate.project.shipping import DatabricksJobs

MANAGED, PROJECT, ENVIRONMENT, KEY, COMMIT = (
    "tidegate_managed",
    "tidegate_project",
    "tidegate_environment",
    "tidegate_job",
    "tidegate_commit",
)
_ENV = re.compile(r"\{\{\s*env\s*\}\}")
_WORKSPACE_SET: Mapping[str, Any] = {
    "format": None,
    "run_as": None,
    "edit_mode": None,
    "deployment": None,
    "max_concurrent_runs": 1,
    "timeout_seconds": 0,
    "queue": {"enabled": True},
}
"""Top-level settings the workspace fills in when a file leaves them out (None: any value)."""
_LIST_KEYS = ("task_key", "job_cluster_key", "environment_key", "name")


@dataclass(frozen=True)
class JobFile:
    """One job file rendered for an environment."""

    key: str
    path: str
    settings: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True)
class JobChange:
    """What deploy does (or did) to one job: create, update, delete, or nothing (unchanged)."""

    action: str
    key: str
    name: str
    job_id: int | None = None
    settings: Mapping[str, Any] | None = field(default=None, hash=False)
    """What tidegate sends (create, update)."""
    differences: tuple[str, ...] = ()
    """Where the workspace's job differs from its file (update)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "key": self.key,
            "name": self.name,
            "job_id": self.job_id,
            "differences": list(self.differences),
        }


@dataclass(frozen=True)
class JobsPlan:
    environment: str
    commit: str
    changes: tuple[JobChange, ...]

    def of(self, action: str) -> list[JobChange]:
        return [change for change in self.changes if change.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {action: len(self.of(action)) for action in ("create", "update", "delete", "unchanged")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "commit": self.commit,
            **self.counts,
            "changes": [change.to_dict() for change in self.changes],
        }


# -- the files ------------------------------------------------------------------------------


def load_jobs(root: Path, folder: str, environment: str) -> list[JobFile]:
    """The jobs `folder` declares for `environment`, each a ConfigError with file and line when
    it is not a job's settings."""
    from tidegate.project.files import read_text
    from tidegate.project.yamlio import LineDict, load_yaml_text

    base = root / folder
    paths = sorted({*base.glob("*.yml"), *base.glob("*.yaml")}) if base.is_dir() else []
    jobs: dict[str, JobFile] = {}
    for path in paths:
        rel = path.relative_to(root).as_posix()
        text = _ENV.sub(environment, read_text(path, rel, error=ConfigError))
        data = load_yaml_text(text, rel)
        if not isinstance(data, dict):
            raise ConfigError("a job file holds one job's settings (a mapping)", path=rel, line=1)
        line = data.line_of if isinstance(data, LineDict) else (lambda _: None)
        only = data.pop("only", None)
        if only is not None and not (isinstance(only, list) and all(isinstance(e, str) for e in only)):
            raise ConfigError("only: must be a list of environments", path=rel, line=line("only"))
        if only is not None and environment not in only:
            continue
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            raise ConfigError("a job needs a name", path=rel, line=1, hint='e.g. name: "nightly ({{ env }})"')
        if not isinstance(data.get("tasks"), list) or not data["tasks"]:
            raise ConfigError(
                "a job needs its tasks (a list)", path=rel, line=line("tasks") if "tasks" in data else 1
            )
        for tag in data.get("tags") or {}:
            if str(tag).startswith("tidegate_"):
                raise ConfigError(
                    f"tag {tag!r}: tidegate_ tags are tidegate's own", path=rel, line=line("tags")
                )
        key = PurePosixPath(rel).stem
        if key in jobs:
            raise ConfigError(
                f"two job files are named {key}", path=rel, hint=f"rename one of them ({jobs[key].path})"
            )
        jobs[key] = JobFile(key, rel, json.loads(json.dumps(data)))
    return list(jobs.values())


def desired_settings(
    job: JobFile, repo: Repository, sha: str, project: str, environment: str, config: DatabricksJobs
) -> dict[str, Any]:
    """The settings deploy sends for `job`: its Git source pinned to `sha`, tagged as managed."""
    settings = copy.deepcopy(dict(job.settings))
    source = settings.get("git_source") or {}
    try:
        commit = resolve_commit(
            repo, sha, git_url=config.git_url, git_provider=config.git_provider, job_source=source
        )
    except ConfigError as error:
        raise ConfigError(error.message, path=job.path, hint=error.hint) from None
    settings["git_source"] = pinned_source(source, commit)
    settings["tags"] = {
        **(settings.get("tags") or {}),
        MANAGED: "true",
        PROJECT: project,
        ENVIRONMENT: environment,
        KEY: job.key,
        COMMIT: sha,
    }
    return settings


# -- the workspace --------------------------------------------------------------------------


def managed_jobs(client: JobsClient, project: str, environment: str) -> dict[str, list[dict[str, Any]]]:
    """The workspace's jobs tidegate manages for the project's environment, by key."""
    found: dict[str, list[dict[str, Any]]] = {}
    for job in client.list_jobs():
        tags = (job.get("settings") or {}).get("tags") or {}
        if (
            tags.get(MANAGED) == "true"
            and tags.get(PROJECT) == project
            and tags.get(ENVIRONMENT) == environment
        ):
            found.setdefault(str(tags.get(KEY, "")), []).append(job)
    return {key: sorted(jobs, key=lambda job: int(job["job_id"])) for key, jobs in found.items()}


def plan_jobs(
    client: JobsClient, wanted: Mapping[str, dict[str, Any]], project: str, environment: str, commit: str
) -> JobsPlan:
    """What it takes to make the workspace hold `wanted` (settings by key) and no other job of
    the environment: read-only."""
    live = managed_jobs(client, project, environment)
    changes: list[JobChange] = []
    for key, settings in wanted.items():
        name = str(settings["name"])
        jobs = live.pop(key, [])
        if not jobs:
            changes.append(JobChange("create", key, name, settings=settings))
            continue
        first, *extra = jobs
        job_id = int(first["job_id"])
        current = client.read_job(job_id).get("settings") or {}
        found = differences(settings, current)
        action = "update" if found else "unchanged"
        changes.append(JobChange(action, key, name, job_id, settings, tuple(found)))
        changes += [_deletion(key, job) for job in extra]  # a duplicate (e.g. two deploys raced)
    changes += [_deletion(key, job) for key, jobs in live.items() for job in jobs]
    return JobsPlan(environment, commit, tuple(changes))


def apply_jobs(client: JobsClient, plan: JobsPlan, *, allow_destroy: bool) -> JobsPlan:
    """Create, reset and delete as planned; a deletion only with `allow_destroy`, checked before
    anything changes. The plan with the ids of the jobs created."""
    refuse_deletions(plan, allow_destroy=allow_destroy)
    done: list[JobChange] = []
    for change in plan.changes:
        if change.action == "create":
            assert change.settings is not None
            change = JobChange(
                "create", change.key, change.name, client.create_job(change.settings), change.settings
            )
        elif change.action == "update":
            assert change.job_id is not None and change.settings is not None
            client.reset_job(change.job_id, change.settings)
        elif change.action == "delete":
            assert change.job_id is not None
            client.delete_job(change.job_id)
        done.append(change)
    return JobsPlan(plan.environment, plan.commit, tuple(done))


def refuse_deletions(plan: JobsPlan, *, allow_destroy: bool) -> None:
    """A job whose file was removed is deleted only when the deploy allows destruction."""
    deletions = plan.of("delete")
    if deletions and not allow_destroy:
        named = ", ".join(f"{change.name} (job {change.job_id}, {change.key})" for change in deletions)
        raise CheckFailed(
            f"Databricks job(s) of {plan.environment} whose file is gone would be deleted: {named}",
            hint=f"review it (tidegate databricks plan {plan.environment}), then deploy again with "
            "--allow-destroy",
        )


def _deletion(key: str, job: Mapping[str, Any]) -> JobChange:
    return JobChange("delete", key, str((job.get("settings") or {}).get("name", "")), int(job["job_id"]))


# -- comparing -------------------------------------------------------------------------------


def differences(declared: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Where `live` (a job's settings in the workspace) differs from `declared` (what tidegate
    sends): the paths of the settings, `tasks[load].spark_python_task.parameters`."""
    found = _compare(declared, live, "")
    for key, value in live.items():
        if key in declared or _empty(value):
            continue
        if key in _WORKSPACE_SET and _WORKSPACE_SET[key] in (None, value):
            continue
        found.append(f"{key} (not in the file)")
    return found


def _compare(declared: Any, live: Any, where: str) -> list[str]:
    if isinstance(declared, Mapping):
        if not isinstance(live, Mapping):
            return [where or "settings"]
        found: list[str] = []
        for key, value in declared.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in live:
                if not _empty(value):
                    found.append(path)
                continue
            found += _compare(value, live[key], path)
        return found
    if isinstance(declared, list):
        return _compare_lists(declared, live, where)
    if isinstance(declared, bool) or isinstance(live, bool):
        return [] if declared is live else [where]
    return [] if declared == live else [where]


def _compare_lists(declared: Sequence[Any], live: Any, where: str) -> list[str]:
    if not isinstance(live, list) or len(live) != len(declared):
        return [where]
    key = _list_key(declared, live)
    if key is None:
        pairs = enumerate(zip(declared, live, strict=True))
        return [found for index, (a, b) in pairs for found in _compare(a, b, f"{where}[{index}]")]
    by_key = {item[key]: item for item in live}
    found: list[str] = []
    for item in declared:
        path = f"{where}[{item[key]}]"
        found += _compare(item, by_key[item[key]], path) if item[key] in by_key else [path]
    return found


def _list_key(declared: Iterable[Any], live: Iterable[Any]) -> str | None:
    """The key that names the items of both lists (`task_key`...), if they are such items."""
    items = [*declared, *live]
    for key in _LIST_KEYS:
        if items and all(isinstance(item, Mapping) and key in item for item in items):
            return key
    return None


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == "" or value is False
