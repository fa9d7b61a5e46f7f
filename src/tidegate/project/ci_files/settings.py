"""What a project's pipeline needs: the branches that deploy which environments, and the
credentials (environment variables) each job needs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tidegate.project.config import PROD, ConnectionConfig, ProjectConfig

REPORTS = "--report md=tidegate-report.md --report junit=tidegate-junit.xml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DBT_ENV_VAR = re.compile(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")


@dataclass(frozen=True)
class Deployment:
    """A branch whose pushes deploy an environment, and the credentials that deploy needs."""

    branch: str
    environment: str
    variables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """Variables holding the path of a credentials file, written from the secret of that name
    (GOOGLE_APPLICATION_CREDENTIALS): a file of its own in the job, a File variable on GitLab."""

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(sorted({*self.variables, *self.files}))

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
    deployment its environment's (and the passwords infra files set, and what its DAG target,
    Databricks and Terraform steps need), the janitor production's; a dbt profile's variables
    serve every environment, so every job."""
    from tidegate.project.ci_files.needs import deploy_needs

    relative = project_dir.resolve().relative_to(repository_root.resolve()).as_posix()
    connections = [*config.environments.values(), *filter(None, [config.pull_requests.connection])]
    shared = _profile_variables(project_dir)
    pull_requests = config.pull_requests
    ci = pull_requests.connection or config.connection_for(pull_requests.base)
    deployments = []
    extras = {c.spec.extra for c in connections if c.spec.extra is not None}
    for branch, environment in config.branches.items():
        needs = deploy_needs(project_dir, config, environment)
        names = _refs(config.connection_for(environment)) | _infra_variables(project_dir) | shared
        deployments.append(
            Deployment(branch, environment, _names(names, set(needs.variables)), _names(set(needs.files)))
        )
        extras |= needs.extras
    every = {*credential_variables(project_dir), *(name for d in deployments for name in d.secrets)}
    return PipelineSettings(
        project="" if relative == "." else relative,
        deployments=tuple(deployments),
        variables=tuple(sorted(every)),
        extras=tuple(sorted(extras)),
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
