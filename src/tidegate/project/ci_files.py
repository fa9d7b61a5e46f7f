"""The CI/CD pipeline files `tidegate init --ci` writes: a GitHub Actions workflow or a GitLab CI
configuration that runs `tidegate ci` on pull requests, drops a pull request's environment when
it closes, deploys the branches of `branches:` on push and runs the janitor on a schedule.

The files are text templates rather than dumped YAML so that they keep the comments a user needs
to adapt them. Values inserted into shell commands come from CI variables the shell expands, never
from `${{ }}` expressions spliced into scripts, so a branch name cannot inject a command.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tidegate.project.config import PROD, ConnectionConfig, ProjectConfig

PIPELINE_FILES = {"github": Path(".github/workflows/tidegate.yml"), "gitlab": Path(".gitlab-ci.yml")}
REPORTS = "--report md=tidegate-report.md --report junit=tidegate-junit.xml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DBT_ENV_VAR = re.compile(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")
_FIELD = re.compile(r"<<(\w+)>>")


@dataclass(frozen=True)
class Deployment:
    """A branch whose pushes deploy an environment, and the credentials that deploy needs."""

    branch: str
    environment: str
    variables: tuple[str, ...] = ()

    @property
    def forge_environment(self) -> str:
        """The GitHub or GitLab environment whose secrets and protection rules it runs under."""
        return "production" if self.environment == PROD else self.environment


@dataclass(frozen=True)
class PipelineSettings:
    project: str
    """The project directory relative to the top of the repository, '' when it is the top."""
    deployments: tuple[Deployment, ...]
    """What pushes deploy (`branches:` in tidegate.yml)."""
    variables: tuple[str, ...]
    """Environment variables the project reads credentials from: CI secrets to provide."""
    extras: tuple[str, ...] = ()
    """pip extras of tidegate the project's engines need (postgres, spark)."""
    pull_request_variables: tuple[str, ...] = ()
    """The credentials of `tidegate ci` (and `ci --close`): its own connection's, or production's."""
    janitor_variables: tuple[str, ...] = ()
    """The credentials of the janitor: production's."""
    own_ci_role: bool = False
    """`pull_requests: connection:` gives CI a role of its own."""

    @property
    def branches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(deployment.branch for deployment in self.deployments))

    def tidegate(self, *args: str, separator: str = " ") -> str:
        """A tidegate command line run from the top of the repository; `separator` between the
        arguments folds a long one over lines of a YAML folded scalar."""
        where = [f"--project {shlex.quote(self.project)}"] if self.project else []
        return separator.join([f"tidegate {args[0]}", *args[1:], *where])

    @property
    def install(self) -> str:
        package = f'"tidegate[{",".join(self.extras)}]"' if self.extras else "tidegate"
        return f"pip install {package}"


def pipeline_settings(project_dir: Path, repository_root: Path, config: ProjectConfig) -> PipelineSettings:
    """Each job gets only the credentials it needs: pull requests their connection's, each
    deployment its environment's (and the passwords infra files set), the janitor
    production's; a dbt profile's variables serve every environment, so every job."""
    relative = project_dir.resolve().relative_to(repository_root.resolve()).as_posix()
    connections = [*config.environments.values(), *filter(None, [config.pull_requests.connection])]
    every = credential_variables(project_dir)
    shared = _profile_variables(project_dir)
    pull_requests = config.pull_requests
    ci = pull_requests.connection or config.connection_for(pull_requests.base)
    return PipelineSettings(
        project="" if relative == "." else relative,
        deployments=tuple(
            Deployment(
                branch,
                environment,
                _names(_refs(config.connection_for(environment)), _infra_variables(project_dir), shared),
            )
            for branch, environment in config.branches.items()
        ),
        variables=every,
        extras=tuple(sorted({c.spec.extra for c in connections if c.spec.extra is not None})),
        pull_request_variables=_names(_refs(ci), shared),
        janitor_variables=_names(_refs(config.connection_for(PROD)), shared),
        own_ci_role=pull_requests.connection is not None,
    )


def _refs(connection: ConnectionConfig) -> set[str]:
    return {
        name for text in (connection.dsn, connection.state_dsn) if text for name in _ENV_REF.findall(text)
    }


def _infra_variables(project_dir: Path) -> set[str]:
    """The `${VAR}`s of infra/*.yml (users' passwords), which deployments set."""
    files = sorted((project_dir / "infra").rglob("*.yml"))
    return {
        name
        for path in files
        for name in _ENV_REF.findall(path.read_text(encoding="utf-8", errors="replace"))
    }


def _names(*groups: set[str]) -> tuple[str, ...]:
    return tuple(
        sorted({name for group in groups for name in group if not name.startswith(("GITHUB_", "CI_"))})
    )


def _profile_variables(project_dir: Path) -> set[str]:
    profiles = project_dir / "profiles.yml"
    if not profiles.is_file():
        return set()
    return set(_DBT_ENV_VAR.findall(profiles.read_text(encoding="utf-8", errors="replace")))


def credential_variables(project_dir: Path) -> tuple[str, ...]:
    """The `${VAR}`s of tidegate.yml and infra/ and the `env_var('VAR')`s of a dbt profiles.yml
    beside the project: each must be a secret of the pipeline."""
    names: set[str] = set()
    files = [project_dir / "tidegate.yml", *sorted((project_dir / "infra").rglob("*.yml"))]
    for path in files:
        if path.is_file():
            names.update(_ENV_REF.findall(path.read_text(encoding="utf-8", errors="replace")))
    return _names(names, _profile_variables(project_dir))


def render_pipeline(provider: str, settings: PipelineSettings) -> str:
    return {"github": github_workflow, "gitlab": gitlab_ci}[provider](settings)


def _fill(template: str, **values: str) -> str:
    return _FIELD.sub(lambda match: values[match.group(1)], template)


def _scalar(command: str) -> str:
    """`command` as a YAML plain scalar, or double-quoted where a plain one would be cut short."""
    return json.dumps(command) if ": " in command or " #" in command else command


def _yaml_list(items: tuple[str, ...]) -> str:
    """A flow sequence of double-quoted strings (JSON strings are YAML strings)."""
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


# -- GitHub Actions ----------------------------------------------------------------------------

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
# under the environment's protection rules (required reviewers, deployment branches).
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
<<setup>>      - name: Deploy the branch's environment
        run: <<command>>

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
        _fill(_GITHUB_PULL_REQUEST, setup=_github_setup(settings, history), command=ci, secrets=pull_request),
        _fill(
            _GITHUB_CLOSED,
            setup=_github_setup(
                settings, "ref: ${{ github.event.pull_request.base.ref }}  # the merge commit may be gone"
            ),
            command=_scalar(settings.tidegate('ci --close --pr "$PR_NUMBER"')),
            secrets=pull_request,
        ),
    ]
    branches = "fetch-depth: 0  # every branch, as origin/<branch>, with its history"
    deploy = _scalar(settings.tidegate('deploy --branch "$GITHUB_REF_NAME"'))
    for job, deployment in _jobs("deploy", settings.deployments):
        jobs.append(
            _fill(
                _GITHUB_DEPLOY,
                job=job,
                environment=deployment.environment,
                branch=_quoted(deployment.branch),
                forge=deployment.forge_environment,
                secrets=_github_secrets(deployment.variables),
                setup=_github_setup(settings, branches),
                command=deploy,
            )
        )
    janitor = _scalar(settings.tidegate("janitor"))
    jobs.append(
        _fill(
            _GITHUB_JANITOR,
            setup=_github_setup(settings, "fetch-depth: 1"),
            command=janitor,
            secrets=_github_secrets(settings.janitor_variables),
        )
    )
    return _fill(_GITHUB_HEADER, push=_github_push(settings)) + "".join(jobs)


def _jobs(prefix: str, deployments: tuple[Deployment, ...]) -> list[tuple[str, Deployment]]:
    """A job name per deployment: `<prefix>-<environment>`, numbered when two branches deploy
    one environment."""
    counts = Counter(deployment.environment for deployment in deployments)
    return [
        (
            f"{prefix}-{d.environment}" + (f"-{index}" if counts[d.environment] > 1 else ""),
            d,
        )
        for index, d in enumerate(deployments, 1)
    ]


def _quoted(text: str) -> str:
    """A string literal of a GitHub expression."""
    return "'" + text.replace("'", "''") + "'"


def _github_setup(settings: PipelineSettings, checkout: str) -> str:
    return _fill(_GITHUB_SETUP, checkout=checkout, install=settings.install)


def _github_push(settings: PipelineSettings) -> str:
    if not settings.branches:
        return "  # no push trigger: tidegate.yml maps no branch to an environment (`branches:`)\n"
    return f"  push:\n    branches: {_yaml_list(settings.branches)}\n"


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


# -- GitLab CI ---------------------------------------------------------------------------------

_GITLAB = """\
# tidegate CI/CD on GitLab CI, written by `tidegate init --ci gitlab`. Edit it as you need.
#
# - merge request pipelines: `tidegate ci` lints and checks what changed, builds the merge
#   request's environment on top of production, runs the tests, traces the impact on downstream
#   models and dashboards and diffs the data against production. The report is shown as test
#   results and posted on the merge request (set TIDEGATE_GITLAB_TOKEN, a project access token
#   with the api scope), and the pipeline's result gates the merge ("Pipelines must succeed").
# - merge request merged or closed: GitLab stops its environment, whose stop job drops it.
# - push to a branch of `branches:` in tidegate.yml: `tidegate deploy` brings that branch's
#   environment to the pushed commit.
# - scheduled pipelines (Build > Pipeline schedules): `tidegate janitor` drops unused snapshots
#   and expired merge-request environments.
#
# The warehouse must outlive a job (a DuckDB file in the job's container does not): tidegate.yml
# names it, and its credentials are masked CI/CD variables (Settings > CI/CD > Variables)<<variables>>.
# Each job gets only the credentials it needs, by the environment scope of each variable: merge
# requests' scoped to tidegate/mr-* (<<pull_requests>>), each deployment's to its environment
# (<<deployments>>), protected. Protect those environments (Settings > CI/CD > Protected
# environments) so that production's credentials come with their approvals.

variables:
  GIT_DEPTH: "0"  # the whole history: changes are computed from the merge base
  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"

default:
  image: python:3.12  # has git, which tidegate reads the repository with
  cache:
    key: tidegate-pip
    paths: [.cache/pip]
  before_script:
    - <<install>>  # pin the version you use, e.g. tidegate==0.1.0

tidegate-ci:
  stage: test
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  interruptible: true
  environment:
    name: tidegate/mr-$CI_MERGE_REQUEST_IID
    on_stop: tidegate-ci-close
  script:
    - >-
      <<ci>>
  after_script:
    - |
      if [ -z "$TIDEGATE_GITLAB_TOKEN" ] || [ ! -f tidegate-report.md ]; then
        echo "tidegate: set TIDEGATE_GITLAB_TOKEN to post the report on the merge request"
        exit 0
      fi
      python3 - <<'EOF'
      # One note per merge request, updated on every push.
      import json, os, urllib.request
      notes = "{}/projects/{}/merge_requests/{}/notes".format(
          os.environ["CI_API_V4_URL"], os.environ["CI_PROJECT_ID"], os.environ["CI_MERGE_REQUEST_IID"]
      )
      def call(method, url, payload=None):
          data = None if payload is None else json.dumps(payload).encode()
          headers = {"PRIVATE-TOKEN": os.environ["TIDEGATE_GITLAB_TOKEN"], "Content-Type": "application/json"}
          with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method)) as answer:
              return json.load(answer)
      marker = "<!-- tidegate report -->"
      body = marker + "\\n" + open("tidegate-report.md", encoding="utf-8").read()
      previous = [n for n in call("GET", notes + "?sort=desc&per_page=100") if n["body"].startswith(marker)]
      if previous:
          call("PUT", "{}/{}".format(notes, previous[0]["id"]), {"body": body})
      else:
          call("POST", notes, {"body": body})
      EOF
  artifacts:
    when: always
    paths: [tidegate-report.md, tidegate-junit.xml]
    reports:
      junit: tidegate-junit.xml
    expire_in: 30 days

tidegate-ci-close:
  stage: deploy
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: manual
  needs: []  # available even when the checks failed
  allow_failure: true
  environment:
    name: tidegate/mr-$CI_MERGE_REQUEST_IID
    action: stop
  script:
    - <<close>>
<<deploy>>
tidegate-janitor:
  stage: deploy
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  environment:
    name: production  # production's credentials, without a deployment
    action: access
  script:
    - <<janitor>>
"""

_GITLAB_DEPLOY = """\

<<job>>:
  stage: deploy
  rules:
    - if: <<rule>>
  environment:
    name: <<forge>>  # its variables, protection and approvals
    deployment_tier: <<tier>>
  resource_group: tidegate-deploy-<<environment>>  # one deployment at a time, in the order of the pushes
  script:
    - <<command>>
"""


def gitlab_ci(settings: PipelineSettings) -> str:
    ci = settings.tidegate(
        'ci --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --head "$CI_COMMIT_SHA" --pr "$CI_MERGE_REQUEST_IID"',
        REPORTS,
        separator="\n      ",
    )
    deployments = "; ".join(
        f"{', '.join(d.variables) or 'none'} to {d.forge_environment}" for d in settings.deployments
    )
    return _fill(
        _GITLAB,
        variables=f": {', '.join(settings.variables)}" if settings.variables else "",
        pull_requests=", ".join(settings.pull_request_variables) or "none",
        deployments=deployments or "none",
        install=settings.install,
        ci=ci,
        close=_scalar(settings.tidegate('ci --close --pr "$CI_MERGE_REQUEST_IID"')),
        deploy=_gitlab_deploy(settings),
        janitor=_scalar(settings.tidegate("janitor")),
    )


def _gitlab_deploy(settings: PipelineSettings) -> str:
    if not settings.deployments:
        return "\n# no deploy job: tidegate.yml maps no branch to an environment (`branches:`)\n"
    command = _scalar(settings.tidegate('deploy --branch "$CI_COMMIT_BRANCH"'))
    jobs = []
    for job, deployment in _jobs("tidegate-deploy", settings.deployments):
        condition = f'$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == {json.dumps(deployment.branch)}'
        jobs.append(
            _fill(
                _GITLAB_DEPLOY,
                job=job,
                rule="'" + condition.replace("'", "''") + "'",
                forge=deployment.forge_environment,
                tier=_tier(deployment.forge_environment),
                environment=deployment.environment,
                command=command,
            )
        )
    return "".join(jobs)


def _tier(name: str) -> str:
    """GitLab's deployment tier of an environment, from its name."""
    for tier in ("production", "staging", "testing", "development"):
        if name.startswith(tier[:4]):
            return tier
    return "other"
