"""`tidegate.yml`: the project's settings, validated with pydantic.

Validation errors are reported with the file and the line of the offending key, because a user
fixing a typo in CI logs should not have to guess where it is. The sections of what deploy ships
beyond the warehouse (Airflow, Terraform, Databricks) are in `tidegate.project.shipping`, the
controller's in `tidegate.project.controller`.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tidegate.errors import ConfigError
from tidegate.project.controller import ControllerConfig
from tidegate.project.dbt import DBT_PROJECT, DbtProject, is_dbt_project, read_dbt_project
from tidegate.project.dsn import dsn_identity, expand_connection, literal_secret, mask
from tidegate.project.durations import parse_duration
from tidegate.project.engines import DEFAULT_ENGINE, ENGINES, Engine, Location
from tidegate.project.identifiers import NAME, name_clash
from tidegate.project.settings import LocatedError, Strict
from tidegate.project.shipping import DatabricksConfig, OrchestrationConfig, TerraformConfig
from tidegate.project.yamlio import LineDict, line_at, load_yaml

CONFIG_FILE = "tidegate.yml"
PROD = "prod"


def _is_sqlglot_dialect(name: str) -> bool:
    """Whether sqlglot has this dialect. Each dialect is a module of `sqlglot.dialects`, so the
    common case is a file check: importing sqlglot costs commands like `promote` a tenth of a
    second they otherwise never spend."""
    import importlib.util

    spec = importlib.util.find_spec("sqlglot")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "dialects" / f"{name.lower()}.py").is_file():
            return True
    from sqlglot.dialects.dialect import Dialect

    try:
        Dialect.get_or_raise(name)
    except ValueError:
        return False
    return True


def current_user() -> str:
    """The operating-system user's name, or "unknown" where there is none (a container
    running under a uid without a passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def current_author() -> str:
    """Who a change is recorded as: TIDEGATE_USER, else git's author, else the operating-system user."""
    return os.environ.get("TIDEGATE_USER") or os.environ.get("GIT_AUTHOR_NAME") or current_user()


class ConnectionConfig(Strict):
    """Where an environment's warehouse is. Several environments share one to share snapshots.

    DuckDB takes `path`; PostgreSQL a `dsn` (credentials only as `${VAR}` references, expanded
    when connecting); Spark a `master` (`local[2]`) or a Spark Connect `remote` (`sc://host:port`,
    a token only as `/;token=${VAR}`). See `tidegate.project.dsn` for how references expand.
    """

    engine: str = DEFAULT_ENGINE.name
    """One of `tidegate.project.engines.ENGINES`."""
    path: str = "warehouse.duckdb"
    dsn: str | None = None
    statement_timeout: str | int | None = None
    master: str = "local[2]"
    remote: str | None = None
    table_format: Literal["parquet", "delta"] = "parquet"
    warehouse_dir: str = "spark-warehouse"
    state_path: str = ".tidegate/spark-state.duckdb"
    """Spark has no transactions: its state lives in this DuckDB file (or in `state_dsn`)."""
    state_dsn: str | None = None
    role: str | None = None
    """PostgreSQL: the role the session acts as (`SET ROLE`, so what it creates belongs to that
    role, not to the user the dsn logs in as)."""
    per_user: bool = False
    threads: int = Field(default=4, ge=1, le=64)
    lock_timeout: str | int = "60s"

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in ENGINES:
            names = [repr(name) for name in ENGINES]
            raise ValueError(f"Input should be {', '.join(names[:-1])} or {names[-1]}")
        return value

    @property
    def spec(self) -> Engine:
        """The engine this connection is to, and what it can do."""
        return ENGINES[self.engine]

    @field_validator("role")
    @classmethod
    def _valid_role(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError(f"{value!r} is not a valid role name (letters, digits and _)")
        return value

    @field_validator("lock_timeout", "statement_timeout")
    @classmethod
    def _valid_timeout(cls, value: str | int | None) -> str | int | None:
        if value is not None and parse_duration(value) < 0:
            raise ValueError("a timeout cannot be negative")
        return value

    @model_validator(mode="after")
    def _engine_settings(self) -> ConnectionConfig:
        if self.spec.location is Location.SERVER and not self.dsn:
            raise ValueError(f"a {self.engine} environment needs a dsn (e.g. dsn: ${{PROD_DSN}})")
        if self.role is not None and not self.spec.roles:
            with_roles = " or ".join(spec.title for spec in ENGINES.values() if spec.roles)
            raise ValueError(f"role: is a {with_roles} setting")
        for name, dsn in (("dsn", self.dsn), ("state_dsn", self.state_dsn)):
            if dsn and literal_secret(dsn):
                raise ValueError(
                    f"the {name} holds a password: credentials only come from the environment "
                    f"({name}: ${{PROD_DSN}}, or password=${{PGPASSWORD}} / PGPASSWORD)"
                )
        if self.remote and literal_secret(self.remote):
            raise ValueError(
                "the remote holds a token: credentials only come from the environment "
                "(remote: sc://<host>:443/;token=${DATABRICKS_TOKEN})"
            )
        return self

    def key(self, root: Path) -> str:
        """Identity of the warehouse: environments with equal keys share a state store.

        Never contains credentials: it is written into saved plans."""
        if self.spec.location is Location.SERVER:
            return f"{self.engine}:{dsn_identity(expand_connection(self.dsn or '').text)}"
        if self.spec.location is Location.SPARK:
            where = mask(expand_connection(self.remote).text) if self.remote else self.master
            return f"{self.engine}:{where}:{(root / self.warehouse_dir).resolve()}"
        if self.path == ":memory:":
            return f"{self.engine}::memory:"
        return f"{self.engine}:{(root / self.path).resolve()}"


class PullRequestConfig(Strict):
    environment: str = "pr_{number}"
    ttl: str | int = "3d"
    base: str = PROD
    connection: ConnectionConfig | None = None
    """How `tidegate ci` reaches production's warehouse, where pull-request environments live
    to reuse its snapshots: a role of its own rather than production's credentials (see
    `tidegate.state.access`). None: CI connects as production does."""

    @field_validator("connection")
    @classmethod
    def _names_its_role(cls, value: ConnectionConfig | None) -> ConnectionConfig | None:
        if value is not None and value.spec.roles and value.role is None:
            raise ValueError(
                f"a {value.spec.title} pull-request connection names its role (role: tidegate_ci): "
                "production's deploy grants that role what pull requests need"
            )
        return value

    @field_validator("environment")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if value.count("{number}") != 1 or not NAME.match(value.replace("{number}", "1")):
            raise ValueError(
                "the pull-request environment must be a name with {number} once, e.g. pr_{number}"
            )
        return value

    def pattern(self) -> re.Pattern[str]:
        """Which environment names are pull-request environments (`pr_{number}` is `pr_12`)."""
        return re.compile(self.sql_pattern().replace("[0-9]", r"\d"))

    def sql_pattern(self) -> str:
        """`pattern` as a POSIX regular expression (PostgreSQL's `~`): `^pr_[0-9]+$`."""
        prefix, suffix = self.environment.split("{number}")
        return f"^{prefix}[0-9]+{suffix}$"  # names are letters, digits and _: nothing to escape

    @field_validator("ttl")
    @classmethod
    def _valid_ttl(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value


class JanitorConfig(Strict):
    retention: str | int = "7d"

    @field_validator("retention")
    @classmethod
    def _valid_retention(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value


class DiffConfig(Strict):
    """`ci: diff:`: how the data diff of a pull request's changed models is judged."""

    fail_above: float | None = Field(default=None, ge=0, le=100)
    """Fail a model whose differing rows exceed this percentage of its rows (None: never)."""
    samples: int = Field(default=5, ge=0, le=1000)
    """Sample rows to show of each kind (added, removed, changed)."""
    keys: dict[str, list[str]] = Field(default_factory=dict)
    """Primary keys of models that declare none (a `unique` test or a `unique_key` config)."""


class CiConfig(Strict):
    """`ci:` in tidegate.yml: what `tidegate ci` checks beyond building and testing."""

    lint: bool = True
    dashboards: bool = True
    """Run the queries of the dashboards a pull request reaches against its environment."""
    diff: DiffConfig = Field(default_factory=DiffConfig)


class DeployConfig(Strict):
    """`deploy: {gates: {prod: [staging]}}`: prod only takes what staging already ran, i.e. the
    snapshots of every model were some version of staging (what was tested is what ships)."""

    gates: dict[str, list[str]] = Field(default_factory=dict)


class ProjectConfig(Strict):
    """The validated content of `tidegate.yml`."""

    name: str
    dialect: str = DEFAULT_ENGINE.dialect
    schema_: str = Field(default="analytics", alias="schema")
    environments: dict[str, ConnectionConfig] = Field(default_factory=lambda: {PROD: ConnectionConfig()})
    promotion: list[str] = Field(default_factory=lambda: [PROD])
    branches: dict[str, str] = Field(default_factory=dict)
    pull_requests: PullRequestConfig = Field(default_factory=PullRequestConfig)
    vars: dict[str, Any] = Field(default_factory=dict)
    janitor: JanitorConfig = Field(default_factory=JanitorConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    ci: CiConfig = Field(default_factory=CiConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
    terraform: TerraformConfig = Field(default_factory=TerraformConfig)
    databricks: DatabricksConfig = Field(default_factory=DatabricksConfig)
    controller: ControllerConfig | None = None
    """`controller:`: what `tidegate serve` watches and how it is reached (see `tidegate.server`)."""
    model_paths: list[str] = Field(default_factory=lambda: ["models"])
    seed_paths: list[str] = Field(default_factory=lambda: ["seeds"])
    test_paths: list[str] = Field(default_factory=lambda: ["tests"])
    macro_paths: list[str] = Field(default_factory=lambda: ["macros"])
    snapshot_paths: list[str] = Field(default_factory=lambda: ["snapshots"])
    dashboard_paths: list[str] = Field(default_factory=lambda: ["dashboards"])

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    _dbt: DbtProject | None = PrivateAttr(default=None)

    @property
    def dbt(self) -> DbtProject | None:
        """The dbt project this configuration comes from (or is completed by), if any."""
        return self._dbt

    @field_validator("name", "schema_")
    @classmethod
    def _identifier(cls, value: str, info: ValidationInfo) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r} is not a valid name (letters, digits and _)")
        if info.field_name == "schema_" and (problem := name_clash(value, "schema")):
            raise ValueError(problem)
        return value

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if not _is_sqlglot_dialect(value):
            raise ValueError(f"unknown SQL dialect {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ProjectConfig:
        if not self.environments:
            raise LocatedError("at least one environment is needed", ("environments",))
        for name in self.environments:
            if not NAME.match(name):
                raise LocatedError(
                    f"environment name {name!r} must be letters, digits and _", ("environments", name)
                )
            if problem := name_clash(name, "environment"):
                raise LocatedError(problem, ("environments", name))
        for index, env in enumerate(self.promotion):
            if env not in self.environments:
                raise LocatedError(
                    f"promotion names {env!r}, which is not in environments", ("promotion", index)
                )
        for branch, env in self.branches.items():
            if env not in self.environments:
                raise LocatedError(
                    f"branch {branch!r} maps to {env!r}, which is not in environments", ("branches", branch)
                )
        for env, required in self.deploy.gates.items():
            for name in [env, *required]:
                if name not in self.environments:
                    raise LocatedError(f"{name!r} is not in environments", ("deploy", "gates", env))
        for index, root in enumerate(self.terraform.roots):
            if root.environment not in self.environments:
                raise LocatedError(
                    f"root {root.path!r} names {root.environment!r}, which is not in environments",
                    ("terraform", "roots", index, "environment"),
                )
        for env in self.orchestration.airflow.targets:
            if env not in self.environments:
                raise LocatedError(
                    f"{env!r} is not in environments", ("orchestration", "airflow", "targets", env)
                )
        for index, repo in enumerate(self.databricks.repos):
            if repo.environment not in self.environments:
                raise LocatedError(
                    f"repo {repo.path!r} names {repo.environment!r}, which is not in environments",
                    ("databricks", "repos", index, "environment"),
                )
        for index, name in enumerate(self.databricks.jobs.environments or []):
            if name not in self.environments:
                raise LocatedError(
                    f"{name!r} is not in environments", ("databricks", "jobs", "environments", index)
                )
        base = self.pull_requests.base
        if "base" in self.pull_requests.model_fields_set and base not in self.environments:
            raise LocatedError(f"{base!r} is not in environments", ("pull_requests", "base"))
        return self

    def databricks_job_environments(self) -> set[str]:
        """The environments whose deploy ships `databricks/jobs/*.yml` (see `DatabricksJobs`)."""
        listed = self.databricks.jobs.environments
        return set(listed) if listed is not None else set(self.branches.values())

    @property
    def default_schema(self) -> str:
        return self.schema_

    def connection_for(self, environment: str) -> ConnectionConfig:
        """The connection of a named environment; other environments (pr_12, a user's sandbox)
        live in the production warehouse so they can reuse its snapshots."""
        if environment in self.environments:
            return self.environments[environment]
        for name, connection in self.environments.items():
            if connection.per_user and environment.startswith(f"{name}_"):
                return connection
        if PROD in self.environments:
            return self.environments[PROD]
        return next(iter(self.environments.values()))

    def resolve_environment(self, name: str) -> str:
        """The concrete environment a name means: `dev` with `per_user` is `dev_<user>`."""
        if not NAME.match(name):
            raise ConfigError(f"environment name {name!r} must be letters, digits and _")
        if problem := name_clash(name, "environment"):
            raise ConfigError(problem)
        connection = self.environments.get(name)
        if connection is not None and connection.per_user:
            user = re.sub(r"[^A-Za-z0-9_]", "_", os.environ.get("TIDEGATE_USER") or current_user())
            return f"{name}_{user.lower()}"
        return name


def load_config(root: Path) -> ProjectConfig:
    """Read and validate `tidegate.yml` in `root`, or a dbt project's `dbt_project.yml` and
    profile; with both, `tidegate.yml` decides and `dbt_project.yml` fills in what it leaves out
    (paths, vars, the name, the schema of the profile's target)."""
    path = root / CONFIG_FILE
    if not path.exists():
        if is_dbt_project(root):
            return _dbt_config(root)
        raise ConfigError(
            f"no {CONFIG_FILE} in {root}",
            hint="run `tidegate init` to create a project, or pass --project DIR",
        )
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("tidegate.yml must be a mapping", path=path, line=1)
    dbt = read_dbt_project(root, require_profile=False) if is_dbt_project(root) else None
    if dbt is not None:
        defaults: dict[str, Any] = {
            "name": dbt.name,
            "model_paths": dbt.model_paths,
            "seed_paths": dbt.seed_paths,
            "test_paths": dbt.test_paths,
            "macro_paths": dbt.macro_paths,
            "snapshot_paths": dbt.snapshot_paths,
        }
        if dbt.target is not None:
            defaults["schema"] = dbt.target.schema
        for key, value in defaults.items():
            data.setdefault(key, value)
        data["vars"] = {**dbt.vars, **(data.get("vars") or {})}
    config = _validate(data, path)
    config._dbt = dbt
    return config


def _dbt_config(root: Path) -> ProjectConfig:
    """A dbt project without tidegate.yml: the profile's default target serves prod and dev."""
    dbt = read_dbt_project(root, require_profile=True)
    assert dbt.target is not None and dbt.connection is not None
    data = LineDict(
        name=dbt.name,
        dialect=dbt.target.type,
        schema=dbt.target.schema,
        environments={PROD: dbt.connection, "dev": dbt.connection},
        promotion=["dev", PROD],
        vars=dbt.vars,
        model_paths=dbt.model_paths,
        seed_paths=dbt.seed_paths,
        test_paths=dbt.test_paths,
        macro_paths=dbt.macro_paths,
        snapshot_paths=dbt.snapshot_paths,
    )
    data.line, data.key_lines = 1, {}
    config = _validate(data, dbt.profiles_path or root / DBT_PROJECT)
    config._dbt = dbt
    return config


def _validate(data: dict[str, Any], path: Path) -> ProjectConfig:
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, LocatedError):
            location, message = cause.location, str(cause)
        else:
            location, message = tuple(first["loc"]), first["msg"].removeprefix("Value error, ")
        field = ".".join(str(part) for part in location) or path.name
        raise ConfigError(f"{field}: {message}", path=path, line=line_at(data, location)) from None
