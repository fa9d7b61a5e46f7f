"""The dashboard's runs and pull requests behind a real uvicorn, read over real HTTP: the list of
runs page by page, a pull request's run with its steps, log and CI report rendered from the
comment's Markdown, the open pull requests with their expiry, and the live log of a slow
deployment as server-sent events. staging follows main; the warehouse is DuckDB."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from tests.conftest import LAYERED
from tests.server.gitops import (
    SECRETS,
    SLOW_MODEL,
    Served,
    World,
    eventually,
    exported,
    finished,
    make_world,
    pull_request_payload,
    push_payload,
)
from tidegate.server.controller import Controller
from tidegate.server.store import RunKind, RunStatus

PAST_RUNS = 60
"""Runs an earlier process left in the store: more than one page of the list (50)."""


def with_history(controller: Controller) -> Controller:
    """The controller, with the finished deployments of dev a previous process recorded."""
    for _ in range(PAST_RUNS):
        run = controller.store.enqueue(RunKind.DEPLOY, "dev", "0" * 40, trigger="poll", branch="dev")
        controller.store.start(run.id)
        controller.store.finish(run.id, RunStatus.SUCCESS, steps=[], log="deployed")
    return controller


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Served]]:
    """main deployed to staging; pull request #7 open and checked, #8 checked then closed."""
    with exported(SECRETS):
        world = make_world(tmp_path_factory.mktemp("dashboard-runs"))
        served = Served(lambda url: with_history(Controller(world.project, world.state, base_url=url)))
        try:
            eventually(lambda: served.http.environment("staging")["state"] == "synced", what="staging")
            orders = LAYERED["seeds/raw_orders.csv"]
            for number in (7, 8):
                head = world.push(
                    {"seeds/raw_orders.csv": orders + f"{number},3,9,paid\n"}, "more", f"pr{number}"
                )
                served.http.github(
                    "pull_request", pull_request_payload("opened", number, head, f"pr{number}")
                )
                assert finished(served.http, f"pr_{number}", head)["status"] == "success"
            served.http.github("pull_request", pull_request_payload("closed", 8, head, "pr8"))
            eventually(
                lambda: [
                    r
                    for r in served.http.runs("pr_8")
                    if r["kind"] == "teardown" and r["status"] == "success"
                ]
            )
            yield world, served
        finally:
            served.stop()


def page(served: Served, path: str) -> str:
    status, body = served.http.get(path)
    assert status == 200, body
    assert isinstance(body, str)
    return body


def rows(html: str, attribute: str) -> dict[str, str]:
    """Each `<tr data-ATTRIBUTE="key">` of the page: its key and its HTML."""
    return dict(re.findall(rf'<tr {attribute}="([^"]*)">(.*?)</tr>', html, re.DOTALL))


def cell(row: str, name: str) -> str:
    """The text of the row's cell of class `name`."""
    found = re.search(rf'<td class="{name}">(.*?)</td>', row, re.DOTALL)
    assert found is not None, f"no cell .{name} in {row}"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def log_lines(html: str) -> list[str]:
    return [unescape(line) for line in re.findall(r'<span class="line">(.*?)</span>', html)]


def ci_run(served: Served, number: int) -> dict:
    return next(r for r in served.http.runs(f"pr_{number}") if r["kind"] == "ci")


def test_the_runs_are_listed_newest_first_fifty_a_page(served: tuple[World, Served]) -> None:
    _, server = served
    everything = [str(run["id"]) for run in server.http.get("/api/runs?limit=1000")[1]["runs"]]
    first, second = page(server, "/runs"), page(server, "/runs?page=2")

    assert list(rows(first, "data-run")) == everything[:50]
    assert list(rows(second, "data-run")) == everything[50:100]
    assert 'rel="next" href="/runs?page=2"' in first and 'rel="prev"' not in first
    assert 'rel="prev" href="/runs?page=1"' in second
    oldest = rows(second, "data-run")[everything[-1]]
    assert (cell(oldest, "kind"), cell(oldest, "environment"), cell(oldest, "status")) == (
        "deploy",
        "dev",
        "success",
    )
    assert cell(oldest, "commit") == "0" * 10
    assert 'class="badge success"' in oldest


def test_a_pull_requests_run_shows_its_steps_log_and_ci_report(served: tuple[World, Served]) -> None:
    _, server = served
    run = ci_run(server, 7)
    html = page(server, f"/runs/{run['id']}")

    steps = rows(html, "data-step")
    assert {"lint", "plan", "dags"} <= set(steps)
    assert all(cell(step, "status") in ("passed", "skipped") for step in steps.values())
    assert all(float(cell(step, "seconds")) >= 0 for step in steps.values())
    assert log_lines(html)[0].endswith(f"CI of pull request #7 at {run['commit'][:10]} against main")
    assert '<span class="badge success">success</span>' in html.split('id="status"')[1][:80]
    report = html.split('<div id="report"', 1)[1]
    assert "<h2>" in report and "tidegate CI passed for pull request #7" in report
    assert "<table>" in report and "<details" in report
    assert "|---|" not in report
    assert "live.js" not in html  # a finished run's page follows nothing


def test_the_open_pull_requests_show_their_ci_state_report_and_expiry(served: tuple[World, Served]) -> None:
    _, server = served
    html = page(server, "/pulls")

    listed = rows(html, "data-pull")
    assert list(listed) == ["7"]  # the closed #8 is not listed
    assert cell(listed["7"], "environment") == "pr_7"
    assert cell(listed["7"], "state") == "success"
    assert f'href="/runs/{ci_run(server, 7)["id"]}"' in listed["7"]
    expires = re.search(r'<td class="expires"><time datetime="([^"]+)"', listed["7"])
    assert expires is not None
    left = datetime.fromisoformat(expires.group(1)) - datetime.now(UTC)
    assert timedelta(days=2) < left <= timedelta(days=3)  # pull_requests.ttl: 3d after its version


def test_a_finished_runs_events_are_its_log_then_the_end(served: tuple[World, Served]) -> None:
    _, server = served
    run = server.http.get(f"/api/runs/{ci_run(server, 7)['id']}")[1]
    stored = run["log"].splitlines()

    assert events(server.url + f"/runs/{run['id']}/events") == [*stored, ("end", "success")]
    assert events(server.url + f"/runs/{run['id']}/events?from=2") == [*stored[2:], ("end", "success")]


def test_the_log_of_a_running_deployment_streams_line_by_line_then_ends(
    served: tuple[World, Served],
) -> None:
    world, server = served
    slow = world.push(SLOW_MODEL, "a model that takes seconds")
    server.http.github("push", push_payload("main", slow))
    running = eventually(
        lambda: next(
            (r for r in server.http.runs("staging") if r["commit"] == slow and r["status"] == "running"), None
        ),
        what="the slow deployment to start",
    )
    html = page(server, f"/runs/{running['id']}")
    assert f'data-events="/runs/{running["id"]}/events?from=' in html and "/static/live.js" in html
    assert any(f"deploying {slow[:10]} to staging" in line for line in log_lines(html))

    received: list[object] = []
    status_at_first_line = None
    with urllib.request.urlopen(server.url + f"/runs/{running['id']}/events", timeout=60) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for received_event in read_events(stream):
            if status_at_first_line is None:
                status_at_first_line = server.http.get(f"/api/runs/{running['id']}")[1]["status"]
            received.append(received_event)
            if isinstance(received_event, tuple):
                break

    done = server.http.get(f"/api/runs/{running['id']}")[1]
    assert status_at_first_line == "running"  # the first line came while the model was building
    assert received == [*done["log"].splitlines(), ("end", "success")]
    assert any(f"staging at {slow[:10]}" in str(line) for line in received)


def events(url: str) -> list[object]:
    """Every event of a stream that ends: data lines as strings, named events as (name, data)."""
    with urllib.request.urlopen(url, timeout=60) as stream:
        return list(read_events(stream))


def read_events(stream: object) -> Iterator[object]:
    """Server-sent events as they come (comments and `retry:` skipped)."""
    name, data = None, []
    for raw in stream:  # type: ignore[attr-defined]
        line = raw.decode().rstrip("\n")
        if line == "":
            if data:
                yield (name, "\n".join(data)) if name else "\n".join(data)
            name, data = None, []
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
