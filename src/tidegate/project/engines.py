"""The engines tidegate runs on, each declared once: its name, dialects, package and abilities.

A project names its engine in `tidegate.yml` (`engine: postgres`), a dbt profile names its
adapter (`type: postgres`). What tidegate must know of an engine without connecting to it is
declared here, once: the SQL dialect its statements are written in (sqlglot's, and sqlfluff's for
`tidegate lint`), the pip extra that installs its driver, the dbt adapter type that means it, and
capability flags that the planner, the state store and the view swap read instead of asking
which engine they talk to. The adapter that talks to the engine is a small class in
`tidegate/engines/<name>.py`, named by `adapter` and imported only when a project connects.

The declarations live in `project`, below the engines' layer, because validating `tidegate.yml`,
reading a dbt profile, writing CI files and linting all need them, and none of those may import
an adapter (or its driver). Adding an engine is one entry in `ENGINES` and one adapter module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tidegate.errors import ConfigError


class Location(enum.Enum):
    """How a connection in `tidegate.yml` says where an engine's warehouse is."""

    FILE = "file"
    """`path`: a database file, relative to the project (its database is named after the file)."""
    SERVER = "server"
    """`dsn`: a server's connection string."""
    SPARK = "spark"
    """`master` (Spark in the process) or `remote` (Spark Connect), with a `warehouse_dir`."""


@dataclass(frozen=True)
class Engine:
    """One engine, as every layer of tidegate sees it."""

    name: str
    """As `tidegate.yml` writes it (`engine: duckdb`)."""
    title: str
    """As messages name it ("PostgreSQL")."""
    adapter: str
    """`module:Class` of its adapter in `tidegate.engines`."""
    dialect: str
    """sqlglot's dialect its statements are written in."""
    sqlfluff_dialect: str
    """sqlfluff's name for that dialect, which `tidegate lint` parses the SQL with."""
    location: Location
    default_schema: str
    """The schema a session starts in (a dbt profile's target that names none)."""
    extra: str | None = None
    """The pip extra of tidegate that installs its driver (`tidegate[postgres]`); None when
    tidegate itself depends on it."""
    dbt_adapter: str | None = None
    """dbt's adapter type for it (`type:` in profiles.yml, `target.type` in Jinja)."""
    dbt_profiles: bool = False
    """Whether a dbt profile's target of that type can serve as a tidegate connection."""
    dbt_external_location: bool = False
    """Whether dbt sources read files through `external_location` (dbt-duckdb's config)."""
    transactional_ddl: bool = True
    """Whether CREATE/DROP can be rolled back, so a view swap is atomic."""
    constraints: bool = True
    """Whether tables take constraints (`not null`, `unique`, `check`...), which an enforced
    dbt contract then declares."""
    scd2_merge: bool = True
    """Whether a dbt snapshot (scd2) run is merged into its table; without, a snapshot keeps the
    rows of its build."""
    advisory_locks: bool = False
    """Whether the engine has session locks it releases when a session dies; without them the
    state store keeps a lock table."""
    single_writer_process: bool = False
    """Whether only the process holding the warehouse open can write (a DuckDB file): a lock
    left by any other process is then stale, and Airflow runs one task at a time."""
    roles: bool = False
    """Whether a connection can act as a role (`role:`, SET ROLE), so pull requests get a role
    of their own on production's warehouse."""


DUCKDB = Engine(
    name="duckdb",
    title="DuckDB",
    adapter="tidegate.engines.duckdb:DuckDBAdapter",
    dialect="duckdb",
    sqlfluff_dialect="duckdb",
    location=Location.FILE,
    default_schema="main",
    dbt_adapter="duckdb",
    dbt_profiles=True,
    dbt_external_location=True,
    single_writer_process=True,
)
POSTGRES = Engine(
    name="postgres",
    title="PostgreSQL",
    adapter="tidegate.engines.postgres:PostgresAdapter",
    dialect="postgres",
    sqlfluff_dialect="postgres",
    location=Location.SERVER,
    default_schema="public",
    extra="postgres",
    dbt_adapter="postgres",
    dbt_profiles=True,
    advisory_locks=True,
    roles=True,
)
SPARK = Engine(
    name="spark",
    title="Spark",
    adapter="tidegate.engines.spark:SparkAdapter",
    dialect="spark",
    sqlfluff_dialect="sparksql",
    location=Location.SPARK,
    default_schema="default",
    extra="spark",
    dbt_adapter="spark",
    transactional_ddl=False,
    constraints=False,
    scd2_merge=False,
)

ENGINES: Mapping[str, Engine] = MappingProxyType({spec.name: spec for spec in (DUCKDB, POSTGRES, SPARK)})
"""Every engine, by name."""
DEFAULT_ENGINE = DUCKDB
"""The engine of a connection that names none: embedded, nothing to install or run."""


def engine(name: str) -> Engine:
    """The engine `tidegate.yml` names (validated there, so an unknown one is a bug or a
    connection built in code)."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}", hint=f"one of {', '.join(ENGINES)}") from None


def for_dbt_adapter(adapter_type: str) -> Engine | None:
    """The engine of a dbt adapter type (`target.type`), if tidegate has one."""
    return next((spec for spec in ENGINES.values() if spec.dbt_adapter == adapter_type), None)
