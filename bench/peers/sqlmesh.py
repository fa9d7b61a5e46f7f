"""SQLMesh, in its best configuration: a native SQLMesh project converted from the generated dbt one.

Why native rather than SQLMesh's dbt loader: the loader reads the same files but is slower at every
step (measured at 200 models: plan of a dev environment 11.2 s against 13.3 s, production build 22.3 s
against 34.0 s), and a team choosing SQLMesh writes native models.  Each dbt model becomes one
``MODEL (...)`` file with the same SQL, refs replaced by table names; each seed a ``SEED`` model; each
``unique``/``not_null`` test SQLMesh's built-in audit of that name.

CI is a plan of a per-pull-request virtual environment (``pr_<number>``), as SQLMesh's CI/CD bot does:
it builds the changed model and what depends on it, reusing production's tables for everything else.
Promotion is a plan of prod with the change in place: with ``virtual_environment_mode: full`` the
tables CI built are the ones production points to afterwards, so it must be a virtual update only.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from measure import REPO_DIR, BenchError, Run, checked, child_env, log, run_process
from peers.base import BuiltWarehouse, Change, ChangedFiles, Sample

WAREHOUSE = "warehouse.duckdb"
SCHEMA = "bench"
PROD = "prod"
# What SQLMesh keeps between runs besides the warehouse: parsed and optimised models, by content hash.
CACHES: tuple[str, ...] = (".cache",)
CONFIG = """\
gateways:
  local:
    connection:
      type: duckdb
      database: {warehouse}
      concurrent_tasks: {threads}
default_gateway: local
model_defaults:
  dialect: duckdb
  start: '2024-01-01'
# Explicit: a dev environment's tables are the ones prod points to after promotion, which then is
# a virtual update (views swapped), never a rebuild.
virtual_environment_mode: full
disable_anonymized_analytics: true
"""
# dbt materialization -> SQLMesh model kind.  Ephemeral models are inlined into their consumers in
# both tools.  Incremental models would need their Jinja (is_incremental()) translated: refused.
KINDS = {"view": "VIEW", "table": "FULL", "ephemeral": "EMBEDDED"}
CONFIG_RE = re.compile(r"\{\{\s*config\((?P<args>[^)]*)\)\s*\}\}[ \t]*\n?")
MATERIALIZED_RE = re.compile(r"materialized\s*=\s*['\"](\w+)['\"]")
REF_RE = re.compile(r"\{\{\s*ref\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}")
MODELS_RE = re.compile(r"^Models:\s*(\d+)", re.MULTILINE)
# Output is not a terminal, so SQLMesh uses its CI console (plain markdown, words instead of marks).
# "[1/1] bench.int_5   [full refresh, audits passed 2]   0.05s": one line per model batch evaluated.
BATCH_RE = re.compile(r"^\[\d+/\d+\]\s+(\S+)\s+\[([^\]]*)\]", re.MULTILINE)
PASSED_RE = re.compile(r"passed (\d+)")
FAILED_RE = re.compile(r"failed (\d+)")
VIRTUAL_RE = re.compile(r"Updating virtual layer\D*?[\d.]+%\D*?(\d+)/\d+")
NOTHING_TO_DO = "No changes to plan: project files match the `prod` environment"
NO_PHYSICAL = "SKIP: No physical layer updates to perform"
NO_BATCHES = "SKIP: No model batches to execute"
VIRTUAL_DONE = "Virtual layer updated"


@dataclass(frozen=True)
class ModelSpec:
    """What the dbt project says about one model outside its SQL: its folder's default
    materialization, its description and the columns its ``unique`` / ``not_null`` tests check."""

    default_kind: str = "view"
    description: str = ""
    unique: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()


def native_model(name: str, dbt_sql: str, spec: ModelSpec) -> str:
    """The native SQLMesh file for one dbt model: a ``MODEL`` block, then the SQL with refs resolved."""
    found = CONFIG_RE.search(dbt_sql)
    materialized = spec.default_kind
    if found is not None:
        setting = MATERIALIZED_RE.search(found.group("args"))
        materialized = setting.group(1) if setting else materialized
    kind = KINDS.get(materialized)
    if kind is None:
        raise BenchError(f"{name}: dbt materialization {materialized!r} has no SQLMesh equivalent here")
    body = CONFIG_RE.sub("", dbt_sql, count=1) if found is not None else dbt_sql
    body = REF_RE.sub(lambda ref: f"{SCHEMA}.{ref.group(1)}", body)
    if "{{" in body or "{%" in body:
        raise BenchError(f"{name}: Jinja other than config() and ref() is not converted")
    properties = [f"name {SCHEMA}.{name}", f"kind {kind}"]
    if spec.description:
        properties.append(f"description {_quote(spec.description)}")
    audits = [f"unique_values(columns := ({column}))" for column in spec.unique]
    audits += [f"not_null(columns := ({column}))" for column in spec.not_null]
    if audits:
        properties.append(f"audits ({', '.join(audits)})")
    header = "MODEL (\n" + "".join(f"  {p},\n" for p in properties)[:-2] + "\n);\n\n"
    return header + body.strip() + "\n"


def native_seed(name: str, csv_path: str, columns: dict[str, str]) -> str:
    """A ``SEED`` model over one CSV; ``csv_path`` is relative to the model file's folder.

    Why declared columns: SQLMesh infers seed types with pandas, which leaves timestamps as text,
    while dbt-duckdb loads them as TIMESTAMP; declaring what DuckDB's CSV sniffer finds keeps the
    seeds typed as in the dbt project (integers, VARCHAR, TIMESTAMP).
    """
    listed = ", ".join(f"{column} {kind}" for column, kind in columns.items())
    return (
        f"MODEL (\n  name {SCHEMA}.{name},\n  kind SEED (path {_quote(csv_path)}),\n"
        f"  columns ({listed})\n);\n"
    )


def csv_columns(csv: Path) -> dict[str, str]:
    """Column names and types of a CSV file as DuckDB's sniffer infers them."""
    import duckdb  # only here: importing it costs a few hundred ms

    described = duckdb.sql(f"describe select * from read_csv({_quote(str(csv))})").fetchall()
    return {str(row[0]): str(row[1]) for row in described}


def model_specs(source: Path) -> dict[str, ModelSpec]:
    """Every model's :class:`ModelSpec`, from ``dbt_project.yml`` and the ``models/**/*.yml`` files."""
    project = yaml.safe_load((source / "dbt_project.yml").read_text()) or {}
    folder_kinds = _folder_materializations((project.get("models") or {}).get(project.get("name"), {}))
    specs: dict[str, ModelSpec] = {}
    for sql in sorted((source / "models").rglob("*.sql")):
        folders = sql.relative_to(source / "models").parent.parts
        kind = next(
            (folder_kinds[folders[:i]] for i in range(len(folders), -1, -1) if folders[:i] in folder_kinds),
            "view",
        )
        specs[sql.stem] = ModelSpec(default_kind=kind)
    for schema in sorted((source / "models").rglob("*.yml")):
        for entry in (yaml.safe_load(schema.read_text()) or {}).get("models") or []:
            name = entry["name"]
            unique: list[str] = []
            not_null: list[str] = []
            for column in entry.get("columns") or []:
                for test in column.get("data_tests") or column.get("tests") or []:
                    test_name = test if isinstance(test, str) else next(iter(test))
                    if test_name == "unique":
                        unique.append(column["name"])
                    elif test_name == "not_null":
                        not_null.append(column["name"])
                    else:
                        raise BenchError(f"{schema}: test {test_name!r} of {name} is not converted")
            default = specs.get(name, ModelSpec()).default_kind
            specs[name] = ModelSpec(default, entry.get("description") or "", tuple(unique), tuple(not_null))
    return specs


def _folder_materializations(config: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """``+materialized`` of each folder of dbt_project.yml's ``models:`` tree, keyed by folder path."""
    found: dict[tuple[str, ...], str] = {}
    if not isinstance(config, dict):
        return found
    for key, value in config.items():
        if key in ("+materialized", "materialized"):
            found[path] = str(value)
        elif not key.startswith("+"):
            found.update(_folder_materializations(value, (*path, key)))
    return found


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class SQLMeshPeer:
    """SQLMesh with DuckDB, from its own virtualenv (``make .venv-sqlmesh/.installed``)."""

    name = "SQLMesh"

    def __init__(self, executable: Path | None = None) -> None:
        self.sqlmesh = executable or REPO_DIR / ".venv-sqlmesh" / "bin" / "sqlmesh"
        self.root = Path()
        self.specs: dict[str, ModelSpec] = {}
        self.changed = ChangedFiles()
        self.built = BuiltWarehouse(self.root, WAREHOUSE)

    def unavailable(self) -> str | None:
        if self.sqlmesh.exists():
            return None
        return f"{self.sqlmesh} is missing: run `make .venv-sqlmesh/.installed`"

    def version(self) -> str:
        run = checked(
            run_process([str(self.sqlmesh), "--version"], REPO_DIR, env=self._env()), "sqlmesh --version"
        )
        return run.stdout.strip()

    def setup(self, source: Path, work: Path, threads: int) -> None:
        self.root = work
        self.built = BuiltWarehouse(work, WAREHOUSE)
        self.changed = ChangedFiles()
        self.specs = model_specs(source)
        work.mkdir(parents=True)
        shutil.copytree(source / "seeds", work / "seeds")
        for sql in sorted((source / "models").rglob("*.sql")):
            target = work / sql.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(native_model(sql.stem, sql.read_text(), self.specs[sql.stem]))
        seed_models = work / "models" / "seeds"
        seed_models.mkdir(parents=True, exist_ok=True)
        for csv in sorted((work / "seeds").glob("*.csv")):
            relative = Path("..", "..", "seeds", csv.name).as_posix()
            (seed_models / f"{csv.stem}.sql").write_text(native_seed(csv.stem, relative, csv_columns(csv)))
        (work / "config.yaml").write_text(CONFIG.format(warehouse=WAREHOUSE, threads=threads))
        log(f"    SQLMesh project: {len(self.specs)} models, {len(list(seed_models.glob('*.sql')))} seeds")

    def load(self, cold: bool) -> Sample:
        if cold:
            for cache in CACHES:
                shutil.rmtree(self.root / cache, ignore_errors=True)
        run = self._sqlmesh("info", "--skip-connection")
        found = MODELS_RE.search(run.stdout)
        if found is None:
            raise BenchError(f"sqlmesh info printed no model count:\n{run.tail()}")
        return Sample.of(run, f"{found.group(1)} models (sqlmesh info --skip-connection)")

    def build(self) -> Sample:
        run = self._plan(PROD)
        built, audits = _batches(run)
        if built == 0:
            raise BenchError(f"sqlmesh: the production build built nothing:\n{run.tail()}")
        return Sample.of(run, f"{built} models built, {audits} audits passed")

    def save_built(self) -> None:
        self.built.save()

    def restore_built(self) -> None:
        self.changed.restore()
        self.built.restore()

    def noop(self) -> Sample:
        run = self._plan(PROD)
        if NOTHING_TO_DO not in run.stdout:
            raise BenchError(f"sqlmesh: nothing changed, yet the prod plan found changes:\n{run.tail()}")
        return Sample.of(run, "plan prod: no changes")

    def ci(self, change: Change) -> Sample:
        native = native_model(change.model, change.text, self.specs[change.model])
        self.changed.write(self.root / change.path, native)
        run = self._plan(_environment(change))
        built, audits = _batches(run)
        if built == 0:
            raise BenchError(f"sqlmesh: the CI plan built nothing for a breaking change:\n{run.tail()}")
        return Sample.of(
            run, f"plan {_environment(change)}: {built} models backfilled, {audits} audits passed"
        )

    def promote(self, change: Change) -> Sample:
        run = self._plan(PROD)
        swapped = VIRTUAL_RE.search(run.stdout)
        virtual = NO_PHYSICAL in run.stdout and NO_BATCHES in run.stdout and VIRTUAL_DONE in run.stdout
        if not virtual or swapped is None:
            raise BenchError(
                f"sqlmesh: promoting {_environment(change)} was not a virtual update:\n{run.tail()}"
            )
        return Sample.of(
            run, f"plan prod: no physical layer updates, no batches; {swapped.group(1)} views repointed"
        )

    def cleanup(self) -> None:
        """Nothing keeps running between SQLMesh commands."""

    def _env(self) -> dict[str, str]:
        return child_env(
            {"SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1", "PYTHONWARNINGS": "ignore", "NO_COLOR": "1"}
        )

    def _sqlmesh(self, *command: str) -> Run:
        args = [str(self.sqlmesh), *command]
        return checked(run_process(args, self.root, env=self._env()), f"`sqlmesh {' '.join(command)}`")

    def _plan(self, environment: str) -> Run:
        return self._sqlmesh("plan", environment, "--auto-apply", "--no-prompts")


def _environment(change: Change) -> str:
    """The per-pull-request environment, as SQLMesh's CI/CD bot names one per pull request."""
    return f"pr_{change.number}"


def _batches(run: Run) -> tuple[int, int]:
    """(models evaluated, audits passed) from a plan's per-batch lines; raise on a failed audit."""
    batches = BATCH_RE.findall(run.stdout)
    failed = sum(int(n) for _, what in batches for n in FAILED_RE.findall(what))
    if failed:
        raise BenchError(f"sqlmesh: {failed} audits failed:\n{run.tail()}")
    passed = sum(int(n) for _, what in batches for n in PASSED_RE.findall(what))
    return len({name for name, _ in batches}), passed
