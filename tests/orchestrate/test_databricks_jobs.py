"""Databricks repos and jobs follow the deployed commit: `tidegate deploy`, `tidegate databricks
plan|drift`, against a local workspace speaking the Repos and Jobs APIs (`databricks_workspace`),
with a real git repository and DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ci.repos import commit, git, make_repository
from tests.cli.conftest import Ran, invoke
from tests.conftest import edit, write_files
from tests.orchestrate.databricks_workspace import TOKEN, Workspace, serving
from tidegate.context import Context, DriftKind
from tidegate.errors import ConfigError
from tidegate.git.repository import Repository
from tidegate.orchestrate.databricks_client import Credentials, JobsClient
from tidegate.orchestrate.databricks_deploy import ship_databricks
from tidegate.orchestrate.databricks_jobs import differences
from tidegate.project.config import load_config

REPO = "/Repos/staging/lakehouse"
URL = "https://github.com/acme/lakehouse"
CONFIG = f"""
databricks:
  repos:
    - {{path: {REPO}, environment: staging}}
  jobs:
    environments: [staging]
"""
NIGHTLY = """\
name: "nightly ({{ env }})"
git_source: {git_url: https://github.com/acme/lakehouse, git_provider: gitHub, git_branch: main}
job_clusters:
  - job_cluster_key: shared
    new_cluster: {spark_version: 15.4.x-scala2.12, node_type_id: i3.xlarge, num_workers: 2}
parameters:
  - {name: env, default: "{{ env }}"}
  - {name: day, default: "{{job.start_time.iso_date}}"}
tasks:
  - task_key: load
    depends_on: [{task_key: etl}]
    job_cluster_key: shared
    spark_python_task: {python_file: jobs/load.py, parameters: ["--env", "{{job.parameters.env}}"]}
  - task_key: etl
    job_cluster_key: shared
    notebook_task: {notebook_path: notebooks/etl}
tags: {team: data}
"""
COMPACT = """\
name: "compact {{ env }}"
tasks:
  - {task_key: compact, existing_cluster_id: 0101-abc, spark_python_task: {python_file: jobs/compact.py}}
"""
PROD_ONLY = "only: [prod]\nname: audit\ntasks: [{task_key: audit, spark_python_task: {python_file: a.py}}]\n"


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with serving(Workspace()) as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, workspace: Workspace) -> Path:
    """The layered project on main (staging), with a Databricks repo and three job files; origin
    is the GitHub repository the workspace clones."""
    root = make_repository(tmp_path / "repo")
    (root / "tidegate.yml").write_text((root / "tidegate.yml").read_text() + CONFIG)
    write_files(
        root,
        {
            "databricks/jobs/nightly.yml": NIGHTLY,
            "databricks/jobs/compact.yml": COMPACT,
            "databricks/jobs/audit.yml": PROD_ONLY,
        },
    )
    git(root, "remote", "add", "origin", "git@github.com:acme/lakehouse.git")
    workspace.heads["main"] = commit(root, "Databricks jobs")
    workspace.add_repo(REPO)
    return root


def tidegate(root: Path, workspace: Workspace, *args: str) -> Ran:
    ran = invoke(
        root,
        *args,
        env={
            "DATABRICKS_HOST": workspace.url,
            "DATABRICKS_TOKEN": TOKEN,
            "DATABRICKS_CONFIG_FILE": str(root / "no-databrickscfg"),
        },
    )
    assert TOKEN not in ran.all, "the token was printed"
    return ran


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def last_run(root: Path) -> tuple[str, str]:
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as db:
        row = db.execute(
            "select status, detail from _tidegate.runs order by finished_at desc limit 1"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


# -- deploy -------------------------------------------------------------------------------


def test_deploy_moves_the_repo_and_pins_each_job_to_the_commit(
    project: Path,
    workspace: Workspace,
    open_context: Callable[..., Context],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sha = head(project)

    ran = tidegate(project, workspace, "deploy", "--branch", "main", "--json")

    assert ran.code == 0, ran.all
    done = ran.json()["databricks"]
    assert done["repos"] == [
        {"path": REPO, "repo_id": 7000, "branch": "main", "before": "0" * 40, "head": sha, "moved": True}
    ]
    assert done["jobs"]["create"] == 2 and {c["key"] for c in done["jobs"]["changes"]} == {
        "nightly",
        "compact",
    }
    assert workspace.repos[7000]["head_commit_id"] == sha
    nightly = workspace.job_named("nightly (staging)")["settings"]
    assert nightly["git_source"] == {"git_url": URL, "git_provider": "gitHub", "git_commit": sha}
    assert nightly["parameters"] == [
        {"name": "env", "default": "staging"},
        {"name": "day", "default": "{{job.start_time.iso_date}}"},  # Databricks' own braces are kept
    ]
    assert nightly["tags"] == {
        "team": "data",
        "tidegate_managed": "true",
        "tidegate_project": "test",
        "tidegate_environment": "staging",
        "tidegate_job": "nightly",
        "tidegate_commit": sha,
    }
    compact = workspace.job_named("compact staging")["settings"]  # from origin, without a git_source
    assert compact["git_source"] == {"git_url": URL, "git_provider": "gitHub", "git_commit": sha}

    workspace.calls.clear()
    again = tidegate(project, workspace, "deploy", "--branch", "main", "--json")

    assert again.code == 0, again.all
    assert workspace.writes() == ["PATCH /api/2.0/repos/7000"]  # no job created or reset
    assert again.json()["databricks"]["jobs"]["unchanged"] == 2

    # the controller's drift check reports a job changed by hand (and never heals it)
    by_hand = workspace.job_named("compact staging")
    by_hand["settings"]["max_concurrent_runs"] = 5
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    found = [d for d in open_context(project).drift("staging") if d.kind is DriftKind.DATABRICKS]
    assert [(d.object, d.problem) for d in found] == [
        (
            f"compact staging (job {by_hand['job_id']})",
            "changed by hand: max_concurrent_runs (not in the file)",
        )
    ]


def test_a_removed_job_is_deleted_only_with_allow_destroy(project: Path, workspace: Workspace) -> None:
    assert tidegate(project, workspace, "deploy", "--branch", "main").code == 0
    first = head(project)
    compact_id = workspace.job_named("compact staging")["job_id"]
    (project / "databricks/jobs/compact.yml").unlink()
    edit(project, "databricks/jobs/nightly.yml", "num_workers: 2", "num_workers: 4")
    edit(project, "seeds/raw_orders.csv", "4,3,7,paid\n", "4,3,7,paid\n5,3,9,paid\n")
    workspace.heads["main"] = second = commit(project, "no more compaction")
    workspace.calls.clear()

    refused = tidegate(project, workspace, "deploy", "--branch", "main")

    assert refused.code == 1, refused.all
    assert "the models of staging are deployed" in refused.stderr and "compact staging" in refused.stderr
    assert "--allow-destroy" in refused.stderr
    assert invoke(project, "history", "staging", "--json").json()[-1]["git_commit"] == second
    status, detail = last_run(project)
    assert status == "failed" and "compact staging" in detail
    assert workspace.writes() == []  # refused before anything in the workspace changed
    assert workspace.job_named("nightly (staging)")["settings"]["git_source"]["git_commit"] == first

    allowed = tidegate(project, workspace, "deploy", "--branch", "main", "--allow-destroy", "--json")

    assert allowed.code == 0, allowed.all
    assert allowed.json()["built"] == []  # the models were deployed by the failed run
    assert compact_id not in workspace.jobs
    nightly = workspace.job_named("nightly (staging)")
    assert nightly["settings"]["git_source"]["git_commit"] == second
    assert nightly["settings"]["job_clusters"][0]["new_cluster"]["num_workers"] == 4
    assert "POST reset" in workspace.writes() and last_run(project)[0] == "success"


def test_a_repo_not_at_the_deployed_commit_fails_naming_it(project: Path, workspace: Workspace) -> None:
    deployed = head(project)
    workspace.heads["main"] = "f" * 40  # main moved on in the Git provider meanwhile

    ran = tidegate(project, workspace, "deploy", "--branch", "main")

    assert ran.code == 1, ran.all
    assert f"Databricks repo {REPO} is at ffffffffffff on branch main, not the deployed commit" in ran.stderr
    assert last_run(project)[0] == "failed"
    assert not workspace.jobs  # the jobs come after the repos

    workspace.heads["main"] = deployed
    again = tidegate(project, workspace, "deploy", "--branch", "main", "--json")

    assert again.code == 0, again.all
    assert again.json()["built"] == [] and len(workspace.jobs) == 2


# -- plan and drift -----------------------------------------------------------------------


def test_plan_then_drift_of_jobs_changed_by_hand(project: Path, workspace: Workspace) -> None:
    workspace.jobs[5] = {"job_id": 5, "settings": {"name": "someone else's", "tasks": []}}
    planned = tidegate(project, workspace, "databricks", "plan", "staging", "--json")
    assert planned.code == 0, planned.all
    assert [(c["action"], c["key"]) for c in planned.json()["changes"]] == [
        ("create", "compact"),
        ("create", "nightly"),
    ]
    client = JobsClient(Credentials(workspace.url, TOKEN))
    config = load_config(project)
    ship_databricks(
        config, project, Repository(project), "staging", head(project), branch="main", client=client
    )
    assert tidegate(project, workspace, "databricks", "drift", "staging").code == 0

    nightly = workspace.job_named("nightly (staging)")["settings"]
    nightly["schedule"] = {"quartz_cron_expression": "0 0 5 * * ?", "timezone_id": "UTC"}
    nightly["tasks"][1]["spark_python_task"]["parameters"] = ["--env", "prod"]
    drift = tidegate(project, workspace, "databricks", "drift", "staging", "--json")
    plan = tidegate(project, workspace, "databricks", "plan", "staging", "--json").json()

    assert drift.code == 1, drift.all
    (job,) = drift.json()["jobs"]
    assert job["name"] == "nightly (staging)"
    assert job["differences"] == ["tasks[load].spark_python_task.parameters[1]", "schedule (not in the file)"]
    assert [(c["action"], c["key"]) for c in plan["changes"]] == [
        ("unchanged", "compact"),
        ("update", "nightly"),
    ]
    assert 5 in workspace.jobs and all(c["job_id"] != 5 for c in plan["changes"])  # never tidegate's


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        ({"name": "n", "tasks": [{"task_key": "b"}, {"task_key": "a", "run_if": "ALL_SUCCESS"}]}, []),
        ({"name": "n", "tasks": [{"task_key": "a"}, {"task_key": "b"}], "format": "MULTI_TASK"}, []),
        ({"name": "m", "tasks": [{"task_key": "a"}, {"task_key": "b"}]}, ["name"]),
        ({"name": "n", "tasks": [{"task_key": "a"}]}, ["tasks"]),
        ({"name": "n", "tasks": [{"task_key": "a"}, {"task_key": "c"}]}, ["tasks[b]"]),
        (
            {"name": "n", "tasks": [{"task_key": "a"}, {"task_key": "b"}], "max_concurrent_runs": 3},
            ["max_concurrent_runs (not in the file)"],
        ),
    ],
)
def test_differences_ignore_what_the_workspace_fills_in(live: dict[str, Any], expected: list[str]) -> None:
    assert differences({"name": "n", "tasks": [{"task_key": "a"}, {"task_key": "b"}]}, live) == expected


def test_a_repo_of_an_unknown_environment_is_refused_with_its_line(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"tidegate.yml": "name: t\ndatabricks:\n  repos:\n    - {path: /Repos/x/y, environment: qa}\n"},
    )

    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)

    assert raised.value.line == 4 and "'qa', which is not in environments" in raised.value.message
