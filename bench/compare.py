#!/usr/bin/env python
"""tidegate, dbt-core and SQLMesh side by side on the same generated projects (what `make bench` runs).

Why: speed is why a team switches tools, so the claim is measured against the tools it replaces, in
one run, on one machine, on the same files, each in its best configuration:

- dbt-core 1.11 with dbt-duckdb: slim CI (``build -s state:modified+ --defer --state``), partial parsing;
- SQLMesh: native models, ``virtual_environment_mode: full`` (promotion is a virtual update);
- tidegate: its CLI on the dbt project as it is, in a git repository.

For each project size and each tool: load (cold, then warm), full build of prod, no-op plan, CI for
one breaking change to a mid-graph model, and promotion of that change to prod; peak memory of every
command.  Beside tidegate's full build, CI and promotion, their engine floor (``floor.py``): the
same statements run on DuckDB alone, so that each figure shows tidegate's overhead as a ratio.  The
same number of threads for all.  At the smallest size each figure is the best of ``--repeat`` runs
(after an untimed warm-up for the quick ones); larger sizes get ``--repeat-large`` runs without
warm-up; builds run once.  Projects above ``--full-max-models`` get only the load
measures.  Figures go to ``bench/results.json`` as they are taken, and from there to
``bench/RESULTS.md`` and ``bench/results.png``.

    python bench/compare.py                                  # 200, 2,000 and 10,000 models
    python bench/compare.py --models 200 --repeat 3 --peers tidegate,dbt
    python bench/compare.py --report-only                    # rewrite RESULTS.md and the plot
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generate import breaking_variant, choose_change_target, generate_project
from measure import load_average, log, machine
from peers.base import Change, Floored, Peer, Sample, Serves

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
PLOT = BENCH_DIR / "results.png"
# --peers name: (module in bench/peers, class); imported only when asked for
PEERS = {
    "tidegate": ("tidegate", "TidegatePeer"),
    "dbt": ("dbt", "DbtPeer"),
    "sqlmesh": ("sqlmesh", "SQLMeshPeer"),
}
TIDEGATE = "tidegate"
FLOOR = "engine floor"  # tidegate's statements on the engine alone (floor.py): not a peer, a yardstick
FLOOR_MEASURES = ("build", "ci", "promote")


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    short: str  # for the plot's axis
    versus: str | None = None  # a measure only tidegate has: the peers' measure its ratio is against


MEASURES = (
    Measure("load_cold", "load, cold (no caches)", "load\ncold"),
    Measure("load_warm", "load, warm (caches kept)", "load\nwarm"),
    Measure("build", "full build of prod", "full\nbuild"),
    Measure("noop", "no-op plan of prod", "no-op\nplan"),
    Measure("ci", "CI for one breaking change", "CI, one\nbreaking change"),
    Measure("promote", "promotion of that change to prod", "promotion\nto prod"),
    Measure(
        "served_ci",
        "CI for that change by `tidegate serve`, signed webhook to commit status",
        "served CI,\nwebhook",
        versus="ci",
    ),
    Measure(
        "served_deploy",
        "merge deployed by `tidegate serve`, push webhook to prod switched (nothing to build)",
        "served merge,\nwebhook",
        versus="promote",
    ),
)
LOAD_MEASURES = ("load_cold", "load_warm")  # all that sizes above --full-max-models get
SERVED_MEASURES = ("served_ci", "served_deploy")  # only a tool that serves webhooks has them


@dataclass
class Results:
    """Every sample taken, keyed by project size, tool and measure; saved after each measure."""

    command: str
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    samples: dict[str, dict[str, dict[str, list[Sample]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, models: int, peer: str, measure: str, sample: Sample) -> None:
        self.samples.setdefault(str(models), {}).setdefault(peer, {}).setdefault(measure, []).append(sample)

    def complete(self, models: int, peer: str, measures: Sequence[str]) -> bool:
        taken = self.samples.get(str(models), {}).get(peer, {})
        return all(taken.get(measure) for measure in measures)

    def forget(self, models: int, peer: str) -> None:
        """Drop a tool's figures of one size (a partial run, measured again)."""
        self.samples.get(str(models), {}).pop(peer, None)
        self.notes = [note for note in self.notes if not note.startswith(f"{models} models, {peer}:")]

    def best(self, models: int, peer: str, measure: str) -> Sample | None:
        """The fastest run: the minimum is what a tool costs without the machine's noise."""
        runs = self.samples.get(str(models), {}).get(peer, {}).get(measure, [])
        return min(runs, key=lambda s: s.seconds) if runs else None

    def peak_mib(self, models: int, peer: str) -> float | None:
        runs = [s for ms in self.samples.get(str(models), {}).get(peer, {}).values() for s in ms]
        return max(s.peak_mib for s in runs) if runs else None

    @property
    def sizes(self) -> list[int]:
        return sorted(int(models) for models in self.samples)

    @property
    def peers(self) -> list[str]:
        seen = {peer for by_peer in self.samples.values() for peer in by_peer}
        return [name for name in (TIDEGATE, "dbt-core", "SQLMesh") if name in seen]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> Results:
        data: dict[str, Any] = json.loads(path.read_text())
        samples = {
            models: {
                peer: {m: [Sample(**s) for s in runs] for m, runs in measures.items()}
                for peer, measures in by_peer.items()
            }
            for models, by_peer in data["samples"].items()
        }
        return cls(data["command"], data["machine"], data["versions"], samples, data["notes"])


class Runner:
    """Runs each tool through the measures on each project, one command at a time."""

    def __init__(self, options: argparse.Namespace, results: Results) -> None:
        self.options = options
        self.results = results

    def run(self, peers: Sequence[Peer]) -> None:
        for models in self.options.models:
            source = self.options.work_dir / f"source-{models}"
            shutil.rmtree(source, ignore_errors=True)
            stats = generate_project(source, models, "dbt")
            target = choose_change_target(source)
            log(f"\n== {models} models ({stats.seeds} seeds, depth {stats.depth}); the change: {target.stem}")
            for peer in peers:
                if self.results.complete(models, peer.name, self.expected(models, peer)):
                    log(f"-- {peer.name}: measured already (--resume)")
                    continue
                self.results.forget(models, peer.name)
                if self.floored(peer):
                    self.results.forget(models, FLOOR)
                work = self.options.work_dir / f"{peer.name}-{models}"
                shutil.rmtree(work, ignore_errors=True)
                try:
                    self.run_peer(peer, models, source, work, target.relative_to(source))
                except Exception as error:  # one tool failing must not lose the others' figures
                    note = f"{models} models, {peer.name}: stopped: {type(error).__name__}: {error}"
                    self.results.notes.append(note.splitlines()[0])
                    log(f"  {note}")
                finally:
                    peer.cleanup()
                    self.results.save(self.options.json)
                    if not self.options.keep:
                        shutil.rmtree(work, ignore_errors=True)

    def expected(self, models: int, peer: Peer) -> tuple[str, ...]:
        if models > self.options.full_max_models:
            return LOAD_MEASURES
        served = isinstance(peer, Serves) and not self.options.no_serve
        return tuple(m.key for m in MEASURES if served or m.key not in SERVED_MEASURES)

    def floored(self, peer: Peer) -> bool:
        return isinstance(peer, Floored) and not self.options.no_floor

    def run_peer(self, peer: Peer, models: int, source: Path, work: Path, target: Path) -> None:
        log(f"-- {peer.name}")
        peer.setup(source, work, self.options.threads)
        small = models == min(self.options.models)
        repeat = self.options.repeat if small else self.options.repeat_large
        # The cold load before it fills the caches, so the warm load needs no warm-up of its own.
        self.sample(peer, models, "load_cold", lambda: peer.load(cold=True), repeat, warmup=small)
        self.sample(peer, models, "load_warm", lambda: peer.load(cold=False), repeat, warmup=False)
        if models > self.options.full_max_models:
            return
        self.sample(peer, models, "build", peer.build, 1, warmup=False)
        peer.save_built()
        self.floor(peer, models, "build")
        self.sample(peer, models, "noop", peer.noop, repeat, warmup=small)
        original = (source / target).read_text()
        for number in range(1, repeat + 1):
            change = Change(number, target, breaking_variant(original, number))
            peer.restore_built()
            self.sample(peer, models, "ci", lambda c=change: peer.ci(c), 1, warmup=False)
            self.floor(peer, models, "ci")
            self.floor(peer, models, "promote")  # from the warehouse CI left, before the promotion
            self.sample(peer, models, "promote", lambda c=change: peer.promote(c), 1, warmup=False)
        if isinstance(peer, Serves) and not self.options.no_serve:
            self.run_served(peer, models, work.with_name(f"{work.name}-serve"), target, original, small)

    def run_served(
        self, peer: Serves, models: int, root: Path, target: Path, original: str, small: bool
    ) -> None:
        """The same change through the tool's server: a pull request, then its merge, each time
        a change never seen (numbered after the command line's); at the smallest size a first
        round untimed, so that the figures are those of a server that has been up a while."""
        shutil.rmtree(root, ignore_errors=True)
        try:
            peer.serve(root)
            repeat = self.options.repeat if small else self.options.repeat_large
            first = self.options.repeat + 1
            for number in range(first, first + repeat + int(small)):
                change = Change(number, target, breaking_variant(original, number))
                ci, deploy = peer.served_ci(change), peer.served_deploy(change)
                warmup = small and number == first
                for measure, sample in (("served_ci", ci), ("served_deploy", deploy)):
                    log(
                        f"  {measure:<13} {sample.seconds:5.2f} s  {sample.peak_mib:7.0f} MiB  "
                        f"{'(warm-up) ' if warmup else ''}{sample.detail}"
                    )
                    if not warmup:
                        self.results.add(models, peer.name, measure, sample)
                self.results.save(self.options.json)
        finally:
            if not self.options.keep:
                shutil.rmtree(root, ignore_errors=True)

    def floor(self, peer: Peer, models: int, measure: str) -> None:
        """The engine floor of `measure` beside the tool's figure; none for a tool that has none."""
        if isinstance(peer, Floored) and not self.options.no_floor:
            sample = peer.floor(measure)
            self.results.add(models, FLOOR, measure, sample)
            log(
                f"  {measure:<10} {sample.seconds:8.2f} s  {sample.peak_mib:7.0f} MiB  engine floor: {sample.detail}"
            )
            self.results.save(self.options.json)

    def sample(
        self, peer: Peer, models: int, measure: str, take: Callable[[], Sample], repeat: int, warmup: bool
    ) -> None:
        if warmup:
            take()
        for _ in range(repeat):
            sample = take()
            self.results.add(models, peer.name, measure, sample)
            log(f"  {measure:<10} {sample.seconds:8.2f} s  {sample.peak_mib:7.0f} MiB  {sample.detail}")
        self.results.save(self.options.json)


# ------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Goal:
    """A goal of the issue: a limit on a tidegate figure, or a ratio against a peer."""

    text: str
    models: int
    measure: str
    limit: float | None = None  # seconds tidegate must stay under
    peer: str | None = None  # or: the peer tidegate must be `ratio` times faster than
    ratio: float | None = None
    versus: str | None = None  # the peer's measure, when not `measure` (tidegate serve against slim CI)
    within: float | None = None  # or: tidegate at most this many times its engine floor

    def verdict(self, results: Results) -> tuple[str, str]:
        ours = results.best(self.models, TIDEGATE, self.measure)
        if self.within is not None:
            floor = results.best(self.models, FLOOR, self.measure)
            if ours is None or floor is None:
                return "n/a", "not measured"
            ratio = ours.seconds / floor.seconds
            return _pass(ratio <= self.within), f"{ours.seconds:.2f} s / {floor.seconds:.2f} s = {ratio:.1f}x"
        if self.peer is None:
            if ours is None or self.limit is None:
                return "n/a", "not measured"
            return _pass(ours.seconds < self.limit), f"{ours.seconds:.2f} s"
        theirs = results.best(self.models, self.peer, self.versus or self.measure)
        if ours is None or theirs is None or self.ratio is None:
            return "n/a", "not measured"
        ratio = theirs.seconds / ours.seconds
        return _pass(ratio >= self.ratio), f"{theirs.seconds:.2f} s / {ours.seconds:.2f} s = {ratio:.1f}x"


GOALS = (
    Goal("CI at least 10x faster than dbt slim CI", 200, "ci", peer="dbt-core", ratio=10),
    Goal("CI at least 10x faster than SQLMesh plan dev", 200, "ci", peer="SQLMesh", ratio=10),
    Goal(
        "CI by `tidegate serve` (signed webhook to commit status) at least 10x faster than dbt slim CI",
        200,
        "served_ci",
        peer="dbt-core",
        ratio=10,
        versus="ci",
    ),
    Goal(
        "`tidegate serve`: push webhook to prod switched, nothing to build, under 0.5 s",
        200,
        "served_deploy",
        limit=0.5,
    ),
    Goal(
        "CI within 2x of the engine floor (its statements on DuckDB alone, interpreter start included)",
        200,
        "ci",
        within=2,
    ),
    Goal("promotion under 0.3 s", 200, "promote", limit=0.3),
    Goal("no-op plan under 0.5 s", 200, "noop", limit=0.5),
    Goal("loading 10,000 models under 5 s, warm", 10_000, "load_warm", limit=5),
    Goal("loading 10,000 models under 5 s, cold", 10_000, "load_cold", limit=5),
)


def _pass(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _seconds(sample: Sample | None) -> str:
    if sample is None:
        return "—"
    return f"{sample.seconds:.2f}" if sample.seconds < 100 else f"{sample.seconds:.0f}"


def _ratio(theirs: Sample | None, ours: Sample | None) -> str:
    if theirs is None or ours is None:
        return "—"
    return f"{theirs.seconds / ours.seconds:.1f}x"


def report(results: Results, plot: Path | None) -> str:
    """RESULTS.md: the goals, one table per project size, peak memory, what each command did."""
    others = [peer for peer in results.peers if peer != TIDEGATE]
    floored = any(FLOOR in by_peer for by_peer in results.samples.values())
    lines = [
        "# tidegate against dbt-core and SQLMesh",
        "",
        f"Generated by `{results.command}`; do not edit by hand. Seconds of wall time, best of the runs "
        "of each measure; ratios are the peer's time over tidegate's (higher is better for tidegate)"
        + (
            "; tidegate / floor is tidegate's time over its engine floor's (lower is better: 1.0x "
            "would be no overhead at all)."
            if floored
            else "."
        ),
        "",
        "## Goals",
        "",
        "| goal | result | figure |",
        "|---|---|---|",
    ]
    for goal in GOALS:
        status, figure = goal.verdict(results)
        lines.append(f"| {goal.text} ({goal.models:,} models) | {status} | {figure} |")
    if plot is not None:
        lines += ["", f"![tidegate, dbt-core and SQLMesh side by side]({plot.name})"]
    for models in results.sizes:
        lines += ["", f"## {models:,} models", ""]
        header = "| measure | " + " | ".join(f"{peer} (s)" for peer in results.peers)
        header += "".join(f" | {peer} / tidegate" for peer in others)
        header += " | engine floor (s) | tidegate / floor |" if floored else " |"
        lines += [header, "|---" * (1 + len(results.peers) + len(others) + 2 * floored) + "|"]
        for measure in MEASURES:
            best = {peer: results.best(models, peer, measure.key) for peer in results.peers}
            if not any(best.values()):
                continue
            cells = [_seconds(best[peer]) for peer in results.peers]
            versus = {peer: results.best(models, peer, measure.versus or measure.key) for peer in others}
            cells += [_ratio(versus[peer], best.get(TIDEGATE)) for peer in others]
            if floored:  # a served measure stands beside the floor of its command-line measure
                floor = results.best(models, FLOOR, measure.versus or measure.key)
                cells += [_seconds(floor), _ratio(best.get(TIDEGATE), floor)]
            lines.append(f"| {measure.label} | " + " | ".join(cells) + " |")
        peaks = [results.peak_mib(models, peer) for peer in results.peers]
        row = "| peak memory of one command (MiB) | " + " | ".join(
            "—" if p is None else f"{p:.0f}" for p in peaks
        )
        if floored:
            floor_peak = results.peak_mib(models, FLOOR)
            row += " |" * len(others) + " | " + ("—" if floor_peak is None else f"{floor_peak:.0f}") + " |"
        lines.append(row + " |" * (1 if floored else len(others) + 1))
    lines += ["", "## What each command did (best run)", ""]
    lines += ["| models | tool | measure | runs | detail |", "|---:|---|---|---:|---|"]
    for models in results.sizes:
        for peer in [*results.peers, *([FLOOR] if floored else [])]:
            for measure in MEASURES:
                runs = results.samples[str(models)].get(peer, {}).get(measure.key, [])
                best = results.best(models, peer, measure.key)
                if best is not None:
                    detail = best.detail.replace("|", "/")
                    lines.append(f"| {models:,} | {peer} | {measure.label} | {len(runs)} | {detail} |")
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results.notes]
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in {**results.machine, **results.versions}.items()]
    lines += ["", METHOD]
    return "\n".join(lines) + "\n"


METHOD = """## Method

- Projects come from `bench/generate.py` (deterministic): staging, intermediate and mart layers with
  joins and aggregates, `unique` and `not_null` tests, in dbt's layout. Every tool reads the same files;
  SQLMesh gets them converted to native models (its fastest loader), with the same tests as audits.
- The change: one more status excluded in the filter of the mid-graph intermediate model with the most
  consumers (`generate.py`'s `choose_change_target`). Each repetition excludes a different status that
  never occurs, so the data is the same but no tool finds the previous repetition's work; warehouse and
  state are restored to right after the production build before each repetition.
- Load: dbt `parse` (cold: `target/` removed, so no partial parsing); SQLMesh `info --skip-connection`
  (cold: `.cache/` removed); tidegate `python -c 'Context(root).project'` (cold: `.tidegate/cache`
  removed). Interpreter start-up and imports are included for all three.
- Full build: `dbt build`; `sqlmesh plan --auto-apply` of prod; `tidegate plan prod --auto-apply`.
  Each builds every model and runs every test.
- No-op plan, with nothing changed: `dbt build -s state:modified+ --state prod-artifacts` (dbt has no
  plan; this is how it finds there is nothing to do); `sqlmesh plan --auto-apply`; `tidegate plan prod`.
- CI: `dbt build -s state:modified+ --defer --state prod-artifacts --target ci` (slim CI);
  `sqlmesh plan <pr environment> --auto-apply`; `tidegate ci --base main --head HEAD --pr N` on a
  pull-request branch, which also lints, tests, checks impact and diffs the data.
- Promotion to prod after the merge: dbt has none, so its deploy job rebuilds `state:modified+` in
  prod; `sqlmesh plan --auto-apply` of prod (a virtual update: checked that no batch ran);
  `tidegate promote <pr environment> prod` (views swapped, no data copied).
- `tidegate serve` (`peers/served.py`), after tidegate's commands, on the same project and the same
  change: a real `tidegate serve` (uvicorn, in a subprocess) watching a local bare repository, with
  `branches: {main: prod}`, telling the fake GitHub of the controller's tests (served by the benchmark)
  what it found; prod deployed once by `tidegate deploy --branch main` before it starts. Served CI: a
  pull request pushed, then the clock runs from sending its signed `pull_request` webhook (opened) to
  the forge receiving the final `tidegate/ci` status. Served merge: that pull request merged into main
  (a merge commit) and pushed, then from the `push` webhook to `/api/environments` showing prod at the
  merge, checked to have built nothing (the pull request's CI built its snapshots). Each round is a
  change never seen; at the smallest size one untimed round first (a server that has been up a while).
  Their rows compare them with the peers' CI and promotion. Peak memory: the server's (`VmHWM`).
- Engine floor (`floor.py`, `floor_run.py`), beside tidegate's full build, CI and promotion, in the
  same run: the statements tidegate runs for the command, taken from the plan it saves for it
  (`tidegate plan <env> --out`, on a copy of the project and of its warehouse as the command found
  it), run one after another in one DuckDB connection by a process that imports only DuckDB. They are
  the snapshot schemas, each build's `CREATE OR REPLACE TABLE ... AS` (a seed's `read_csv`) in
  dependency order, each data test's `SELECT count(*)`, and the environment's views; for promotion,
  prod's views only. Interpreter start, `import duckdb`, opening and closing the file are included;
  tidegate's state rows, transactions and locks are not (they are its overhead). `tidegate / floor`
  is tidegate's time over the floor's.
- Peak memory: `ru_maxrss` of each command's own process (`os.wait4`), the largest over the measures.
"""


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--models", default="200,2000,10000", help="project sizes (default 200,2000,10000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per measure at the smallest size (default 3)"
    )
    parser.add_argument(
        "--repeat-large",
        type=int,
        default=1,
        help="timed runs per measure at larger sizes, without warm-up (default 1: SQLMesh takes minutes)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads for every tool (default 4)")
    parser.add_argument("--peers", default="tidegate,dbt,sqlmesh", help="tools (default all three)")
    parser.add_argument(
        "--full-max-models",
        type=int,
        default=2000,
        help="larger projects get only the load measures, once each (default 2000)",
    )
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR / "out" / "compare")
    parser.add_argument("--keep", action="store_true", help="keep each tool's project and warehouse")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON, help="default bench/results.json")
    parser.add_argument("--results", type=Path, default=RESULTS_MD, help="default bench/RESULTS.md")
    parser.add_argument("--plot", type=Path, default=PLOT, help="default bench/results.png")
    parser.add_argument(
        "--no-serve", action="store_true", help="skip the measures of `tidegate serve` (webhooks)"
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the engine floor beside tidegate's figures (floor.py)"
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from --json")
    parser.add_argument(
        "--resume", action="store_true", help="keep the figures in --json; measure only what they lack"
    )
    args = parser.parse_args(argv)
    args.models = [int(part.replace("_", "")) for part in args.models.split(",")]
    args.peers = [part.strip() for part in args.peers.split(",")]
    unknown = set(args.peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from {sorted(PEERS)}")
    if min(args.repeat, args.repeat_large) < 1:
        parser.error("--repeat and --repeat-large must be at least 1")
    args.work_dir = args.work_dir.resolve()
    return args


def make_peer(name: str) -> Peer:
    module, cls = PEERS[name]
    peer: Peer = getattr(importlib.import_module(f"peers.{module}"), cls)()
    return peer


def write_report(results: Results, options: argparse.Namespace) -> None:
    from plot import plot

    plotted = plot(results, options.plot)
    options.results.write_text(report(results, options.plot if plotted else None))
    log(f"\nwrote {options.results}" + (f" and {options.plot}" if plotted else ""))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    if options.report_only:
        write_report(Results.read(options.json), options)
        return 0
    peers = [make_peer(name) for name in options.peers]
    missing = [f"{peer.name}: {reason}" for peer in peers if (reason := peer.unavailable())]
    if missing:
        print("error: " + "; ".join(missing), file=sys.stderr)
        return 2
    start_load = load_average()
    command = "python bench/compare.py " + " ".join(argv) if argv else "make bench"
    results = Results.read(options.json) if options.resume else Results(command)
    results.command = command
    results.versions.update({peer.name: peer.version() for peer in peers})
    options.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        Runner(options, results).run(peers)
    finally:
        results.machine = machine(start_load)
        results.save(options.json)
    log(f"\n{time.perf_counter() - started:.0f} s in all")
    write_report(results, options)
    for goal in GOALS:
        status, figure = goal.verdict(results)
        log(f"  {status.strip('*'):<4}  {goal.text} ({goal.models:,} models): {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
