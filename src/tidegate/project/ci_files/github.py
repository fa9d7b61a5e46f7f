"""The GitHub Actions workflow `tidegate init --ci github` writes."""

from __future__ import annotations

from tidegate.project.ci_files.settings import REPORTS, PipelineSettings
from tidegate.project.ci_files.templates import fill, job_names, scalar, yaml_list

_GITHUB_HEADER = """\
# tidegate CI/CD on GitHub Actions, written by `tidegate init --ci github`. Edit it as you need.
#
# - pull request opened or updated: `tidegate ci` lints and checks what changed, builds the pull
#   request's environment on top of production, runs the tests, traces the impact on downstream
#   models and dashboards and diffs the data against production. The report is posted on the pull
#   request and the job's result gates the merge: make "tidegate ci" a required status check.
# - pull request closed or merged: `tidegate ci --close` drops its environment.
# - push to a branch of `branches:` in tidegate.yml: `tidegate deploy` brings that branch's
#   environment to the pushed commit.
# - every night: `tidegate janitor` drops unused snapshots and expired pull-request environments.
#
# The warehouse must outlive a job (a DuckDB file on the runner does not): tidegate.yml names it.
# Each job gets only the credentials it needs. Those of pull requests are repository secrets
# (Settings > Secrets and variables > Actions); give them a role of their own with
# `pull_requests: connection:` in tidegate.yml. Those of a deployment are secrets of its GitHub
# environment (Settings > Environments: production, staging...), which only its job can read,
# under the environment's protection rules (required reviewers, deployment branches). A
# deployment also applies Terraform roots and ships DAGs and Databricks code: what those need
# (AWS_*, GOOGLE_APPLICATION_CREDENTIALS holding a key file's content, the Airflow token,
# DATABRICKS_HOST and _TOKEN, TF_VAR_* and TF_TOKEN_*) is in its job's secrets as well.
name: tidegate

on:
  pull_request:
    types: [opened, synchronize, reopened, closed]
<<push>>  schedule:
    - cron: "23 3 * * *"
  workflow_dispatch:

permissions:
  contents: read

jobs:
"""

_GITHUB_SETUP = """\
      - uses: actions/checkout@v6
        with:
          <<checkout>>
      - uses: actions/setup-python@v6
        with:
          python-version: "3.12"
      - name: Install tidegate
        run: <<install>>  # pin the version you use, e.g. tidegate==0.1.0
"""

_GITHUB_PULL_REQUEST = """\
  pull-request:
    name: tidegate ci
    if: github.event_name == 'pull_request' && github.event.action != 'closed'
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write  # the report comment
    concurrency:
      # one run per pull request: a new push cancels the run of the commit it replaces
      group: tidegate-pr-${{ github.event.pull_request.number }}
      cancel-in-progress: true
    env:
      PR_NUMBER: ${{ github.event.pull_request.number }}
<<secrets>>    steps:
<<setup>>      - name: tidegate ci
        run: >-
          <<command>>
      - name: Show the report in the run's summary
        if: always() && hashFiles('tidegate-report.md') != ''
        run: cat tidegate-report.md >> "$GITHUB_STEP_SUMMARY"
      - name: Post the report on the pull request
        if: always() && hashFiles('tidegate-report.md') != ''
        continue-on-error: true  # pull requests from forks only get a read-only token
        uses: actions/github-script@v8
        with:
          script: |
            // One comment per pull request, updated on every push.
            const fs = require('fs');
            const marker = '<!-- tidegate report -->';
            let report = fs.readFileSync('tidegate-report.md', 'utf8');
            if (report.length > 60000) {
              report = report.slice(0, 60000) + '\\n\\n(truncated: the whole report is in the tidegate-reports artifact)';
            }
            const body = marker + '\\n' + report;
            const { owner, repo } = context.repo;
            const issue_number = context.issue.number;
            const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number });
            const previous = comments.find((comment) => (comment.body || '').startsWith(marker));
            if (previous) {
              await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
            } else {
              await github.rest.issues.createComment({ owner, repo, issue_number, body });
            }
      - name: Keep the reports
        if: always()
        uses: actions/upload-artifact@v7
        with:
          name: tidegate-reports
          path: |
            tidegate-report.md
            tidegate-junit.xml
          if-no-files-found: ignore

"""

_GITHUB_CLOSED = """\
  pull-request-closed:
    name: tidegate ci --close
    if: github.event_name == 'pull_request' && github.event.action == 'closed'
    runs-on: ubuntu-latest
    concurrency:
      # after a running check of the pull request, never instead of it
      group: tidegate-pr-${{ github.event.pull_request.number }}
      cancel-in-progress: false
    env:
      PR_NUMBER: ${{ github.event.pull_request.number }}
<<secrets>>    steps:
<<setup>>      - name: Drop the pull request's environment
        run: <<command>>

"""

_GITHUB_DEPLOY = """\
  <<job>>:
    name: tidegate deploy (<<environment>>)
    if: github.event_name == 'push' && github.ref_name == <<branch>>
    runs-on: ubuntu-latest
    environment: <<forge>>  # its secrets, protection rules and approvals
    concurrency:
      # deployments of a branch run one after the other and are never cancelled halfway
      group: tidegate-deploy-<<environment>>
      cancel-in-progress: false
<<secrets>>    steps:
<<setup>><<files>>      - name: Deploy the branch's environment
        run: <<command>>

"""

_GITHUB_FILE = """\
      - name: Write <<name>> from the secret of that name (a key file's content)
        env:
          CREDENTIALS: ${{ secrets.<<name>> }}
        run: |
          umask 077
          printf '%s' "$CREDENTIALS" > "$RUNNER_TEMP/<<name>>.json"
          echo "<<name>>=$RUNNER_TEMP/<<name>>.json" >> "$GITHUB_ENV"
"""

_GITHUB_JANITOR = """\
  janitor:
    name: tidegate janitor
    if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    environment: production  # production's credentials (a janitor of its own, without reviewers, if it has some)
    concurrency:
      group: tidegate-janitor
<<secrets>>    steps:
<<setup>>      - name: Drop unused snapshots and expired pull-request environments
        run: <<command>>
"""


def github_workflow(settings: PipelineSettings) -> str:
    ci = settings.tidegate(
        'ci --base "origin/$GITHUB_BASE_REF" --head "$GITHUB_SHA" --pr "$PR_NUMBER"',
        REPORTS,
        "--report github",
        separator="\n          ",
    )
    history = "fetch-depth: 0  # the whole history: changes are computed from the merge base"
    pull_request = _github_secrets(settings.pull_request_variables, inside_env=True, own=settings.own_ci_role)
    jobs = [
        fill(_GITHUB_PULL_REQUEST, setup=_github_setup(settings, history), command=ci, secrets=pull_request),
        fill(
            _GITHUB_CLOSED,
            setup=_github_setup(
                settings, "ref: ${{ github.event.pull_request.base.ref }}  # the merge commit may be gone"
            ),
            command=scalar(settings.tidegate('ci --close --pr "$PR_NUMBER"')),
            secrets=pull_request,
        ),
    ]
    branches = "fetch-depth: 0  # every branch, as origin/<branch>, with its history"
    deploy = scalar(settings.tidegate('deploy --branch "$GITHUB_REF_NAME"'))
    for job, deployment in job_names("deploy", settings.deployments):
        jobs.append(
            fill(
                _GITHUB_DEPLOY,
                job=job,
                environment=deployment.environment,
                branch=_quoted(deployment.branch),
                forge=deployment.forge_environment,
                secrets=_github_secrets(deployment.variables),
                setup=_github_setup(settings, branches),
                files="".join(fill(_GITHUB_FILE, name=name) for name in deployment.files),
                command=deploy,
            )
        )
    janitor = scalar(settings.tidegate("janitor"))
    jobs.append(
        fill(
            _GITHUB_JANITOR,
            setup=_github_setup(settings, "fetch-depth: 1"),
            command=janitor,
            secrets=_github_secrets(settings.janitor_variables),
        )
    )
    return fill(_GITHUB_HEADER, push=_github_push(settings)) + "".join(jobs)


def _quoted(text: str) -> str:
    """A string literal of a GitHub expression."""
    return "'" + text.replace("'", "''") + "'"


def _github_setup(settings: PipelineSettings, checkout: str) -> str:
    return fill(_GITHUB_SETUP, checkout=checkout, install=settings.install)


def _github_push(settings: PipelineSettings) -> str:
    if not settings.branches:
        return "  # no push trigger: tidegate.yml maps no branch to an environment (`branches:`)\n"
    return f"  push:\n    branches: {yaml_list(settings.branches)}\n"


def _github_secrets(names: tuple[str, ...], *, inside_env: bool = False, own: bool = True) -> str:
    """A job's `env:` of its credentials, each from the secret of the same name (a repository
    secret, or its environment's)."""
    lines = "".join(f"      {name}: ${{{{ secrets.{name} }}}}\n" for name in names)
    note = (
        ""
        if own or not names
        else "      # production's credentials: give CI a role of its own (pull_requests: connection:)\n"
    )
    if inside_env:
        return note + lines
    return f"    env:\n{note}{lines}" if lines else ""
