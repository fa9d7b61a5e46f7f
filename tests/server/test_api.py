"""The controller's JSON API and GitLab webhooks over real HTTP, behind a real uvicorn: reads
that need the read token, a rollback that pins prod until the next merge, unpin, history, runs,
and a break-glass change reported out of sync until Git catches up. staging follows main and
prod follows production; the warehouse is DuckDB in the project directory and the forge is the
local fake GitLab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ci.repos import git
from tests.cli.conftest import invoke
from tests.conftest import write_files
from tests.server.forge_server import TOKEN as FORGE_TOKEN
from tests.server.forge_server import TOKEN_VARIABLE, FakeForge
from tests.server.gitops import (
    READ_TOKEN,
    SECRETS,
    TIMES_TEN,
    TOKEN,
    Http,
    Served,
    World,
    eventually,
    exported,
    finished,
    forge_config,
    make_world,
)
from tidegate.server.controller import Controller


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, forge: FakeForge) -> Iterator[tuple[World, Served]]:
    """main deployed to staging and released to prod, reads guarded by the read token."""
    with exported({**SECRETS, TOKEN_VARIABLE: FORGE_TOKEN}):
        world = make_world(
            tmp_path_factory.mktemp("api"),
            extra="  read_token: ${TG_CTL_READ}\n"
            + forge_config("gitlab", forge.repo, forge.gitlab_url, TOKEN_VARIABLE),
        )
        served = Served(lambda url: Controller(world.project, world.state, base_url=url))
        served.http.reader = READ_TOKEN
        try:
            eventually(lambda: served.http.environment("staging")["state"] == "synced", what="staging")
            release(world, served.http)
            yield world, served
        finally:
            served.stop()


SEVEN_TIMES = {"models/order_count.sql": "select count(*) * 7 as n from {{ ref('stg_orders') }}"}


def gitlab_push(branch: str, sha: str) -> dict:
    return {"object_kind": "push", "ref": f"refs/heads/{branch}", "before": "0" * 40, "after": sha}


def merge(world: World, http: Http, files: dict[str, str], message: str) -> str:
    """Push a commit to main, announce it (a signed GitLab push) and wait for staging's run."""
    sha = world.push(files, message)
    status, answer = http.gitlab("Push Hook", gitlab_push("main", sha))
    assert status == 200, answer
    assert finished(http, "staging", sha)["status"] == "success"
    return sha


def release(world: World, http: Http) -> str:
    """Fast-forward production to main, announce it and wait for prod's run."""
    sha = world.release()
    status, answer = http.gitlab("Push Hook", gitlab_push("production", sha))
    assert status == 200, answer
    assert finished(http, "prod", sha)["status"] == "success"
    return sha


def order_count(world: World, environment: str) -> int:
    answer = invoke(world.project, "query", environment, "select n from order_count", "--json")
    return int(answer.json()["rows"][0][0])


def test_a_signed_gitlab_push_deploys_and_a_wrong_token_changes_nothing(
    served: tuple[World, Served], forge: FakeForge
) -> None:
    world, server = served
    before = server.http.environment("staging")
    runs = server.http.runs("staging")
    sha = world.push({"README.md": "from gitlab\n"}, "announced by gitlab")

    wrong = server.http.gitlab("Push Hook", gitlab_push("main", sha), token="guessed")
    missing = server.http.request("POST", "/hooks/gitlab", b"{}", {"x-gitlab-event": "Push Hook"})

    assert (wrong[0], missing[0]) == (401, 401)
    assert server.http.runs("staging") == runs
    assert server.http.environment("staging")["commit"] == before["commit"]
    status, answer = server.http.gitlab("Push Hook", gitlab_push("main", sha))
    assert status == 200 and [run["commit"] for run in answer["runs"]] == [sha]
    run = finished(server.http, "staging", sha)
    assert run["status"] == "success"
    assert server.http.environment("staging")["commit"] == sha
    assert [(s.context, s.state) for s in forge.statuses(sha)] == [
        ("tidegate/deploy/staging", "pending"),
        ("tidegate/deploy/staging", "success"),
    ]


def test_reads_need_the_read_token_or_the_api_token(served: tuple[World, Served]) -> None:
    _, server = served
    reads = [
        "/api/health",
        "/api/environments",
        "/api/environments/prod/history",
        "/api/runs",
        "/api/drift",
        "/metrics",
    ]

    refused = {path: server.http.request("GET", path)[0] for path in reads}
    wrong = {path: server.http.get(path, token="guessed")[0] for path in reads}
    with_read = {path: server.http.get(path, token=READ_TOKEN)[0] for path in reads}
    with_api = {path: server.http.get(path, token=TOKEN)[0] for path in reads}

    assert set(refused.values()) == {401} and set(wrong.values()) == {401}
    assert set(with_read.values()) == {200} and set(with_api.values()) == {200}
    runs = server.http.runs("staging")
    assert server.http.post("/api/environments/staging/sync", token=READ_TOKEN)[0] == 401
    assert server.http.runs("staging") == runs


def test_a_rollback_pins_prod_until_the_next_merge(served: tuple[World, Served]) -> None:
    world, server = served
    release(world, server.http)
    previous, counted = server.http.environment("prod"), order_count(world, "prod")
    merge(world, server.http, TIMES_TEN, "count orders ten times")
    head = release(world, server.http)
    assert order_count(world, "prod") == 40

    status, rolled = server.http.post(
        "/api/environments/prod/rollback", {"version": previous["version"]}, token=TOKEN
    )

    assert status == 200, rolled
    assert rolled["pin"]["commit"] == head and rolled["pin"]["version"] == rolled["version"]
    prod = server.http.environment("prod")
    assert (prod["state"], prod["version"]) == ("pinned", rolled["version"])
    assert order_count(world, "prod") == counted
    again = server.http.gitlab("Push Hook", gitlab_push("production", head))  # the same head: left alone
    server.controller.poll()
    server.controller.wait()
    assert again[1]["runs"] == [] and server.http.environment("prod")["state"] == "pinned"
    history = server.http.get("/api/environments/prod/history")[1]["history"]
    assert [v["action"] for v in history][-2:] == ["deploy", "rollback"]

    merge(world, server.http, {"README.md": "after the rollback\n"}, "the next merge")
    released = release(world, server.http)

    prod = server.http.environment("prod")
    assert (prod["state"], prod["commit"], prod["pin"]) == ("synced", released, None)
    assert order_count(world, "prod") == 40


def test_unpin_lets_staging_follow_main_again(served: tuple[World, Served]) -> None:
    world, server = served
    before = server.http.environment("staging")
    head = merge(world, server.http, SEVEN_TIMES, "a change rolled back")
    server.http.post("/api/environments/staging/rollback", {"version": before["version"]}, token=TOKEN)
    assert server.http.environment("staging")["state"] == "pinned"

    refused = server.http.post("/api/environments/staging/unpin")
    status, answer = server.http.post("/api/environments/staging/unpin", token=TOKEN)

    assert refused[0] == 401
    assert (status, answer) == (200, {"environment": "staging", "unpinned": True})
    eventually(
        lambda: (s := server.http.environment("staging"))["state"] == "synced" and s["commit"] == head,
        what="staging back at main's head",
    )
    assert server.http.post("/api/environments/staging/unpin", token=TOKEN)[1]["unpinned"] is False
    assert server.http.post("/api/environments/dev/unpin", token=TOKEN)[0] == 404


def test_runs_are_listed_by_environment_and_shown_with_steps_log_and_report(
    served: tuple[World, Served],
) -> None:
    _, server = served
    staging = server.http.runs("staging")

    status, latest = server.http.get("/api/runs?env=staging&limit=1")
    _, everything = server.http.get("/api/runs?limit=1000")
    status_one, run = server.http.get(f"/api/runs/{staging[0]['id']}")

    assert status == 200 and latest["runs"] == staging[:1]
    assert {r["environment"] for r in everything["runs"]} == {"staging", "prod"}
    assert len(everything["runs"]) == len(staging) + len(server.http.runs("prod"))
    assert status_one == 200 and run["kind"] == "deploy" and "log" not in staging[0]
    assert [step["name"] for step in run["steps"]] == ["deploy"]
    assert staging[0]["commit"][:10] in run["log"]
    assert run["report"]["environment"] == "staging" and run["report"]["commit"] == staging[0]["commit"]
    assert server.http.get("/api/runs/999999")[0] == 404
    assert server.http.get("/api/runs?limit=many")[0] == 400


def test_a_break_glass_promote_is_out_of_sync_until_git_catches_up(served: tuple[World, Served]) -> None:
    world, server = served
    hotfix = {"models/order_count.sql": "select count(*) * 100 as n from {{ ref('stg_orders') }}\n"}
    write_files(world.project, hotfix)
    try:
        assert invoke(world.project, "plan", "dev", "--auto-apply").code == 0
        promoted = invoke(world.project, "promote", "dev", "staging", "--break-glass", "hotfix for the board")
    finally:
        git(world.project, "checkout", "-q", "--", "models/order_count.sql")

    assert promoted.code == 0, promoted.all
    staging = server.http.environment("staging")
    assert (staging["state"], staging["break_glass"]) == ("out_of_sync", "hotfix for the board")
    history = server.http.get("/api/environments/staging/history")[1]["history"]
    assert (history[-1]["action"], history[-1]["break_glass"]) == ("promote", "hotfix for the board")

    head = merge(world, server.http, hotfix, "the hotfix, merged")  # Git catches up: nothing to build

    staging = server.http.environment("staging")
    assert (staging["state"], staging["commit"], staging["break_glass"]) == ("synced", head, None)
    assert staging["version"] == history[-1]["version"] and order_count(world, "staging") == 400
