"""`tidegate serve`'s controller behind a real uvicorn on 127.0.0.1, one per module: pushes to
main reach staging, signed webhooks only, each delivery once, the API's tokens, failed
deployments left alone, pull requests checked with one comment, metrics. The warehouse is
DuckDB in the project directory; the forge is the local fake forge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import LAYERED
from tests.server.forge_server import TOKEN as FORGE_TOKEN
from tests.server.forge_server import TOKEN_VARIABLE, FakeForge
from tests.server.gitops import (
    BROKEN,
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
    pull_request_payload,
    push_payload,
)
from tidegate import __version__
from tidegate.context import Context
from tidegate.server.controller import Controller
from tidegate.state.views import record_view


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, forge: FakeForge) -> Iterator[tuple[World, Served]]:
    """main deployed to staging by the controller's first pass."""
    with exported({**SECRETS, TOKEN_VARIABLE: FORGE_TOKEN}):
        world = make_world(
            tmp_path_factory.mktemp("controller"),
            extra=forge_config("github", forge.repo, forge.github_url, TOKEN_VARIABLE),
        )
        served = Served(lambda url: Controller(world.project, world.state, base_url=url))
        try:
            main = world.push({"README.md": "shop\n"}, "a readme")
            deploy(served.http, main)
            yield world, served
        finally:
            served.stop()


def deploy(http: Http, sha: str) -> dict:
    """Say main moved to `sha` (a signed push webhook) and wait for staging's run of it."""
    status, answer = http.github("push", push_payload("main", sha))
    assert status == 200, answer
    return finished(http, "staging", sha)


def test_a_push_to_main_brings_staging_to_the_new_commit(
    served: tuple[World, Served], forge: FakeForge
) -> None:
    world, server = served
    sha = world.push(TIMES_TEN, "count orders ten times")

    run = deploy(server.http, sha)

    assert run["status"] == "success", run
    staging = server.http.environment("staging")
    assert (staging["commit"], staging["state"], staging["branch"]) == (sha, "synced", "main")
    assert invoke(world.project, "query", "staging", "select n from order_count", "--json").json()[
        "rows"
    ] == [[40]]
    statuses = [(s.context, s.state, s.target_url) for s in forge.statuses(sha)]
    link = f"{server.url}/api/runs/{run['id']}"
    assert statuses == [
        ("tidegate/deploy/staging", "pending", link),
        ("tidegate/deploy/staging", "success", link),
    ]
    status, detail = server.http.get(f"/api/runs/{run['id']}")
    assert status == 200 and detail["steps"][0]["name"] == "deploy" and sha[:10] in detail["log"]


def test_a_wrongly_signed_webhook_gets_401_and_runs_nothing(served: tuple[World, Served]) -> None:
    world, server = served
    before = server.http.environment("staging")
    runs = server.http.runs("staging")
    sha = world.push({"README.md": "unsigned\n"}, "not announced properly")

    wrong = server.http.github("push", push_payload("main", sha), secret="guessed")
    unsigned = server.http.request("POST", "/hooks/github", b"{}", {"x-github-event": "push"})

    too_big = server.http.request(  # refused on its declared length, before it is read
        "POST", "/hooks/github", b"{}", {"x-github-event": "push", "Content-Length": str(5 * 1024 * 1024 + 1)}
    )

    assert wrong[0] == 401 and unsigned[0] == 401 and too_big[0] == 413
    assert server.http.runs("staging") == runs
    assert server.http.environment("staging")["commit"] == before["commit"]


def test_a_delivery_seen_before_is_not_run_twice(served: tuple[World, Served]) -> None:
    world, server = served
    sha = world.push({"README.md": "delivered once\n"}, "one delivery")
    status, _ = server.http.github("push", push_payload("main", sha), delivery="delivery-1")
    assert status == 200
    finished(server.http, "staging", sha)

    status, answer = server.http.github("push", push_payload("main", sha), delivery="delivery-1")

    assert status == 200 and answer["accepted"] is False
    assert [r["commit"] for r in server.http.runs("staging")].count(sha) == 1


def test_writes_to_the_api_need_its_token(served: tuple[World, Served]) -> None:
    _, server = served
    runs = server.http.runs("staging")

    refused = [
        server.http.post("/api/environments/staging/sync")[0],
        server.http.post("/api/environments/staging/sync", token="wrong")[0],
        server.http.post("/api/environments/staging/unpin", token=TOKEN[:-1])[0],
        server.http.request(
            "POST", "/api/environments/staging/sync", headers={"authorization": f"Basic {TOKEN}"}
        )[0],
    ]

    assert refused == [401, 401, 401, 401]
    assert server.http.runs("staging") == runs
    status, answer = server.http.post("/api/environments/staging/sync", token=TOKEN)
    assert status == 200 and answer["run"]["trigger"] == "sync"
    finished(server.http, "staging", answer["run"]["commit"])
    assert server.http.get("/api/health") == (200, {"status": "ok", "version": __version__})


def test_a_failed_deployment_leaves_staging_as_it_was_and_is_not_retried(
    served: tuple[World, Served],
) -> None:
    world, server = served
    before = server.http.environment("staging")
    sha = world.push(BROKEN, "reads a column that does not exist")

    run = deploy(server.http, sha)
    again = server.http.github("push", push_payload("main", sha))
    server.controller.poll()

    assert run["status"] == "failed" and "no_such_column" in run["error"]
    staging = server.http.environment("staging")
    assert (staging["commit"], staging["version"], staging["state"]) == (
        before["commit"],
        before["version"],
        "failed",
    )
    assert again[0] == 200 and again[1]["runs"] == []
    assert [r["commit"] for r in server.http.runs("staging")].count(sha) == 1
    fixed = world.push(TIMES_TEN, "count orders ten times again")
    assert deploy(server.http, fixed)["status"] == "success"


def test_a_pull_request_gets_its_ci_status_and_one_comment_edited_in_place(
    served: tuple[World, Served], forge: FakeForge
) -> None:
    world, server = served
    orders = LAYERED["seeds/raw_orders.csv"]
    first = world.push({"seeds/raw_orders.csv": orders + "5,3,9,paid\n"}, "one more order", "feature")
    status, _ = server.http.github("pull_request", pull_request_payload("opened", 7, first, "feature"))
    assert status == 200
    opened = finished(server.http, "pr_7", first)
    assert opened["status"] == "success", server.http.get(f"/api/runs/{opened['id']}")[1]["steps"]
    second = world.push({"seeds/raw_orders.csv": orders + "5,3,9,paid\n6,1,4,paid\n"}, "two more", "feature")
    server.http.github("pull_request", pull_request_payload("synchronize", 7, second, "feature"))
    run = finished(server.http, "pr_7", second)

    assert run["status"] == "success"
    assert [(s.context, s.state) for s in forge.statuses(second)] == [
        ("tidegate/ci", "pending"),
        ("tidegate/ci", "success"),
    ]
    comments = forge.comments(7)
    assert len(comments) == 1 and second[:7] in comments[0].body
    server.http.github("pull_request", pull_request_payload("closed", 7, second, "feature"))
    teardown = eventually(
        lambda: [r for r in server.http.runs("pr_7") if r["kind"] == "teardown" and r["status"] == "success"]
    )
    assert teardown


def test_metrics_count_runs_deliveries_and_the_queue(served: tuple[World, Served]) -> None:
    _, server = served
    server.http.github("push", push_payload("main", "0" * 39 + "2"), secret="wrong")
    server.controller.environments.check_drift()

    status, text = server.http.get("/metrics")

    assert status == 200
    assert 'tidegate_runs_total{environment="staging",kind="deploy",result="success"}' in text
    assert 'tidegate_webhook_deliveries_total{forge="github",result="rejected"}' in text
    assert "tidegate_queue_depth 0.0" in text
    assert 'tidegate_run_duration_seconds_bucket{kind="deploy",le="+Inf"}' in text
    assert 'tidegate_drift_objects{environment="staging"} 0.0' in text


def test_a_view_dropped_by_hand_shows_as_drift(served: tuple[World, Served]) -> None:
    world, server = served
    with Context(world.project) as ctx:
        record = ctx.current("staging").models["order_count"]
        view = record_view(ctx.engine("staging"), "staging", record)
        ctx.engine("staging").execute(f"DROP VIEW {view}")

    server.controller.environments.check_drift()

    status, answer = server.http.get("/api/drift")
    assert status == 200
    assert [(d["environment"], d["object"]) for d in answer["drift"]] == [("staging", view.replace('"', ""))]
    assert server.http.environment("staging")["state"] == "drifted"
    assert 'tidegate_drift_objects{environment="staging"} 1.0' in server.http.get("/metrics")[1]


def test_project_directory_is_left_alone(served: tuple[World, Served]) -> None:
    world, _ = served
    from tests.ci.repos import git

    assert git(world.project, "status", "--porcelain", "--untracked-files=no") == "M tidegate.yml"
    assert Path(world.state / "repository" / ".git").is_dir()
