"""dbt snapshots (models of kind `scd2`): the first build, the merge a run applies, plan notes.

The SQL follows dbt-core's snapshot materialization (1.9+, `hard_deletes: ignore` or
`invalidate`), so the tables hold the same rows as dbt's:

- The first build is the query with `dbt_scd_id` (md5 of the unique key and the row's stamp),
  `dbt_updated_at` and `dbt_valid_from` (the stamp) and `dbt_valid_to` (null: current).
  The stamp is `updated_at` for the timestamp strategy and the time of the build for the check
  strategy (unless it sets `updated_at` too).
- A run (`tidegate run ENV`) stages the query against the table's current rows: a key not seen
  before, or a changed row (timestamp: `dbt_valid_from < updated_at`; check: any of `check_cols`
  differs, null-safe), is inserted as a new current version, and the version it replaces gets
  `dbt_valid_to` = the new stamp. Rows deleted from the source stay current, unless
  `hard_deletes: invalidate`: then their current version gets `dbt_valid_to` = the run's time. Columns the query
  gained are added to the table; with `check_cols: all` a new column counts as a change.

The table is a tidegate snapshot like any other: built once per fingerprint, written in place
by `run prod`, copied on write by runs of other environments (see `tidegate.plan.incremental`).
A changed definition or changed inputs make a new fingerprint, so a new table: it starts as a copy
of the environment's previous table, history included, and the query's current rows are merged
into it, as dbt's next snapshot run would (the previous table stays as it was, for rollback). A
full refresh, or Spark, where merges are not implemented, builds it from the query's current rows
instead, and the plan says the history starts over (`rebuild_notes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress

from tidegate.engines.base import EngineAdapter
from tidegate.errors import EngineError
from tidegate.plan.plan import Build
from tidegate.project.model import THIS_PLACEHOLDER, Kind, Model, Scd2Config
from tidegate.state.records import SnapshotRecord

SCD2_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to")
RUN_TIME = "CAST(CURRENT_TIMESTAMP AS TIMESTAMP)"
"""The stamp of the check strategy: dbt's `snapshot_get_time()` (a timestamp without time zone)."""
_STAGED = "__tidegate_scd2_staged"
_STAGING_ONLY = ("dbt_change_type", "dbt_unique_key")


def _config(model: Model) -> Scd2Config:
    if model.scd2 is None:
        raise ValueError(f"{model.name} is not a snapshot (scd2) model")
    return model.scd2


def _stamp(config: Scd2Config) -> str:
    return config.updated_at or RUN_TIME


def _scd_id(config: Scd2Config) -> str:
    """dbt's `snapshot_hash_arguments([unique_key..., updated_at])`."""
    parts = [f"COALESCE(CAST({arg} AS VARCHAR), '')" for arg in (*config.unique_key, _stamp(config))]
    return "MD5(" + " || '|' || ".join(parts) + ")"


def initial_query(model: Model) -> str:
    """The first build of a snapshot table, in the project's dialect with ref placeholders."""
    config = _config(model)
    stamp = _stamp(config)
    return (
        f"SELECT *, {_scd_id(config)} AS dbt_scd_id, {stamp} AS dbt_updated_at, "
        f"{stamp} AS dbt_valid_from, NULLIF({stamp}, {stamp}) AS dbt_valid_to "
        f"FROM ({model.sql}) AS sbq"
    )


def staging_query(model: Model, dialect: str, check_cols: list[str], column_added: bool) -> str:
    """dbt's `snapshot_staging_table`: rows to insert (`dbt_change_type = 'insert'`) and the
    current versions they close (`'update'`, with the new `dbt_valid_to`), against the table
    `{{ this }}`. `check_cols` are the check strategy's columns the table has; `column_added`
    says the query has a checked column the table does not (then every row changed)."""
    config = _config(model)
    stamp = _stamp(config)
    keys = config.unique_key
    if len(keys) == 1:
        key_fields = f"{keys[0]} AS dbt_unique_key"
        key_names = ["dbt_unique_key"]
    else:
        key_names = [f"dbt_unique_key_{i}" for i in range(1, len(keys) + 1)]
        key_fields = ", ".join(f"{key} AS {name}" for key, name in zip(keys, key_names, strict=True))
    join = " AND ".join(f"snapshotted_data.{k} = source_data.{k}" for k in key_names)
    if config.strategy == "timestamp":
        changed = f"(snapshotted_data.dbt_valid_from < source_data.{config.updated_at})"
    elif column_added:
        changed = "(TRUE)"
    else:
        from sqlglot import exp  # only here: a no-op plan imports this module, not sqlglot

        tests = []
        for column in check_cols:
            name = exp.to_identifier(column, quoted=True).sql(dialect=dialect)
            old, new = f"snapshotted_data.{name}", f"source_data.{name}"
            tests.append(
                f"{old} <> {new} OR ((({old} IS NULL) AND NOT ({new} IS NULL)) "
                f"OR ((NOT {old} IS NULL) AND ({new} IS NULL)))"
            )
        changed = f"({' OR '.join(tests) or 'FALSE'})"
    deletes_source, deletes = "", ""
    if config.hard_deletes == "invalidate":  # current versions whose key the query lost
        deletes_source = f"""deletes_source_data AS (
    SELECT *, {key_fields} FROM snapshot_query
), """
        deletes = f"""
UNION ALL
SELECT 'delete' AS dbt_change_type, source_data.*, {RUN_TIME} AS dbt_valid_from,
    {RUN_TIME} AS dbt_updated_at, {RUN_TIME} AS dbt_valid_to, snapshotted_data.dbt_scd_id
FROM snapshotted_data
LEFT JOIN deletes_source_data AS source_data ON {join}
WHERE source_data.{key_names[0]} IS NULL"""
    return f"""
WITH snapshot_query AS (
    {model.sql}
), snapshotted_data AS (
    SELECT *, {key_fields} FROM {THIS_PLACEHOLDER} WHERE dbt_valid_to IS NULL
), insertions_source_data AS (
    SELECT *, {key_fields}, {stamp} AS dbt_updated_at, {stamp} AS dbt_valid_from,
        NULLIF({stamp}, {stamp}) AS dbt_valid_to, {_scd_id(config)} AS dbt_scd_id
    FROM snapshot_query
), updates_source_data AS (
    SELECT *, {key_fields}, {stamp} AS dbt_updated_at, {stamp} AS dbt_valid_from,
        {stamp} AS dbt_valid_to
    FROM snapshot_query
), {deletes_source}insertions AS (
    SELECT 'insert' AS dbt_change_type, source_data.*
    FROM insertions_source_data AS source_data
    LEFT OUTER JOIN snapshotted_data ON {join}
    WHERE snapshotted_data.{key_names[0]} IS NULL
        OR (snapshotted_data.{key_names[0]} IS NOT NULL AND {changed})
), updates AS (
    SELECT 'update' AS dbt_change_type, source_data.*, snapshotted_data.dbt_scd_id
    FROM updates_source_data AS source_data
    JOIN snapshotted_data ON {join}
    WHERE {changed}
)
SELECT * FROM insertions UNION ALL SELECT * FROM updates{deletes}"""


def merge(
    engine: EngineAdapter,
    physical: str,
    model: Model,
    dialect: str,
    compile_sql: Callable[[str], str],
) -> None:
    """Apply a run to the snapshot table `physical`, in the caller's transaction.
    `compile_sql` compiles placeholder SQL for the engine, with `{{ this }}` as `physical`."""
    columns = [name for name, _ in engine.columns(physical)]
    apply_merge(engine, physical, merge_query(engine, model, dialect, compile_sql, columns))


def merge_query(
    engine: EngineAdapter,
    model: Model,
    dialect: str,
    compile_sql: Callable[[str], str],
    columns: list[str],
) -> str:
    """The compiled staging query of a run on a snapshot table that has `columns`."""
    if not engine.spec.scd2_merge:
        raise EngineError(
            f"dbt snapshots (scd2) are not merged on {engine.spec.title} yet: {model.name} keeps the rows of its build",
            model=model.name,
        )
    config = _config(model)
    existing = {name.lower() for name in columns}
    check_cols: list[str] = []
    column_added = False
    if config.strategy == "check":
        wanted = list(config.check_cols)
        if wanted == ["*"]:
            wanted = _query_columns(engine, compile_sql(model.sql)) or [
                name for name in columns if name.lower() not in SCD2_COLUMNS
            ]
        check_cols = [c for c in wanted if c.lower() in existing]
        column_added = len(check_cols) < len(wanted)
    return compile_sql(staging_query(model, dialect, check_cols, column_added))


def _query_columns(engine: EngineAdapter, query: str) -> list[str]:
    """The columns of a snapshot's query; none while its upstream is not built yet (a plan)."""
    try:
        return engine.fetch(f"SELECT * FROM ({query}) AS snapshot_query LIMIT 0").columns
    except EngineError:
        return []


def apply_merge(engine: EngineAdapter, physical: str, staging: str) -> None:
    """Close the versions `staging` (a `merge_query`) replaces and insert its new ones."""
    existing = {name.lower() for name, _ in engine.columns(physical)}
    staged = engine.quote(_STAGED)
    engine.execute(f"CREATE TEMPORARY TABLE {staged} AS {staging}")
    try:
        columns = []
        for name, kind in engine.columns(staged):
            if name.lower().startswith(_STAGING_ONLY):
                continue
            if name.lower() not in existing:  # the query gained a column: dbt adds it too
                engine.execute(f"ALTER TABLE {physical} ADD COLUMN {engine.quote(name)} {kind}")
            columns.append(engine.quote(name))
        engine.execute(
            f"UPDATE {physical} SET dbt_valid_to = ("
            f"SELECT min(staged.dbt_valid_to) FROM {staged} AS staged "
            f"WHERE staged.dbt_change_type IN ('update', 'delete') AND staged.dbt_scd_id = {physical}.dbt_scd_id) "
            f"WHERE dbt_valid_to IS NULL AND dbt_scd_id IN ("
            f"SELECT staged.dbt_scd_id FROM {staged} AS staged WHERE staged.dbt_change_type IN ('update', 'delete'))"
        )
        listed = ", ".join(columns)
        engine.execute(
            f"INSERT INTO {physical} ({listed}) SELECT {listed} FROM {staged} WHERE dbt_change_type = 'insert'"
        )
    except BaseException:
        with suppress(EngineError):  # the transaction may be aborted: the rollback drops it
            engine.execute(f"DROP TABLE IF EXISTS {staged}")
        raise
    engine.execute(f"DROP TABLE IF EXISTS {staged}")


def rebuild_notes(builds: list[Build], base_models: Mapping[str, SnapshotRecord]) -> list[str]:
    """What a reviewer must know before a snapshot (scd2) gets a new table: whether its history
    comes along."""
    notes = []
    for build in builds:
        base = base_models.get(build.model)
        if build.kind is Kind.INCREMENTAL and build.history_from is not None:
            notes.append(
                f"{build.model} is an incremental model whose inputs changed: its new table starts as a "
                f"copy of {build.history_from} and takes the rows its incremental query selects, as a dbt "
                f"run would (--full-refresh {build.model} builds it from its whole query instead)"
            )
            continue
        if build.kind is not Kind.SCD2 or build.reused_from is not None or base is None:
            continue
        if base.physical == build.physical:
            continue
        if build.history_from is not None:
            notes.append(
                f"{build.model} is a dbt snapshot (scd2) whose definition or inputs changed: its new "
                f"table starts as a copy of {build.history_from}, history included, and merges the "
                f"query's current rows into it, as a dbt snapshot run would; the previous table stays "
                f"as it was (rollback returns to it) until the janitor drops it"
            )
            continue
        notes.append(
            f"{build.model} is a dbt snapshot (scd2) built again from its query's current rows "
            f"(a full refresh, or an engine that cannot merge snapshots), so its history (versions closed by earlier runs) starts over in the new table; the "
            f"previous table {base.physical} keeps it (rollback returns to it) until the janitor drops it"
        )
    return notes
