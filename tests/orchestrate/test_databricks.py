"""`tidegate databricks run` against a local Databricks workspace (`databricks_workspace`: a real
HTTP server speaking the Jobs API 2.1); real git repositories in tmp_path."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.ci.repos import commit, git
from tests.cli.conftest import Ran, invoke
from tests.conftest import write_files
from tests.orchestrate.databricks_workspace import TOKEN, Workspace, serving
from tidegate.cli import cli
from tidegate.cli import databricks as _databricks  # noqa: F401  (registers `tidegate databricks`)
from tidegate.errors import ConfigError
from tidegate.orchestrate.databricks import GitCommit, https_url, infer_provider, job_submission
from tidegate.orchestrate.databricks import run as run_at_commit
from tidegate.orchestrate.databricks_client import Credentials, JobsClient


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    with serving(Workspace()) as fake:
        yield fake


# -- the repository and the command ------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two commits on main; origin is GitHub over SSH."""
    root = tmp_path / "lakehouse"
    write_files(
        root,
        {
            "notebooks/etl.py": "# Databricks notebook source\nprint('etl')\n",
            "jobs/load.py": "print('load')\n",
        },
    )
    git(root, "init", "-q", "-b", "main")
    commit(root, "first")
    (root / "jobs" / "load.py").write_text("print('load v2')\n")
    commit(root, "second")
    git(root, "remote", "add", "origin", "git@github.com:acme/lakehouse.git")
    return root


def sha(root: Path, ref: str = "HEAD") -> str:
    return git(root, "rev-parse", ref)


def run(root: Path, workspace: Workspace | None, *args: str, **env: str | None) -> Ran:
    """`tidegate databricks run ARGS --project ROOT`, credentials for `workspace` unless overridden."""
    variables: dict[str, str | None] = {
        "DATABRICKS_HOST": workspace.url if workspace else None,
        "DATABRICKS_TOKEN": TOKEN,
        "DATABRICKS_CONFIG_FILE": str(root / "no-databrickscfg"),
        **env,
    }
    ran = invoke(root, "databricks", "run", *args, "--poll-interval", "0.02", env=variables)
    assert TOKEN not in ran.all, "the token was printed"
    return ran


def nightly_job(job_id: int = 42) -> dict[str, Any]:
    """A production job on the main branch: two tasks on a shared job cluster, a job parameter."""
    return {
        "job_id": job_id,
        "creator_user_name": "ada@example.com",
        "settings": {
            "name": "nightly lakehouse",
            "git_source": {
                "git_url": "https://github.com/acme/lakehouse",
                "git_provider": "gitHub",
                "git_branch": "main",
            },
            "job_clusters": [
                {
                    "job_cluster_key": "shared",
                    "new_cluster": {
                        "spark_version": "15.4.x-scala2.12",
                        "node_type_id": "i3.xlarge",
                        "num_workers": 2,
                    },
                }
            ],
            "parameters": [{"name": "env", "default": "prod"}],
            "tasks": [
                {
                    "task_key": "etl",
                    "job_cluster_key": "shared",
                    "notebook_task": {"notebook_path": "notebooks/etl", "base_parameters": {"day": "today"}},
                },
                {
                    "task_key": "load",
                    "depends_on": [{"task_key": "etl"}],
                    "job_cluster_key": "shared",
                    "spark_python_task": {
                        "python_file": "jobs/load.py",
                        "parameters": ["--env", "{{job.parameters.env}}"],
                    },
                },
            ],
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"},
            "max_concurrent_runs": 1,
            "timeout_seconds": 7200,
            "email_notifications": {"on_failure": ["data@example.com"]},
        },
    }


# -- a job at a commit -------------------------------------------------------------------


def test_a_job_runs_as_a_one_time_run_pinned_to_the_commit(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()

    ran = run(repo, workspace, "--job-id", "42", "--ref", "main~1")

    assert ran.code == 0, ran.all
    body = workspace.submitted()
    assert body["git_source"] == {
        "git_url": "https://github.com/acme/lakehouse",
        "git_provider": "gitHub",
        "git_commit": sha(repo, "main~1"),
    }
    etl, load = body["tasks"]
    cluster = nightly_job()["settings"]["job_clusters"][0]["new_cluster"]
    assert etl["new_cluster"] == load["new_cluster"] == cluster
    assert "job_cluster_key" not in etl and "job_cluster_key" not in load
    assert etl["notebook_task"] == {
        "notebook_path": "notebooks/etl",
        "base_parameters": {"day": "today", "env": "prod"},
    }
    assert load["spark_python_task"]["parameters"] == ["--env", "prod"]
    assert load["depends_on"] == [{"task_key": "etl"}]
    assert body["timeout_seconds"] == 7200
    assert body["email_notifications"] == {"on_failure": ["data@example.com"]}
    assert "schedule" not in body and "max_concurrent_runs" not in body
    assert sha(repo, "main~1")[:12] in body["run_name"] and "nightly lakehouse" in body["run_name"]
    assert body["idempotency_token"].startswith("tidegate-")
    # the job was read, never changed
    assert set(workspace.paths()) == {"get", "runs/submit", "runs/get"}
    assert workspace.jobs[42] == nightly_job()
    run_id = next(iter(workspace.runs))
    assert "SUCCESS" in ran.stdout and workspace.runs[run_id]["run_page_url"] in ran.stdout
    assert "RUNNING" in ran.stderr  # progress while it ran


def test_json_prints_the_run_as_one_document(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()

    ran = run(repo, workspace, "--job-id", "42", "--json")

    assert ran.code == 0, ran.all
    document = json.loads(ran.stdout)
    assert document["succeeded"] is True
    assert document["result"] == "SUCCESS"
    assert document["job_id"] == 42
    assert document["commit"] == {
        "sha": sha(repo),
        "ref": "HEAD",
        "git_url": "https://github.com/acme/lakehouse",
        "git_provider": "gitHub",
    }
    assert [task["task_key"] for task in document["tasks"]] == ["etl", "load"]
    assert document["run_url"] == workspace.runs[document["run_id"]]["run_page_url"]
    assert document["run_name"] == workspace.runs[document["run_id"]]["run_name"]


def test_a_failed_run_exits_1_naming_the_run_url(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()
    message = "Task load failed with message: Workload failed, see run output for details."
    workspace.scripts.append(
        [
            ("RUNNING", None, ""),
            (
                "TERMINATED",
                "FAILED",
                message,
                {
                    "etl": ("TERMINATED", "SUCCESS", ""),
                    "load": ("TERMINATED", "FAILED", "ValueError: bad row"),
                },
            ),
        ]
    )

    ran = run(repo, workspace, "--job-id", "42")

    assert ran.code == 1
    url = next(iter(workspace.runs.values()))["run_page_url"]
    assert "failed:" in ran.stderr and "FAILED" in ran.stderr
    assert message in ran.stderr and url in ran.stderr
    assert "failed task(s): load" in ran.stderr
    assert "ValueError: bad row" in ran.stderr


def test_a_failed_run_with_json_is_one_document_with_the_run(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()
    workspace.scripts.append([("TERMINATED", "FAILED", "Task etl failed.")])

    ran = run(repo, workspace, "--job-id", "42", "--json")

    assert ran.code == 1
    document = json.loads(ran.stdout)
    assert document["error"] == "RunFailed"
    assert document["run"]["result"] == "FAILED"
    assert document["run"]["run_url"] in document["message"]


@pytest.mark.parametrize(
    ("lifecycle", "result"),
    [("TERMINATED", "CANCELED"), ("TERMINATED", "TIMEDOUT"), ("SKIPPED", None), ("INTERNAL_ERROR", "FAILED")],
)
def test_cancelled_skipped_timed_out_and_broken_runs_exit_1(
    repo: Path, workspace: Workspace, lifecycle: str, result: str | None
) -> None:
    workspace.jobs[42] = nightly_job()
    workspace.scripts.append([(lifecycle, result, "it ended")])

    ran = run(repo, workspace, "--job-id", "42")

    assert ran.code == 1, ran.all
    assert (result or lifecycle) in ran.stderr


def test_past_the_timeout_the_run_is_cancelled_and_exits_1(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()
    workspace.scripts.append([("PENDING", None, ""), ("RUNNING", None, "")])

    started = time.monotonic()
    ran = run(repo, workspace, "--job-id", "42", "--timeout", "0.5")

    assert ran.code == 1
    assert time.monotonic() - started < 30
    (run_id,) = workspace.runs
    cancels = [call.body for call in workspace.calls if call.path.endswith("runs/cancel")]
    assert cancels == [{"run_id": run_id}]
    assert workspace.runs[run_id]["state"]["result_state"] == "CANCELED"
    assert "did not finish in time: tidegate cancelled it" in ran.stderr
    assert workspace.runs[run_id]["run_page_url"] in ran.stderr


def test_losing_track_of_a_started_run_exits_1_naming_it(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()
    workspace.broken_after_submit = True

    ran = run(repo, workspace, "--job-id", "42")

    assert ran.code == 1
    (run_id,) = workspace.runs
    assert f"lost track of Databricks run {run_id}" in ran.stderr
    assert "is unavailable" in ran.stderr


def test_an_unknown_job_exits_2(repo: Path, workspace: Workspace) -> None:
    ran = run(repo, workspace, "--job-id", "999")

    assert ran.code == 2
    assert "job 999 does not exist" in ran.stderr and "Job 999 does not exist." in ran.stderr
    assert "runs/submit" not in workspace.paths()


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"DATABRICKS_HOST": None}, "DATABRICKS_HOST is not set"),
        ({"DATABRICKS_TOKEN": None}, "DATABRICKS_TOKEN is not set"),
        (
            {"DATABRICKS_HOST": None, "DATABRICKS_TOKEN": ""},
            "DATABRICKS_HOST and DATABRICKS_TOKEN are not set",
        ),
    ],
)
def test_missing_credentials_exit_2(
    repo: Path, workspace: Workspace, missing: dict[str, str | None], named: str
) -> None:
    workspace.jobs[42] = nightly_job()

    ran = run(repo, workspace, "--job-id", "42", **missing)

    assert ran.code == 2
    assert named in ran.stderr
    assert workspace.calls == []


def test_a_refused_token_exits_2_without_printing_it(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()

    ran = run(repo, workspace, "--job-id", "42", DATABRICKS_TOKEN="dapi-wrong-token")

    assert ran.code == 2
    assert "Invalid access token" in ran.stderr
    assert "dapi-wrong-token" not in ran.all
    assert "runs/submit" not in workspace.paths()


def test_an_unreachable_host_exits_2_at_once(repo: Path, workspace: Workspace) -> None:
    started = time.monotonic()
    ran = run(repo, None, "--job-id", "42", DATABRICKS_HOST="http://127.0.0.1:9")

    assert ran.code == 2
    assert "cannot reach the Databricks workspace http://127.0.0.1:9" in ran.stderr
    assert time.monotonic() - started < 20


def test_an_unknown_ref_exits_2_before_calling_databricks(repo: Path, workspace: Workspace) -> None:
    workspace.jobs[42] = nightly_job()

    ran = run(repo, workspace, "--job-id", "42", "--ref", "no-such-branch")

    assert ran.code == 2
    assert "unknown ref 'no-such-branch'" in ran.stderr
    assert workspace.calls == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: s.pop("git_source"), "it has no Git source"),
        (
            lambda s: s["tasks"][0]["notebook_task"].update(source="WORKSPACE"),
            "task etl takes its notebook from the workspace",
        ),
        (
            lambda s: s["tasks"][1]["spark_python_task"].update(python_file="dbfs:/jobs/load.py"),
            "task load takes its Python file from the workspace or a file system (dbfs:/jobs/load.py)",
        ),
        (
            lambda s: s["tasks"].append({"task_key": "next", "run_job_task": {"job_id": 7}}),
            "task next runs another job",
        ),
    ],
)
def test_a_job_that_would_not_run_the_commit_is_refused(
    repo: Path, workspace: Workspace, change: Any, reason: str
) -> None:
    job = nightly_job()
    change(job["settings"])
    workspace.jobs[42] = job

    ran = run(repo, workspace, "--job-id", "42")

    assert ran.code == 2
    assert "job 42 (nightly lakehouse) cannot run at a commit" in ran.stderr
    assert reason in ran.stderr
    assert "runs/submit" not in workspace.paths()


OFFLINE = {"DATABRICKS_HOST": None, "DATABRICKS_TOKEN": None}
"""No credentials: what a dry run must do without."""


def test_a_dry_run_prints_the_request_offline_with_secrets_masked(repo: Path, tmp_path: Path) -> None:
    spec = {
        "spark_version": "15.4.x-scala2.12",
        "num_workers": 1,
        "spark_conf": {
            "fs.azure.account.key.acme": "AZURE-KEY-SECRET",
            "spark.x.password": "{{secrets/s/k}}",
        },
    }
    (tmp_path / "cluster.json").write_text(json.dumps(spec))
    args = [
        "--notebook",
        "notebooks/etl.py",
        "--new-cluster-json",
        str(tmp_path / "cluster.json"),
        "--dry-run",
    ]

    for host in (None, "https://ada:hunter2@workspace.invalid"):  # none, and one that does not resolve
        ran = run(repo, None, *args, **{**OFFLINE, "DATABRICKS_HOST": host})
        assert ran.code == 0, ran.all
        assert f"Would run notebooks/etl.py at {sha(repo)[:12]} (HEAD)" in ran.stdout
        assert "AZURE-KEY-SECRET" not in ran.all and "hunter2" not in ran.all
    assert "POST https://***@workspace.invalid/api/2.1/jobs/runs/submit\n{" in ran.stdout

    document = json.loads(run(repo, None, *args, "--json", **OFFLINE).stdout)

    (request,) = document["requests"]
    assert (request["method"], request["path"], document["complete"]) == (
        "POST",
        "/api/2.1/jobs/runs/submit",
        True,
    )
    body = request["body"]
    assert body["git_source"] == {
        "git_url": "https://github.com/acme/lakehouse",
        "git_provider": "gitHub",
        "git_commit": sha(repo),
    }
    assert body["tasks"][0]["new_cluster"]["spark_conf"] == {
        "fs.azure.account.key.acme": "***",
        "spark.x.password": "{{secrets/s/k}}",
    }
    assert body["idempotency_token"].startswith("tidegate-")


def test_a_dry_run_of_a_job_reads_its_definition_from_a_file(
    repo: Path, workspace: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "job.json").write_text(json.dumps(nightly_job()))

    ran = run(
        repo, workspace, "--job-id", "42", "--job-json", str(tmp_path / "job.json"), "--dry-run", "--json"
    )

    assert ran.code == 0, ran.all
    document = json.loads(ran.stdout)
    assert [(r["method"], r["path"]) for r in document["requests"]] == [
        ("GET", "/api/2.1/jobs/get"),
        ("POST", "/api/2.1/jobs/runs/submit"),
    ]
    body = document["requests"][1]["body"]
    assert body["git_source"]["git_commit"] == sha(repo)
    assert body["tasks"][0]["new_cluster"]["num_workers"] == 2  # the job cluster, made a new cluster
    assert workspace.calls == []


def test_a_dry_run_of_a_job_without_its_definition_says_what_it_cannot_show(repo: Path) -> None:
    ran = run(repo, None, "--job-id", "42", "--dry-run", **{**OFFLINE, "DATABRICKS_HOST": "acme.invalid"})

    assert ran.code == 0, ran.all
    assert "GET https://acme.invalid/api/2.1/jobs/get?job_id=42" in ran.stdout
    assert "give --job-json FILE" in ran.stdout


def test_job_json_is_only_for_dry_runs(repo: Path, workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps(nightly_job()))

    ran = run(repo, workspace, "--job-id", "42", "--job-json", str(tmp_path / "job.json"))

    assert ran.code == 2
    assert "--job-json goes with --dry-run" in ran.stderr
    assert workspace.calls == []


def test_a_password_in_the_host_is_never_shown(repo: Path) -> None:
    ran = run(repo, None, "--job-id", "42", DATABRICKS_HOST="http://ada:hunter2@127.0.0.1:9")

    assert ran.code == 2
    assert "cannot reach the Databricks workspace http://***@127.0.0.1:9" in ran.stderr
    assert "hunter2" not in ran.all and "ada:" not in ran.all


def test_an_interrupted_wait_cancels_the_run(repo: Path, workspace: Workspace) -> None:
    workspace.scripts.append([("RUNNING", None, "")])
    client = JobsClient(Credentials(workspace.url, TOKEN))
    commit = GitCommit("https://github.com/acme/lakehouse", "gitHub", sha(repo), "HEAD")
    submission = job_submission(nightly_job(), commit)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_at_commit(client, submission, sleep=interrupt)

    (run_id,) = workspace.runs
    assert [call.body for call in workspace.calls if call.path.endswith("runs/cancel")] == [
        {"run_id": run_id}
    ]


# -- one-time runs of a file -------------------------------------------------------------


def test_a_notebook_runs_once_at_the_commit_on_a_cluster(repo: Path, workspace: Workspace) -> None:
    ran = run(repo, workspace, "--notebook", "notebooks/etl.py", "--cluster-id", "0123-456789-abcdef")

    assert ran.code == 0, ran.all
    body = workspace.submitted()
    assert body["git_source"] == {
        "git_url": "https://github.com/acme/lakehouse",
        "git_provider": "gitHub",
        "git_commit": sha(repo),
    }
    assert body["tasks"] == [
        {
            "task_key": "etl",
            "notebook_task": {"notebook_path": "notebooks/etl", "source": "GIT"},
            "existing_cluster_id": "0123-456789-abcdef",
        }
    ]
    assert "jobs/get" not in workspace.paths()


def test_a_python_file_runs_once_on_a_new_cluster(repo: Path, workspace: Workspace, tmp_path: Path) -> None:
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
    (tmp_path / "cluster.json").write_text(json.dumps(spec))
    git(
        repo,
        "remote",
        "set-url",
        "origin",
        "https://gitlab-ci-token:glpat-secret@gitlab.com/acme/lakehouse.git",
    )

    ran = run(
        repo,
        workspace,
        "--python-file",
        "jobs/load.py",
        "--new-cluster-json",
        str(tmp_path / "cluster.json"),
        "--ref",
        "main~1",
    )

    assert ran.code == 0, ran.all
    body = workspace.submitted()
    assert body["git_source"] == {
        "git_url": "https://gitlab.com/acme/lakehouse",
        "git_provider": "gitLab",
        "git_commit": sha(repo, "main~1"),
    }
    assert body["tasks"] == [
        {
            "task_key": "load",
            "spark_python_task": {"python_file": "jobs/load.py", "source": "GIT"},
            "new_cluster": spec,
        }
    ]
    assert "glpat-secret" not in json.dumps(body) and "glpat-secret" not in ran.all


def test_a_notebook_given_without_its_extension_is_found(repo: Path, workspace: Workspace) -> None:
    ran = run(
        repo,
        workspace,
        "--notebook",
        "notebooks/etl",
        "--cluster-id",
        "c1",
        "--git-url",
        "https://git.acme.io/data/lakehouse",
        "--git-provider",
        "gitlabenterpriseedition",
    )

    assert ran.code == 0, ran.all
    body = workspace.submitted()
    assert body["tasks"][0]["notebook_task"]["notebook_path"] == "notebooks/etl"
    assert body["git_source"]["git_url"] == "https://git.acme.io/data/lakehouse"
    assert body["git_source"]["git_provider"] == "gitLabEnterpriseEdition"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--notebook", "notebooks/missing.py", "--cluster-id", "c1"],
            "notebooks/missing.py is not in the repository",
        ),
        (["--notebook", "/Users/ada/etl", "--cluster-id", "c1"], "is not a path inside the repository"),
        (["--notebook", "notebooks/etl.py"], "give either --cluster-id or --new-cluster-json"),
        (
            ["--notebook", "notebooks/etl.py", "--python-file", "jobs/load.py", "--cluster-id", "c1"],
            "either --notebook or --python-file",
        ),
        ([], "nothing to run"),
        (["--job-id", "42", "--notebook", "notebooks/etl.py"], "not both"),
        (
            ["--notebook", "notebooks/etl.py", "--cluster-id", "c1", "--git-url", "https://git.acme.io/x"],
            "cannot tell the Git provider of git.acme.io",
        ),
    ],
)
def test_bad_one_time_runs_exit_2(repo: Path, workspace: Workspace, args: list[str], message: str) -> None:
    ran = run(repo, workspace, *args)

    assert ran.code == 2, ran.all
    assert message in ran.stderr
    assert "runs/submit" not in workspace.paths()


def test_help_explains_the_command() -> None:
    result = CliRunner().invoke(cli, ["databricks", "run", "--help"])

    assert result.exit_code == 0
    for text in (
        "--job-id",
        "--notebook",
        "--python-file",
        "--new-cluster-json",
        "runs/submit",
        "DATABRICKS_TOKEN",
    ):
        assert text in result.output


# -- pieces ------------------------------------------------------------------------------


def test_a_job_copy_keeps_its_sparse_checkout_and_resolves_loops() -> None:
    job = nightly_job()
    settings = job["settings"]
    settings["git_source"]["sparse_checkout"] = {"patterns": ["notebooks", "jobs"]}
    settings["tasks"].append(
        {
            "task_key": "per_day",
            "for_each_task": {
                "inputs": '["mon", "tue"]',
                "task": {
                    "task_key": "per_day_iteration",
                    "job_cluster_key": "shared",
                    "notebook_task": {
                        "notebook_path": "notebooks/etl",
                        "base_parameters": {"day": "{{input}}"},
                    },
                },
            },
        }
    )
    before = copy.deepcopy(job)
    commit = GitCommit("https://github.com/acme/lakehouse", "gitHub", "a" * 40, "main")

    payload = job_submission(job, commit).payload

    assert job == before  # the job read is left as it was
    assert payload["git_source"] == {
        "git_url": "https://github.com/acme/lakehouse",
        "git_provider": "gitHub",
        "git_commit": "a" * 40,
        "sparse_checkout": {"patterns": ["notebooks", "jobs"]},
    }
    inner = payload["tasks"][2]["for_each_task"]["task"]
    assert "job_cluster_key" not in inner and inner["new_cluster"]["num_workers"] == 2
    assert inner["notebook_task"]["base_parameters"] == {"day": "{{input}}", "env": "prod"}


def test_a_task_on_an_undefined_job_cluster_is_refused() -> None:
    job = nightly_job()
    job["settings"]["tasks"][0]["job_cluster_key"] = "missing"
    commit = GitCommit("https://github.com/acme/lakehouse", "gitHub", "a" * 40, "main")

    with pytest.raises(ConfigError, match="task etl runs on job cluster 'missing'"):
        job_submission(job, commit)


@pytest.mark.parametrize(
    ("url", "https"),
    [
        ("git@github.com:acme/lakehouse.git", "https://github.com/acme/lakehouse"),
        ("ssh://git@github.com:22/acme/lakehouse.git", "https://github.com/acme/lakehouse"),
        ("https://x-access-token:ghs_abc@github.com/acme/lakehouse.git", "https://github.com/acme/lakehouse"),
        ("https://github.com/acme/lakehouse/", "https://github.com/acme/lakehouse"),
        ("git@ssh.dev.azure.com:v3/acme/data/lakehouse", "https://dev.azure.com/acme/data/_git/lakehouse"),
        (
            "https://acme@dev.azure.com/acme/data/_git/lakehouse",
            "https://dev.azure.com/acme/data/_git/lakehouse",
        ),
    ],
)
def test_origin_urls_become_https_without_credentials(url: str, https: str) -> None:
    assert https_url(url) == https


@pytest.mark.parametrize("url", ["/srv/git/lakehouse.git", "file:///srv/git/lakehouse.git"])
def test_a_local_origin_is_not_a_url_databricks_can_clone(url: str) -> None:
    with pytest.raises(ConfigError, match="not the URL of a hosted repository"):
        https_url(url)


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://github.com/a/b", "gitHub"),
        ("https://gitlab.com/a/b", "gitLab"),
        ("https://bitbucket.org/a/b", "bitbucketCloud"),
        ("https://dev.azure.com/a/b/_git/c", "azureDevOpsServices"),
        ("https://acme.visualstudio.com/b/_git/c", "azureDevOpsServices"),
        ("https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/c", "awsCodeCommit"),
    ],
)
def test_the_provider_of_hosted_services_is_known(url: str, provider: str) -> None:
    assert infer_provider(url) == provider


def test_credentials_never_show_the_token() -> None:
    credentials = Credentials.from_env(
        {"DATABRICKS_HOST": "acme.cloud.databricks.com", "DATABRICKS_TOKEN": TOKEN}
    )

    assert credentials.host == "https://acme.cloud.databricks.com"
    assert TOKEN not in repr(credentials)
