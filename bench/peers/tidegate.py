"""tidegate, run on the generated dbt project as a team would: its CLI, in a git repository.

tidegate reads dbt projects as they are (``dbt_project.yml`` and ``profiles.yml``), so it works on the
very files dbt works on.  CI is ``tidegate ci`` on a pull-request branch (lint, plan and build of the
pull-request environment, tests, impact, data diff); promotion is ``tidegate promote`` of that
environment to prod, which swaps views and copies no data.  Then ``tidegate serve`` does the same
from webhooks (``peers/served.py``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from floor import EngineFloor
from measure import BenchError, Run, checked, child_env, json_document, run_process
from peers.base import BuiltWarehouse, Change, Sample

if TYPE_CHECKING:
    from peers.served import ServedController

WAREHOUSE = "warehouse.duckdb"
PROFILES = """\
bench:
  target: prod
  outputs:
    prod: {{type: duckdb, path: {warehouse}, schema: main, threads: {threads}}}
"""
# What every command pays before it works: interpreter start-up, imports and loading the project.
LOAD_SNIPPET = (
    "import sys\nfrom tidegate.context import Context\nprint(len(Context(sys.argv[1]).project.models))\n"
)
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


class TidegatePeer:
    """tidegate from the virtualenv this benchmark runs in."""

    name = "tidegate"

    def __init__(self) -> None:
        self.bin = Path(sys.executable).parent
        self.root = Path()
        self.threads = 4
        self.environment = ""
        self.built = BuiltWarehouse(self.root, WAREHOUSE)
        self.served: ServedController | None = None

    def unavailable(self) -> str | None:
        return None if (self.bin / "tidegate").exists() else f"no tidegate in {self.bin}: run `make bench`"

    def version(self) -> str:
        return self._run("--version").stdout.strip()

    def setup(self, source: Path, work: Path, threads: int) -> None:
        self.root, self.threads = work, threads
        self.built = BuiltWarehouse(work, WAREHOUSE)
        shutil.copytree(source, work)
        (work / "profiles.yml").write_text(PROFILES.format(warehouse=WAREHOUSE, threads=threads))
        (work / ".gitignore").write_text(
            "*.duckdb\n*.duckdb.wal\n*" + BuiltWarehouse.SUFFIX + "\n.tidegate/\ntarget/\n"
        )
        self._git("init", "-q", "-b", "main")
        self._git("add", "-A")
        self._git("commit", "-q", "-m", "production")

    def load(self, cold: bool) -> Sample:
        if cold:
            shutil.rmtree(self.root / ".tidegate" / "cache", ignore_errors=True)
        run = self._timed(
            [str(self.bin / "python"), "-c", LOAD_SNIPPET, str(self.root)], "loading the project"
        )
        return Sample.of(run, f"{run.stdout.strip()} models (python -c 'Context(root).project')")

    def build(self) -> Sample:
        run = self._run("plan", "prod", "--auto-apply", "--json", "--threads", str(self.threads))
        built = len((json_document(run).get("apply") or {}).get("built") or [])
        return Sample.of(run, f"{built} snapshots built and tested")

    def save_built(self) -> None:
        self.built.save()

    def restore_built(self) -> None:
        self._git("checkout", "-q", "-f", "main")
        self.built.restore()

    def noop(self) -> Sample:
        run = self._run("plan", "prod")
        if "No changes" not in run.stdout + run.stderr:
            raise BenchError(f"tidegate: the plan after the build is not a no-op:\n{run.tail()}")
        return Sample.of(run, '"No changes"')

    def ci(self, change: Change) -> Sample:
        self._git("checkout", "-q", "-B", f"pr-{change.number}", "main")
        (self.root / change.path).write_text(change.text)
        self._git("commit", "-q", "-am", f"change {change.number}")
        report = self.root.parent / f"tidegate-report-{change.number}.json"  # outside: the tree stays clean
        run = self._run(
            "ci",
            "--base",
            "main",
            "--head",
            "HEAD",
            "--pr",
            str(change.number),
            "--threads",
            str(self.threads),
            "--report",
            f"json={report}",
            ok=(0, 1),  # 1: a check flagged the change (the data diff of a breaking change), as it should
        )
        document = json.loads(report.read_text())
        steps = {step["name"]: step for step in document["steps"]}
        if steps["plan"]["status"] != "passed":
            raise BenchError(f"tidegate ci did not build the pull request:\n{run.tail()}")
        self.environment = document["environment"]
        built = len(steps["plan"]["data"].get("built", []))
        timings = ", ".join(f"{name} {step['seconds']:.2f}" for name, step in steps.items())
        return Sample.of(run, f"{built} snapshots built; steps (s): {timings}")

    def promote(self, change: Change) -> Sample:
        run = self._run("promote", self.environment, "prod")
        return Sample.of(run, f"views of prod swapped to {self.environment}'s snapshots")

    def floor(self, measure: str) -> Sample:
        """The engine floor of the measure just taken (``build`` or ``ci``), or of the promotion
        about to be (``promote``): its statements, from the plan tidegate saves for it."""
        floor = EngineFloor(self.bin, self.root.with_name(self.root.name + "-floor"), WAREHOUSE, GIT_IDENTITY)
        try:
            if measure == "build":  # prod from nothing
                return floor.measure(self.root, "prod", ("builds", "tests", "views"))
            if measure == "ci":  # the pull request's environment, from prod as built
                backups = sorted(self.root.glob(WAREHOUSE + "*" + BuiltWarehouse.SUFFIX))
                return floor.measure(self.root, self.environment, ("builds", "tests", "views"), backups)
            if measure == "promote":  # prod's views pointed at what CI built: nothing to build
                live = [
                    p for p in self.root.glob(WAREHOUSE + "*") if not p.name.endswith(BuiltWarehouse.SUFFIX)
                ]
                return floor.measure(self.root, "prod", ("views",), live)
            raise BenchError(f"no engine floor for {measure!r}")
        finally:
            shutil.rmtree(floor.root, ignore_errors=True)

    def serve(self, root: Path) -> None:
        from peers.served import ServedController

        self.served = ServedController(self.bin, root, GIT_IDENTITY)
        self.served.setup(self.root, WAREHOUSE, self.threads)
        self.served.start()

    def served_ci(self, change: Change) -> Sample:
        assert self.served is not None
        return self.served.ci(change)

    def served_deploy(self, change: Change) -> Sample:
        assert self.served is not None
        return self.served.deploy(change)

    def cleanup(self) -> None:
        """Only `tidegate serve` keeps running between measures: stopped."""
        if self.served is not None:
            self.served.stop()
            self.served = None

    def _run(self, *command: str, ok: tuple[int, ...] = (0,)) -> Run:
        args = [str(self.bin / "tidegate"), *command]
        return self._timed(args, f"`tidegate {' '.join(command)}`", ok)

    def _timed(self, args: list[str], what: str, ok: tuple[int, ...] = (0,)) -> Run:
        return checked(run_process(args, self.root, env=child_env(GIT_IDENTITY)), what, ok)

    def _git(self, *args: str) -> None:
        checked(run_process(["git", *args], self.root, env=child_env(GIT_IDENTITY)), f"git {args[0]}")
