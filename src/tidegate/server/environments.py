"""The environments the controller keeps, as their warehouses say: each one's current version,
pin and break-glass mark, its state against its branch's head, its drift, and the levers people
pull on it through the API (rollback, unpin).

Every read of a warehouse takes the environment's lane when it is free and otherwise uses what
the last read found, so asking never waits for a deployment and never reads a DuckDB file a run
is writing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidegate.context import Context, DriftKind
from tidegate.errors import StateError, TidegateError
from tidegate.server.lanes import Lanes
from tidegate.server.logs import event
from tidegate.server.metrics import Metrics
from tidegate.server.states import Live, state_of
from tidegate.server.store import Store

_REPORTED = (DriftKind.TERRAFORM, DriftKind.DATABRICKS)
"""Drift that is reported and never healed: healing does not touch it (nor checks it twice)."""
READ_PATIENCE = 1.0
"""Seconds a drift check waits for an environment's lane: reading ahead for the dashboard holds
it for a fraction of a second, a run for longer (then the last check's findings stand)."""


class Environments:
    def __init__(
        self,
        project_dir: Path,
        bound: dict[str, str],
        *,
        self_heal: bool,
        store: Store,
        lanes: Lanes,
        metrics: Metrics,
        log: logging.Logger,
        wake: Callable[[], None],
        commits: Path | None = None,
    ) -> None:
        self.project_dir = project_dir
        self.commits = commits
        """The project in the controller's working copy, which has every commit it deployed
        (the project directory may be a clone never fetched): drift is against those commits."""
        self.bound = bound
        """Each environment a branch maps to, and its branch."""
        self.self_heal = self_heal
        self.store = store
        self.lanes = lanes
        self.metrics = metrics
        self.log = log
        self.wake = wake
        """Asks the controller for a pass now (after an unpin)."""
        self.heads: dict[str, str] = {}
        """Each branch's head as the controller last fetched it."""
        self._live: dict[str, Live] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._drift: dict[str, list[dict[str, Any]]] = {}
        self.drift_checked: datetime | None = None
        """When `check_drift` last compared the environments (None: never)."""

    @contextmanager
    def context(self) -> Iterator[Context]:
        """The facade on the project directory, for what reads or moves an environment's state."""
        with Context(self.project_dir) as ctx:
            yield ctx

    def require_bound(self, environment: str) -> str:
        """The branch of an environment the controller keeps; a StateError for any other."""
        branch = self.bound.get(environment)
        if branch is None:
            raise StateError(
                f"the controller keeps no environment {environment!r}",
                hint=f"it keeps {', '.join(sorted(self.bound)) or 'none'} (`branches:` in tidegate.yml)",
            )
        return branch

    # versions ----------------------------------------------------------------------------

    def refresh(self, environment: str, deployed: str | None = None) -> Live:
        """Read an environment's current version (and pin) from its warehouse, and keep it.
        `deployed`: a deployment of that commit just succeeded, leaving the version there is now."""
        with self._reading() as read:
            return read(environment, deployed)

    @contextmanager
    def _reading(self) -> Iterator[Callable[[str, str | None], Live]]:
        """Reads of environments through one facade: environments that share a warehouse open
        it once (a DuckDB file costs ~0.1 s to open)."""
        with ExitStack() as stack:
            opened: list[Context] = []

            def read(environment: str, deployed: str | None) -> Live:
                if not opened:
                    opened.append(stack.enter_context(self.context()))
                return self._read(opened[0], environment, deployed)

            yield read

    def _read(self, ctx: Context, environment: str, deployed: str | None) -> Live:
        """The environment is at the commit last deployed while its version is the one that
        deployment left (a commit that changes no model writes no version), else at its
        version's commit (a rollback, a break-glass change). A break-glass version that a
        deployment left as it was is what Git holds now: Git caught up with it."""
        try:
            version = ctx.current(environment)
            pin = ctx.pin_of(environment)
            if deployed is not None:
                self.store.set_deployed(environment, deployed, version.version)
            last = self.store.deployed(environment)
            caught_up = last is not None and last[1] == version.version
            live = Live(
                version.version,
                last[0] if last is not None and caught_up else version.git_commit,
                None if caught_up else version.break_glass,
                pin.to_dict() if pin else None,
            )
        except StateError:
            live = Live()
        except TidegateError as error:
            event(
                self.log,
                "cannot read the environment",
                logging.WARNING,
                environment=environment,
                error=str(error),
            )
            return self._live.get(environment, Live())
        self._live[environment] = live
        return live

    def deployed(self, environment: str, commit: str, version: int | None) -> None:
        """A deployment of `commit` succeeded, recording `version` (None: it changed nothing,
        so the warehouse says which version it left). A recorded version is known without
        opening the warehouse again: at `commit`, by Git, with no pin (a new commit lifts it)."""
        if version is None:
            self.refresh(environment, deployed=commit)
            return
        self.store.set_deployed(environment, commit, version)
        self._live[environment] = Live(version, commit)

    def live(self, environment: str) -> Live:
        """The environment's version now, or as last read while it is at work: a change made
        past the controller (`--break-glass`, a rollback from the command line) shows at once."""
        return self.live_all([environment])[environment]

    def live_all(self, environments: list[str]) -> dict[str, Live]:
        """`live` of several environments, each warehouse opened once (a page that lists them
        all stays fast)."""
        free: dict[str, bool] = {}
        """Each lane this takes (environments of one DuckDB file share one), and if it was free."""
        with ExitStack() as stack, self._reading() as read:
            for environment in environments:
                lane = self.lanes.lane(environment)
                if lane not in free:
                    free[lane] = stack.enter_context(self.lanes.claimed(environment))
                if free[lane] or environment not in self._live:
                    read(environment, None)
        return {environment: self._live.get(environment, Live()) for environment in environments}

    def read_all(self) -> None:
        """Read every kept environment now (each warehouse opened once), so that what the
        dashboard shows follows changes made past the controller (`--break-glass`, a rollback
        from the command line) within a pass."""
        self.live_all(sorted(self.bound))

    def known(self, environment: str) -> Live:
        """The environment's version as last read, without reading its warehouse again unless
        it was never read: for pages shown often (opening a warehouse costs ~0.1 s). The
        controller reads it again after each of its runs and levers."""
        if environment not in self._live:
            return self.live(environment)
        return self._live[environment]

    def state_of(self, environment: str) -> str:
        return state_of(
            self._live.get(environment, Live()),
            self.heads.get(self.bound.get(environment, "")),
            self.store.last_run(environment),
            drifted=any(not item["healed"] for item in self._drift.get(environment, [])),
        )

    def listed(self, *, fresh: bool = True) -> list[dict[str, Any]]:
        """`GET /api/environments`: each read now (`fresh`), or as the controller last read it
        (the dashboard's pages: a DuckDB file of 2,000 models takes 0.2 s to open and close;
        the controller reads every environment on each pass, run and lever)."""
        kept = sorted(self.bound)
        live = self.live_all(kept) if fresh else {name: self.known(name) for name in kept}
        return [self.summary(environment, live[environment]) for environment in kept]

    def summary(self, environment: str, live: Live | None = None) -> dict[str, Any]:
        """One kept environment as the API lists it: its version (now, unless `live` says it),
        state and last run."""
        branch = self.require_bound(environment)
        live = live or self.live(environment)
        last = self.store.last_run(environment)
        return {
            "name": environment,
            "branch": branch,
            "commit": live.commit,
            "version": live.version,
            "state": self.state_of(environment),
            "last_run": last.summary() if last else None,
            "head": self.heads.get(branch),
            "break_glass": live.break_glass,
            "pin": live.pin,
        }

    def history(self, environment: str, *, fresh: bool = True) -> list[dict[str, Any]]:
        """Every version of the environment; not `fresh`: read again only when the controller
        knows of a version the last read did not have (versions never change)."""
        self.require_bound(environment)
        known = self.known(environment).version
        kept = self._history.get(environment)
        if fresh or kept is None or (kept[-1]["version"] if kept else None) != known:
            with self.context() as ctx:
                kept = [version.to_dict() for version in ctx.history_or_empty(environment)]
            self._history[environment] = kept
        return kept

    # levers ------------------------------------------------------------------------------

    def rollback(self, environment: str, version: int | None) -> dict[str, Any]:
        """`tidegate rollback ENV [--to VERSION]`, which pins the environment: the controller
        leaves it there until a new commit lands on its branch, or `unpin`."""
        branch = self.require_bound(environment)
        with self.lanes.holding(environment), self.context() as ctx:
            number = ctx.rollback(environment, version, branch_head=self.heads.get(branch))
            live = self.refresh(environment)
        event(self.log, "rolled back and pinned", environment=environment, version=number)
        return {"environment": environment, "version": number, "pin": live.pin}

    def unpin(self, environment: str) -> dict[str, Any]:
        """Let the controller follow the branch again: its head is deployed on the next pass."""
        self.require_bound(environment)
        with self.lanes.holding(environment), self.context() as ctx:
            unpinned = ctx.unpin(environment)
            self.store.set_handled(environment, None)
            self.refresh(environment)
        self.wake()
        event(self.log, "unpinned" if unpinned else "was not pinned", environment=environment)
        return {"environment": environment, "unpinned": unpinned}

    # drift -------------------------------------------------------------------------------

    def drift(self) -> list[dict[str, Any]]:
        """What the last check of each environment found; `healed` says what self-heal restored."""
        return [item for environment in sorted(self._drift) for item in self._drift[environment]]

    def check_drift(self) -> bool:
        """Compare each environment that is not at work with its recorded version (those at
        work keep what their last check found), healing it when told to; True when any drifts."""
        for environment in sorted(self.bound):
            with self.lanes.claimed(environment, patience=READ_PATIENCE) as free:
                if free:
                    self.check(environment)
        self.drift_checked = datetime.now(UTC)
        return any(not item["healed"] for item in self.drift())

    def verify(self, environment: str) -> None:
        """After a deployment was interrupted (it changed nothing: an apply swaps all views in
        one transaction or none), the environment must be exactly at its last version."""
        drifted = self.check(environment)
        live = self.refresh(environment)
        event(
            self.log,
            "environment verified at its last version"
            if not drifted
            else "environment differs from its last version",
            logging.INFO if not drifted else logging.WARNING,
            environment=environment,
            version=live.version,
            commit=(live.commit or "")[:10],
        )

    def check(self, environment: str) -> list[dict[str, Any]]:
        """One environment's drift, healed first with `self_heal`: each object found, with
        whether healing restored it; the caller holds its lane. Terraform drift is reported and
        never healed (nor checked twice: healing does not touch it)."""
        try:
            with self.context() as ctx:
                found = [drift.to_dict() for drift in ctx.drift(environment, commits=self.commits)]
                left = found
                if self.self_heal and any(item["kind"] not in _REPORTED for item in found):
                    self._heal(ctx, environment)
                    terraform = [item for item in found if item["kind"] in _REPORTED]
                    again = ctx.drift(environment, terraform=False, commits=self.commits)
                    left = [drift.to_dict() for drift in again] + terraform
        except StateError:  # not deployed yet: nothing to compare
            found = left = []
        except TidegateError as error:
            event(self.log, "cannot check drift", logging.WARNING, environment=environment, error=str(error))
            return [item for item in self._drift.get(environment, []) if not item["healed"]]
        found = found + [item for item in left if item not in found]
        self._drift[environment] = [{**item, "healed": item not in left} for item in found]
        self.metrics.drift.labels(environment=environment).set(len(left))
        if left:
            event(self.log, "drift", logging.WARNING, environment=environment, objects=len(left))
        return left

    def _heal(self, ctx: Context, environment: str) -> None:
        """`drift: {self_heal: true}`: views restored, snapshots rebuilt from their commit,
        managed infrastructure re-applied (never a destructive change)."""
        report = ctx.heal(environment, commits=self.commits)
        event(
            self.log,
            "healed" if report.healed else "healed in part",
            logging.INFO if report.healed else logging.WARNING,
            environment=environment,
            **{key: value for key, value in report.to_dict().items() if key != "environment"},
        )
