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
from dataclasses import dataclass
from pathlib import Path

from tidegate.project.config import ProjectConfig

PIPELINE_FILES = {"github": Path(".github/workflows/tidegate.yml"), "gitlab": Path(".gitlab-ci.yml")}
REPORTS = "--report md=tidegate-report.md --report junit=tidegate-junit.xml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DBT_ENV_VAR = re.compile(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")
_FIELD = re.compile(r"<<(\w+)>>")


@dataclass(frozen=True)
class PipelineSettings:
    project: str
    """The project directory relative to the top of the repository, '' when it is the top."""
    branches: tuple[str, ...]
    """Branches whose pushes deploy their environment (`branches:` in tidegate.yml)."""
    variables: tuple[str, ...]
    """Environment variables the project reads credentials from: CI secrets to provide."""
    extras: tuple[str, ...] = ()
    """pip extras of tidegate the project's engines need (postgres, spark)."""

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
    relative = project_dir.resolve().relative_to(repository_root.resolve()).as_posix()
    engines = {connection.engine for connection in config.environments.values()}
    return PipelineSettings(
        project="" if relative == "." else relative,
        branches=tuple(config.branches),
        variables=credential_variables(project_dir),
        extras=tuple(sorted(engines - {"duckdb"})),
    )


def credential_variables(project_dir: Path) -> tuple[str, ...]:
    """The `${VAR}`s of tidegate.yml and infra/ and the `env_var('VAR')`s of a dbt profiles.yml
    beside the project: each must be a secret of the pipeline."""
    names: set[str] = set()
    files = [project_dir / "tidegate.yml", *sorted((project_dir / "infra").rglob("*.yml"))]
    for path in files:
        if path.is_file():
            names.update(_ENV_REF.findall(path.read_text(encoding="utf-8", errors="replace")))
    profiles = project_dir / "profiles.yml"
    if profiles.is_file():
        names.update(_DBT_ENV_VAR.findall(profiles.read_text(encoding="utf-8", errors="replace")))
    return tuple(sorted(name for name in names if not name.startswith(("GITHUB_", "CI_"))))


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
# The warehouse must outlive a job (a DuckDB file on the runner does not): tidegate.yml names it,
# and its credentials are repository secrets (Settings > Secrets and variables > Actions).
name: tidegate

on:
  pull_request:
    types: [opened, synchronize, reopened, closed]
<<push>>  schedule:
    - cron: "23 3 * * *"
  workflow_dispatch:

permissions:
  contents: read
<<env>>
jobs:
"""

_GITHUB_SETUP = """\
      - uses: actions/checkout@v4
        with:
          <<checkout>>
      - uses: actions/setup-python@v5
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
    steps:
<<setup>>      - name: tidegate ci
        run: >-
          <<command>>
      - name: Show the report in the run's summary
        if: always() && hashFiles('tidegate-report.md') != ''
        run: cat tidegate-report.md >> "$GITHUB_STEP_SUMMARY"
      - name: Post the report on the pull request
        if: always() && hashFiles('tidegate-report.md') != ''
        continue-on-error: true  # pull requests from forks only get a read-only token
        uses: actions/github-script@v7
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
        uses: actions/upload-artifact@v4
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
    steps:
<<setup>>      - name: Drop the pull request's environment
        run: <<command>>

"""

_GITHUB_DEPLOY = """\
  deploy:
    name: tidegate deploy
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    concurrency:
      # deployments of a branch run one after the other and are never cancelled halfway
      group: tidegate-deploy-${{ github.ref_name }}
      cancel-in-progress: false
    steps:
<<setup>>      - name: Deploy the branch's environment
        run: <<command>>

"""

_GITHUB_JANITOR = """\
  janitor:
    name: tidegate janitor
    if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    concurrency:
      group: tidegate-janitor
    steps:
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
    jobs = [
        _fill(_GITHUB_PULL_REQUEST, setup=_github_setup(settings, history), command=ci),
        _fill(
            _GITHUB_CLOSED,
            setup=_github_setup(
                settings, "ref: ${{ github.event.pull_request.base.ref }}  # the merge commit may be gone"
            ),
            command=_scalar(settings.tidegate('ci --close --pr "$PR_NUMBER"')),
        ),
    ]
    if settings.branches:
        branches = "fetch-depth: 0  # every branch, as origin/<branch>, with its history"
        deploy = settings.tidegate('deploy --branch "$GITHUB_REF_NAME"')
        jobs.append(_fill(_GITHUB_DEPLOY, setup=_github_setup(settings, branches), command=_scalar(deploy)))
    janitor = _scalar(settings.tidegate("janitor"))
    jobs.append(_fill(_GITHUB_JANITOR, setup=_github_setup(settings, "fetch-depth: 1"), command=janitor))
    return _fill(_GITHUB_HEADER, push=_github_push(settings), env=_github_env(settings)) + "".join(jobs)


def _github_setup(settings: PipelineSettings, checkout: str) -> str:
    return _fill(_GITHUB_SETUP, checkout=checkout, install=settings.install)


def _github_push(settings: PipelineSettings) -> str:
    if not settings.branches:
        return "  # no push trigger: tidegate.yml maps no branch to an environment (`branches:`)\n"
    return f"  push:\n    branches: {_yaml_list(settings.branches)}\n"


def _github_env(settings: PipelineSettings) -> str:
    """The project's credential variables, each from the repository secret of the same name."""
    if not settings.variables:
        return "\n# env:  # the variables tidegate.yml reads credentials from\n#   PROD_DSN: ${{ secrets.PROD_DSN }}\n"
    lines = "".join(f"  {name}: ${{{{ secrets.{name} }}}}\n" for name in settings.variables)
    return f"\nenv:  # the variables tidegate.yml reads credentials from\n{lines}"


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
  script:
    - <<janitor>>
"""

_GITLAB_DEPLOY = """\

tidegate-deploy:
  stage: deploy
  rules:
    - if: <<rule>>
  resource_group: tidegate-deploy  # one deployment at a time, in the order of the pushes
  script:
    - <<command>>
"""


def gitlab_ci(settings: PipelineSettings) -> str:
    ci = settings.tidegate(
        'ci --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --head "$CI_COMMIT_SHA" --pr "$CI_MERGE_REQUEST_IID"',
        REPORTS,
        separator="\n      ",
    )
    return _fill(
        _GITLAB,
        variables=f": {', '.join(settings.variables)}" if settings.variables else "",
        install=settings.install,
        ci=ci,
        close=_scalar(settings.tidegate('ci --close --pr "$CI_MERGE_REQUEST_IID"')),
        deploy=_gitlab_deploy(settings),
        janitor=_scalar(settings.tidegate("janitor")),
    )


def _gitlab_deploy(settings: PipelineSettings) -> str:
    if not settings.branches:
        return "\n# no deploy job: tidegate.yml maps no branch to an environment (`branches:`)\n"
    branches = " || ".join(f"$CI_COMMIT_BRANCH == {json.dumps(branch)}" for branch in settings.branches)
    rule = "'" + f'$CI_PIPELINE_SOURCE == "push" && ({branches})'.replace("'", "''") + "'"
    return _fill(
        _GITLAB_DEPLOY, rule=rule, command=_scalar(settings.tidegate('deploy --branch "$CI_COMMIT_BRANCH"'))
    )
