"""What `tidegate deploy` ships beyond the warehouse, as `tidegate.yml` declares it: Airflow's DAG
files and where they go (`orchestration:`), Terraform roots (`terraform:`), and Databricks repos
and jobs (`databricks:`). `tidegate.project.config` validates the rest, and the names these
sections use (environments) against it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tidegate.project.durations import parse_duration
from tidegate.project.settings import LocatedError, Strict


class DagRules(Strict):
    """`orchestration: airflow: rules:`: the static checks of DAG files, each on by default."""

    owner: bool = True
    """Every DAG names an owner (in default_args)."""
    retries: bool = True
    """Every DAG sets retries (in default_args)."""
    tags: bool = True
    """Every DAG has tags."""
    import_time_work: bool = True
    """No Variable.get, connection, database or network call runs when the file is imported."""
    static_start_date: bool = True
    """No start_date computed from the current time (datetime.now(), days_ago...)."""


class AirflowTarget(Strict):
    """Where `tidegate deploy` ships an environment's DAG files, and the Airflow that reads them.

    `to` is a local folder (releases and an atomic `current` symlink, see
    `tidegate.orchestrate.release`), `s3://bucket/prefix` (MWAA's layout: `dags/`, `plugins.zip`,
    `requirements.txt`) or `gs://bucket/prefix` (Cloud Composer's: `dags/`, `plugins/`).
    With `api_url`, deploy waits until that Airflow has parsed the shipped files."""

    to: str
    api_url: str | None = None
    """The Airflow 3 web server (its REST API at /api/v2)."""
    token: str | None = None
    """The API token, only as a `${VAR}` reference: a token never sits in tidegate.yml."""
    parse_timeout: str | int = "600s"
    """How long deploy waits for Airflow to parse the shipped files. Airflow 3 looks for new
    files every `[dag_processor] refresh_interval` (300 s by default): keep this longer."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"to": value} if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _where(cls, value: str) -> str:
        kinds = "a folder, s3://bucket/prefix or gs://bucket/prefix"
        scheme, separator, rest = value.partition("://")
        if not value.strip():
            raise ValueError(f"name {kinds}")
        if separator and scheme not in ("s3", "gs"):
            raise ValueError(f"{scheme}:// is not a DAG target: use {kinds}")
        if separator and not rest.split("/", 1)[0]:
            raise ValueError(f"{value!r} names no bucket")
        return value

    @field_validator("token")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
            raise ValueError(
                "the token is given as a reference to an environment variable, e.g. ${AIRFLOW_TOKEN}"
            )
        return value

    @field_validator("parse_timeout")
    @classmethod
    def _valid_timeout(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value


class AirflowConfig(Strict):
    """`orchestration: airflow:` in tidegate.yml: where Airflow and the DAG files are."""

    python: str | None = None
    """The Python of the user's Airflow (an image's or a virtualenv's); also
    TIDEGATE_AIRFLOW_PYTHON. Without it, `dags check` runs the static checks only."""
    dags: str = "dags"
    """The folder of the DAG files, relative to the project."""
    import_budget: float = Field(default=2.0, gt=0)
    """Seconds a DAG file may take to import before it is reported."""
    rules: DagRules = Field(default_factory=DagRules)
    releases: int = Field(default=5, ge=1)
    """Releases `dags deploy` keeps for rollback."""
    targets: dict[str, AirflowTarget] = Field(default_factory=dict)
    """Where `tidegate deploy` ships each environment's DAGs (environment -> target)."""

    def holds(self, path: str) -> bool:
        """Whether `path` (relative to the project, with `/`) lies in the DAG folder: the one rule
        `lint`, `ci` and `dags check` use to tell a DAG file, whatever spelling `dags` has
        (`dags`, `./dags/`, `airflow/dags`)."""
        folder = PurePosixPath(self.dags).parts
        parts = PurePosixPath(path).parts
        return len(parts) > len(folder) and parts[: len(folder)] == folder


class TerraformRoot(Strict):
    """One Terraform (or OpenTofu) root module, and the environment whose deploy applies it."""

    path: str
    """The root's folder, relative to the project."""
    environment: str
    vars: dict[str, Any] = Field(default_factory=dict)
    """Input variables (given to Terraform as a variables file, so lists and maps work); they
    win over the same variables in `var_files`."""
    var_files: list[str] = Field(default_factory=list)
    """Variables files, relative to the root's folder (as `-var-file` reads them), in order."""

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        folder = PurePosixPath(value)
        if folder.is_absolute() or ".." in folder.parts:
            raise ValueError(f"{value!r} must be a folder inside the project")
        if not folder.parts:  # the project's own folder: its key would change with every file
            raise ValueError(f"{value!r} is the project itself: keep a root in a folder of its own")
        return folder.as_posix()

    @field_validator("var_files")
    @classmethod
    def _inside(cls, value: list[str], info: ValidationInfo) -> list[str]:
        root = info.data.get("path")
        for name in value:
            inside = posixpath.normpath(f"{root or '.'}/{name}")
            if PurePosixPath(name).is_absolute() or inside == ".." or inside.startswith("../"):
                raise ValueError(f"{name!r} must be a file inside the project (relative to the root)")
        return value


class TerraformConfig(Strict):
    """`terraform:` in tidegate.yml: the Terraform roots `ci` plans and `deploy` applies."""

    binary: str | None = None
    """`terraform`, `tofu` or a path; default: whichever is on PATH, tofu first."""
    roots: list[TerraformRoot] = Field(default_factory=list)
    allow_destroy: list[str] = Field(default_factory=list)
    """Resource addresses whose deletion or replacement does not fail CI (`module.x.y.z`;
    `*` matches any part of an address)."""
    lock_timeout: str | int = "60s"
    """How long plan and apply wait for Terraform's state lock."""

    @field_validator("binary")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("name a binary (terraform, tofu or a path), or leave it out")
        return value

    @field_validator("lock_timeout")
    @classmethod
    def _valid_lock_timeout(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _distinct_roots(self) -> TerraformConfig:
        seen: set[str] = set()
        for index, root in enumerate(self.roots):
            if root.path in seen:
                raise LocatedError(f"root {root.path!r} is listed twice", ("terraform", "roots", index))
            seen.add(root.path)
        return self


class DatabricksRepo(Strict):
    """A Databricks Git folder (`/Repos/...`) that deploy moves to the deployed commit."""

    path: str
    """Its path in the workspace, e.g. /Repos/prod/data."""
    environment: str
    """The environment whose deploy moves it."""
    branch: str | None = None
    """The branch it checks out; default: the branch being deployed (or the one `branches:`
    maps to the environment)."""

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") in ("", "/Repos", "/Workspace"):
            raise ValueError(f"{value!r} must be the workspace path of a repo, e.g. /Repos/prod/data")
        return value.rstrip("/")


class DatabricksJobs(Strict):
    """`databricks: jobs:`: where the job files are and which environments' deploys ship them."""

    path: str = "databricks/jobs"
    """The folder of the job files (`*.yml`, Jobs API 2.1 settings), relative to the project."""
    environments: list[str] | None = None
    """The environments whose deploy creates, resets and deletes the jobs; default: those
    `branches:` maps a branch to (deployed from Git: not a dev sandbox, not a pull request)."""
    git_url: str | None = None
    """The repository Databricks clones, when a job file gives no `git_source`; default: the
    `origin` remote, as an https URL."""
    git_provider: str | None = None


class DatabricksConfig(Strict):
    """`databricks:` in tidegate.yml: the workspace repos and jobs deploy keeps at the deployed
    commit. The workspace is DATABRICKS_HOST, its token DATABRICKS_TOKEN (never in this file)."""

    repos: list[DatabricksRepo] = Field(default_factory=list)
    jobs: DatabricksJobs = Field(default_factory=DatabricksJobs)


class OrchestrationConfig(Strict):
    airflow: AirflowConfig = Field(default_factory=AirflowConfig)
