"""The engine floor: what a tidegate command would cost if tidegate cost nothing but the engine.

Why: "tidegate is N times faster than dbt" says nothing of how much of its own time is tidegate's.
The floor of a command is the statements tidegate runs for it on the engine, taken from the plan it
saves (``tidegate plan ENV --out``), run one after another in one DuckDB connection by a process that
imports nothing but DuckDB (``floor_run.py``): interpreter start, ``import duckdb``, opening the file,
the statements, closing it.  A tidegate figure over its floor is tidegate's overhead, as a ratio.

What the statements are, as tidegate's apply runs them (``tidegate.plan.apply``, the engine adapter
and ``tidegate.state.views``): the snapshot schemas, each build's materialization in dependency order
(``CREATE OR REPLACE TABLE ... AS``, a view, or a seed's ``read_csv`` and integer narrowing), each
data test's ``SELECT count(*)``, and the environment's views.  Left out, because they are tidegate's
own bookkeeping, not work the engine must do for the result: state rows, transactions, locks.  A plan
with something the floor cannot run the same way (Python models, hooks, contracts, incremental
merges, unit tests, tests that store failures) is refused rather than measured wrongly.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from measure import BenchError, Run, checked, child_env, run_process
from peers.base import Sample

BENCH_DIR = Path(__file__).resolve().parent
RUNNER = BENCH_DIR / "floor_run.py"
PARTS = ("builds", "tests", "views")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def statements(plan_path: Path, parts: Collection[str] = PARTS) -> list[dict[str, Any]]:
    """The statements tidegate runs on the engine to apply the saved plan, in the order one
    connection can run them; ``parts`` chooses among builds, tests and the environment's views."""
    from tidegate.plan.plan import Plan

    plan = Plan.load(plan_path)
    unsupported = [
        what
        for what, present in (
            ("unit tests", plan.unit_tests),
            ("on-run-start/end hooks", plan.on_run_start or plan.on_run_end),
            ("views to remove", "views" in parts and plan.views_removed),
            ("snapshots to build", "builds" not in parts and any(b.materializes for b in plan.builds)),
        )
        if present
    ]
    if unsupported:
        raise BenchError(f"the engine floor cannot run a plan with {', '.join(unsupported)}")
    steps: list[dict[str, Any]] = []
    if "builds" in parts:
        steps += _builds(plan)
    if "tests" in parts:
        steps += _tests(plan)
    if "views" in parts:
        steps += _views(plan)
    return steps


def _builds(plan: Any) -> list[dict[str, Any]]:
    from tidegate.state.views import physical_schema

    pending = [build for build in plan.builds if build.materializes]
    schemas = sorted({physical_schema(plan.mapping[build.model].schema) for build in pending})
    steps = [_step("builds", f"CREATE SCHEMA IF NOT EXISTS {quote(s)}", counted=False) for s in schemas]
    for build in _in_dependency_order(pending):
        steps += _materialize(build)
    return steps


def _in_dependency_order(builds: list[Any]) -> Iterator[Any]:
    """Each build after the builds it reads (tidegate runs them in parallel in that order)."""
    waiting = {build.model: build for build in builds}
    done: set[str] = set()
    while waiting:
        ready = [b for b in waiting.values() if not any(d in waiting for d in b.depends_on if d not in done)]
        if not ready:
            raise BenchError(f"the plan's builds depend on each other in a cycle: {sorted(waiting)}")
        for build in ready:
            del waiting[build.model]
            done.add(build.model)
            yield build


def _materialize(build: Any) -> list[dict[str, Any]]:
    """The statements of ``Applier._materialize`` for the kinds of build the floor can run."""
    from tidegate.project.model import Kind, Language

    extras = [
        what
        for what, present in (
            ("hooks", build.pre_hooks or build.post_hooks),
            ("a contract", build.contract),
            ("an incremental merge", build.history_from),
            ("Python", build.language is Language.PYTHON),
        )
        if present
    ]
    if extras:
        raise BenchError(f"the engine floor cannot build {build.model}: {', '.join(extras)}")
    if build.language is Language.CSV:
        options = "header = true, auto_detect = true, delim = " + literal(build.delimiter)
        options += ", quote = '\"', escape = '\"'"
        if build.column_types:
            types = ", ".join(f"{literal(n)}: {literal(k)}" for n, k in build.column_types.items())
            options += f", types = {{{types}}}"
        steps = [
            _step("builds", f"DROP TABLE IF EXISTS {build.physical}", counted=False),
            _step(
                "builds",
                f"CREATE TABLE {build.physical} AS SELECT * FROM read_csv({literal(build.seed_path)}, {options})",
            ),
        ]
        if build.narrow_integers:
            steps.append({"group": "builds", "narrow": build.physical, "keep": sorted(build.column_types)})
        return steps
    if build.kind is Kind.VIEW:
        return [_step("builds", f"CREATE OR REPLACE VIEW {build.physical} AS {build.sql}")]
    return [_step("builds", f"CREATE OR REPLACE TABLE {build.physical} AS {build.sql}")]


def _step(group: str, sql: str, *, counted: bool = True) -> dict[str, Any]:
    """One statement; ``counted`` when it is the one a build, test or view is counted by."""
    return {"group": group, "sql": sql, "counted": counted}


def _tests(plan: Any) -> list[dict[str, Any]]:
    """Each data test as tidegate counts its failing rows (``apply._failing_rows``)."""
    refused = [test.name for test in plan.tests if test.failures is not None or test.thresholds is not None]
    if refused:
        raise BenchError(
            f"the engine floor cannot run tests that store failures or have thresholds: {refused}"
        )
    return [_step("tests", f"SELECT count(*) FROM ({test.sql}) AS failures") for test in plan.tests]


def _views(plan: Any) -> list[dict[str, Any]]:
    """The environment's views pointed at the plan's snapshots (``state.views._point_views``)."""
    from tidegate.state.views import environment_schema

    records = [plan.mapping[name] for name in plan.views_changed]
    schemas = sorted({environment_schema(record.schema, plan.environment) for record in records})
    steps = [_step("views", f"CREATE SCHEMA IF NOT EXISTS {quote(s)}", counted=False) for s in schemas]
    for record in records:
        view = f"{quote(environment_schema(record.schema, plan.environment))}.{quote(record.view_name)}"
        steps.append(_step("views", f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {record.physical}"))
    return steps


class EngineFloor:
    """Measures the floor of one tidegate command on a copy of its project, beside tidegate's own.

    Why a copy: planning and the floor's statements must leave tidegate's project and warehouse as
    they were, so that its next measure starts where it would without the floor.
    """

    def __init__(self, bin_dir: Path, root: Path, warehouse: str, env: dict[str, str]) -> None:
        self.bin = bin_dir
        self.root = root
        self.warehouse = warehouse
        self.env = env

    def measure(
        self, project: Path, environment: str, parts: Collection[str], warehouse: list[Path] | None = None
    ) -> Sample:
        """Plan ``environment`` on a copy of ``project`` whose warehouse is the files ``warehouse``
        (none: an empty one), then time the plan's statements on that warehouse, copied afresh."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.copytree(project, self.root, ignore=shutil.ignore_patterns(".git", self.warehouse + "*"))
        self._put_warehouse(warehouse or [])
        plan = self.root / "plan.json"
        self._checked(
            [str(self.bin / "tidegate"), "plan", environment, "--out", str(plan)], "tidegate plan --out"
        )
        steps = statements(plan, parts)
        (self.root / "statements.json").write_text(json.dumps(steps))
        self._put_warehouse(warehouse or [])  # as before the plan, which may have written to it
        run = self._checked(
            [sys.executable, str(RUNNER), self.warehouse, "statements.json"], "the engine floor's statements"
        )
        return Sample.of(run, _detail(run, steps))

    def _put_warehouse(self, files: list[Path]) -> None:
        for path in self.root.glob(self.warehouse + "*"):
            path.unlink()
        for path in files:
            name = path.name.replace(self.warehouse, "", 1).removesuffix(".prod-built")
            shutil.copy2(path, self.root / (self.warehouse + name))

    def _checked(self, args: list[str], what: str) -> Run:
        return checked(run_process(args, self.root, env=child_env(self.env)), what)


def _detail(run: Run, steps: list[dict[str, Any]]) -> str:
    """What the floor ran and where its time went, start-up being what the process's own clock missed."""
    seconds: dict[str, float] = json.loads(run.stdout)
    counts = {group: sum(1 for s in steps if s["group"] == group and s.get("counted")) for group in PARTS}
    ran = ", ".join(f"{counts[g]} {g} {seconds[g]:.2f}" for g in PARTS if counts[g])
    start = run.seconds - sum(seconds.values())
    return (
        f"statements (s): {ran or 'none'}; open {seconds['open']:.2f}, close {seconds['close']:.2f}; "
        f"python start {start:.2f} + import duckdb {seconds['import']:.2f}"
    )
