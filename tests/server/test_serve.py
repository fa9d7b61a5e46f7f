"""`tidegate serve` as installed, in subprocesses: `--once` and its exit codes, JSON log lines,
and a controller killed with SIGKILL in the middle of a deployment, then started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.ci.repos import git
from tests.cli.conftest import TIDEGATE, invoke, run_tidegate
from tests.server.gitops import BROKEN, SECRETS, SLOW_MODEL, Http, World, eventually, free_port, make_world

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def once(world: World) -> tuple[int, list[dict]]:
    ran = run_tidegate(
        "serve", "--once", "--log-format", "json", "--project", str(world.project), cwd=world.root
    )
    lines = [json.loads(line) for line in ran.stderr.splitlines() if line.startswith("{")]
    return ran.code, lines


def test_once_deploys_what_moved_and_exits_0_then_1_when_a_deployment_fails(tmp_path: Path) -> None:
    world = make_world(tmp_path)

    code, lines = once(world)

    assert code == 0, lines
    assert any(
        line["message"].startswith("deploy success") and line["environment"] == "staging" for line in lines
    )
    head = git(world.work, "rev-parse", "main")
    assert [v["git_commit"] for v in invoke(world.project, "history", "staging", "--json").json()] == [head]
    world.push(BROKEN, "reads a column that does not exist")
    assert once(world)[0] == 1
    assert [v["git_commit"] for v in invoke(world.project, "history", "staging", "--json").json()] == [head]


def test_once_exits_2_on_bad_configuration(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "tidegate.yml").write_text("name: x\nenvironments: {prod: {engine: duckdb}}\n")

    ran = run_tidegate("serve", "--once", "--project", str(project), cwd=tmp_path)

    assert ran.code == 2, ran.all
    assert "no repository to watch" in ran.stderr


def serve(world: World, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(TIDEGATE),
            "serve",
            "--port",
            str(port),
            "--project",
            str(world.project),
            "--log-format",
            "json",
        ],
        cwd=world.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **SECRETS},
    )


def test_a_controller_killed_during_a_deployment_completes_it_after_a_restart(tmp_path: Path) -> None:
    world = make_world(tmp_path, poll="1s")
    port = free_port()
    http = Http(f"http://127.0.0.1:{port}")
    first = serve(world, port)
    try:
        eventually(lambda: _staging(http, "synced"), what="staging deployed")
        slow = world.push(SLOW_MODEL, "a model that takes seconds")
        eventually(
            lambda: any(r["commit"] == slow and r["status"] == "running" for r in http.runs("staging")),
            what="the slow deployment to start",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
        first.wait()

    history = invoke(world.project, "history", "staging", "--json").json()
    assert [version["version"] for version in history] == [1]

    second = serve(world, port)
    try:
        eventually(lambda: _staging(http, "synced", slow), what="the slow deployment to complete")
        runs = [(r["commit"], r["status"], r["trigger"]) for r in reversed(http.runs("staging"))]
        assert (slow, "interrupted", "poll") in runs and (slow, "success", "restart") in runs
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
    finally:
        second.kill()
        log = second.stderr.read() if second.stderr else ""
    assert "environment verified at its last version" in log
    assert [v["git_commit"] for v in invoke(world.project, "history", "staging", "--json").json()][-1] == slow


def _staging(http: Http, state: str, commit: str | None = None) -> bool:
    try:
        staging = http.environment("staging")
    except OSError:
        return False
    return staging["state"] == state and (commit is None or staging["commit"] == commit)
