"""The GitLab CI configuration `tidegate init --ci gitlab` writes."""

from __future__ import annotations

import json

from tidegate.project.ci_files.settings import REPORTS, PipelineSettings
from tidegate.project.ci_files.templates import fill, job_names, scalar

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
# environments) so that production's credentials come with their approvals. A deployment's list
# includes what its Terraform roots, DAG target and Databricks steps read; a key file
# (GOOGLE_APPLICATION_CREDENTIALS) is a variable of type File, holding the file's content.

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
        f"{', '.join([*d.variables, *(f'{name} (a File variable)' for name in d.files)]) or 'none'}"
        f" to {d.forge_environment}"
        for d in settings.deployments
    )
    return fill(
        _GITLAB,
        variables=f": {', '.join(settings.variables)}" if settings.variables else "",
        pull_requests=", ".join(settings.pull_request_variables) or "none",
        deployments=deployments or "none",
        install=settings.install,
        ci=ci,
        close=scalar(settings.tidegate('ci --close --pr "$CI_MERGE_REQUEST_IID"')),
        deploy=_gitlab_deploy(settings),
        janitor=scalar(settings.tidegate("janitor")),
    )


def _gitlab_deploy(settings: PipelineSettings) -> str:
    if not settings.deployments:
        return "\n# no deploy job: tidegate.yml maps no branch to an environment (`branches:`)\n"
    command = scalar(settings.tidegate('deploy --branch "$CI_COMMIT_BRANCH"'))
    jobs = []
    for job, deployment in job_names("tidegate-deploy", settings.deployments):
        condition = f'$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == {json.dumps(deployment.branch)}'
        jobs.append(
            fill(
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
