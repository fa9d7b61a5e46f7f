"""Build a dbt project with dbt-core and with tidegate, and compare every relation dbt built.

dbt-core runs from its own virtualenv (`.venv-dbt`, made by `make .venv-dbt`) in a subprocess;
tidegate runs in this process. Each build gets a fresh copy of the project from
`tests/dbt/projects/<name>` and a `profiles.yml` (profile `tidegate_parity`, target `prod`) whose
DuckDB file is `dbt.duckdb` or `tidegate.duckdb` in that copy.

A project may have a `parity.yml`:

    steps:                        # default: one step without vars
      - vars: {region: EU}        # passed as dbt's --vars and as tidegate's variables
      - overlay: parity/step2     # files copied over the project before this step
        load: parity/load_2.sql   # SQL run on the warehouse before this step (an EL tool's load)
    ignore_columns:               # columns whose values depend on when the build ran
      some_snapshot: [dbt_valid_from]
    manifest: true                # tidegate loads the project from the manifest of `dbt compile`
                                  # (run with `dbt seed` against a scratch warehouse before each
                                  # step) instead of rendering its Jinja: for run_query and the like
    seed_first: true              # each step is `dbt seed`, then `dbt build` of everything else,
                                  # for projects whose models read their seeds through source()

Every step is one `dbt build`, and one tidegate plan/apply of `prod` (followed by `run prod` from
the second step on, which processes new data for incremental models). Both run in the project's
directory, against which relative paths in the project (dbt-duckdb's external files) resolve.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECTS = Path(__file__).resolve().parent / "projects"
DBT_VENV = REPO / ".venv-dbt"
DBT = DBT_VENV / "bin" / "dbt"
PROFILE = "tidegate_parity"
TARGET = "prod"
DBT_TIMEOUT = 120
SAMPLE_ROWS = 3
_COPY_IGNORE = shutil.ignore_patterns("target", "logs", ".tidegate", "*.duckdb", "*.duckdb.wal", "parity.yml")


def project_names() -> list[str]:
    return sorted(p.name for p in PROJECTS.iterdir() if (p / "dbt_project.yml").is_file())


class DbtFailed(AssertionError):
    """`dbt build` exited with an error; the message carries the end of its log."""


# the project and its steps --------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    vars: dict[str, Any] = field(default_factory=dict)
    overlay: str | None = None
    load: str | None = None


@dataclass(frozen=True)
class Spec:
    steps: tuple[Step, ...]
    ignore_columns: dict[str, tuple[str, ...]]
    manifest: bool = False
    seed_first: bool = False


def load_spec(name: str) -> Spec:
    path = PROJECTS / name / "parity.yml"
    raw: dict[str, Any] = yaml.safe_load(path.read_text()) if path.exists() else {}
    raw = raw or {}
    steps = tuple(
        Step(vars=dict(s.get("vars") or {}), overlay=s.get("overlay"), load=s.get("load"))
        for s in raw.get("steps") or [{}]
    )
    ignore = {k.lower(): tuple(c.lower() for c in v) for k, v in (raw.get("ignore_columns") or {}).items()}
    return Spec(
        steps=steps,
        ignore_columns=ignore,
        manifest=bool(raw.get("manifest")),
        seed_first=bool(raw.get("seed_first")),
    )


def copy_project(name: str, destination: Path) -> Path:
    """A fresh copy of the project (without its build outputs or parity.yml's overlays applied)."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(PROJECTS / name, destination, ignore=_COPY_IGNORE)
    return destination


def apply_overlay(root: Path, step: Step) -> None:
    if step.overlay is None:
        return
    source = root / step.overlay
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = root / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            # a new mtime even within the same second, for tools that look at it
            os.utime(target, (time.time(), time.time()))


def load_data(root: Path, step: Step, database: Path) -> None:
    """Run the step's `load` SQL on the warehouse, as an extract-load tool would between builds."""
    if step.load is None:
        return
    import duckdb

    connection = duckdb.connect(str(database))
    try:
        connection.execute((root / step.load).read_text())
    finally:
        connection.close()


def write_profiles(directory: Path, database: Path) -> Path:
    """A profiles.yml with one dbt-duckdb target, `prod`, writing `database`."""
    profile = {
        PROFILE: {
            "target": TARGET,
            "outputs": {
                TARGET: {"type": "duckdb", "path": str(database), "schema": "main", "threads": 2},
            },
        }
    }
    path = directory / "profiles.yml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


# dbt ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """A relation dbt built: `schema.alias` in its DuckDB file (the database part differs)."""

    schema: str
    name: str
    node: str  # unique_id, e.g. model.layered.orders
    resource_type: str

    @property
    def sql(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    def __str__(self) -> str:
        return f"{self.schema}.{self.name} ({self.node})"


@dataclass(frozen=True)
class DbtBuild:
    root: Path
    database: Path
    relations: tuple[Relation, ...]
    seconds: float


_BUILT = {"success", "pass", "warn", "fail"}
"""Statuses of a node whose relation dbt (re)built: a model's success, or a test's outcome."""


def dbt_available() -> bool:
    return DBT.is_file()


def dbt_build(name: str, workdir: Path) -> DbtBuild:
    """Copy the project into `workdir` and run every step's `dbt build`; raise DbtFailed if one fails."""
    spec = load_spec(name)
    root = copy_project(name, workdir / name)
    database = root / "dbt.duckdb"
    write_profiles(root, database)
    started = time.perf_counter()
    seeded: tuple[Relation, ...] = ()
    for number, step in enumerate(spec.steps, 1):
        apply_overlay(root, step)
        load_data(root, step, database)
        what = f"{name} (step {number}/{len(spec.steps)})"
        if spec.seed_first:
            run_dbt("seed", root, root, step.vars, what)
            seeded = built_relations(root / "target")
        build = ("--exclude", "resource_type:seed") if spec.seed_first else ()
        run_dbt("build", root, root, step.vars, what, build)
    seconds = time.perf_counter() - started
    relations = sorted({*built_relations(root / "target"), *seeded}, key=lambda r: (r.schema, r.name))
    return DbtBuild(root, database, tuple(relations), seconds)


def run_dbt(
    command: str,
    root: Path,
    profiles_dir: Path,
    variables: dict[str, Any],
    what: str,
    options: tuple[str, ...] = (),
) -> None:
    """`dbt <command>` on the project in `root`; raise DbtFailed with the end of its log if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
        DBT_PARTIAL_PARSE="false",
        DBT_STATIC_PARSER="true",
        VIRTUAL_ENV=str(DBT_VENV),
        PATH=f"{DBT_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    arguments = [str(DBT), command, "--profiles-dir", str(profiles_dir), "--project-dir", str(root), *options]
    if variables:
        arguments += ["--vars", json.dumps(variables)]
    done = subprocess.run(
        arguments, cwd=root, env=env, capture_output=True, text=True, timeout=DBT_TIMEOUT, check=False
    )
    if done.returncode != 0:
        log = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise DbtFailed(f"dbt {command} of {what} exited {done.returncode}:\n{log}")


def dbt_compile(root: Path, variables: dict[str, Any]) -> Path:
    """`dbt seed` and `dbt compile` of the project in `root` against a scratch warehouse (compile
    queries such as run_query read it), as a user would before `tidegate plan --manifest`;
    return the manifest."""
    scratch = root / "parity_compile"
    scratch.mkdir(exist_ok=True)
    write_profiles(scratch, scratch / "compile.duckdb")
    for command in ("seed", "compile"):
        run_dbt(command, root, scratch, variables, root.name)
    return root / "target" / "manifest.json"


def built_relations(target: Path) -> tuple[Relation, ...]:
    """The models, seeds and snapshots the last `dbt build` materialized, and the relations where
    tests keep their failing rows (`store_failures`), from run_results.json and manifest.json
    (ephemeral models, and tests that keep nothing, have no relation)."""
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    relations = []
    for result in results:
        node = manifest["nodes"].get(result["unique_id"])
        if node is None or node["resource_type"] not in {"model", "seed", "snapshot", "test"}:
            continue
        if node["resource_type"] == "test" and not result.get("relation_name"):
            continue
        if node["config"].get("materialized") == "ephemeral" or result["status"] not in _BUILT:
            continue
        relations.append(
            Relation(node["schema"], node["alias"] or node["name"], node["unique_id"], node["resource_type"])
        )
    return tuple(sorted(relations, key=lambda r: (r.schema, r.name)))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_dbt_build(name: str, cache: Path, day: dt.date | None = None) -> DbtBuild:
    """`dbt_build` once per project and day for all tests and pytest-xdist workers sharing `cache`.
    Keyed by the day because projects read today's date (dbt-date's `datetime.today()`), so a build
    from before midnight is not compared with one after it. A failure is cached too, so every test
    that needs the build reports it."""
    cache = cache / (day or dt.date.today()).isoformat()
    record = cache / f"{name}.json"
    with _locked(cache / f"{name}.lock"):
        if not record.exists():
            try:
                build = dbt_build(name, cache)
            except DbtFailed as error:
                record.write_text(json.dumps({"error": str(error)}))
                raise
            record.write_text(
                json.dumps(
                    {
                        "root": str(build.root),
                        "database": str(build.database),
                        "seconds": build.seconds,
                        "relations": [vars(r) for r in build.relations],
                    }
                )
            )
    data = json.loads(record.read_text())
    if "error" in data:
        raise DbtFailed(data["error"])
    return DbtBuild(
        Path(data["root"]),
        Path(data["database"]),
        tuple(Relation(**r) for r in data["relations"]),
        data["seconds"],
    )


# tidegate -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def tidegate_build(name: str, workdir: Path) -> Path:
    """Copy the project into `workdir`, build every step with tidegate; return its DuckDB file."""
    from tidegate.context import Context

    spec = load_spec(name)
    root = copy_project(name, workdir / name)
    database = root / "tidegate.duckdb"
    write_profiles(root, database)
    with _environ(DBT_PROFILES_DIR=str(root)), contextlib.chdir(root):
        for number, step in enumerate(spec.steps, 1):
            apply_overlay(root, step)
            load_data(root, step, database)
            manifest = dbt_compile(root, step.vars) if spec.manifest else None
            variables = {} if spec.manifest else step.vars  # compiled into the manifest
            with Context(root, variables=variables, manifest=manifest) as context:
                context.plan_and_apply(TARGET)
                if number > 1:
                    context.run(TARGET)
    return database


# comparison -----------------------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    """A hashable value where numbers equal within a small tolerance compare equal."""
    if isinstance(value, bool | int) or value is None:
        return value  # an int equals (and hashes as) the float of the same value
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return number
        # 9 significant digits and 9 decimals: sums of floats added in another order still match
        return float(f"{round(number, 9):.9g}") + 0.0  # + 0.0 makes -0.0 equal to 0.0
    if isinstance(value, list | tuple):
        return tuple(_normalize(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _normalize(v)) for k, v in value.items()))
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: Counter[tuple[Any, ...]]


def read_table(connection: Any, relation: Relation, ignore: tuple[str, ...] = ()) -> Table | None:
    """The relation's rows as a multiset, without the `ignore` columns; None if it does not exist."""
    found = connection.execute(
        "select column_name from information_schema.columns "
        "where lower(table_schema) = lower(?) and lower(table_name) = lower(?) order by ordinal_position",
        [relation.schema, relation.name],
    ).fetchall()
    if not found:
        return None
    columns = tuple(c for (c,) in found if c.lower() not in ignore)
    if not columns:
        return Table((), Counter())
    select = ", ".join(f'"{c}"' for c in columns)
    rows = connection.execute(f"select {select} from {relation.sql}").fetchall()
    return Table(tuple(c.lower() for c in columns), Counter(tuple(_normalize(v) for v in r) for r in rows))


def _user_relations(connection: Any) -> set[tuple[str, str]]:
    """Relations outside tidegate's internal schemas (`_tidegate`, `tidegate__*`, `<schema>__<env>`)."""
    rows = connection.execute(
        "select table_schema, table_name from information_schema.tables where table_catalog = current_database()"
    ).fetchall()
    return {
        (s.lower(), t.lower())
        for s, t in rows
        if not s.lower().startswith(("_tidegate", "tidegate__")) and "__" not in s
    }


def compare(
    dbt_database: Path,
    other_database: Path,
    relations: tuple[Relation, ...],
    ignore_columns: dict[str, tuple[str, ...]] | None = None,
    *,
    check_extra: bool = True,
) -> list[str]:
    """Differences between the relations dbt built and the same `schema.alias` in the other
    warehouse: missing relations, other columns, rows only on one side (order-insensitive, numbers
    rounded to 9 significant digits and 9 decimals), and with `check_extra` relations only the other warehouse has."""
    import duckdb

    ignore_columns = ignore_columns or {}
    problems: list[str] = []
    left = duckdb.connect(str(dbt_database), read_only=True)
    right = duckdb.connect(str(other_database), read_only=True)
    try:
        for relation in relations:
            ignore = ignore_columns.get(relation.name.lower(), ())
            expected = read_table(left, relation, ignore)
            actual = read_table(right, relation, ignore)
            if expected is None:
                problems.append(f"{relation}: dbt's own relation is missing from {dbt_database}")
            elif actual is None:
                problems.append(f"{relation}: missing in tidegate's warehouse")
            elif set(expected.columns) != set(actual.columns):
                problems.append(
                    f"{relation}: columns differ: dbt {list(expected.columns)}, tidegate {list(actual.columns)}"
                )
            else:
                order = [actual.columns.index(c) for c in expected.columns]
                actual_rows = Counter({tuple(row[i] for i in order): n for row, n in actual.rows.items()})
                problem = _row_difference(relation, expected, actual_rows)
                if problem:
                    problems.append(problem)
        if check_extra:
            built = {(r.schema.lower(), r.name.lower()) for r in relations}
            for schema, name in sorted(_user_relations(right) - built - _user_relations(left)):
                problems.append(f"{schema}.{name}: built by tidegate, not by dbt")
    finally:
        left.close()
        right.close()
    return problems


def _row_difference(relation: Relation, expected: Table, actual: Counter[tuple[Any, ...]]) -> str | None:
    if expected.rows == actual:
        return None
    only_dbt = list((expected.rows - actual).elements())
    only_tidegate = list((actual - expected.rows).elements())
    lines = [
        f"{relation}: rows differ (dbt {expected.rows.total()}, tidegate {actual.total()}; "
        f"{len(only_dbt)} only in dbt, {len(only_tidegate)} only in tidegate)",
        f"  columns: {list(expected.columns)}",
    ]
    lines += [f"  only in dbt:      {row}" for row in sorted(only_dbt, key=repr)[:SAMPLE_ROWS]]
    lines += [f"  only in tidegate: {row}" for row in sorted(only_tidegate, key=repr)[:SAMPLE_ROWS]]
    return "\n".join(lines)
