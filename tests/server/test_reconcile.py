"""The reconcile loop without HTTP: one queue per environment where a newer commit replaces a
queued one, rollbacks that pin until unpinned, and a PostgreSQL warehouse followed like DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines.conftest import postgres_database  # noqa: F401  (a fixture)
from tests.server.gitops import SECRETS, TIMES_TEN, World, make_world, postgres_config
from tidegate.server.controller import Controller
from tidegate.server.store import RunKind, RunStatus
from tidegate.state.views import record_view


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[tuple[World, Controller]]:
    """main deployed to staging by a first pass."""
    world = make_world(tmp_path)
    controller = Controller(world.project, world.state)
    controller.poll()
    controller.wait()
    yield world, controller
    controller.stop()


def staging(controller: Controller) -> dict[str, Any]:
    return next(e for e in controller.environments.listed() if e["name"] == "staging")


def deployments(controller: Controller, environment: str) -> list[tuple[str | None, RunStatus]]:
    return [
        (run.commit, run.status)
        for run in reversed(controller.store.runs(environment))
        if run.kind is RunKind.DEPLOY
    ]


def test_a_newer_commit_replaces_the_one_queued_before_it(controller: tuple[Path, Controller]) -> None:
    world, ctl = controller
    first_deploy = deployments(ctl, "staging")

    with ctl.lanes.holding("staging"):  # staging is busy: what moves main now waits in its queue
        older = world.push({"README.md": "one\n"}, "one")
        ctl.poll()
        newer = world.push(TIMES_TEN, "two")
        ctl.poll()
        queued = [(run.environment, run.commit) for run in ctl.store.queued()]
    ctl.wait()

    assert queued == [("staging", newer)]
    assert deployments(ctl, "staging") == [*first_deploy, (newer, RunStatus.SUCCESS)]
    assert older not in [commit for commit, _ in deployments(ctl, "staging")]
    assert staging(ctl)["commit"] == newer


def test_a_rollback_pins_staging_until_it_is_unpinned(controller: tuple[Path, Controller]) -> None:
    world, ctl = controller
    first = staging(ctl)["commit"]
    second = world.push(TIMES_TEN, "ten times")
    ctl.poll()
    ctl.wait()

    rolled = ctl.environments.rollback("staging", None)
    ctl.poll()
    ctl.wait()

    assert rolled["version"] == 3 and rolled["pin"]["commit"] == second
    assert (staging(ctl)["commit"], staging(ctl)["state"]) == (first, "pinned")
    assert [commit for commit, _ in deployments(ctl, "staging")].count(second) == 1

    assert ctl.environments.unpin("staging")["unpinned"] is True
    ctl.poll()
    ctl.wait()
    assert (staging(ctl)["commit"], staging(ctl)["state"]) == (second, "synced")


def test_self_heal_restores_a_view_dropped_by_hand(tmp_path: Path) -> None:
    world = make_world(tmp_path, extra="  drift: {interval: 1h, self_heal: true}\n")
    controller = Controller(world.project, world.state)
    try:
        controller.poll()
        controller.wait()
        with controller.environments.context() as ctx:
            record = ctx.current("staging").models["order_count"]
            view = record_view(ctx.engine("staging"), "staging", record)
            ctx.engine("staging").execute(f"DROP VIEW {view}")

        drifted = controller.environments.check_drift()

        assert drifted is False
        assert [(d["object"], d["healed"]) for d in controller.environments.drift()] == [
            (view.replace('"', ""), True)
        ]
        assert staging(controller)["state"] == "synced"
        with controller.environments.context() as ctx:
            assert ctx.query("staging", "select n from order_count").rows == [(4,)]
        controller.environments.check_drift()
        assert controller.environments.drift() == []
    finally:
        controller.stop()


def test_a_postgresql_environment_follows_its_branch(
    tmp_path: Path,
    postgres_database: str,  # noqa: F811
) -> None:
    world = make_world(tmp_path, config=postgres_config(postgres_database))
    controller = Controller(world.project, world.state)
    try:
        controller.poll()
        controller.wait()
        sha = world.push(TIMES_TEN, "ten times")
        controller.poll()
        controller.wait()

        now = staging(controller)
        assert (now["commit"], now["state"], now["version"]) == (sha, "synced", 2)
        with controller.environments.context() as ctx:
            assert ctx.query("staging", "select n from order_count").rows == [(40,)]
    finally:
        controller.stop()
