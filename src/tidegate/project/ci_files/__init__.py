"""The CI/CD pipeline files `tidegate init --ci` writes: a GitHub Actions workflow or a GitLab CI
configuration that runs `tidegate ci` on pull requests, drops a pull request's environment when
it closes, deploys the branches of `branches:` on push and runs the janitor on a schedule.

The files are text templates rather than dumped YAML so that they keep the comments a user needs
to adapt them. Values inserted into shell commands come from CI variables the shell expands, never
from `${{ }}` expressions spliced into scripts, so a branch name cannot inject a command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tidegate.project.ci_files.github import github_workflow
from tidegate.project.ci_files.gitlab import gitlab_ci
from tidegate.project.ci_files.settings import (
    Deployment,
    PipelineSettings,
    credential_variables,
    pipeline_settings,
)

PIPELINE_FILES = {"github": Path(".github/workflows/tidegate.yml"), "gitlab": Path(".gitlab-ci.yml")}
_WRITERS: dict[str, Callable[[PipelineSettings], str]] = {"github": github_workflow, "gitlab": gitlab_ci}
"""The pipeline file of each forge, by the name `--ci` takes."""


def render_pipeline(provider: str, settings: PipelineSettings) -> str:
    return _WRITERS[provider](settings)


__all__ = [
    "PIPELINE_FILES",
    "Deployment",
    "PipelineSettings",
    "credential_variables",
    "github_workflow",
    "gitlab_ci",
    "pipeline_settings",
    "render_pipeline",
]
