"""CI for one breaking change, side by side: `tidegate ci` against dbt slim CI.

On a generated dbt-format project (200 models by default) production is built by each tool,
then the same breaking change is made to a mid-graph model, and each tool checks it the way a
team's CI job would:

- dbt: `dbt build -s state:modified+ --defer --state prod-artifacts` into a pull-request schema
  (dbt's best configuration for CI: slim CI, deferring everything unchanged to production);
- tidegate: `tidegate ci --base main --head HEAD --pr N` in a git repository (lint, plan and build
  of the pull-request environment, tests, impact on dashboards, data diff).

Each repetition makes a new variant of the change (a different fingerprint, the same data), so no
tool finds the previous repetition's work. Same threads for both. Prints a table and writes
bench/RESULTS-ci.md.

    python bench/ci.py [--models 200] [--repeat 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from generate import STATUS_FILTER_RE, choose_change_target, generate_project  # noqa: E402
from run import load_average, machine  # noqa: E402

DBT = ROOT / ".venv-dbt" / "bin" / "dbt"
TIDEGATE = Path(sys.executable).with_name("tidegate")
GOAL = 10.0

PROFILES = """\
bench:
  target: prod
  outputs:
    prod: {{type: duckdb, path: {path}, schema: main, threads: {threads}}}
    ci: {{type: duckdb, path: {path}, schema: pr, threads: {threads}}}
"""


def sh(
    args: list[str], cwd: Path, ok: tuple[int, ...] = (0,)
) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_"))}
    env.setdefault("GIT_AUTHOR_NAME", "bench")
    env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "bench")
    env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")
    env["DBT_PROFILES_DIR"] = str(cwd)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(
            f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return seconds, done


def variant(sql: str, number: int) -> str:
    """The breaking change, with one more status that never occurs: a new query, the same data."""
    match = STATUS_FILTER_RE.search(sql)
    if match is None:
        raise SystemExit("the generated model has no status filter to change")
    excluded = match.group(1)
    extra = next(s for s in ("pending", "shipped", "refunded") if s != excluded)
    statuses = ", ".join(f"'{s}'" for s in (excluded, extra, f"never_{number}"))
    return sql[: match.start()] + f"where status not in ({statuses})" + sql[match.end() :]


def prepare(workdir: Path, models: int, threads: int) -> tuple[Path, Path, Path, str]:
    source = workdir / "source"
    generate_project(source, models, "dbt")
    target = choose_change_target(source)
    relative = target.relative_to(source)
    dbt_dir, tg_dir = workdir / "dbt", workdir / "tidegate"
    for directory in (dbt_dir, tg_dir):
        shutil.copytree(source, directory)
        (directory / "profiles.yml").write_text(PROFILES.format(path="warehouse.duckdb", threads=threads))
    (tg_dir / ".gitignore").write_text("*.duckdb\n*.duckdb.wal\n.tidegate/\ntarget/\n")
    return dbt_dir, tg_dir, relative, target.read_text()


def build_production(dbt_dir: Path, tg_dir: Path, threads: int) -> dict[str, float]:
    times = {}
    times["dbt build"], _ = sh([str(DBT), "build", "--threads", str(threads)], dbt_dir)
    shutil.copytree(dbt_dir / "target", dbt_dir / "prod-artifacts")
    sh(["git", "init", "-q", "-b", "main"], tg_dir)
    sh(["git", "add", "-A"], tg_dir)
    sh(["git", "commit", "-q", "-m", "production"], tg_dir)
    times["tidegate plan prod"], _ = sh(
        [str(TIDEGATE), "plan", "prod", "--auto-apply", "--threads", str(threads)], tg_dir
    )
    return times


def dbt_ci(dbt_dir: Path, model: Path, original: str, number: int, threads: int) -> float:
    (dbt_dir / model).write_text(variant(original, number))
    seconds, done = sh(
        [
            str(DBT),
            "build",
            "-s",
            "state:modified+",
            "--defer",
            "--state",
            "prod-artifacts",
            "--target",
            "ci",
            "--threads",
            str(threads),
        ],
        dbt_dir,
    )
    built = re.search(r"Done\. PASS=(\d+)", done.stdout)
    print(f"  dbt slim CI #{number}: {seconds:.2f} s ({built.group(1) if built else '?'} passed)")
    return seconds


def tidegate_ci(
    tg_dir: Path, model: Path, original: str, number: int, threads: int
) -> tuple[float, dict[str, float]]:
    sh(["git", "checkout", "-q", "-B", f"pr-{number}", "main"], tg_dir)
    (tg_dir / model).write_text(variant(original, number))
    sh(["git", "commit", "-q", "-am", f"change {number}"], tg_dir)
    report = tg_dir.parent / f"report-{number}.json"  # outside the repository: its tree stays clean
    seconds, _ = sh(
        [
            str(TIDEGATE),
            "ci",
            "--base",
            "main",
            "--head",
            "HEAD",
            "--pr",
            str(number),
            "--threads",
            str(threads),
            "--report",
            f"json={report}",
        ],
        tg_dir,
        ok=(0, 1),
    )
    document = json.loads(report.read_text())
    steps = {step["name"]: step["seconds"] for step in document["steps"]}
    failed = [step["name"] for step in document["steps"] if step["status"] == "failed"]
    built = next(step for step in document["steps"] if step["name"] == "plan")["data"].get("built", [])
    print(
        f"  tidegate ci #{number}: {seconds:.2f} s ({len(built)} built; failed: {failed or 'none'}; "
        + ", ".join(f"{name} {value:.2f}" for name, value in steps.items())
        + ")"
    )
    sh(["git", "checkout", "-q", "main"], tg_dir)
    return seconds, steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    if not DBT.exists():
        raise SystemExit(f"{DBT} is missing: `make test` (or `make .venv-dbt/.installed`) creates it")
    start_load = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="tidegate-bench-ci-")) if args.keep is None else args.keep
    try:
        dbt_dir, tg_dir, model, original = prepare(workdir, args.models, args.threads)
        print(f"{args.models} models; the change: {model}")
        production = build_production(dbt_dir, tg_dir, args.threads)
        dbt_times = [dbt_ci(dbt_dir, model, original, n, args.threads) for n in range(1, args.repeat + 1)]
        tg_runs = [tidegate_ci(tg_dir, model, original, n, args.threads) for n in range(1, args.repeat + 1)]
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    dbt_best, tg_best = min(dbt_times), min(seconds for seconds, _ in tg_runs)
    steps = min(tg_runs)[1]
    ratio = dbt_best / tg_best
    facts = machine(start_load)
    lines = [
        "# CI for one breaking change: tidegate ci vs dbt slim CI",
        "",
        f"Generated by `python bench/ci.py --models {args.models} --repeat {args.repeat} --threads {args.threads}`.",
        "",
        "| measure | dbt-core (slim CI) | tidegate ci | ratio | goal |",
        "|---|---:|---:|---:|---|",
        f"| CI for one breaking change, best of {args.repeat} | {dbt_best:.2f} s | {tg_best:.2f} s | "
        f"{ratio:.1f}x | {'PASS' if ratio >= GOAL else 'FAIL'} (>= {GOAL:.0f}x) |",
        f"| median | {statistics.median(dbt_times):.2f} s | {statistics.median(s for s, _ in tg_runs):.2f} s | | |",
        "",
        "tidegate ci steps in the best run (seconds; lint runs in a second process while the others run): "
        + ", ".join(f"{name} {value:.2f}" for name, value in steps.items()),
        "",
        "Production builds: " + ", ".join(f"{name} {value:.1f} s" for name, value in production.items()),
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in facts.items()),
        "",
    ]
    (BENCH / "RESULTS-ci.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
