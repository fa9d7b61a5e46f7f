"""dbt-core with dbt-duckdb, in its best configuration for CI: slim CI.

CI is ``dbt build -s state:modified+ --defer --state prod-artifacts`` into a pull-request schema: only
what changed and what depends on it is built, everything else is read from production.  dbt has no
promotion: after the merge, a team's deploy job builds the same selection in production, so that is
what the promotion measure runs.  Partial parsing stays on between commands (``target/`` is kept), as
on a developer's machine; a cold load is ``dbt parse`` with ``target/`` removed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from measure import REPO_DIR, BenchError, Run, checked, child_env, run_process
from peers.base import BuiltWarehouse, Change, ChangedFiles, Sample

WAREHOUSE = "warehouse.duckdb"
ARTIFACTS = "prod-artifacts"
PROFILES = """\
bench:
  target: prod
  outputs:
    prod: {{type: duckdb, path: {warehouse}, schema: main, threads: {threads}}}
    ci: {{type: duckdb, path: {warehouse}, schema: pr, threads: {threads}}}
"""
DONE_RE = re.compile(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)")


class DbtPeer:
    """dbt-core 1.11 with dbt-duckdb, from its own virtualenv (``make .venv-dbt/.installed``)."""

    name = "dbt-core"

    def __init__(self, executable: Path | None = None) -> None:
        self.dbt = executable or REPO_DIR / ".venv-dbt" / "bin" / "dbt"
        self.root = Path()
        self.threads = 4
        self.changed = ChangedFiles()
        self.built = BuiltWarehouse(self.root, WAREHOUSE)

    def unavailable(self) -> str | None:
        return None if self.dbt.exists() else f"{self.dbt} is missing: run `make .venv-dbt/.installed`"

    def version(self) -> str:
        run = run_process([str(self.dbt), "--version"], REPO_DIR, env=self._env())
        found = re.search(r"installed:\s*(\S+)", run.stdout)
        adapter = re.search(r"duckdb:\s*(\S+)", run.stdout)
        return f"{found.group(1) if found else '?'} (dbt-duckdb {adapter.group(1) if adapter else '?'})"

    def setup(self, source: Path, work: Path, threads: int) -> None:
        self.root, self.threads = work, threads
        self.built = BuiltWarehouse(work, WAREHOUSE)
        self.changed = ChangedFiles()
        shutil.copytree(source, work)
        (work / "profiles.yml").write_text(PROFILES.format(warehouse=WAREHOUSE, threads=threads))

    def load(self, cold: bool) -> Sample:
        if cold:
            shutil.rmtree(self.root / "target", ignore_errors=True)
        run = self._dbt("parse")
        return Sample.of(run, "dbt parse" + ("" if cold else " (partial parsing)"))

    def build(self) -> Sample:
        run = self._dbt("build")
        return Sample.of(run, _done(run))

    def save_built(self) -> None:
        shutil.rmtree(self.root / ARTIFACTS, ignore_errors=True)
        shutil.copytree(self.root / "target", self.root / ARTIFACTS)
        self.built.save()

    def restore_built(self) -> None:
        self.changed.restore()
        self.built.restore()

    def noop(self) -> Sample:
        run = self._dbt("build", "-s", "state:modified+", "--state", ARTIFACTS)
        if "Nothing to do" not in run.stdout:
            raise BenchError(f"dbt: nothing changed, yet state:modified+ selected something:\n{run.tail()}")
        return Sample.of(run, "build -s state:modified+: nothing to do")

    def ci(self, change: Change) -> Sample:
        self.changed.write(self.root / change.path, change.text)
        run = self._dbt("build", "-s", "state:modified+", "--defer", "--state", ARTIFACTS, "--target", "ci")
        return Sample.of(run, "slim CI: " + _done(run))

    def promote(self, change: Change) -> Sample:
        run = self._dbt("build", "-s", "state:modified+", "--state", ARTIFACTS, "--target", "prod")
        return Sample.of(run, "modified+ rebuilt in prod: " + _done(run))

    def cleanup(self) -> None:
        """Nothing keeps running between dbt commands."""

    def _env(self) -> dict[str, str]:
        return child_env(
            {
                "DBT_PROFILES_DIR": str(self.root),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DBT_USE_COLORS": "false",
            }
        )

    def _dbt(self, *command: str) -> Run:
        args = [str(self.dbt), *command, "--threads", str(self.threads)]
        return checked(run_process(args, self.root, env=self._env()), f"`dbt {' '.join(command)}`")


def _done(run: Run) -> str:
    found = DONE_RE.search(run.stdout)
    if found is None:
        raise BenchError(f"dbt printed no summary line:\n{run.tail()}")
    passed, _warned, errors, skipped = found.groups()
    if errors != "0":
        raise BenchError(f"dbt reported {errors} errors:\n{run.tail()}")
    return f"{passed} passed, {skipped} skipped"
