#!/usr/bin/env python
"""Measure tidegate on generated projects and check the performance goals of the issue.

Why this exists: "environments are views, so a no-op plan and a promotion are instant whatever the data
size" is tidegate's central promise, and it only holds if it is measured on projects shaped like real
ones.  This runner generates such projects with ``bench/generate.py`` and times, for each of them:

- project load (``Context(root).project``) and CLI start-up (``tidegate --help``),
- a full build of prod (``tidegate plan prod --auto-apply``) and its peak memory,
- a no-op plan (``tidegate plan prod`` right after the build, which must say "No changes"),
- a dev plan+apply after a breaking and after a non-breaking change, with how many snapshots were built,
- a promotion (``tidegate promote dev prod``) at two data sizes, to show it does not grow with the data.

The side-by-side comparison with dbt-core and SQLMesh is ``compare.py`` (``make bench``); this runner
goes deeper into tidegate alone: the in-process cost next to the CLI's, and promotion at two data sizes.

Every figure is taken twice: through the real CLI in a subprocess (what a user waits for, Python start-up
and imports included) and in-process through the Python API (what tidegate itself costs once imported).
Quick measures are the best of ``--repeat`` runs after one discarded warm-up run, because the minimum is
the least noisy estimate of what the code costs; builds run once, since a second build is a no-op.

Usage::

    python bench/detail.py                          # 200 models at 1,000 and 100,000 rows per seed
    python bench/detail.py --models 200,2000,10000  # above --full-max-models only load, build, no-op plan
    python bench/detail.py --profile                # also cProfile the no-op plan, promotion and load
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from generate import apply_change, choose_change_target, generate_project
from measure import BenchError, Run, json_document, load_average, log, machine, run_process
from peers.base import BuiltWarehouse
from tidegate.context import Context

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_WORK_DIR = BENCH_DIR / "out"  # gitignored: projects and warehouses can be hundreds of MB
DEFAULT_RESULTS = BENCH_DIR / "RESULTS-detail.md"
WAREHOUSE = "warehouse.duckdb"  # the path generate.py writes into tidegate.yml
GOAL_MODELS = 200  # the issue states its goals for the 200-model project

# What `tidegate` pays before any command does its work: interpreter start-up, imports, project load.
LOAD_SNIPPET = "import sys\nfrom tidegate.context import Context\nContext(sys.argv[1]).project\n"


T = TypeVar("T")


# ------------------------------------------------------------------------------------------ records


@dataclass
class Figure:
    """One measure of one project, in both modes; ``None`` when a mode does not apply or was skipped."""

    models: int | None  # None for size-independent measures (CLI start-up)
    rows: int | None
    key: str  # stable identifier the goals refer to
    label: str
    cli: list[float] = field(default_factory=list)
    api: list[float] = field(default_factory=list)
    detail: str = ""
    cli_cpu: list[float] = field(default_factory=list)

    @classmethod
    def of_runs(
        cls,
        models: int | None,
        rows: int | None,
        key: str,
        label: str,
        runs: list[Run],
        api: list[float] | None = None,
        detail: str = "",
    ) -> Figure:
        """A figure from CLI runs, keeping their CPU time next to their wall time."""
        walls = [r.seconds for r in runs]
        return cls(models, rows, key, label, walls, api or [], detail, [r.cpu_seconds for r in runs])

    @property
    def cli_cpu_best(self) -> float | None:
        """CPU time (user + system) of the CLI run with the best wall time.

        Why: on a busy machine wall time includes waiting for a CPU; CPU time is close to what tidegate
        itself costs, so the two together tell contention from slowness.
        """
        if not self.cli or not self.cli_cpu:
            return None
        return self.cli_cpu[self.cli.index(min(self.cli))]

    @property
    def cli_best(self) -> float | None:
        """Best (minimum) CLI time; the minimum is what the code costs without scheduler noise."""
        return min(self.cli) if self.cli else None

    @property
    def api_best(self) -> float | None:
        """Best (minimum) in-process time."""
        return min(self.api) if self.api else None


@dataclass(frozen=True)
class Goal:
    """A limit from the issue, checked on the ``GOAL_MODELS`` project in one mode."""

    key: str
    mode: str  # "cli" or "api"
    limit: float
    text: str


GOALS: tuple[Goal, ...] = (
    Goal("noop_plan", "cli", 0.5, "no-op plan < 0.5 s (CLI)"),
    Goal("noop_plan", "api", 0.5, "no-op plan < 0.5 s (API)"),
    Goal("promote", "cli", 0.3, "promotion < 0.3 s at every data size (CLI)"),
    Goal("promote", "api", 0.3, "promotion < 0.3 s at every data size (API)"),
    Goal("load", "cli", 0.5, "project load < 0.5 s (CLI: start-up + imports + load)"),
    Goal("load", "api", 0.5, "project load < 0.5 s (API)"),
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one goal on one project (one line of the PASS/FAIL report)."""

    goal: Goal
    rows: int
    seconds: float | None

    @property
    def status(self) -> str:
        """PASS, FAIL, or n/a when the measure was not taken (so a skipped measure never passes)."""
        if self.seconds is None:
            return "n/a"
        return "PASS" if self.seconds < self.goal.limit else "FAIL"


# ------------------------------------------------------------------------------------- subprocesses


def tidegate_executable() -> list[str]:
    """The venv's ``tidegate`` entry point, exactly what a user runs (not ``python -m``)."""
    beside = Path(sys.executable).parent / "tidegate"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tidegate")
    if found is None:
        raise BenchError("no `tidegate` executable next to this Python or on PATH; run `make bench`")
    return [found]


def cli(project: Path, *command: str, timeout: float | None = None, check: bool = True) -> Run:
    """Run ``tidegate COMMAND --project DIR``; a failure aborts, since later figures would be wrong."""
    run = run_process([*tidegate_executable(), *command, "--project", str(project)], project, timeout)
    if check and run.returncode != 0 and not run.timed_out:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-15:])
        raise BenchError(f"`tidegate {' '.join(command)}` exited {run.returncode}:\n{tail}")
    return run


def built_count(document: dict[str, Any]) -> int:
    """Snapshots a ``plan --auto-apply --json`` built: ``apply.built`` (0 when nothing was applied)."""
    return len((document.get("apply") or {}).get("built") or [])


def change_counts(document: dict[str, Any]) -> dict[str, int]:
    """Models per change type (added, directly/indirectly modified...) from a plan's JSON document.

    Why tolerant: the CLI's JSON has carried the summary under ``plan`` and under ``summary``; counting
    the ``changes`` list directly works with either, so the benchmark does not break on that detail.
    """
    changes = document.get("changes")
    if isinstance(changes, list):
        counts: dict[str, int] = {}
        for change in changes:
            kind = str(change.get("change", "?")) if isinstance(change, dict) else "?"
            counts[kind] = counts.get(kind, 0) + 1
        return counts
    for key in ("summary", "plan"):
        summary = document.get(key)
        if isinstance(summary, dict) and isinstance(summary.get("changes"), dict):
            return dict(summary["changes"])
    return {}


# -------------------------------------------------------------------------------------------- timing


def best_of(sample: Callable[[], T], repeat: int, warmup: bool = True) -> list[T]:
    """Call ``sample`` (which times itself, so set-up can be left out) after an optional warm-up.

    The warm-up fills the OS page cache, Python's bytecode cache and, in-process, tidegate's and
    sqlglot's own caches; without it the first run measures the disk, not tidegate.
    """
    if warmup:
        sample()
    return [sample() for _ in range(repeat)]


def timed(action: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------ project


class Project:
    """A generated project and a pristine copy of its prod-built warehouse.

    Why the copy: a dev plan+apply after a change builds snapshots that a second run would simply reuse,
    so every repetition restores the warehouse and the model file to the state right after the prod
    build, then applies the change again; only the plan+apply itself is timed.
    """

    def __init__(self, root: Path, models: int, rows: int) -> None:
        self.root = root
        self.models = models
        self.rows = rows
        self.target: Path | None = None
        self.target_text = ""
        self.built = BuiltWarehouse(root, WAREHOUSE)

    @classmethod
    def generate(cls, work_dir: Path, models: int, rows: int) -> Project:
        """Generate a fresh project; a stale warehouse from an earlier run would skew every figure."""
        root = work_dir / f"m{models}-r{rows}"
        if root.exists():
            shutil.rmtree(root)
        stats = generate_project(root, models, "tidegate", rows)
        log(
            f"\n== {models} models, {rows:,} rows per seed: {stats.seeds} seeds, depth {stats.depth}, "
            f"{stats.files} files -> {root}"
        )
        project = cls(root, models, rows)
        project.target = choose_change_target(root)
        project.target_text = project.target.read_text()
        return project

    def drop_warehouse(self) -> None:
        """Start from nothing, as a first `tidegate plan prod` does."""
        self.built.drop()

    def save_built(self) -> None:
        """Keep the state right after the prod build (every Context was closed, so it is checkpointed)."""
        self.built.save()

    def restore_built(self) -> None:
        """Return warehouse and models to the state right after the prod build."""
        self.built.restore()
        if self.target is not None:
            self.target.write_text(self.target_text)

    def change(self, kind: str) -> str:
        """Apply ``generate.py --change KIND`` to the pristine model; returns the model changed."""
        if self.target is not None:
            self.target.write_text(self.target_text)
        return apply_change(self.root, kind)


# -------------------------------------------------------------------------------------------- bench


@dataclass
class Options:
    """The command line, typed, so the measuring code does not depend on argparse."""

    models: list[int]
    rows: list[int]
    repeat: int
    full_max_models: int
    large_build: bool
    build_timeout: float
    work_dir: Path
    results: Path
    profile: bool
    check: bool


class Bench:
    """Runs the measures and collects :class:`Figure` records."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.profiles: dict[str, str] = {}
        self.start_load = load_average()

    def add(self, figure: Figure) -> Figure:
        """Record a figure and print it at once, so a long run shows results as they come."""
        self.figures.append(figure)
        parts = [f"  {figure.label:<44}"]
        if figure.cli_best is not None:
            parts.append(f"CLI {figure.cli_best:8.3f}s (CPU {figure.cli_cpu_best or 0:6.3f}s)")
        if figure.api_best is not None:
            parts.append(f"API {figure.api_best:8.3f}s")
        if figure.detail:
            parts.append(f"  {figure.detail}")
        log("  ".join(parts))
        return figure

    # measures --------------------------------------------------------------------------------------

    def startup(self) -> None:
        """``tidegate --help``: the floor under every command (interpreter, click, rich, imports)."""
        here = self.options.work_dir

        def sample() -> Run:
            return run_process([*tidegate_executable(), "--help"], here)

        self.add(
            Figure.of_runs(
                None,
                None,
                "startup",
                "CLI start-up (`tidegate --help`)",
                best_of(sample, self.options.repeat),
            )
        )

    def load(self, p: Project, repeat: int, warmup: bool) -> None:
        """Project load: parse YAML, render Jinja, read every model.

        The CLI figure runs Python + ``Context(root).project`` in a subprocess, i.e. what any command
        pays before it starts its own work; the API figure is the load alone in a warm process.
        """
        args = [sys.executable, "-c", LOAD_SNIPPET, str(p.root)]

        def sample_cli() -> Run:
            run = run_process(args, p.root)
            if run.returncode != 0:
                raise BenchError(f"loading {p.root} failed:\n{run.stderr[-2000:]}")
            return run

        def sample_api() -> float:
            return timed(lambda: Context(p.root).project)

        self.add(
            Figure.of_runs(
                p.models,
                p.rows,
                "load",
                "project load",
                best_of(sample_cli, repeat, warmup),
                best_of(sample_api, repeat, warmup),
                f"{len(Context(p.root).project.models)} models loaded",
            )
        )

        def sample_cold() -> Run:
            shutil.rmtree(p.root / ".tidegate", ignore_errors=True)
            return sample_cli()

        self.add(
            Figure.of_runs(
                p.models,
                p.rows,
                "load-cold",
                "project load, cold (first load, no .tidegate/cache)",
                best_of(sample_cold, repeat, 0),
                detail="every model rendered and parsed; the cache is written for the next load",
            )
        )

    def build(self, p: Project, api: bool) -> bool:
        """Full build of prod from an empty warehouse, once per mode; returns False on timeout.

        Peak memory is taken from the CLI process, the only place where it is the build's alone.
        """
        timeout = self.options.build_timeout
        api_times: list[float] = []
        api_built = None
        if api:
            p.drop_warehouse()
            with Context(p.root) as ctx:
                started = time.perf_counter()
                _, result = ctx.plan_and_apply("prod")
                api_times.append(time.perf_counter() - started)
            api_built = len(result.built) if result else 0
        p.drop_warehouse()
        run = cli(p.root, "plan", "prod", "--auto-apply", "--json", timeout=timeout)
        if run.timed_out:
            self.notes.append(
                f"{p.models} models, {p.rows:,} rows: the build was stopped after {timeout:g}s "
                "(--build-timeout); measures that need a built prod were skipped."
            )
            log(f"  full build of prod took over {timeout:g}s: stopped; build-dependent measures skipped")
            p.drop_warehouse()
            return False
        built = built_count(json_document(run))
        detail = f"built {built} snapshots"
        if api_built is not None and api_built != built:
            detail += f" (API: {api_built})"
        detail += f"; peak RSS {run.maxrss_kib / 1024:.0f} MiB"
        self.add(Figure.of_runs(p.models, p.rows, "build", "full build of prod", [run], api_times, detail))
        p.save_built()
        return True

    def noop_plan(self, p: Project, repeat: int, warmup: bool) -> None:
        """``tidegate plan prod`` right after the build: must find nothing to do, and fast."""

        def sample_cli() -> Run:
            run = cli(p.root, "plan", "prod")
            if "No changes" not in run.stdout + run.stderr:
                raise BenchError(f"the plan after the build is not a no-op:\n{run.stdout[-2000:]}")
            return run

        def sample_api() -> float:
            with Context(p.root) as ctx:
                started = time.perf_counter()
                plan = ctx.plan("prod")
                seconds = time.perf_counter() - started
            if plan.has_changes:
                raise BenchError("the in-process plan after the build is not a no-op")
            return seconds

        # The API figure includes opening the warehouse (ctx.plan connects lazily) but not closing it.
        self.add(
            Figure.of_runs(
                p.models,
                p.rows,
                "noop_plan",
                "no-op plan of prod",
                best_of(sample_cli, repeat, warmup),
                best_of(sample_api, repeat, warmup),
                '"No changes" checked',
            )
        )

    def dev_change(self, p: Project, kind: str) -> None:
        """Plan+apply dev after one change, from the prod-built state each time; counts snapshots built."""
        built_cli: set[int] = set()
        built_api: set[int] = set()
        changes: dict[str, int] = {}
        model = ""

        def sample_cli() -> Run:
            nonlocal model, changes
            p.restore_built()
            model = p.change(kind)
            run = cli(p.root, "plan", "dev", "--auto-apply", "--json")
            document = json_document(run)
            built_cli.add(built_count(document))
            changes = change_counts(document)
            return run

        def sample_api() -> float:
            p.restore_built()
            p.change(kind)
            with Context(p.root) as ctx:
                started = time.perf_counter()
                _, result = ctx.plan_and_apply("dev")
                seconds = time.perf_counter() - started
            built_api.add(len(result.built) if result else 0)
            return seconds

        label = "breaking" if kind == "breaking" else "non-breaking"
        cli_times = best_of(sample_cli, self.options.repeat)
        api_times = best_of(sample_api, self.options.repeat)
        summary = ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in sorted(changes.items()))
        built = "/".join(str(n) for n in sorted(built_cli))
        detail = f"built {built} snapshots ({model}: {summary})"
        if built_api != built_cli:
            detail += f"; API built {'/'.join(str(n) for n in sorted(built_api))}"
        self.add(
            Figure.of_runs(
                p.models,
                p.rows,
                f"dev_{kind}",
                f"dev plan+apply, {label} change",
                cli_times,
                api_times,
                detail,
            )
        )

    def promote(self, p: Project) -> None:
        """``tidegate promote dev prod`` where dev differs from prod by a breaking change.

        Between repetitions prod is rolled back (untimed), so every timed promotion really swaps views
        instead of finding prod already equal to dev.
        """
        p.restore_built()
        p.change("breaking")
        built = built_count(json_document(cli(p.root, "plan", "dev", "--auto-apply", "--json")))

        def sample_cli() -> Run:
            run = cli(p.root, "promote", "dev", "prod")
            cli(p.root, "rollback", "prod")
            return run

        def sample_api() -> float:
            started = time.perf_counter()
            with Context(p.root) as ctx:  # closing is part of it: the CLI closes (checkpoints) too
                ctx.promote("dev", "prod")
            seconds = time.perf_counter() - started
            with Context(p.root) as ctx:
                ctx.rollback("prod")
            return seconds

        self.add(
            Figure.of_runs(
                p.models,
                p.rows,
                "promote",
                "promote dev -> prod",
                best_of(sample_cli, self.options.repeat),
                best_of(sample_api, self.options.repeat),
                f"dev has {built} snapshots of its own",
            )
        )

    # profiles --------------------------------------------------------------------------------------

    def profile(self, p: Project) -> None:
        """cProfile the CLI no-op plan, the CLI promotion and the in-process load.

        Why cProfile and not only timings: the goals are about fixed overheads (imports, parsing,
        queries), and a profile names the functions that carry them.  The .prof files can be opened
        with ``python -m pstats`` or snakeviz for more.
        """
        out = self.options.work_dir / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        runner = [sys.executable, "-m", "cProfile", "-o"]
        exe = tidegate_executable()
        p.restore_built()
        path = out / "cli_noop_plan.prof"
        run_process([*runner, str(path), *exe, "plan", "prod", "--project", str(p.root)], p.root)
        self.profiles["cli_noop_plan"] = hot_spots(pstats.Stats(str(path)))
        p.change("breaking")
        cli(p.root, "plan", "dev", "--auto-apply")
        path = out / "cli_promote.prof"
        run_process([*runner, str(path), *exe, "promote", "dev", "prod", "--project", str(p.root)], p.root)
        self.profiles["cli_promote"] = hot_spots(pstats.Stats(str(path)))
        profiler = cProfile.Profile()
        profiler.runcall(lambda: Context(p.root).project)
        path = out / "api_load.prof"
        profiler.dump_stats(str(path))
        self.profiles["api_load"] = hot_spots(pstats.Stats(str(path)))
        for name, text in self.profiles.items():
            (out / f"{name}.txt").write_text(text)
            log(f"\n-- profile {name} ({out / name}.prof)\n{text}")

    # driver ----------------------------------------------------------------------------------------

    def run(self) -> None:
        """Measure every size; sizes above --full-max-models get only load, build and no-op plan."""
        o = self.options
        o.work_dir.mkdir(parents=True, exist_ok=True)
        self.startup()
        for models in o.models:
            full = models <= o.full_max_models
            for i, rows in enumerate(o.rows if full else o.rows[:1]):
                p = Project.generate(o.work_dir, models, rows)
                if i == 0:
                    # Big projects get one run each: a 10,000-model no-op plan repeated 8 times is minutes.
                    self.load(p, o.repeat if full else 1, warmup=full)
                if not full and not o.large_build:
                    self.notes.append(f"{models} models: build skipped (--no-large-build), so no no-op plan.")
                    continue
                if not self.build(p, api=full and i == 0):
                    continue
                self.noop_plan(p, o.repeat if full else 1, warmup=full)
                if not full:
                    continue
                if i == 0:
                    self.dev_change(p, "nonbreaking")
                    self.dev_change(p, "breaking")
                self.promote(p)
                if o.profile and i == 0 and models == o.models[0]:
                    self.profile(p)

    def verdicts(self) -> list[Verdict]:
        """Each goal against the GOAL_MODELS project, per data size for the promotion."""
        out = []
        for goal in GOALS:
            figures = [f for f in self.figures if f.key == goal.key and f.models == GOAL_MODELS]
            if goal.key != "promote":
                figures = figures[:1]
            if not figures:
                out.append(Verdict(goal, 0, None))
            for figure in figures:
                best = figure.cli_best if goal.mode == "cli" else figure.api_best
                out.append(Verdict(goal, figure.rows or 0, best))
        return out


# ------------------------------------------------------------------------------------------- report


def hot_spots(stats: pstats.Stats, limit: int = 15) -> str:
    """Two short lists: tidegate's functions by cumulative time (where to look) and every function by
    own time (what the time is actually spent in: sqlglot, duckdb, imports)."""
    rows: list[tuple[float, float, int, str]] = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # undocumented, stable since 2.x
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in raw.items():
        where = shorten(filename)
        rows.append((cumtime, tottime, ncalls, f"{where}:{line}:{function}"))
    total = max((r[0] for r in rows), default=0.0)
    lines = [f"total {total:.3f}s", "cumulative (tidegate functions):"]
    own = [r for r in rows if "tidegate/" in r[3]]
    for cum, tot, calls, name in sorted(own, reverse=True)[:limit]:
        lines.append(f"  {cum:7.3f}s cum {tot:7.3f}s own {calls:>8} calls  {name}")
    lines.append("own time (all functions):")
    for cum, tot, calls, name in sorted(rows, key=lambda r: r[1], reverse=True)[:limit]:
        lines.append(f"  {tot:7.3f}s own {cum:7.3f}s cum {calls:>8} calls  {name}")
    return "\n".join(lines) + "\n"


def shorten(filename: str) -> str:
    """Path relative to site-packages or the repository, so profiles read the same on every machine."""
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def seconds(value: float | None) -> str:
    """A table cell: milliseconds resolution is all a wall-clock benchmark can claim."""
    return "—" if value is None else f"{value:.3f}"


def report(bench: Bench, argv: Sequence[str]) -> str:
    """RESULTS.md: goals, the figures, the machine, and how they were taken."""
    o = bench.options
    lines = [
        "# tidegate benchmark results",
        "",
        f"Generated by `python bench/detail.py {' '.join(argv)}`".rstrip() + "; do not edit by hand.",
    ]
    lines += [
        "",
        f"## Goals ({GOAL_MODELS}-model project)",
        "",
        "| goal | data size (rows/seed) | best (s) | result |",
        "|---|---:|---:|---|",
    ]
    for v in bench.verdicts():
        rows = f"{v.rows:,}" if v.rows else "—"
        lines.append(f"| {v.goal.text} | {rows} | {seconds(v.seconds)} | **{v.status}** |")
    promotions = [f for f in bench.figures if f.key == "promote" and f.models == GOAL_MODELS and f.cli]
    if len(promotions) >= 2:
        small, large = promotions[0], promotions[-1]
        lines += [
            "",
            f"Promotion at {large.rows:,} vs {small.rows:,} rows per seed: CLI "
            f"x{(large.cli_best or 0) / (small.cli_best or 1):.2f}, API "
            f"x{(large.api_best or 0) / (small.api_best or 1):.2f} (1.0 = constant in data size).",
        ]
    lines += [
        "",
        "## Figures",
        "",
        f"Best of {o.repeat} after one warm-up run for quick measures; builds run once. CLI = the real "
        "`tidegate` command in a subprocess (Python start-up and imports included); API = in-process "
        "`tidegate.context.Context` in a warm interpreter. CLI CPU = user + system time of that process: "
        "when it is well below the wall time, the machine was busy and the wall time is inflated.",
        "",
        "| models | rows/seed | measure | CLI (s) | CLI CPU (s) | API (s) | detail |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for f in bench.figures:
        models = f"{f.models:,}" if f.models else "—"
        rows = f"{f.rows:,}" if f.rows else "—"
        lines.append(
            f"| {models} | {rows} | {f.label} | {seconds(f.cli_best)} | {seconds(f.cli_cpu_best)} "
            f"| {seconds(f.api_best)} | {f.detail} |"
        )
    if bench.notes:
        lines += ["", *[f"- {note}" for note in bench.notes]]
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine(bench.start_load).items()]
    lines += [
        "",
        "## Method",
        "",
        "- Projects come from `bench/generate.py` (deterministic); the change is "
        "`generate.py --change breaking|nonbreaking` on a mid-graph intermediate model.",
        "- Project load (CLI) = `python -c 'Context(root).project'` in a subprocess: interpreter, imports "
        "and load, the fixed cost of every command. Project load (API) = `Context(root).project` alone.",
        "- No-op plan = `tidegate plan prod` right after the build; the run fails unless it says "
        '"No changes". API: `Context.plan("prod")`, including connecting to the warehouse.',
        "- Dev plan+apply restores the warehouse as it was right after the prod build before every run, "
        "so each run builds the same snapshots.",
        "- Promotion: prod is rolled back (untimed) between runs so each promotion really swaps views.",
        "- Peak RSS: `ru_maxrss` of the CLI build process alone (`os.wait4`; "
        "`getrusage(RUSAGE_CHILDREN)` would be a high-water mark over every child).",
    ]
    if bench.profiles:
        lines += ["", "## Profiles (cProfile)", ""]
        lines += [f"Full profiles: `{o.work_dir.name}/profiles/*.prof` (`python -m pstats FILE`).", ""]
        for name, text in bench.profiles.items():
            lines += [f"### {name}", "", "```", text.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------- CLI


def int_list(text: str) -> list[int]:
    """``200,2000,10000`` (underscores allowed: ``100_000``)."""
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: Sequence[str]) -> Options:
    """Defaults give the 200-model measurement of the goals in a few minutes (what `make bench` runs)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--models", type=int_list, default=[200], help="model counts (default 200)")
    parser.add_argument(
        "--rows",
        type=int_list,
        default=[1000, 100_000],
        help="rows per seed (default 1000,100000); the first gets every measure, the others build, "
        "no-op plan and promotion",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per quick measure (default 3)")
    parser.add_argument(
        "--full-max-models",
        type=int,
        default=2000,
        help="larger projects get only load, one build and one no-op plan (default 2000)",
    )
    parser.add_argument(
        "--no-large-build",
        dest="large_build",
        action="store_false",
        help="do not build projects above --full-max-models (then only their load is measured)",
    )
    parser.add_argument(
        "--build-timeout",
        type=float,
        default=1800,
        help="stop a build after this many seconds and skip what needs it (default 1800)",
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="default bench/out")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="default bench/RESULTS.md")
    parser.add_argument("--profile", action="store_true", help="cProfile no-op plan, promotion and load")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal fails (for CI)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return Options(
        models=args.models,
        rows=args.rows,
        repeat=args.repeat,
        full_max_models=args.full_max_models,
        large_build=args.large_build,
        build_timeout=args.build_timeout,
        work_dir=args.work_dir.resolve(),
        results=args.results,
        profile=args.profile,
        check=args.check,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print PASS/FAIL per goal and write RESULTS.md; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    bench = Bench(options)
    started = time.perf_counter()
    cpus = os.cpu_count() or 1
    if float(bench.start_load.replace("?", "0")) > cpus / 2:
        log(
            f"warning: load average {bench.start_load} on {cpus} CPUs; figures will be inflated by other work"
        )
    try:
        bench.run()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verdicts = bench.verdicts()
    if verdicts:
        log(f"\nGoals on the {GOAL_MODELS}-model project:")
    for v in verdicts:
        rows = f" at {v.rows:,} rows/seed" if v.goal.key == "promote" and v.rows else ""
        log(f"  {v.status:<4}  {v.goal.text}{rows}: {seconds(v.seconds)} s")
    options.results.write_text(report(bench, argv))
    log(f"\nwrote {options.results} ({time.perf_counter() - started:.0f}s in all)")
    failed = any(v.status == "FAIL" for v in verdicts)
    return 1 if options.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
