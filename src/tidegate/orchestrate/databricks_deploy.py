"""What `tidegate deploy` does to Databricks after the models: workspace repos and jobs follow
the deployed commit; and what `tidegate databricks plan|drift` show of it.

Order, and why: the jobs are planned first (read-only), so a deletion without --allow-destroy is
refused before anything in the workspace changes; then each repo of the environment
(`databricks: repos:`) is checked out at its branch and must then hold exactly the deployed
commit (a branch that moved on since would run untested code: exit 1 naming the repo); then the
jobs are created, reset and deleted (`tidegate.orchestrate.databricks_jobs`). A repo comes before
the jobs because a job may run notebooks from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.errors import CheckFailed, ConfigError
from tidegate.orchestrate.databricks_jobs import (
    COMMIT,
    KEY,
    JobsPlan,
    apply_jobs,
    desired_settings,
    differences,
    load_jobs,
    managed_jobs,
    plan_jobs,
    refuse_deletions,
)

if TYPE_CHECKING:
    from tidegate.git.repository import Repository
    from tidegate.orchestrate.databricks_client import JobsClient
    from tidegate.project.config import ProjectConfig
    from tidegate.project.shipping import DatabricksRepo


@dataclass(frozen=True)
class RepoMove:
    """A workspace repo checked out at the deployed commit."""

    path: str
    repo_id: int
    branch: str
    before: str | None
    head: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "repo_id": self.repo_id,
            "branch": self.branch,
            "before": self.before,
            "head": self.head,
            "moved": self.before != self.head,
        }


@dataclass(frozen=True)
class DatabricksDeploy:
    repos: tuple[RepoMove, ...]
    jobs: JobsPlan | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "repos": [move.to_dict() for move in self.repos],
            "jobs": self.jobs.to_dict() if self.jobs else None,
        }


@dataclass(frozen=True)
class JobDrift:
    """A managed job changed in the workspace since tidegate deployed it."""

    key: str
    name: str
    job_id: int
    commit: str
    differences: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "job_id": self.job_id,
            "commit": self.commit,
            "differences": list(self.differences),
        }


def ships_jobs(config: ProjectConfig, files: Path, environment: str) -> bool:
    """Whether deploying `environment` creates, resets and deletes jobs: it is one of the jobs'
    environments and the project (its files at the commit: `files`) has a jobs folder."""
    folder = files / config.databricks.jobs.path
    return environment in config.databricks_job_environments() and folder.is_dir()


def workspace_client() -> JobsClient:
    """A client of the workspace DATABRICKS_HOST names, with DATABRICKS_TOKEN."""
    from tidegate.orchestrate.databricks_client import Credentials, JobsClient

    return JobsClient(Credentials.from_env())


def ship_databricks(
    config: ProjectConfig,
    files: Path,
    repo: Repository,
    environment: str,
    commit: str,
    *,
    branch: str | None = None,
    allow_destroy: bool = False,
    client: JobsClient | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> DatabricksDeploy | None:
    """Bring the environment's Databricks repos and jobs to `commit` (the project's files at it
    are in `files`); None when the environment has neither. `branch` is the branch deployed."""
    jobs = ships_jobs(config, files, environment)
    if not jobs and not any(r.environment == environment for r in config.databricks.repos):
        return None
    client = client or workspace_client()
    plan = None
    if jobs:
        plan = jobs_plan(client, config, files, repo, environment, commit)
        refuse_deletions(plan, allow_destroy=allow_destroy)
    moves = []
    for entry in config.databricks.repos:
        if entry.environment == environment:
            progress(f"databricks: checking out {entry.path}")
            moves.append(move_repo(client, entry, _branch_of(config, entry, branch), commit))
    if plan is not None:
        progress(f"databricks: {_summary(plan)}")
        plan = apply_jobs(client, plan, allow_destroy=allow_destroy)
    return DatabricksDeploy(tuple(moves), plan)


def jobs_plan(
    client: JobsClient, config: ProjectConfig, files: Path, repo: Repository, environment: str, commit: str
) -> JobsPlan:
    """What deploying `commit` (its files in `files`) would do to the environment's jobs."""
    settings = config.databricks.jobs
    wanted = {
        job.key: desired_settings(job, repo, commit, config.name, environment, settings)
        for job in load_jobs(files, settings.path, environment)
    }
    return plan_jobs(client, wanted, config.name, environment, commit)


def move_repo(client: JobsClient, entry: DatabricksRepo, branch: str, commit: str) -> RepoMove:
    """Check the repo out at `branch`, then require it to hold `commit`."""
    found = client.find_repo(entry.path)
    if found is None:
        raise ConfigError(
            f"there is no Databricks repo {entry.path} in {client.host} (or this token cannot manage it)",
            path="tidegate.yml",
            hint="create the Git folder in the workspace, or fix `databricks: repos:` in tidegate.yml",
        )
    after = client.checkout_branch(int(found["id"]), branch)
    head = str(after.get("head_commit_id") or "")
    if head != commit:
        raise CheckFailed(
            f"Databricks repo {entry.path} is at {head[:12] or 'no commit'} on branch {branch}, "
            f"not the deployed commit {commit[:12]}",
            hint=f"{branch} moved on since this commit (its own deploy brings the repo along), or the "
            "workspace cannot fetch it: check the repo's Git credential",
        )
    return RepoMove(entry.path, int(found["id"]), branch, found.get("head_commit_id"), head)


def jobs_drift(
    client: JobsClient, config: ProjectConfig, repo: Repository, environment: str
) -> list[JobDrift]:
    """The managed jobs whose settings differ from what tidegate deployed: each job's file as
    it was at the commit the job's `tidegate_commit` tag names."""
    from tidegate.git.workspace import project_files

    drifted = []
    jobs = [job for found in managed_jobs(client, config.name, environment).values() for job in found]
    by_commit: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        by_commit.setdefault(str(job["settings"]["tags"].get(COMMIT, "")), []).append(job)
    for commit, listed in by_commit.items():
        if not commit or not repo.exists(commit):
            drifted += [
                _drift(job, commit, (f"deployed from {commit[:12] or 'no commit'}, not in this repository",))
                for job in listed
            ]
            continue
        with project_files(repo, commit) as files:
            declared = {
                job.key: desired_settings(job, repo, commit, config.name, environment, config.databricks.jobs)
                for job in load_jobs(files, config.databricks.jobs.path, environment)
            }
        for job in listed:
            key = str(job["settings"]["tags"].get(KEY, ""))
            live = client.read_job(int(job["job_id"])).get("settings") or {}
            wanted = declared.get(key)
            found = differences(wanted, live) if wanted else [f"no job file {key} at {commit[:12]}"]
            if found:
                drifted.append(_drift(job, commit, tuple(found)))
    return drifted


def _drift(job: Mapping[str, Any], commit: str, found: tuple[str, ...]) -> JobDrift:
    settings = job.get("settings") or {}
    key = str((settings.get("tags") or {}).get(KEY, ""))
    return JobDrift(key, str(settings.get("name", "")), int(job["job_id"]), commit, found)


def _branch_of(config: ProjectConfig, entry: DatabricksRepo, deployed: str | None) -> str:
    """The branch a repo checks out: its own `branch:`, else the one being deployed, else the one
    `branches:` maps to its environment."""
    if entry.branch or deployed:
        return entry.branch or deployed or ""
    mapped = [name for name, environment in config.branches.items() if environment == entry.environment]
    if len(mapped) != 1:
        raise ConfigError(
            f"cannot tell which branch the Databricks repo {entry.path} should check out",
            path="tidegate.yml",
            hint="give it `branch:` under `databricks: repos:`, or deploy with --branch",
        )
    return mapped[0]


def _summary(plan: JobsPlan) -> str:
    counts = plan.counts
    return ", ".join(f"{counts[action]} to {action}" for action in ("create", "update", "delete")) + " job(s)"
