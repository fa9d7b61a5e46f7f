#!/usr/bin/env python
"""Generate synthetic data projects (dbt layout) for benchmarking tidegate, dbt and SQLMesh.

Why this exists: performance claims such as "plans a 10,000-model project in N seconds" only mean
something on projects shaped like real ones - layered staging/intermediate/marts models, CTE-heavy SQL
with joins and aggregates, a graph 6-10 levels deep with realistic fan-in, and schema tests.  Checking
such projects into the repository would bloat it, so they are generated instead, deterministically from
(models, rows, seed): the same arguments always produce byte-identical files, which keeps benchmark runs
comparable across machines and commits.

The same models work for tidegate (``tidegate.yml``) and for dbt-duckdb (``dbt_project.yml`` +
``profiles.yml``), so both tools can be timed on identical input.  ``--change`` edits one intermediate
model in the middle of the graph so "plan after a breaking / non-breaking / cosmetic change" can be
benchmarked too.

Usage::

    python bench/generate.py --models 2000 --out /tmp/bench2000 --format both
    python bench/generate.py --change breaking /tmp/bench2000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

# (plural, singular) entity names; seeds are raw_<plural>_<k> and staging keys are <singular>_id.
ENTITIES: tuple[tuple[str, str], ...] = (
    ("orders", "order"),
    ("payments", "payment"),
    ("refunds", "refund"),
    ("shipments", "shipment"),
    ("invoices", "invoice"),
    ("subscriptions", "subscription"),
    ("sessions", "session"),
    ("returns", "return"),
    ("reviews", "review"),
    ("tickets", "ticket"),
)

# Normalised status values and their relative frequency.  Every value is common enough that a
# 1000-row seed contains all of them, which the "breaking" change relies on to actually change data.
STATUS_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("completed", 55),
    ("shipped", 15),
    ("pending", 12),
    ("cancelled", 10),
    ("refunded", 8),
)
# Statuses a model may filter out; the breaking change excludes one more (see breaking_variant).
EXCLUDABLE_STATUSES: tuple[str, ...] = ("cancelled", "cancelled", "refunded", "pending")

SEED_EPOCH = datetime(2023, 1, 1)
SEED_SPAN_SECONDS = 2 * 365 * 24 * 3600

LAYERS: tuple[str, ...] = ("staging", "intermediate", "marts")
INT_LEVELS = 6  # intermediate levels; with staging + dim + fct this gives a model depth of 9
CONFIG_FILES: tuple[str, ...] = ("tidegate.yml", "dbt_project.yml", "profiles.yml")
NONBREAKING_COLUMN = "is_repeat_customer"
TESTS_KEY = "data_tests"  # dbt >= 1.8 spelling; older dbt calls it "tests"

REF_RE = re.compile(r"ref\(\s*['\"]([^'\"]+)['\"]\s*\)")
STATUS_FILTER_RE = re.compile(r"where\s+status\s*<>\s*'(\w+)'")
FINAL_FROM_RE = re.compile(r"\n([ \t]*)from\s+joined\s*\Z")

TIDEGATE_YML = """\
name: bench
dialect: duckdb
environments:
  prod: {engine: duckdb, path: warehouse.duckdb}
  dev: {engine: duckdb, path: warehouse.duckdb}
promotion: [dev, prod]
"""

DBT_PROJECT_YML = """\
name: bench
version: "1.0.0"
config-version: 2
profile: bench

model-paths: ["models"]
seed-paths: ["seeds"]
test-paths: ["tests"]
macro-paths: ["macros"]
analysis-paths: ["analyses"]
snapshot-paths: ["snapshots"]
target-path: "target"
clean-targets: ["target", "dbt_packages"]

models:
  bench:
    staging:
      +materialized: view
    intermediate:
      +materialized: table
    marts:
      +materialized: table
"""

PROFILES_YML = """\
bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      threads: 4
"""


@dataclass
class Model:
    """One model of the planned graph; kept separate from its SQL so the graph can be inspected."""

    name: str
    layer: str  # staging | intermediate | marts
    kind: str  # stg | int | dim | fct
    level: int  # longest path from a seed, counted in models (staging = 1)
    parents: list[str]
    key: str  # the column that is unique and not null
    entity: str = ""  # singular entity, staging only
    source: str = ""  # seed name, staging only
    tested: bool = False
    description: str = ""


@dataclass
class ProjectStats:
    """What was generated, so the CLI and benchmark harnesses can report it without re-scanning."""

    models: int = 0
    seeds: int = 0
    per_layer: dict[str, int] = field(default_factory=dict)
    tested_models: int = 0
    depth: int = 0
    fan_in_mean: float = 0.0
    fan_in_max: int = 0
    fan_out_max: int = 0
    childless_non_marts: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


class _Pool:
    """Candidate parents for one role (e.g. "staging models", "intermediates of level 3")."""

    def __init__(self) -> None:
        self.unused: list[str] = []  # may hold stale (already used) names; skipped lazily
        self.weighted: list[str] = []  # each name once, plus once per child: preferential attachment
        self.size = 0


class _Picker:
    """Chooses parents so that almost every model gets a child while a few become hubs.

    Why: uniform random choice leaves many models without consumers (unrealistic, and a change to them
    would never propagate), while taking unused models first and otherwise choosing by preferential
    attachment gives both coverage and a heavy-tailed fan-out, like real projects' hub models.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.children: dict[str, int] = {}
        self.pools_of: dict[str, list[_Pool]] = {}

    def add(self, pool: _Pool, name: str) -> None:
        """Make ``name`` a candidate of ``pool``."""
        pool.unused.append(name)
        pool.weighted.append(name)
        pool.size += 1
        self.pools_of.setdefault(name, []).append(pool)
        self.children.setdefault(name, 0)

    def _mark(self, name: str) -> str:
        """Record one more child of ``name`` so hubs grow more likely to be picked again."""
        self.used.add(name)
        self.children[name] += 1
        for pool in self.pools_of[name]:
            pool.weighted.append(name)
        return name

    def pick(self, pool: _Pool, exclude: set[str], p_unused: float) -> str:
        """Pick one parent from ``pool`` that is not in ``exclude``."""
        rng = self.rng
        if rng.random() < p_unused:
            for _ in range(8):
                if not pool.unused:
                    break
                i = rng.randrange(len(pool.unused))
                name = pool.unused[i]
                if name in exclude and name not in self.used:
                    continue
                pool.unused[i] = pool.unused[-1]
                pool.unused.pop()
                if name not in self.used:
                    return self._mark(name)
        for _ in range(64):
            name = rng.choice(pool.weighted)
            if name not in exclude:
                return self._mark(name)
        candidates = [n for n in dict.fromkeys(pool.weighted) if n not in exclude]
        if not candidates:
            raise ValueError("no candidate parent left in pool")
        return self._mark(rng.choice(candidates))


def _split(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal sizes (earlier parts get the remainder)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def layer_counts(n_models: int) -> tuple[int, int, int, int]:
    """Return (staging, intermediate, dims, facts) counts: roughly 30% / 45% / 25% marts."""
    if n_models < 8:
        raise ValueError("need at least 8 models to build a layered project")
    n_stg = max(2, round(0.30 * n_models))
    n_mart = max(2, round(0.25 * n_models))
    n_int = n_models - n_stg - n_mart
    n_dim = max(1, round(0.4 * n_mart))
    return n_stg, n_int, n_dim, n_mart - n_dim


def plan_graph(n_models: int, n_seeds: int, rng: random.Random) -> list[Model]:
    """Plan the model graph (names, layers, parents, keys) without writing SQL.

    Why layered this way: staging reads one seed; intermediate level l always takes its primary parent
    from level l-1 (so the depth is guaranteed, not left to chance) plus one staging model and maybe an
    older model; dims read the last intermediate level and facts read a dim.  That yields a model depth
    of ``INT_LEVELS + 3`` (9 by default) with fan-in 2-4, like a mature dbt project.
    """
    n_stg, n_int, n_dim, n_fct = layer_counts(n_models)
    n_levels = min(INT_LEVELS, n_int)
    picker = _Picker(rng)
    models: list[Model] = []

    stg_pool, lower_pool, int_pool, dim_pool = _Pool(), _Pool(), _Pool(), _Pool()
    level_pools = [_Pool() for _ in range(n_levels + 1)]

    for k in range(1, n_stg + 1):
        seed_idx = (k - 1) % n_seeds
        plural, singular = ENTITIES[seed_idx % len(ENTITIES)]
        source = f"raw_{plural}_{seed_idx + 1}"
        m = Model(
            name=f"stg_{k}",
            layer="staging",
            kind="stg",
            level=1,
            parents=[source],
            key=f"{singular}_id",
            entity=singular,
            source=source,
            description=f"Staging view over {source}: cleaned {plural}, one row per {singular}.",
        )
        models.append(m)
        picker.add(stg_pool, m.name)
        picker.add(lower_pool, m.name)

    k = 0
    for level, size in enumerate(_split(n_int, n_levels), start=1):
        new: list[str] = []
        for _ in range(size):
            k += 1
            fan_in = rng.choices((2, 3, 4), weights=(45, 40, 15))[0]
            parents: list[str] = []
            if level == 1:
                for _ in range(min(fan_in, stg_pool.size)):
                    parents.append(picker.pick(stg_pool, set(parents), 0.7))
            else:
                parents.append(picker.pick(level_pools[level - 1], set(), 0.9))
                parents.append(picker.pick(stg_pool, set(parents), 0.7))
                for _ in range(min(fan_in - 2, lower_pool.size - 2)):
                    parents.append(picker.pick(lower_pool, set(parents), 0.5))
            name = f"int_{k}"
            models.append(
                Model(
                    name=name,
                    layer="intermediate",
                    kind="int",
                    level=level + 1,
                    parents=parents,
                    key="customer_id",
                    description=f"Customer-level rollup of {', '.join(parents)}; one row per customer.",
                )
            )
            new.append(name)
        for name in new:  # only visible to later levels, so the graph stays acyclic and layered
            picker.add(level_pools[level], name)
            picker.add(lower_pool, name)
            picker.add(int_pool, name)

    for k in range(1, n_dim + 1):
        fan_in = rng.choices((1, 2), weights=(30, 70))[0]
        parents = [picker.pick(level_pools[n_levels], set(), 0.9)]
        if fan_in == 2 and int_pool.size > 1:
            parents.append(picker.pick(int_pool, set(parents), 0.6))
        m = Model(
            name=f"dim_{k}",
            layer="marts",
            kind="dim",
            level=n_levels + 2,
            parents=parents,
            key="customer_id",
            description=f"Customer dimension (tier, segment, lifetime value) built from {', '.join(parents)}.",
        )
        models.append(m)
        picker.add(dim_pool, m.name)

    for k in range(1, n_fct + 1):
        fan_in = rng.choices((2, 3), weights=(60, 40))[0]
        parents = [picker.pick(dim_pool, set(), 0.9)]
        for _ in range(min(fan_in - 1, int_pool.size)):
            parents.append(picker.pick(int_pool, set(parents), 0.6))
        by_tier = rng.random() < 0.35
        grain = "tier" if by_tier else "customer"
        models.append(
            Model(
                name=f"fct_{k}",
                layer="marts",
                kind="fct",
                level=n_levels + 3,
                parents=parents,
                key="tier" if by_tier else "customer_id",
                description=f"Activity fact at {grain} grain combining {', '.join(parents)}.",
            )
        )

    for layer in LAYERS:  # a third of the models of each layer carry unique/not_null tests
        for i, m in enumerate(x for x in models if x.layer == layer):
            m.tested = i % 3 == 0
    return models


# --------------------------------------------------------------------------------------------- SQL


def _stg_sql(m: Model, rng: random.Random) -> str:
    """Staging: rename and type raw columns; a few optional filters so sibling models differ."""
    filters = ["customer_id is not null"]
    if rng.random() < 0.3:
        filters.append("amount_cents > 0")
    if rng.random() < 0.2:
        filters.append("lower(trim(status)) <> 'test'")
    where = "\n    and ".join(filters)
    return f"""{{{{ config(materialized='view') }}}}

-- Rename and type the raw extract; downstream models rely on one row per {m.key}.
select
    id as {m.key},
    customer_id,
    cast(cast(amount_cents as decimal(18, 2)) / 100 as decimal(18, 2)) as amount,
    lower(trim(status)) as status,
    cast(created_at as timestamp) as created_at,
    cast(cast(created_at as timestamp) as date) as created_date,
    lower(trim(status)) in ('completed', 'shipped') as is_fulfilled
from {{{{ ref('{m.source}') }}}}
where {where}
"""


def _int_sql(m: Model, by_name: dict[str, Model], rng: random.Random) -> str:
    """Intermediate: per-parent CTEs aggregated to customer grain, left-joined onto the primary parent.

    Every CTE is unique on customer_id (staging parents are grouped by it, intermediate parents already
    are), so the left joins keep customer_id unique - which is what the generated tests assert.
    """
    ctes: list[str] = []
    aliases: list[str] = []
    for i, parent in enumerate(m.parents):
        alias = f"p{i}"
        aliases.append(alias)
        pm = by_name[parent]
        if pm.kind == "stg":
            excluded = rng.choice(EXCLUDABLE_STATUSES)
            ctes.append(
                f"""{alias} as (
    -- {parent}: {pm.entity} events rolled up per customer
    select
        customer_id,
        sum(amount) as total_amount,
        count(distinct {pm.key}) as event_count,
        sum(case when is_fulfilled then 1 else 0 end) as fulfilled_count,
        max(created_at) as last_event_at
    from {{{{ ref('{parent}') }}}}
    where status <> '{excluded}'
    group by customer_id
)"""
            )
        else:
            where = "\n    where tier <> 'bronze'" if i > 0 and rng.random() < 0.3 else ""
            ctes.append(
                f"""{alias} as (
    select customer_id, total_amount, event_count, fulfilled_count, last_event_at
    from {{{{ ref('{parent}') }}}}{where}
)"""
            )
    first, rest = aliases[0], aliases[1:]

    def combine(col: str) -> str:
        sep = "\n            + " if len(rest) > 1 else " + "  # keep long sums readable
        return sep.join([f"{first}.{col}", *(f"coalesce({a}.{col}, 0)" for a in rest)])

    joins = "".join(f"\n    left join {a} on {first}.customer_id = {a}.customer_id" for a in rest)
    last = ", ".join(f"{a}.last_event_at" for a in aliases)
    last_expr = f"greatest({last})" if rest else f"{first}.last_event_at"
    ctes.append(
        f"""joined as (
    select
        {first}.customer_id,
        {combine("total_amount")} as total_amount,
        {combine("event_count")} as event_count,
        {combine("fulfilled_count")} as fulfilled_count,
        {last_expr} as last_event_at
    from {first}{joins}
)"""
    )
    if rng.random() < 0.5:
        tier = """    case ntile(4) over (order by total_amount desc, customer_id)
        when 1 then 'gold'
        when 2 then 'silver'
        else 'bronze'
    end as tier"""
    else:
        hi, lo = rng.choice((300, 350, 400)), rng.choice((150, 200, 250))
        tier = f"""    case
        when total_amount / nullif(event_count, 0) >= {hi} then 'gold'
        when total_amount / nullif(event_count, 0) >= {lo} then 'silver'
        else 'bronze'
    end as tier"""
    body = ",\n".join(ctes)
    return f"""{{{{ config(materialized='table') }}}}

-- {m.description}
with
{body}
select
    customer_id,
    total_amount,
    event_count,
    fulfilled_count,
    cast(total_amount / nullif(event_count, 0) as decimal(18, 2)) as avg_amount,
    last_event_at,
{tier}
from joined
"""


def _dim_sql(m: Model) -> str:
    """Dim: customer attributes (tier, segment, lifetime value) from one or two intermediates."""
    base = m.parents[0]
    ctes = [
        f"""base as (
    select customer_id, tier, total_amount, event_count, fulfilled_count, last_event_at
    from {{{{ ref('{base}') }}}}
)"""
    ]
    if len(m.parents) > 1:
        ctes.append(
            f"""other as (
    select customer_id, total_amount, event_count, last_event_at
    from {{{{ ref('{m.parents[1]}') }}}}
)"""
        )
        segment = """    case
        when base.tier = 'gold' and other.customer_id is not null then 'vip'
        when other.customer_id is null then 'single_channel'
        else 'regular'
    end as segment,"""
        cols = """    base.total_amount + coalesce(other.total_amount, 0) as lifetime_amount,
    base.event_count + coalesce(other.event_count, 0) as lifetime_events,
    greatest(base.last_event_at, other.last_event_at) as last_event_at"""
        joins = "\nleft join other on base.customer_id = other.customer_id"
    else:
        segment = """    case
        when base.tier = 'gold' and base.event_count >= 10 then 'vip'
        when base.event_count <= 2 then 'occasional'
        else 'regular'
    end as segment,"""
        cols = """    base.total_amount as lifetime_amount,
    base.event_count as lifetime_events,
    base.last_event_at"""
        joins = ""
    body = ",\n".join(ctes)
    return f"""{{{{ config(materialized='table') }}}}

-- {m.description}
with
{body}
select
    base.customer_id,
    base.tier,
{segment}
    round(base.fulfilled_count / nullif(base.event_count, 0), 4) as fulfillment_rate,
{cols}
from base{joins}
"""


def _fct_sql(m: Model) -> str:
    """Fact: activity from intermediates joined onto a customer dim, at customer or tier grain."""
    ctes = [
        f"""customers as (
    select customer_id, tier, segment, lifetime_amount
    from {{{{ ref('{m.parents[0]}') }}}}
)"""
    ]
    aliases: list[str] = []
    for i, parent in enumerate(m.parents[1:], start=1):
        alias = f"a{i}"
        aliases.append(alias)
        ctes.append(
            f"""{alias} as (
    select customer_id, total_amount, event_count
    from {{{{ ref('{parent}') }}}}
)"""
        )
    amount = " + ".join(f"coalesce({a}.total_amount, 0)" for a in aliases) or "0"
    events = " + ".join(f"coalesce({a}.event_count, 0)" for a in aliases) or "0"
    joins = "".join(f"\nleft join {a} on customers.customer_id = {a}.customer_id" for a in aliases)
    body = ",\n".join(ctes)
    head = f"""{{{{ config(materialized='table') }}}}

-- {m.description}
with
{body}
"""
    if m.key == "tier":
        return (
            head
            + f"""select
    customers.tier,
    count(*) as customer_count,
    count({aliases[0] if aliases else "customers"}.customer_id) as active_customers,
    sum({amount}) as period_amount,
    sum({events}) as period_events,
    cast(sum(customers.lifetime_amount) / count(*) as decimal(18, 2)) as avg_lifetime_amount
from customers{joins}
group by customers.tier
"""
        )
    return (
        head
        + f"""select
    customers.customer_id,
    customers.tier,
    customers.segment,
    {amount} as period_amount,
    {events} as period_events,
    case
        when customers.lifetime_amount = 0 then 0
        else round(({amount}) / customers.lifetime_amount, 4)
    end as period_share,
    case
        when {events} = 0 then 'inactive'
        when {events} >= 5 then 'engaged'
        else 'active'
    end as activity_status
from customers{joins}
"""
    )


def render_sql(m: Model, by_name: dict[str, Model], rng: random.Random) -> str:
    """Dispatch to the per-kind SQL template."""
    if m.kind == "stg":
        return _stg_sql(m, rng)
    if m.kind == "int":
        return _int_sql(m, by_name, rng)
    if m.kind == "dim":
        return _dim_sql(m)
    return _fct_sql(m)


def _schema_yml(models: Iterable[Model]) -> str:
    """dbt ``schema.yml`` (version 2), hand-written because yaml.dump is slow at 10,000 models."""
    lines = ["version: 2", "", "models:"]
    for m in models:
        lines.append(f"  - name: {m.name}")
        lines.append(f"    description: {json.dumps(m.description)}")
        if m.tested:
            lines += [
                "    columns:",
                f"      - name: {m.key}",
                '        description: "Primary key of the model."',
                f"        {TESTS_KEY}:",
                "          - unique",
                "          - not_null",
            ]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------- seeds

_RAW_STATUSES: list[str] = []
_RAW_WEIGHTS: list[int] = []
for _status, _weight in STATUS_WEIGHTS:  # messy spellings make staging's lower(trim()) meaningful
    for _spelling, _share in ((_status, 8), (_status.capitalize(), 1), (_status.upper(), 1)):
        _RAW_STATUSES.append(_spelling)
        _RAW_WEIGHTS.append(_weight * _share)


def seed_csv(rows: int, rng: random.Random) -> str:
    """One raw extract: unique ids, customer ids shared across seeds (so joins match), cents, status."""
    n_customers = max(10, rows // 5)
    statuses = rng.choices(_RAW_STATUSES, weights=_RAW_WEIGHTS, k=rows)
    out = ["id,customer_id,amount_cents,status,created_at"]
    for i in range(rows):
        ts = SEED_EPOCH + timedelta(seconds=rng.randrange(SEED_SPAN_SECONDS))
        out.append(
            f"{i + 1},{rng.randint(1, n_customers)},{rng.randint(100, 50_000)},{statuses[i]},"
            f"{ts:%Y-%m-%d %H:%M:%S}"
        )
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------- generate


def _depths(parents: dict[str, list[str]]) -> dict[str, int]:
    """Longest path (in models) from a seed to each model; seeds are names without an entry."""
    depth: dict[str, int] = {}

    def visit(name: str) -> int:
        if name not in parents:
            return 0
        if name not in depth:  # graph depth is ~10, so recursion is shallow
            depth[name] = 1 + max((visit(p) for p in parents[name]), default=0)
        return depth[name]

    for name in parents:
        visit(name)
    return depth


def graph_stats(models: list[Model]) -> ProjectStats:
    """Shape of the graph (depth, fan-in, fan-out), reported so benchmark results can be interpreted."""
    parents = {m.name: m.parents for m in models}
    children: dict[str, int] = dict.fromkeys(parents, 0)
    for m in models:
        for p in m.parents:
            if p in children:
                children[p] += 1
    fan_ins = [len(m.parents) for m in models if m.kind != "stg"]
    return ProjectStats(
        models=len(models),
        per_layer={layer: sum(m.layer == layer for m in models) for layer in LAYERS},
        tested_models=sum(m.tested for m in models),
        depth=max(_depths(parents).values()),
        fan_in_mean=round(sum(fan_ins) / len(fan_ins), 2),
        fan_in_max=max(fan_ins),
        fan_out_max=max(children.values()),
        childless_non_marts=sum(1 for m in models if m.layer != "marts" and children[m.name] == 0),
    )


def generate_project(
    out: Path,
    n_models: int,
    fmt: str = "tidegate",
    rows: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
) -> ProjectStats:
    """Write a complete project to ``out`` and return what was written.

    Separate random streams for the graph, the SQL and each seed mean that changing ``rows`` does not
    change the graph, and the output is a pure function of the arguments.
    """
    if fmt not in ("tidegate", "dbt", "both"):
        raise ValueError(f"unknown format {fmt!r}")
    started = time.perf_counter()
    out = Path(out)
    for sub in ("models", "seeds"):
        d = out / sub
        if d.exists() and any(d.iterdir()):
            if not overwrite:  # stale models from a larger run would silently corrupt the benchmark
                raise FileExistsError(f"{d} is not empty; pass --overwrite to replace it")
            shutil.rmtree(d)
    if overwrite:
        for name in CONFIG_FILES:
            (out / name).unlink(missing_ok=True)

    n_seeds = max(4, n_models // 50)
    models = plan_graph(n_models, n_seeds, random.Random(f"graph-{seed}"))
    by_name = {m.name: m for m in models}
    stats = graph_stats(models)
    stats.seeds = n_seeds
    sql_rng = random.Random(f"sql-{seed}")

    def write(path: Path, text: str) -> None:
        data = text.encode()
        path.write_bytes(data)
        stats.files += 1
        stats.bytes += len(data)

    for layer in LAYERS:
        (out / "models" / layer).mkdir(parents=True, exist_ok=True)
    (out / "seeds").mkdir(parents=True, exist_ok=True)

    for i in range(n_seeds):
        plural = ENTITIES[i % len(ENTITIES)][0]
        write(out / "seeds" / f"raw_{plural}_{i + 1}.csv", seed_csv(rows, random.Random(f"seed-{seed}-{i}")))
    for m in models:
        write(out / "models" / m.layer / f"{m.name}.sql", render_sql(m, by_name, sql_rng))
    for layer in LAYERS:
        write(out / "models" / layer / f"_{layer}.yml", _schema_yml(m for m in models if m.layer == layer))
    if fmt in ("tidegate", "both"):
        write(out / "tidegate.yml", TIDEGATE_YML)
    if fmt in ("dbt", "both"):
        write(out / "dbt_project.yml", DBT_PROJECT_YML)
        write(out / "profiles.yml", PROFILES_YML)
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


# ------------------------------------------------------------------------------------------ changes


def _natural_key(name: str) -> tuple[str, int]:
    """Sort int_2 before int_10 so the chosen target does not depend on string ordering quirks."""
    prefix, _, num = name.rpartition("_")
    return (prefix, int(num)) if num.isdigit() else (name, 0)


def choose_change_target(project_dir: Path) -> Path:
    """Pick the intermediate model to edit: middle depth, most direct consumers.

    Why: a change in the middle of the graph has both upstream context and a sizeable downstream
    blast radius, which is what plan/diff benchmarks should measure.  The choice depends only on refs,
    not on the SQL text, so breaking, non-breaking and format changes all target the same model.
    """
    files = {p.stem: p for p in sorted(Path(project_dir, "models").rglob("*.sql"))}
    parents = {name: REF_RE.findall(path.read_text()) for name, path in files.items()}
    depth = _depths(parents)
    children: dict[str, int] = dict.fromkeys(files, 0)
    for refs in parents.values():
        for r in set(refs):
            if r in children:
                children[r] += 1
    ints = [n for n in files if n.startswith("int_")]
    if not ints:
        raise ValueError(f"no intermediate models under {project_dir}/models")
    levels = sorted({depth[n] for n in ints})
    mid = levels[len(levels) // 2]
    best = min((n for n in ints if depth[n] == mid), key=lambda n: (-children[n], _natural_key(n)))
    return files[best]


def breaking_variant(sql: str, number: int | None = None) -> str:
    """Exclude one more status in the first staging roll-up, so aggregates (and rows) change.

    With ``number``, the filter also names a status that never occurs (``never_<number>``): the same
    data, but a new query, so each benchmark repetition is a change no tool has seen before.
    """
    match = STATUS_FILTER_RE.search(sql)
    if match is None:
        raise ValueError(
            "no `where status <> '...'` filter left to change (breaking change already applied?)"
        )
    excluded = match.group(1)
    extra = next(s for s in ("pending", "shipped", "refunded") if s != excluded)
    statuses = [excluded, extra] + ([f"never_{number}"] if number is not None else [])
    listed = ", ".join(f"'{status}'" for status in statuses)
    return sql[: match.start()] + f"where status not in ({listed})" + sql[match.end() :]


def _nonbreaking_edit(sql: str) -> str:
    """Append a new column at the end of the top-level SELECT; existing columns are untouched."""
    if re.search(rf"\b{NONBREAKING_COLUMN}\b", sql):
        raise ValueError(
            f"column {NONBREAKING_COLUMN} already present (non-breaking change already applied?)"
        )
    body = sql.rstrip()
    match = FINAL_FROM_RE.search(body)
    if match is None:
        raise ValueError("top-level `from joined` not found")
    last_line = body[: match.start()].rsplit("\n", 1)[-1]
    indent = last_line[: len(last_line) - len(last_line.lstrip())] or "    "
    column = f",\n{indent}event_count > 1 as {NONBREAKING_COLUMN}"
    return body[: match.start()] + column + body[match.start() :] + "\n"


def _format_edit(sql: str) -> str:
    """Whitespace and comments only: halve indentation, add a comment; the query is unchanged."""
    out: list[str] = []
    for line in sql.splitlines():
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        out.append(" " * (indent // 2) + stripped.rstrip())
        if line.startswith("{{ config("):
            out.append("-- reformatted: whitespace and comments only")
    return "\n".join(out) + "\n\n"


CHANGES = {"breaking": breaking_variant, "nonbreaking": _nonbreaking_edit, "format": _format_edit}


def apply_change(project_dir: Path, kind: str) -> str:
    """Edit the target model in place with a change of ``kind``; return the model's name."""
    if kind not in CHANGES:
        raise ValueError(f"unknown change {kind!r}; expected one of {sorted(CHANGES)}")
    path = choose_change_target(Path(project_dir))
    path.write_text(CHANGES[kind](path.read_text()))
    return path.stem


def make_breaking_change(project_dir: Path) -> str:
    """Change a WHERE filter of a mid-graph intermediate model so its data (and downstream) changes."""
    return apply_change(project_dir, "breaking")


def make_nonbreaking_change(project_dir: Path) -> str:
    """Add a trailing projection column to the same model; downstream data is unaffected."""
    return apply_change(project_dir, "nonbreaking")


def make_format_change(project_dir: Path) -> str:
    """Reformat the same model (whitespace/comments); a good tool should need no rebuild at all."""
    return apply_change(project_dir, "format")


# ---------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns a process exit code so it can be tested without exiting."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, help="number of models (e.g. 200, 2000, 10000)")
    parser.add_argument("--out", type=Path, help="project directory to write")
    parser.add_argument("--format", choices=("tidegate", "dbt", "both"), default="tidegate")
    parser.add_argument("--rows", type=int, default=1000, help="rows per seed (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing models/ and seeds/")
    parser.add_argument(
        "--change",
        nargs=2,
        metavar=("KIND", "DIR"),
        help="edit a generated project instead: KIND is breaking, nonbreaking or format",
    )
    args = parser.parse_args(argv)

    if args.change:
        kind, directory = args.change
        if kind not in CHANGES:
            parser.error(f"--change KIND must be one of {', '.join(CHANGES)}")
        try:
            print(apply_change(Path(directory), kind))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0

    if args.models is None or args.out is None:
        parser.error("--models and --out are required (unless --change is given)")
    if args.rows < 1:
        parser.error("--rows must be positive")
    try:
        stats = generate_project(args.out, args.models, args.format, args.rows, args.seed, args.overwrite)
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    layers = ", ".join(f"{n} {layer}" for layer, n in stats.per_layer.items())
    print(
        f"wrote {args.out}: {stats.models} models ({layers}), {stats.seeds} seeds x {args.rows} rows, "
        f"{stats.tested_models} tested models\n"
        f"graph: depth {stats.depth}, fan-in mean {stats.fan_in_mean} max {stats.fan_in_max}, "
        f"fan-out max {stats.fan_out_max}, childless non-mart models {stats.childless_non_marts}\n"
        f"{stats.files} files, {stats.bytes:,} bytes in {stats.seconds:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
