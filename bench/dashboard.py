#!/usr/bin/env python
"""How long the dashboard's pages take on the server, for a 2,000-model project with 1,000 runs.

The issue asks for pages under 200 ms on the server at that size. This builds the project
(`generate.py`), pushes it to a local bare repository, lets a controller deploy it to staging
and prod (one DuckDB file), records 1,000 finished runs in the controller's store (deployments
and pull-request CI, each with steps, a 40-line log and a report), then renders each main page
repeatedly in this process through the Starlette app (an ASGI call, no socket: the server's
time only) and reports the first render, the median and the worst of the rest.

Usage::

    PYTHONPATH=src python bench/dashboard.py [--models 2000] [--runs 1000] [--renders 7]

It writes `bench/RESULTS-dashboard.md` (referenced from README's Speed section).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from generate import TIDEGATE_YML, generate_project

HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS-dashboard.md"
CONFIG = TIDEGATE_YML.replace("promotion: [dev, prod]", "promotion: [dev, staging, prod]").replace(
    "  dev: {", "  staging: {engine: duckdb, path: warehouse.duckdb}\n  dev: {"
) + (
    "branches: {main: staging, production: prod}\n"
    "controller:\n  repository: ../remote.git\n  poll: 1h\n  api_token: ${TG_BENCH_TOKEN}\n"
)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repository(root: Path, models: int) -> Path:
    """The generated project committed on main and production, a bare remote, and the project
    directory the controller is given (a clone); the project directory's path."""
    work = root / "work"
    generate_project(work, models, rows=20)
    (work / "tidegate.yml").write_text(CONFIG)
    (work / ".gitignore").write_text(".tidegate/\n*.duckdb\n*.duckdb.wal\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(
        work,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "-q",
        "-m",
        "the project",
    )
    git(work, "branch", "production")
    git(root, "clone", "-q", "--bare", str(work), str(root / "remote.git"))
    git(root, "clone", "-q", str(root / "remote.git"), str(root / "project"))
    return root / "project"


def middle_model(project: Path) -> str:
    """An intermediate model halfway through their names: one with lineage both ways."""
    names = sorted(path.stem for path in (project / "models" / "intermediate").glob("*.sql"))
    return names[len(names) // 2]


def record_runs(controller: Any, count: int) -> list[int]:
    """`count` finished runs in the store: deployments of both environments and CI of pull
    requests, each with steps, a log and a report."""
    from tidegate.server.store import RunKind, RunStatus, RunStep

    ids = []
    log = "\n".join(f"2025-01-01T00:00:{i:02d} stage: model_{i} done in 0.01 s" for i in range(40))
    for number in range(count):
        pull = number % 3 == 0
        kind = RunKind.CI if pull else RunKind.DEPLOY
        environment = f"pr_{number % 40}" if pull else ("staging", "prod")[number % 2]
        run = controller.store.enqueue(
            kind,
            environment,
            f"{number:040x}",
            trigger="bench",
            branch="main",
            pull_request=number % 40 if pull else None,
        )
        controller.store.start(run.id)
        controller.store.finish(
            run.id,
            RunStatus.SUCCESS if number % 7 else RunStatus.FAILED,
            steps=[RunStep("deploy", "success", 1.5)],
            log=log,
            report={"environment": environment, "version": number, "built": ["model"] * 5},
        )
        ids.append(run.id)
    return ids


async def get(app: Any, path: str) -> tuple[int, float]:
    """One GET through the ASGI app: its status and the seconds until the body was complete."""
    url, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "root_path": "",
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(scope, receive, send)
    return status, time.perf_counter() - started


def measure(app: Any, paths: list[str], renders: int) -> list[dict[str, Any]]:
    async def each() -> list[dict[str, Any]]:
        rows = []
        for path in paths:
            times, status = [], 0
            for _ in range(renders):
                status, seconds = await get(app, path)
                times.append(seconds * 1000)
            rest = times[1:] or times
            rows.append(
                {
                    "path": path,
                    "status": status,
                    "first": times[0],
                    "median": statistics.median(rest),
                    "worst": max(rest),
                }
            )
            print(
                f"{path:40} {status} first {times[0]:7.1f} ms  median {rows[-1]['median']:6.1f} ms",
                flush=True,
            )
        return rows

    return asyncio.run(each())


def report(rows: list[dict[str, Any]], models: int, runs: int, renders: int, setup: dict[str, float]) -> str:
    lines = [
        "# The dashboard's pages: time on the server",
        "",
        f"`python bench/dashboard.py --models {models} --runs {runs} --renders {renders}`: a {models}-model "
        f"generated project deployed by the controller to staging and prod (DuckDB), {runs} finished runs "
        "in its store; each page rendered in-process through the Starlette app (no socket), "
        f"{renders} times. Milliseconds: the first render, then the median and the worst of the "
        "others. Target: under 200 ms.",
        "",
        f"Setup: generate and commit {setup['generate']:.1f} s, deploy {setup['deploy']:.1f} s, "
        f"record the runs {setup['runs']:.1f} s, one pass of the controller (reading ahead for the "
        f"pages: every environment, histories, pull requests, the deployed models' columns; drift) "
        f"{setup['read ahead']:.1f} s. Load average {os.getloadavg()[0]:.2f} (2 cores, "
        "other work running).",
        "",
        "| page | status | first | median | worst |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['path']}` | {row['status']} | {row['first']:.1f} | {row['median']:.1f} | {row['worst']:.1f} |"
        )
    if any(row["status"] == 404 for row in rows):
        lines += ["", "404: the page does not exist in the tree measured (not merged yet)."]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TG_BENCH_TOKEN", "bench-token")

    from tidegate.server.app import create_app
    from tidegate.server.controller import Controller

    with tempfile.TemporaryDirectory(prefix="tidegate-dashboard-bench-") as temporary:
        root = Path(temporary)
        started = time.perf_counter()
        project = make_repository(root, args.models)
        setup = {"generate": time.perf_counter() - started}
        controller = Controller(project, root / "state")
        started = time.perf_counter()
        controller.poll()
        controller.wait()
        setup["deploy"] = time.perf_counter() - started
        started = time.perf_counter()
        ids = record_runs(controller, args.runs)
        setup["runs"] = time.perf_counter() - started
        middle = middle_model(project)
        paths = [
            "/",
            "/environments/prod",
            "/runs",
            f"/runs/{ids[len(ids) // 2]}",
            "/pulls",
            "/models",
            "/models?env=staging",
            f"/models/{middle}",
            f"/models/{middle}?env=staging",
            f"/models/{middle}?depth=4",
            "/drift",
        ]
        app = create_app(controller)
        started = time.perf_counter()
        controller.read_ahead()  # a controller that has been up for a pass: its first checks drift
        controller.environments.check_drift()
        controller.settle()
        setup["read ahead"] = time.perf_counter() - started
        try:
            rows = measure(app, paths, args.renders)
        finally:
            controller.stop()
    args.out.write_text(report(rows, args.models, args.runs, args.renders, setup))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
