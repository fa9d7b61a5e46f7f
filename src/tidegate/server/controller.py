"""The reconcile loop: every environment a branch maps to is kept at its branch's head.

Work is queued in the store, one queue per environment (a newer commit replaces a queued older
one), and runs in threads, one per *lane*: an environment, or a whole DuckDB file (one writer per
file; the controller opens it only while it works, so people and BI tools read it in between).
An environment is deployed again only when its branch moves past the head last handled there, or
on an explicit sync: a failed deployment is not retried in a loop, a pin (`rollback`) and a
break-glass version are left alone until Git moves.

The controller knows Git through its working copy and the forge only through the `Forge`
protocol; each run goes through `tidegate.server.runs`, the code of the command line.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tidegate.context import Context
from tidegate.errors import StateError, TidegateError
from tidegate.project.config import ProjectConfig, load_config
from tidegate.project.controller import ControllerConfig
from tidegate.project.durations import parse_duration
from tidegate.project.environments import Environment
from tidegate.server import runs
from tidegate.server.checkout import WorkingCopy, repository_url
from tidegate.server.events import Event, Ping, PullRequest, PullRequestAction, Push
from tidegate.server.forge import Forge, StatusState, forge_for
from tidegate.server.logs import LOGGER, event
from tidegate.server.metrics import PULL_REQUESTS, Metrics
from tidegate.server.states import Live, state_of
from tidegate.server.store import Run, RunKind, RunStatus, Store


class Controller:
    def __init__(
        self,
        project_dir: Path,
        state_dir: Path,
        *,
        base_url: str = "",
        logger: logging.Logger | None = None,
    ) -> None:
        self.project_dir = project_dir.resolve()
        self.config: ProjectConfig = load_config(self.project_dir)
        self.settings = self.config.controller or ControllerConfig()
        url, prefix = repository_url(self.settings.repository, self.project_dir)
        self.copy = WorkingCopy(url, state_dir / "repository", prefix)
        self.warm = runs.Warm(state_dir / "trees")
        self.store = Store(state_dir / "controller.sqlite")
        self.forge: Forge | None = forge_for(self.settings.forge) if self.settings.forge else None
        self.base_url = base_url.rstrip("/")
        self.log = logger or logging.getLogger(LOGGER)
        self.metrics = Metrics()
        self.bound = {environment: branch for branch, environment in self.config.branches.items()}
        """Each environment a branch maps to, and its branch."""
        self._heads: dict[str, str] = {}
        self._live: dict[str, Live] = {}
        self._drift: dict[str, list[dict[str, Any]]] = {}
        self._busy: dict[str, str] = {}
        """Lanes at work, and the environment each works on."""
        self._threads: list[threading.Thread] = []
        self._idle = threading.Condition()
        self._polling = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None

    # life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover from the last process, then poll in the background until `stop`; what
        every run imports is imported first (see `runs.warm_up`)."""
        runs.warm_up(self.config.dialect)
        self.recover()
        self._loop = threading.Thread(target=self._forever, name="tidegate-poll", daemon=True)
        self._loop.start()

    def stop(self) -> None:
        """Start nothing new and let the runs at work finish (queued runs wait for the next start)."""
        self._stopping.set()
        self._wake.set()
        if self._loop is not None:
            self._loop.join()
        for thread in list(self._threads):
            thread.join()
        self.store.close()

    def once(self) -> int:
        """One pass for cron: fetch, deploy what moved, wait for it, check drift. 0 all well,
        1 a run failed or an environment drifted."""
        first = self.store.runs(limit=1)
        since = first[0].id if first else 0
        try:
            self.recover()
            self.poll()
            self.wait()
            drifted = self.check_drift()
            ran = self.store.runs(limit=1000)
        finally:
            self.stop()
        failed = [run for run in ran if run.id > since and run.status is RunStatus.FAILED]
        return 1 if failed or drifted else 0

    def wait(self) -> None:
        """Until nothing runs and nothing is queued."""
        with self._idle:
            self._idle.wait_for(lambda: not self._busy and not self.store.queued())

    def _forever(self) -> None:
        every = parse_duration(self.settings.poll)
        drift_every = parse_duration(self.settings.drift.interval)
        next_drift = 0.0
        while not self._stopping.is_set():
            self._guarded(self.poll)
            if time.monotonic() >= next_drift:
                self._guarded(self.check_drift)
                next_drift = time.monotonic() + drift_every
            self._wake.wait(every)
            self._wake.clear()

    def _guarded(self, work: Any) -> None:
        """A pass that fails (the repository unreachable) is logged and tried again next time."""
        try:
            work()
        except TidegateError as error:
            event(self.log, "pass failed", logging.WARNING, error=str(error))
        except Exception as error:  # a bug must not stop the loop: logged with its traceback
            self.log.exception("pass failed: %s", error)

    def recover(self) -> None:
        """Runs the last process left `running` (it was killed): recorded as interrupted, their
        environment checked against its last version, their work queued again."""
        for run in self.store.interrupt_running():
            event(self.log, "run interrupted", logging.WARNING, run=run.id, environment=run.environment)
            if run.kind is RunKind.DEPLOY:
                self._verify(run.environment)
            self.metrics.run_finished(self._label(run), run.kind.value, "interrupted", None)
            self.store.enqueue(
                run.kind,
                run.environment,
                run.commit,
                trigger="restart",
                branch=run.branch,
                pull_request=run.pull_request,
            )
        self._queue_metric()

    def _verify(self, environment: str) -> None:
        """An interrupted deployment changed nothing (an apply swaps all views in one
        transaction or none): the environment must be exactly at its last version."""
        drifted = self._check(environment)
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

    # Git ---------------------------------------------------------------------------------

    def poll(self, trigger: str = "poll") -> list[Run]:
        """Fetch, and queue a deployment of every environment whose branch moved."""
        with self._polling:
            self._heads = self.copy.fetch()
            queued = [
                run
                for environment, branch in self.bound.items()
                if (run := self._consider(environment, self._heads.get(branch), trigger)) is not None
            ]
        self.dispatch()
        return queued

    def _consider(self, environment: str, head: str | None, trigger: str) -> Run | None:
        if head is None or self.store.handled(environment) == head or self._pending(environment, head):
            return None
        live = self.refresh(environment)
        if live.commit == head or (live.pin is not None and live.pin.get("commit") == head):
            self.store.set_handled(environment, head)  # already there, or pinned at this head
            return None
        if live.break_glass is not None and self.store.handled(environment) is None:
            self.store.set_handled(environment, head)  # changed by hand: left alone until Git moves
            return None
        run = self.store.enqueue(
            RunKind.DEPLOY, environment, head, trigger=trigger, branch=self.bound[environment]
        )
        event(self.log, "deployment queued", run=run.id, environment=environment, commit=head[:10])
        return run

    def _pending(self, environment: str, commit: str) -> bool:
        """A run of `commit` on `environment` queued or running already."""
        return any(
            run.commit == commit and run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
            for run in self.store.runs(environment, limit=5)
        )

    def handle(self, received: Event) -> list[Run]:
        """Act on what a webhook said; the runs it queued."""
        if isinstance(received, Ping):
            return []
        if isinstance(received, Push):
            if received.commit is None or received.branch not in self.config.branches:
                return []
            return self.poll(trigger="webhook")
        return self._pull_request(received)

    def _pull_request(self, pull: PullRequest) -> list[Run]:
        environment = self.config.pull_requests.environment.format(number=pull.number)
        if pull.action is PullRequestAction.CLOSED:
            kind, commit = RunKind.TEARDOWN, None
        else:
            with self._polling:
                self._heads = self.copy.fetch()
            kind, commit = RunKind.CI, pull.head_commit
        run = self.store.enqueue(
            kind, environment, commit, trigger="webhook", branch=pull.base_branch, pull_request=pull.number
        )
        event(self.log, f"{kind.value} queued", run=run.id, pull_request=pull.number)
        self.dispatch()
        return [run]

    # runs --------------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Start every queued run whose lane is free."""
        with self._idle:
            if self._stopping.is_set():
                return
            for queued in self.store.queued():
                try:
                    lane = self._lane(queued.environment)
                except TidegateError as error:  # an environment tidegate.yml cannot resolve
                    self._refuse(queued, error)
                    continue
                if lane in self._busy:
                    continue
                run = self.store.start(queued.id)
                if run is None:
                    continue
                self._busy[lane] = run.environment
                thread = threading.Thread(target=self._work, args=(run, lane), name=f"tidegate-run-{run.id}")
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
                thread.start()
            self._queue_metric()

    def _lane(self, environment: str) -> str:
        """What work on `environment` must have to itself: the environment, or its whole
        DuckDB file (one writer per file)."""
        resolved = Environment.resolve(self.config, environment, workspace=self.project_dir)
        if resolved.connection.engine == "duckdb":
            return resolved.warehouse
        return f"{resolved.warehouse} {resolved.name}"

    def _refuse(self, queued: Run, error: TidegateError) -> None:
        run = self.store.start(queued.id)
        if run is not None:
            self._record(run, runs.Outcome(RunStatus.FAILED, [], "", error.message, error=str(error)))

    def _work(self, run: Run, lane: str) -> None:
        try:
            self._status(run, StatusState.PENDING, f"{run.kind.value} running")
            outcome = self._execute(run)
        except Exception as error:  # a bug: recorded on the run, never the end of the controller
            text = "".join(traceback.format_exception(error))
            outcome = runs.Outcome(RunStatus.FAILED, [], text, f"internal error: {error}", error=text)
        try:
            self._record(run, outcome)
        finally:
            self._release(lane)

    def _execute(self, run: Run) -> runs.Outcome:
        if run.kind is RunKind.DEPLOY:
            assert run.commit is not None
            return runs.deploy(self.copy, self.project_dir, run.environment, run.commit, warm=self.warm)
        if run.kind is RunKind.CI:
            assert run.commit is not None and run.pull_request is not None
            return runs.pull_request_ci(
                self.copy,
                self.project_dir,
                run.pull_request,
                run.commit,
                run.branch or "main",
                warm=self.warm,
            )
        return runs.teardown(self.project_dir, run.environment)

    def _record(self, run: Run, outcome: runs.Outcome) -> None:
        """What the environment is now and what the forge is told come first: once the store
        says the run finished, everything it did can be seen."""
        if run.kind is RunKind.DEPLOY and run.commit is not None:
            self.store.set_handled(run.environment, run.commit)
            self._deployed(run.environment, run.commit, outcome)
        state = StatusState.SUCCESS if outcome.status is RunStatus.SUCCESS else StatusState.FAILURE
        self._status(run, state, outcome.summary)
        if outcome.comment is not None and run.pull_request is not None:
            self._tell_forge(lambda forge: forge.upsert_comment(run.pull_request or 0, outcome.comment or ""))
        finished = self.store.finish(
            run.id,
            outcome.status,
            steps=outcome.steps,
            log=outcome.log,
            report=outcome.report,
            error=outcome.error,
        )
        self.metrics.run_finished(self._label(run), run.kind.value, outcome.status.value, finished.seconds)
        level = logging.INFO if outcome.status is RunStatus.SUCCESS else logging.WARNING
        event(
            self.log,
            f"{run.kind.value} {outcome.status.value}: {outcome.summary}",
            level,
            run=run.id,
            environment=run.environment,
            commit=(run.commit or "")[:10],
            seconds=finished.seconds,
        )

    def _label(self, run: Run) -> str:
        """The metrics' environment label: bounded (pull requests count as one)."""
        return (
            run.environment if run.kind is RunKind.DEPLOY and run.environment in self.bound else PULL_REQUESTS
        )

    def _status(self, run: Run, state: StatusState, description: str) -> None:
        if run.commit is None or run.kind is RunKind.TEARDOWN:
            return
        context = "tidegate/ci" if run.kind is RunKind.CI else f"tidegate/deploy/{run.environment}"
        url = f"{self.base_url}/api/runs/{run.id}" if self.base_url else None
        self._tell_forge(
            lambda forge: forge.set_status(run.commit or "", context, state, description[:140], url)
        )

    def _tell_forge(self, call: Any) -> None:
        """Feedback that fails (the forge down) is logged; it never fails the run."""
        if self.forge is None:
            return
        try:
            call(self.forge)
        except TidegateError as error:
            event(self.log, "the forge refused feedback", logging.WARNING, error=str(error))

    def _queue_metric(self) -> None:
        self.metrics.queue.set(len(self.store.queued()))

    # environments ------------------------------------------------------------------------

    @contextmanager
    def context(self) -> Iterator[Context]:
        """The facade on the project directory, for what reads or moves an environment's state."""
        with Context(self.project_dir) as ctx:
            yield ctx

    def refresh(self, environment: str) -> Live:
        """Read an environment's current version (and pin) from its warehouse, and keep it."""
        try:
            with self.context() as ctx:
                version = ctx.current(environment)
                pin = ctx.pin_of(environment)
                live = Live(
                    version.version, version.git_commit, version.break_glass, pin.to_dict() if pin else None
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

    def _deployed(self, environment: str, commit: str, outcome: runs.Outcome) -> None:
        """What a deployment left: the version it recorded (at `commit`, by Git, no pin: a new
        commit lifts it), without opening the warehouse again; read from it otherwise."""
        version = (outcome.report or {}).get("version")
        if outcome.status is RunStatus.SUCCESS and isinstance(version, int):
            self._live[environment] = Live(version, commit)
        else:
            self.refresh(environment)

    def require_bound(self, environment: str) -> str:
        """The branch of an environment the controller keeps; a ConfigError for any other."""
        branch = self.bound.get(environment)
        if branch is None:
            raise StateError(
                f"the controller keeps no environment {environment!r}",
                hint=f"it keeps {', '.join(sorted(self.bound)) or 'none'} (`branches:` in tidegate.yml)",
            )
        return branch

    def state_of(self, environment: str) -> str:
        return state_of(
            self._live.get(environment, Live()),
            self._heads.get(self.bound.get(environment, "")),
            self.store.last_run(environment),
            drifted=bool(self._drift.get(environment)),
        )

    def environments(self) -> list[dict[str, Any]]:
        listed = []
        for environment, branch in sorted(self.bound.items()):
            live = self._live.get(environment) or self.refresh(environment)
            last = self.store.last_run(environment)
            listed.append(
                {
                    "name": environment,
                    "branch": branch,
                    "commit": live.commit,
                    "version": live.version,
                    "state": self.state_of(environment),
                    "last_run": last.summary() if last else None,
                    "head": self._heads.get(branch),
                    "break_glass": live.break_glass,
                    "pin": live.pin,
                }
            )
        return listed

    def history(self, environment: str) -> list[dict[str, Any]]:
        with self.context() as ctx:
            return [version.to_dict() for version in ctx.history_or_empty(environment)]

    def sync(self, environment: str) -> Run:
        """Deploy the branch's head now, even when it failed before."""
        branch = self.require_bound(environment)
        with self._polling:
            self._heads = self.copy.fetch()
        head = self._heads.get(branch)
        if head is None:
            raise StateError(f"branch {branch!r} of {environment!r} does not exist in the repository")
        run = self.store.enqueue(RunKind.DEPLOY, environment, head, trigger="sync", branch=branch)
        self.dispatch()
        return run

    @contextmanager
    def holding(self, environment: str) -> Iterator[None]:
        """The environment's lane, for work done outside a run (a rollback)."""
        lane = self._lane(environment)
        with self._idle:
            self._idle.wait_for(lambda: lane not in self._busy)
            self._busy[lane] = environment
        try:
            yield
        finally:
            self._release(lane)

    @contextmanager
    def _claimed(self, environment: str) -> Iterator[bool]:
        """The environment's lane if it is free now (True), else nothing (False)."""
        lane = self._lane(environment)
        with self._idle:
            claimed = lane not in self._busy and not self._stopping.is_set()
            if claimed:
                self._busy[lane] = environment
        try:
            yield claimed
        finally:
            if claimed:
                self._release(lane)

    def _release(self, lane: str) -> None:
        with self._idle:
            del self._busy[lane]
            self._idle.notify_all()
        self.dispatch()

    def rollback(self, environment: str, version: int | None) -> dict[str, Any]:
        """`tidegate rollback ENV [--to VERSION]`, which pins the environment: the controller
        leaves it there until a new commit lands on its branch, or `unpin`."""
        branch = self.require_bound(environment)
        with self.holding(environment), self.context() as ctx:
            number = ctx.rollback(environment, version, branch_head=self._heads.get(branch))
        live = self.refresh(environment)
        event(self.log, "rolled back and pinned", environment=environment, version=number)
        return {"environment": environment, "version": number, "pin": live.pin}

    def unpin(self, environment: str) -> dict[str, Any]:
        """Let the controller follow the branch again: its head is deployed on the next pass."""
        self.require_bound(environment)
        with self.context() as ctx:
            unpinned = ctx.unpin(environment)
        self.store.set_handled(environment, None)
        self.refresh(environment)
        self._wake.set()
        event(self.log, "unpinned" if unpinned else "was not pinned", environment=environment)
        return {"environment": environment, "unpinned": unpinned}

    # drift -------------------------------------------------------------------------------

    def _heal(self, ctx: Context, environment: str) -> None:
        """`drift: {self_heal: true}`: views restored, snapshots rebuilt from their commit,
        managed infrastructure re-applied (never a destructive change)."""
        report = ctx.heal(environment)
        event(
            self.log,
            "healed" if report.healed else "healed in part",
            logging.INFO if report.healed else logging.WARNING,
            environment=environment,
            **{key: value for key, value in report.to_dict().items() if key != "environment"},
        )

    def drift(self) -> list[dict[str, Any]]:
        return [item for environment in sorted(self._drift) for item in self._drift[environment]]

    def check_drift(self) -> bool:
        """Compare each environment that is not at work with its recorded version, healing it
        when told to; True when any still drifts."""
        for environment in sorted(self.bound):
            with self._claimed(environment) as claimed:
                if claimed:
                    self._check(environment)
        return any(self._drift.values())

    def _check(self, environment: str) -> list[dict[str, Any]]:
        try:
            with self.context() as ctx:
                found = [drift.to_dict() for drift in ctx.drift(environment)]
                if found and self.settings.drift.self_heal:
                    self._heal(ctx, environment)
                    found = [drift.to_dict() for drift in ctx.drift(environment)]
        except StateError:  # not deployed yet: nothing to compare
            found = []
        except TidegateError as error:
            event(self.log, "cannot check drift", logging.WARNING, environment=environment, error=str(error))
            return self._drift.get(environment, [])
        self._drift[environment] = found
        self.metrics.drift.labels(environment=environment).set(len(found))
        if found:
            event(self.log, "drift", logging.WARNING, environment=environment, objects=len(found))
        return found
