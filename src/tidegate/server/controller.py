"""The reconcile loop: every environment a branch maps to is kept at its branch's head.

Work is queued in the store, one queue per environment (a newer commit replaces a queued older
one), and runs in threads, one per free *lane* (`tidegate.server.lanes`: an environment, or a
whole DuckDB file). What the environments are now, their drift and the levers on them (rollback,
unpin) live in `tidegate.server.environments`. An environment is deployed again only when its branch moves past the head last handled there, or
on an explicit sync: a failed deployment is not retried in a loop, a pin (`rollback`) and a
break-glass version are left alone until Git moves.

The controller knows Git through its working copy and the forge only through the `Forge`
protocol; each run goes through `tidegate.server.runs`, the code of the command line.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tidegate.errors import StateError, TidegateError
from tidegate.project.config import ProjectConfig, load_config
from tidegate.project.controller import ControllerConfig
from tidegate.project.durations import parse_duration
from tidegate.server import runs
from tidegate.server.checkout import WorkingCopy, repository_url
from tidegate.server.environments import Environments
from tidegate.server.events import Event, Ping, PullRequest, PullRequestAction, Push
from tidegate.server.forge import Forge, StatusState, forge_for
from tidegate.server.lanes import Lanes
from tidegate.server.logs import LOGGER, event
from tidegate.server.metrics import PULL_REQUESTS, Metrics
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
        self.after_run: list[Callable[[Run, RunStatus], None]] = []
        """Called after each run is recorded, in its thread, with how it ended: the dashboard
        reads ahead what its pages will show (a deployed commit's models, pull requests)."""
        self.after_pass: list[Callable[[], None]] = []
        """Called after each pass of the loop (fetch, reads of the environments)."""
        self.store = Store(state_dir / "controller.sqlite")
        self.forge: Forge | None = forge_for(self.settings.forge) if self.settings.forge else None
        self.base_url = base_url.rstrip("/")
        self.log = logger or logging.getLogger(LOGGER)
        self.metrics = Metrics()
        self._threads: list[threading.Thread] = []
        self._background: list[threading.Thread] = []
        self._logs: dict[int, runs.RunLog] = {}
        """The log of each run at work, read while it grows (`live_log`)."""
        self._polling = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._loop: threading.Thread | None = None
        self.lanes = Lanes(self.config, self.project_dir, on_release=self.dispatch)
        self.environments = Environments(
            self.project_dir,
            {environment: branch for branch, environment in self.config.branches.items()},
            self_heal=self.settings.drift.self_heal,
            store=self.store,
            lanes=self.lanes,
            metrics=self.metrics,
            log=self.log,
            wake=self._wake.set,
            commits=self.copy.project_dir,
        )

    # life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover from the last process, then poll in the background until `stop`; what
        every run imports is imported first (see `runs.warm_up`)."""
        runs.warm_up(self.config.dialect)
        self.recover()
        self._loop = threading.Thread(target=self._forever, name="tidegate-poll", daemon=True)
        self._loop.start()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def in_background(self, work: Callable[[], None], name: str) -> None:
        """Run `work` in a thread that `stop` waits for (it checks `stopping` to end early): a
        thread left running at exit would still hold a warehouse when the interpreter ends."""
        if self.stopping:
            return
        thread = threading.Thread(target=lambda: self._guarded(work), name=name, daemon=True)
        self._background = [t for t in self._background if t.is_alive()] + [thread]
        thread.start()

    def settle(self) -> None:
        """Until the work started `in_background` is done."""
        for thread in list(self._background):
            thread.join()

    def read_ahead(self) -> None:
        """What each pass reads for the dashboard, so that pages never wait for a warehouse:
        every kept environment, and what the pages keep (`after_pass`)."""
        self._guarded(self.environments.read_all)
        for listener in self.after_pass:
            self._guarded(listener)

    def stop(self) -> None:
        """Start nothing new and let the runs at work finish (queued runs wait for the next start)."""
        self._stopping.set()
        self.lanes.close()
        self._wake.set()
        if self._loop is not None:
            self._loop.join()
        for thread in [*self._threads, *self._background]:
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
            drifted = self.environments.check_drift()
            ran = self.store.runs(limit=1000)
        finally:
            self.stop()
        failed = [run for run in ran if run.id > since and run.status is RunStatus.FAILED]
        return 1 if failed or drifted else 0

    def wait(self) -> None:
        """Until nothing runs and nothing is queued."""
        self.lanes.wait(lambda: bool(self.store.queued()))

    def _forever(self) -> None:
        every = parse_duration(self.settings.poll)
        drift_every = parse_duration(self.settings.drift.interval)
        next_drift = 0.0
        while not self._stopping.is_set():
            self._guarded(self.poll)
            self.read_ahead()
            if time.monotonic() >= next_drift:
                self._guarded(self.environments.check_drift)
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
                self.environments.verify(run.environment)
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

    # Git ---------------------------------------------------------------------------------

    def poll(self, trigger: str = "poll") -> list[Run]:
        """Fetch, and queue a deployment of every environment whose branch moved."""
        with self._polling:
            heads = self._fetch()
            queued = [
                run
                for environment, branch in self.environments.bound.items()
                if (run := self._consider(environment, heads.get(branch), trigger)) is not None
            ]
        self.dispatch()
        return queued

    def _consider(self, environment: str, head: str | None, trigger: str) -> Run | None:
        """Queue a deployment of `head` unless it was handled. The warehouse is read only for a
        head this controller never handled: past the first, the deployment itself finds a pin
        or nothing to change, and a push does not open the warehouse twice."""
        handled = self.store.handled(environment)
        if head is None or handled == head or self._pending(environment, head):
            return None
        if handled is None:
            live = self.environments.refresh(environment)
            if live.commit == head or (live.pin is not None and live.pin.get("commit") == head):
                self.store.set_handled(environment, head)  # already there, or pinned at this head
                return None
            if live.break_glass is not None:
                self.store.set_handled(environment, head)  # changed by hand: left alone until Git moves
                return None
        run = self.store.enqueue(
            RunKind.DEPLOY, environment, head, trigger=trigger, branch=self.environments.bound[environment]
        )
        event(self.log, "deployment queued", run=run.id, environment=environment, commit=head[:10])
        return run

    def _fetch(self) -> dict[str, str]:
        """Each branch's head, fetched now (the caller holds `_polling`)."""
        heads = self.copy.fetch()
        self.environments.heads = heads
        return heads

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
                self._fetch()
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
        for queued in self.store.queued():
            try:
                lane = self.lanes.take(queued.environment)
            except TidegateError as error:  # an environment tidegate.yml cannot resolve
                self._refuse(queued, error)
                continue
            if lane is None:
                continue
            run = self.store.start(queued.id)
            if run is None:  # another dispatch started it
                self.lanes.release(lane)
                continue
            thread = threading.Thread(target=self._work, args=(run, lane), name=f"tidegate-run-{run.id}")
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
        self._queue_metric()

    def _refuse(self, queued: Run, error: TidegateError) -> None:
        run = self.store.start(queued.id)
        if run is not None:
            self._record(run, runs.Outcome(RunStatus.FAILED, [], "", error.message, error=str(error)))

    def live_log(self, run_id: int) -> list[str] | None:
        """The lines of a run at work so far; None once it is recorded (the store has its log)
        or before it starts."""
        log = self._logs.get(run_id)
        return list(log.lines) if log is not None else None

    def _work(self, run: Run, lane: str) -> None:
        log = self._logs[run.id] = runs.RunLog()
        try:
            self._status(run, StatusState.PENDING, f"{run.kind.value} running")
            outcome = self._execute(run, log)
        except Exception as error:  # a bug: recorded on the run, never the end of the controller
            text = "".join(traceback.format_exception(error))
            outcome = runs.Outcome(RunStatus.FAILED, [], text, f"internal error: {error}", error=text)
        try:
            self._record(run, outcome)
        finally:
            self._logs.pop(run.id, None)
            self.lanes.release(lane)
        for listener in self.after_run:
            self._guarded(functools.partial(listener, run, outcome.status))

    def _execute(self, run: Run, log: runs.RunLog) -> runs.Outcome:
        if run.kind is RunKind.DEPLOY:
            assert run.commit is not None
            return runs.deploy(
                self.copy, self.project_dir, run.environment, run.commit, warm=self.warm, log=log
            )
        if run.kind is RunKind.CI:
            assert run.commit is not None and run.pull_request is not None
            return runs.pull_request_ci(
                self.copy,
                self.project_dir,
                run.pull_request,
                run.commit,
                run.branch or "main",
                warm=self.warm,
                log=log,
            )
        return runs.teardown(self.project_dir, run.environment, log=log)

    def _record(self, run: Run, outcome: runs.Outcome) -> None:
        """What the environment is now and what the forge is told come first: once the store
        says the run finished, everything it did can be seen."""
        if run.kind is RunKind.DEPLOY and run.commit is not None:
            self.store.set_handled(run.environment, run.commit)
            held = (outcome.report or {}).get("pinned") is not None  # a pin kept it where it was
            if outcome.status is RunStatus.SUCCESS and not held:
                version = (outcome.report or {}).get("version")
                self.environments.deployed(
                    run.environment, run.commit, version if isinstance(version, int) else None
                )
            else:
                self.environments.refresh(run.environment)
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
            comment=outcome.comment,
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
            run.environment
            if run.kind is RunKind.DEPLOY and run.environment in self.environments.bound
            else PULL_REQUESTS
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

    def sync(self, environment: str) -> Run:
        """Deploy the branch's head now, even when it failed before."""
        branch = self.environments.require_bound(environment)
        with self._polling:
            head = self._fetch().get(branch)
        if head is None:
            raise StateError(f"branch {branch!r} of {environment!r} does not exist in the repository")
        run = self.store.enqueue(RunKind.DEPLOY, environment, head, trigger="sync", branch=branch)
        self.dispatch()
        return run
