"""Data diff: what changes in a model's rows from one environment to another of one warehouse.

Everything is counted by the engine, in SQL: row counts of both sides; with a primary key,
the rows added, removed and changed by key and, per column, how many values changed (NULL-safe,
`IS DISTINCT FROM`); without one, whole rows compared with `EXCEPT ALL`. A few sample rows of
each kind are all that comes back to Python. The SQL is written once, in PostgreSQL's dialect,
and transpiled by sqlglot for the engine (DuckDB, PostgreSQL, Spark).

Two environments whose views point at the same snapshot are identical by construction: they
are never queried.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tidegate.errors import PlanError, TidegateError
from tidegate.project.config import DiffConfig

if TYPE_CHECKING:
    from tidegate.engines import EngineAdapter
    from tidegate.plan.session import Session
    from tidegate.project import Project
    from tidegate.state import EnvironmentVersion, SnapshotRecord

_MARK = "__tidegate_side"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_WRITTEN_IN = "postgres"
"""The sqlglot dialect the diff's queries are written in, transpiled to the engine's."""

__all__ = ["DiffConfig", "ModelDiff", "diff_environments", "diff_model", "diff_versions", "primary_key"]


@dataclass(frozen=True)
class Sample:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class ColumnDiff:
    column: str
    changed: int
    """Rows, matched by key, whose value of this column differs."""


@dataclass(frozen=True)
class ModelDiff:
    """A model's rows in `before` against `after`: `added` are rows only `after` has."""

    model: str
    before: str
    after: str
    status: Literal["identical", "compared", "added", "removed"]
    """`identical`: both point at one snapshot (not queried); `added`/`removed`: the model is
    only in `after`/`before`."""
    key: tuple[str, ...] = ()
    """The primary key rows were matched on; empty when whole rows were compared."""
    rows_before: int = 0
    rows_after: int = 0
    added: int = 0
    removed: int = 0
    changed: int | None = None
    """Rows whose key is on both sides with other values; None when whole rows were compared
    (a changed row then counts as one removed and one added)."""
    columns: tuple[ColumnDiff, ...] = ()
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    types_changed: tuple[tuple[str, str, str], ...] = ()
    """(column, type before, type after)."""
    samples_added: Sample | None = None
    samples_removed: Sample | None = None
    samples_changed: Sample | None = None
    note: str = ""
    seconds: float = 0.0

    @property
    def differing(self) -> int:
        """Rows that differ: by key, added + removed + changed; whole rows, the larger of added
        and removed (the fewest rows that can explain the difference)."""
        if self.changed is None:
            return max(self.added, self.removed)
        return self.added + self.removed + self.changed

    @property
    def percent(self) -> float:
        """Differing rows as a percentage of the larger side."""
        total = max(self.rows_before, self.rows_after)
        return 100.0 * self.differing / total if total else 0.0

    @property
    def same(self) -> bool:
        return self.status == "identical" or (
            self.differing == 0 and not (self.columns_added or self.columns_removed or self.types_changed)
        )

    def fails(self, config: DiffConfig) -> bool:
        return config.fail_above is not None and self.percent > config.fail_above

    def to_dict(self) -> dict[str, Any]:
        """For JSON reports: every field, with the percentage and samples as lists."""
        from dataclasses import asdict

        return asdict(self) | {"differing": self.differing, "percent": round(self.percent, 4)}


@dataclass(frozen=True)
class EnvironmentDiff:
    before: str
    after: str
    models: tuple[ModelDiff, ...]
    """The models whose snapshots differ (or that were asked for)."""
    identical: tuple[str, ...]
    """Models both environments point at the same snapshot of: identical, not queried."""

    def failures(self, config: DiffConfig) -> tuple[ModelDiff, ...]:
        return tuple(diff for diff in self.models if diff.fails(config))

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "models": [diff.to_dict() for diff in self.models],
            "identical": list(self.identical),
        }


# --- entry points --------------------------------------------------------------------------


def diff_environments(
    session: Session,
    before: str,
    after: str,
    models: Iterable[str] = (),
    config: DiffConfig | None = None,
) -> EnvironmentDiff:
    """Diff `models` (default: every model whose snapshot differs) from `before` to `after`.

    An unknown environment, or a model neither has, is a TidegateError (exit 2)."""
    one, two = session.current(before), session.current(after)
    if session.warehouse_key(one.environment) != session.warehouse_key(two.environment):
        raise PlanError(
            f"{one.environment} and {two.environment} are in different warehouses; a diff compares "
            "two environments of one warehouse"
        )
    return diff_versions(session.engine(two.environment), one, two, models, config, _keys(session, config))


def diff_model(
    session: Session, model: str, before: str, after: str, config: DiffConfig | None = None
) -> ModelDiff:
    """Diff one model from `before` to `after`."""
    return diff_environments(session, before, after, [model], config).models[0]


def diff_versions(
    engine: EngineAdapter,
    before: EnvironmentVersion,
    after: EnvironmentVersion,
    models: Iterable[str] = (),
    config: DiffConfig | None = None,
    key_of: Callable[[str], tuple[str, ...]] = lambda model: (),
) -> EnvironmentDiff:
    """Diff two versions of environments of one warehouse (`engine`'s); `key_of` gives the
    primary key a model's rows are matched on (none: whole rows are compared)."""
    config = config or DiffConfig()
    before_env, after_env = before.environment, after.environment
    records_before, records_after = before.models, after.models
    chosen = list(dict.fromkeys(models))
    unknown = [name for name in chosen if name not in records_before and name not in records_after]
    if unknown:
        raise TidegateError(
            f"neither {before_env} nor {after_env} has model(s) {', '.join(unknown)}",
            hint=f"see `tidegate show {after_env} MODEL`, or the models of the project",
        )
    names = chosen or sorted(
        name
        for name in {*records_before, *records_after}
        if _relation_of(records_before.get(name)) or _relation_of(records_after.get(name))
    )
    diffs, identical = [], []
    for name in names:
        one, two = records_before.get(name), records_after.get(name)
        if one is not None and two is not None and one.physical == two.physical:
            identical.append(name)
            if chosen:
                diffs.append(ModelDiff(name, before_env, after_env, "identical", note=_SAME))
            continue
        diffs.append(_diff(engine, name, before_env, after_env, one, two, config, key_of))
    return EnvironmentDiff(before_env, after_env, tuple(diffs), tuple(identical))


def primary_key(project: Project | None, model: str, config: DiffConfig | None = None) -> tuple[str, ...]:
    """The columns that identify a model's rows: configured for the diff, the model's
    `unique_key`, or the column of its `unique` test; empty when it has none."""
    if config is not None and config.keys.get(model):
        return tuple(config.keys[model])
    if project is None or model not in project.models:
        return ()
    node = project.models[model]
    if node.unique_key:
        return node.unique_key
    for test in project.tests:
        if test.kind == "unique" and test.models[:1] == (model,) and test.column:
            column = test.column.strip().strip('"`')
            if _IDENTIFIER.match(column):
                return (column,)
    return ()


def _keys(session: Session, config: DiffConfig | None) -> Callable[[str], tuple[str, ...]]:
    """Primary keys from the session's project, loaded when a key is first needed: a diff
    between environments does not need the project, and one that does not load has no keys."""

    def key_of(model: str) -> tuple[str, ...]:
        try:
            project = session.project
        except TidegateError:
            project = None
        return primary_key(project, model, config)

    return key_of


_SAME = "both point at the same snapshot: identical by construction"


def _relation_of(record: SnapshotRecord | None) -> str | None:
    return record.physical if record is not None else None


# --- one model -----------------------------------------------------------------------------


def _diff(
    engine: EngineAdapter,
    model: str,
    before: str,
    after: str,
    one: SnapshotRecord | None,
    two: SnapshotRecord | None,
    config: DiffConfig,
    key_of: Callable[[str], tuple[str, ...]],
) -> ModelDiff:
    from tidegate.state.views import record_view

    if (one is not None and not one.physical) or (two is not None and not two.physical):
        raise TidegateError(f"model {model} is ephemeral: it has no rows to diff")
    started = time.perf_counter()
    sides = _Sides(
        engine,
        record_view(engine, before, one) if one is not None else None,
        record_view(engine, after, two) if two is not None else None,
        config.samples,
    )
    base = ModelDiff(model, before, after, "compared")
    if sides.before is None or sides.after is None:
        result = sides.one_side(base)
    else:
        result = sides.compare(base, key_of(model), before, after)
    return _with(result, seconds=round(time.perf_counter() - started, 3))


def _with(diff: ModelDiff, **changes: Any) -> ModelDiff:
    from dataclasses import replace

    return replace(diff, **changes)


class _Sides:
    """The two relations of a model diff and the SQL that compares them."""

    def __init__(self, engine: EngineAdapter, before: str | None, after: str | None, samples: int) -> None:
        self.engine = engine
        self.before = before
        self.after = after
        self.samples = samples

    def one_side(self, diff: ModelDiff) -> ModelDiff:
        """A model only one environment has: all its rows are added or removed."""
        relation = self.after or self.before
        assert relation is not None
        count = int(self._fetch(f"SELECT COUNT(*) FROM {self._table(relation)}").rows[0][0])
        sample = self._sample(f"SELECT * FROM {self._table(relation)}")
        if self.after is not None:
            return _with(diff, status="added", rows_after=count, added=count, samples_added=sample)
        return _with(diff, status="removed", rows_before=count, removed=count, samples_removed=sample)

    def compare(self, diff: ModelDiff, key: tuple[str, ...], before: str, after: str) -> ModelDiff:
        assert self.before is not None and self.after is not None
        columns_before = self.engine.columns(self.before)
        columns_after = self.engine.columns(self.after)
        types_after = {name.lower(): (name, kind) for name, kind in columns_after}
        names_before = {name.lower() for name, _ in columns_before}
        common: list[tuple[str, str, bool]] = []  # (name before, name after, cast to text)
        types_changed = []
        for name, kind in columns_before:
            if name.lower() in types_after:
                other, other_kind = types_after[name.lower()]
                differs = kind.lower() != other_kind.lower()
                common.append((name, other, differs))
                if differs:
                    types_changed.append((name, kind, other_kind))
        diff = _with(
            diff,
            columns_added=tuple(name for name, _ in columns_after if name.lower() not in names_before),
            columns_removed=tuple(name for name, _ in columns_before if name.lower() not in types_after),
            types_changed=tuple(types_changed),
        )
        if not common:
            return self._whole_rows(diff, [], "the two sides have no column in common")
        by_name = {one.lower(): (one, two, cast) for one, two, cast in common}
        missing = [k for k in key if k.lower() not in by_name]
        if not key:
            return self._whole_rows(diff, common, "no primary key: whole rows compared")
        if missing:
            return self._whole_rows(
                diff, common, f"the key {', '.join(missing)} is not on both sides: whole rows compared"
            )
        keys = [by_name[k.lower()] for k in key]
        values = [column for column in common if column[0].lower() not in {k.lower() for k in key}]
        return self._by_key(diff, keys, values, before, after)

    # by key ------------------------------------------------------------------------------

    def _by_key(
        self,
        diff: ModelDiff,
        keys: list[tuple[str, str, bool]],
        values: list[tuple[str, str, bool]],
        before: str,
        after: str,
    ) -> ModelDiff:
        a, b = self._table(self.before), self._table(self.after)
        bad = " OR ".join(f"{self._q(k[0])} IS NULL" for k in keys)
        bad_b = " OR ".join(f"{self._q(k[1])} IS NULL" for k in keys)
        group_a = ", ".join(self._q(k[0]) for k in keys)
        group_b = ", ".join(self._q(k[1]) for k in keys)
        counts = self._fetch(
            f"SELECT (SELECT COUNT(*) FROM {a}) AS rows_before, (SELECT COUNT(*) FROM {b}) AS rows_after, "
            f"(SELECT COUNT(*) FROM (SELECT {group_a} FROM {a} GROUP BY {group_a} HAVING COUNT(*) > 1) AS d) "
            f"+ (SELECT COUNT(*) FROM {a} WHERE {bad}) AS bad_before, "
            f"(SELECT COUNT(*) FROM (SELECT {group_b} FROM {b} GROUP BY {group_b} HAVING COUNT(*) > 1) AS d) "
            f"+ (SELECT COUNT(*) FROM {b} WHERE {bad_b}) AS bad_after"
        ).rows[0]
        rows_before, rows_after, bad_before, bad_after = (int(v or 0) for v in counts)
        if bad_before or bad_after:
            where = before if bad_before else after
            named = ", ".join(k[0] for k in keys)
            common = keys + values
            return self._whole_rows(
                diff, common, f"the key {named} is not unique or has NULLs in {where}: whole rows compared"
            )
        side_a = self._side(a, [(k[0], k[2]) for k in keys], [(v[0], v[2]) for v in values])
        side_b = self._side(b, [(k[1], k[2]) for k in keys], [(v[1], v[2]) for v in values])
        join = " AND ".join(f"a.{self._q(f'k{i}')} = b.{self._q(f'k{i}')}" for i in range(len(keys)))
        both = f"a.{_MARK} IS NOT NULL AND b.{_MARK} IS NOT NULL"
        distinct = [f"a.{self._q(f'v{i}')} IS DISTINCT FROM b.{self._q(f'v{i}')}" for i in range(len(values))]
        changed_any = " OR ".join(distinct) if distinct else "1 = 0"
        per_column = "".join(
            f", SUM(CASE WHEN {both} AND {text} THEN 1 ELSE 0 END) AS c{i}" for i, text in enumerate(distinct)
        )
        joined = f"{side_a} AS a FULL OUTER JOIN {side_b} AS b ON {join}"
        stats = self._fetch(
            f"SELECT SUM(CASE WHEN b.{_MARK} IS NULL THEN 1 ELSE 0 END) AS removed, "
            f"SUM(CASE WHEN a.{_MARK} IS NULL THEN 1 ELSE 0 END) AS added, "
            f"SUM(CASE WHEN {both} AND ({changed_any}) THEN 1 ELSE 0 END) AS changed{per_column} FROM {joined}"
        ).rows[0]
        removed, added, changed, *per = (int(v or 0) for v in stats)
        columns = tuple(ColumnDiff(v[1], n) for v, n in zip(values, per, strict=True))
        order = ", ".join(f"{i + 1}" for i in range(len(keys)))
        on_a = " AND ".join(f"{self._value(k[1], k[2], 'o')} = {self._value(k[0], k[2], 't')}" for k in keys)
        on_b = " AND ".join(f"{self._value(k[0], k[2], 'o')} = {self._value(k[1], k[2], 't')}" for k in keys)
        samples_added = samples_removed = samples_changed = None
        if added:
            samples_added = self._sample(
                f"SELECT t.* FROM {b} AS t WHERE NOT EXISTS (SELECT 1 FROM {a} AS o WHERE {on_b}) "
                f"ORDER BY {', '.join('t.' + self._q(k[1]) for k in keys)}"
            )
        if removed:
            samples_removed = self._sample(
                f"SELECT t.* FROM {a} AS t WHERE NOT EXISTS (SELECT 1 FROM {b} AS o WHERE {on_a}) "
                f"ORDER BY {', '.join('t.' + self._q(k[0]) for k in keys)}"
            )
        if changed:
            shown = [(i, v) for i, (v, n) in enumerate(zip(values, per, strict=True)) if n]
            selected = ", ".join(
                [f"a.{self._q(f'k{i}')} AS {self._q(k[1])}" for i, k in enumerate(keys)]
                + [
                    f"a.{self._q(f'v{i}')} AS {self._q(f'{v[1]} ({before})')}, "
                    f"b.{self._q(f'v{i}')} AS {self._q(f'{v[1]} ({after})')}"
                    for i, v in shown
                ]
            )
            samples_changed = self._sample(
                f"SELECT {selected} FROM {side_a} AS a JOIN {side_b} AS b ON {join} "
                f"WHERE {' OR '.join(distinct[i] for i, _ in shown)} ORDER BY {order}"
            )
        return _with(
            diff,
            key=tuple(k[1] for k in keys),
            rows_before=rows_before,
            rows_after=rows_after,
            added=added,
            removed=removed,
            changed=changed,
            columns=columns,
            samples_added=samples_added,
            samples_removed=samples_removed,
            samples_changed=samples_changed,
        )

    def _side(self, relation: str, keys: list[tuple[str, bool]], values: list[tuple[str, bool]]) -> str:
        """One side with its columns renamed k0.., v0.. (as text where the types differ)."""
        selected = [f"{self._value(k, cast)} AS {self._q(f'k{i}')}" for i, (k, cast) in enumerate(keys)]
        selected += [f"{self._value(v, cast)} AS {self._q(f'v{i}')}" for i, (v, cast) in enumerate(values)]
        return f"(SELECT {', '.join(selected)}, 1 AS {_MARK} FROM {relation})"

    # whole rows --------------------------------------------------------------------------

    def _whole_rows(self, diff: ModelDiff, common: Sequence[tuple[str, str, bool]], note: str) -> ModelDiff:
        a, b = self._table(self.before), self._table(self.after)
        if not common:
            counts = self._fetch(f"SELECT (SELECT COUNT(*) FROM {a}), (SELECT COUNT(*) FROM {b})").rows[0]
            rows_before, rows_after = (int(v or 0) for v in counts)
            return _with(
                diff,
                rows_before=rows_before,
                rows_after=rows_after,
                removed=rows_before,
                added=rows_after,
                note=note,
            )
        cols_a = ", ".join(f"{self._value(one, cast)} AS {self._q(two)}" for one, two, cast in common)
        cols_b = ", ".join(f"{self._value(two, cast)} AS {self._q(two)}" for _, two, cast in common)
        only_a = f"SELECT {cols_a} FROM {a} EXCEPT ALL SELECT {cols_b} FROM {b}"
        only_b = f"SELECT {cols_b} FROM {b} EXCEPT ALL SELECT {cols_a} FROM {a}"
        counts = self._fetch(
            f"SELECT (SELECT COUNT(*) FROM {a}), (SELECT COUNT(*) FROM {b}), "
            f"(SELECT COUNT(*) FROM ({only_a}) AS r), (SELECT COUNT(*) FROM ({only_b}) AS r)"
        ).rows[0]
        rows_before, rows_after, removed, added = (int(v or 0) for v in counts)
        order = ", ".join(str(i + 1) for i in range(len(common)))
        return _with(
            diff,
            rows_before=rows_before,
            rows_after=rows_after,
            added=added,
            removed=removed,
            samples_added=self._sample(f"SELECT * FROM ({only_b}) AS r ORDER BY {order}") if added else None,
            samples_removed=self._sample(f"SELECT * FROM ({only_a}) AS r ORDER BY {order}")
            if removed
            else None,
            note=note,
        )

    # SQL ---------------------------------------------------------------------------------

    def _sample(self, sql: str) -> Sample | None:
        if not self.samples:
            return None
        result = self._fetch(f"{sql} LIMIT {int(self.samples)}")
        return Sample(tuple(result.columns), tuple(tuple(row) for row in result.rows))

    def _fetch(self, sql: str) -> Any:
        """Run SQL written in PostgreSQL's dialect on the engine."""
        import sqlglot

        if self.engine.dialect != _WRITTEN_IN:
            sql = sqlglot.transpile(sql, read=_WRITTEN_IN, write=self.engine.dialect)[0]
        return self.engine.fetch(sql)

    def _table(self, relation: str | None) -> str:
        """An engine's relation, written for PostgreSQL's dialect."""
        from sqlglot import exp

        assert relation is not None
        return exp.to_table(relation, dialect=self.engine.dialect).sql(dialect=_WRITTEN_IN)

    def _value(self, column: str, cast: bool, table: str = "") -> str:
        name = f"{table}.{self._q(column)}" if table else self._q(column)
        return f"CAST({name} AS TEXT)" if cast else name

    @staticmethod
    def _q(identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'
