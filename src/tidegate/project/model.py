"""The domain objects a project is made of: models, seeds, tests, unit tests, dashboards and
exposures.

They are small frozen dataclasses built once by the loader; the graph, the planner and the CLI
read them and never change them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

REF_PREFIX = "__tgref__"
THIS_PLACEHOLDER = "__tgthis__"


def ref_placeholder(model: str) -> str:
    """The identifier a `ref()` renders to before an environment decides the real relation."""
    return f"{REF_PREFIX}{model.lower()}"


class Kind(enum.StrEnum):
    """How a model's data is materialized in its snapshot."""

    VIEW = "view"
    TABLE = "table"
    INCREMENTAL = "incremental"
    EPHEMERAL = "ephemeral"
    SEED = "seed"
    SCD2 = "scd2"
    """A dbt snapshot: a type-2 slowly changing dimension that `run` merges new versions into
    (named scd2 here, since tidegate's snapshots are the physical tables of fingerprints)."""

    @property
    def has_relation(self) -> bool:
        return self is not Kind.EPHEMERAL


class Language(enum.StrEnum):
    SQL = "sql"
    PYTHON = "python"
    CSV = "csv"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARN = "warn"


@dataclass(frozen=True)
class Location:
    """Where a definition comes from, relative to the project root."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


CONSTRAINT_TYPES = ("not_null", "unique", "primary_key", "check", "foreign_key", "custom")


@dataclass(frozen=True)
class Constraint:
    """A dbt constraint of a contracted model: on a column, or on the model (`columns`)."""

    type: str
    expression: str | None = None
    """A `check`'s condition, a `custom` constraint's SQL, a `foreign_key`'s reference."""
    columns: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class Column:
    name: str
    description: str = ""
    data_type: str | None = None
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class Contract:
    """dbt's enforced model contract: the query must return exactly these columns with these
    types (as the engine names them), and a table is created with them, in this order, and the
    constraints."""

    columns: tuple[Column, ...]
    constraints: tuple[Constraint, ...] = ()

    def data_config(self) -> dict[str, Any]:
        def constraints(items: tuple[Constraint, ...]) -> list[list[Any]]:
            return [[c.type, c.expression, list(c.columns)] for c in items]

        return {
            "columns": [[c.name, c.data_type, constraints(c.constraints)] for c in self.columns],
            "constraints": constraints(self.constraints),
        }


@dataclass(frozen=True)
class Source:
    """An external table the project reads but does not build (`source('raw', 'orders')`)."""

    source: str
    name: str
    relation: str
    description: str = ""
    location: Location | None = None
    loaded_at_field: str | None = None
    """dbt's `loaded_at_field` (the table's, else its source's); declared, not checked."""
    freshness: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    """dbt's `freshness:` (`warn_after`/`error_after`/`filter`), the table's over its source's;
    tidegate stores it but does not run freshness checks."""
    external_location: str | None = None
    """dbt-duckdb's `external_location` (meta or config), formatted and quoted: on DuckDB the
    source reads that file or table function instead of `relation`."""


@dataclass(frozen=True)
class DbtPython:
    """What a dbt Python model (`def model(dbt, session)`) reads through its `dbt` argument,
    found in its code as dbt finds it (calls with literal arguments): each is resolved when it
    runs, to the relation of the environment being built."""

    refs: dict[str, str] = field(default_factory=dict)
    """dbt's key of a `dbt.ref(...)` (`orders`, `pkg.orders`, `orders.v2`) -> the model."""
    sources: dict[str, str] = field(default_factory=dict)
    """`source.table` of a `dbt.source(...)` -> its relation, or the model it reads (a seed)."""
    source_models: frozenset[str] = frozenset()
    """The keys of `sources` that name a model rather than a relation."""
    config: dict[str, Any] = field(default_factory=dict)
    """What `dbt.config.get(key, default)` returns, for each key the code asks for."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What `dbt.config.meta_get(key, default)` returns."""
    this: dict[str, str] = field(default_factory=dict)
    """dbt's names of the model's relation in prod (`database`, `schema`, `identifier`)."""

    def data_config(self) -> dict[str, Any]:
        return {"sources": self.sources, "config": self.config, "meta": self.meta}


@dataclass(frozen=True)
class Model:
    """A node that produces a relation: a SQL or Python model, or a seed."""

    name: str
    kind: Kind
    language: Language
    schema: str
    location: Location
    alias: str | None = None
    """The name of the model's view in environments when it is not the model's name (dbt's
    `alias`); snapshot tables keep the model's name."""
    sql: str = ""
    """Rendered SQL with refs as placeholders (see :func:`ref_placeholder`)."""
    incremental_sql: str | None = None
    """The SQL rendered with `is_incremental()` true, for incremental runs."""
    env_digests: tuple[tuple[str, str], ...] = ()
    """(name, hash of the value) of each `env_var()` value masked in the SQL (see
    `tidegate.project.envvars`): part of the fingerprint, so a new value is a new snapshot."""
    python_source: str = ""
    dbt_python: DbtPython | None = field(default=None, hash=False)
    """A dbt Python model's `dbt` (None for tidegate's, whose parameters are its refs)."""
    seed_hash: str = ""
    column_types: tuple[tuple[str, str], ...] = ()
    delimiter: str = ","
    """The field separator of a seed's CSV file."""
    narrow_integers: bool = False
    """A dbt seed's whole numbers are 32-bit integers when they fit, as dbt's CSV reader makes
    them (tidegate's own seeds keep the engine's 64-bit ones)."""
    refs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    unique_key: tuple[str, ...] = ()
    incremental_strategy: str = "merge"
    scd2: Scd2Config | None = None
    """A dbt snapshot's strategy (Kind.SCD2 only)."""
    contract: Contract | None = None
    """dbt's `contract: {enforced: true}`: checked when the model is built."""
    pre_hooks: tuple[str, ...] = ()
    """dbt's `pre-hook`s, rendered (`{{ this }}` as a placeholder): SQL run before the build, in
    its transaction."""
    post_hooks: tuple[str, ...] = ()
    """dbt's `post-hook`s: SQL run after the build, in its transaction."""
    incremental_hooks: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    """An incremental model's (pre, post) hooks rendered with `is_incremental()` true, for runs."""
    description: str = ""
    columns: tuple[Column, ...] = ()
    tags: tuple[str, ...] = ()
    owner: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def view_name(self) -> str:
        """The name of the model's view in every environment."""
        return self.alias or self.name

    @property
    def data_config(self) -> dict[str, Any]:
        """The configuration that determines the model's data, and so its fingerprint."""
        config: dict[str, Any] = {"kind": self.kind.value, "language": self.language.value}
        if self.kind is Kind.INCREMENTAL:
            config["unique_key"] = list(self.unique_key)
            config["strategy"] = self.incremental_strategy
        if self.scd2 is not None:
            config["scd2"] = self.scd2.data_config()
        if self.contract is not None:
            config["contract"] = self.contract.data_config()
        if self.column_types:
            config["column_types"] = [list(pair) for pair in self.column_types]
        if self.delimiter != ",":
            config["delimiter"] = self.delimiter
        if self.narrow_integers:
            config["narrow_integers"] = True
        if self.dbt_python is not None:
            config["dbt_python"] = self.dbt_python.data_config()
        if self.pre_hooks or self.post_hooks:  # written only when set: other fingerprints stay
            config["hooks"] = [list(self.pre_hooks), list(self.post_hooks)]
        if self.incremental_hooks and self.incremental_hooks != (self.pre_hooks, self.post_hooks):
            config["incremental_hooks"] = [list(hooks) for hooks in self.incremental_hooks]
        return config


@dataclass(frozen=True)
class Scd2Config:
    """How a dbt snapshot detects changed rows: `timestamp` (a newer `updated_at`) or `check`
    (any of `check_cols` differs; `("*",)` is dbt's `check_cols: all`)."""

    strategy: str
    unique_key: tuple[str, ...]
    updated_at: str | None = None
    check_cols: tuple[str, ...] = ()
    hard_deletes: str = "ignore"
    """dbt's `hard_deletes`: `ignore` (rows deleted from the query stay current) or
    `invalidate` (a run closes them, `dbt_valid_to` = the run's time)."""

    def data_config(self) -> dict[str, Any]:
        config = {
            "strategy": self.strategy,
            "unique_key": list(self.unique_key),
            "updated_at": self.updated_at,
            "check_cols": list(self.check_cols),
        }
        if self.hard_deletes != "ignore":  # absent otherwise: fingerprints stay as they were
            config["hard_deletes"] = self.hard_deletes
        return config


@dataclass(frozen=True)
class DataTest:
    """A query that returns failing rows: a generic test on a column or a singular test."""

    name: str
    kind: str
    sql: str
    """SQL with refs as placeholders; it passes when it returns no row."""
    models: tuple[str, ...]
    location: Location
    column: str | None = None
    severity: Severity = Severity.ERROR
    store_failures: bool = False
    """dbt's `store_failures`: each run replaces a relation with the test's failing rows."""
    store_failures_as: str = "table"
    """That relation: a `table` of the rows, or a `view` of the test's query."""
    audit_schema: str = ""
    """Its schema in prod (dbt's `<target schema>_dbt_test__audit`); other environments have
    their own (see `tidegate.state.views.failures_schema`)."""
    audit_name: str = ""
    """Its name: dbt's alias of the test."""
    thresholds: tuple[str, str, str] | None = None
    """dbt's `fail_calc`, `warn_if` and `error_if` when not dbt's defaults (`count(*)`, `!= 0`,
    `!= 0`): the test warns or fails by what `fail_calc` computes over its failing rows."""

    @property
    def model(self) -> str:
        return self.models[0]


@dataclass(frozen=True)
class UnitInput:
    """Rows standing in for one upstream relation of a unit test."""

    target: str
    """A model name (for `ref`) or `source.table` (for `source`)."""
    is_source: bool
    rows: tuple[dict[str, Any], ...] = ()
    sql: str | None = None


@dataclass(frozen=True)
class UnitTest:
    """A dbt-style unit test: the model's query over given rows must return the expected rows."""

    name: str
    model: str
    given: tuple[UnitInput, ...]
    expect_rows: tuple[dict[str, Any], ...]
    location: Location
    expect_sql: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class DashboardQuery:
    name: str
    sql: str
    """SQL with refs as placeholders: those of `ref()`, and the plain names of models and seeds
    (`analytics.orders`), resolved when the project is loaded (see `tidegate.project.names`)."""
    refs: tuple[str, ...]
    sources: tuple[str, ...] = ()
    """The sources (`source.table`) it reads by their relation's name, or with `source()`."""
    unresolved: tuple[Unresolved, ...] = ()
    """Tables it names that are no model, seed or source (left as written), or several."""
    line: int | None = None
    """Its line in the dashboard's file."""


@dataclass(frozen=True)
class Unresolved:
    """A table a query names that is no relation of the project, or more than one."""

    name: str
    """The name as the query writes it."""
    candidates: tuple[str, ...] = ()
    """The relations a bare name may mean, when it is ambiguous."""

    @property
    def reason(self) -> str:
        if self.candidates:
            return f"ambiguous: {' or '.join(self.candidates)}; qualify it with its schema"
        return "not a model, seed or source"

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


@dataclass(frozen=True)
class Dashboard:
    """An exposure: a dashboard and the queries it runs against models."""

    name: str
    queries: tuple[DashboardQuery, ...]
    location: Location
    description: str = ""
    owner: str | None = None
    url: str | None = None

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(sorted({ref for query in self.queries for ref in query.refs}))


@dataclass(frozen=True)
class Dependency:
    """One entry of a dbt exposure's `depends_on`: `ref('m')`, `source('s', 't')` or `metric('m')`."""

    kind: Literal["ref", "source", "metric"]
    name: str
    """A model's name, a source's `source.table`, a metric's name."""
    text: str
    """As the YAML writes it."""
    line: int | None = None
    version: str | None = None
    """A versioned model's version (`ref('m', v=2)`)."""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Exposure:
    """A dbt exposure: something outside the project (a dashboard, a notebook, an application)
    that depends on its models, seeds and sources, declared in properties YAML."""

    name: str
    type: str
    location: Location
    depends_on: tuple[Dependency, ...] = ()
    owner_name: str | None = None
    owner_email: str | None = None
    maturity: str | None = None
    url: str | None = None
    label: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.depends_on if d.kind == "ref")

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.depends_on if d.kind == "source")

    @property
    def metrics(self) -> tuple[str, ...]:
        """Kept as declared: tidegate has no metrics to check them against."""
        return tuple(d.name for d in self.depends_on if d.kind == "metric")

    @property
    def owner(self) -> str:
        """`Ada <ada@example.com>`, or whichever of the two is given."""
        if self.owner_name and self.owner_email:
            return f"{self.owner_name} <{self.owner_email}>"
        return self.owner_name or self.owner_email or ""
