"""The dashboard in a real browser (headless Chromium) against a live controller: what the
environments page shows, a rollback made by clicking through it, the live log of a running
deployment, and form POSTs refused without the token or the CSRF field.

The scenarios share one controller (tests/browser/live.py tells its story) and run in the order
written: reading first, then the refusals (which change nothing), the rollback (which pins
staging) and last the slow deployment (which moves staging past the pin)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import Tab
from tests.browser.live import SECOND_MESSAGE, Story
from tests.server.gitops import SLOW_MODEL, eventually, finished

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

NAVIGATION = ["/", "/runs", "/pulls", "/models", "/drift"]


def test_the_environments_page_shows_each_environment_at_its_commit_with_its_state(
    tab: Tab, story: Story
) -> None:
    page = tab.page
    page.goto("/")

    rows = page.locator("table#environments tr[data-environment]")
    assert sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.environment)")) == [
        "prod",
        "staging",
    ]
    expected = {
        "staging": ("main", story.second, SECOND_MESSAGE, 2),
        "prod": ("production", story.first, "the project", 1),
    }
    for environment, (branch, sha, message, version) in expected.items():
        row = page.locator(f'tr[data-environment="{environment}"]')
        assert row.locator(".branch").inner_text().strip() == branch
        assert sha[:10] in row.locator(".commit").inner_text()
        assert row.locator(".message").inner_text().strip() == message
        assert row.locator(".author").inner_text().strip() == story.author(sha)
        assert re.fullmatch(rf"v?{version}", row.locator(".version").inner_text().strip())
        assert row.locator(".state span.badge.synced").inner_text().strip() == "synced"
        assert row.locator(".last-run").inner_text().strip()
        assert row.locator(f'a[href="/environments/{environment}"]').count() == 1
    assert tab.errors == []


def test_every_main_page_has_a_title_the_navigation_and_no_console_error(tab: Tab, story: Story) -> None:
    run = story.served.http.runs("staging")[0]["id"]
    pages = [
        "/",
        "/environments/staging",
        "/environments/staging?from=1&to=2",
        "/runs",
        f"/runs/{run}",
        "/pulls",
        "/models",
        "/models/order_count?env=staging",
        "/drift",
    ]
    for path in pages:
        response = tab.page.goto(path)
        assert response is not None and response.status == 200, path
        assert tab.page.locator("h1").count() == 1, path
        links = tab.page.locator("header nav a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        assert links == NAVIGATION, path
        assert tab.errors == [], path


def test_a_form_post_without_the_token_or_without_the_csrf_field_is_refused_and_changes_nothing(
    tab: Tab, story: Story
) -> None:
    http = story.served.http
    before = (http.environment("staging"), http.get("/api/environments/staging/history"))
    page = tab.page
    rollback = "form#rollback"

    anonymous = page.request.post(
        f"{story.url}/environments/staging/rollback", form={"version": "1", "csrf": "x"}, max_redirects=0
    )
    assert anonymous.status == 401

    tab.login(then="/environments/staging")
    for forge_csrf in (
        f"document.querySelector('{rollback} input[name=csrf]').remove()",
        f"document.querySelector('{rollback} input[name=csrf]').value = 'forged'",
    ):
        page.goto("/environments/staging")
        choose_version(page, "1")
        page.evaluate(forge_csrf)
        with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
            page.click(f"{rollback} button[type=submit]")
        assert posted.value.status == 403, forge_csrf

    assert (http.environment("staging"), http.get("/api/environments/staging/history")) == before


def test_a_rollback_through_the_dashboard_changes_the_environment_and_shows_in_its_history(
    tab: Tab, story: Story
) -> None:
    page = tab.page
    tab.login(then="/environments/staging")

    choose_version(page, "1")
    with page.expect_navigation():
        page.click("form#rollback button[type=submit]")

    assert page.url.endswith("/environments/staging")
    rolled_back = page.locator('table#history tr[data-version="3"]')
    assert "rollback" in rolled_back.locator(".action").inner_text().lower()
    assert story.first[:10] in rolled_back.locator(".commit").inner_text()
    assert page.locator("#pin").is_visible()
    staging = story.served.http.environment("staging")
    assert (staging["commit"], staging["version"], staging["state"]) == (story.first, 3, "pinned")

    page.goto("/")
    row = page.locator('tr[data-environment="staging"]')
    assert story.first[:10] in row.locator(".commit").inner_text()
    assert row.locator(".state span.badge.pinned").inner_text().strip() == "pinned"
    assert tab.errors == []


def test_the_log_of_a_running_deployment_grows_on_its_page_until_it_ends(tab: Tab, story: Story) -> None:
    http = story.served.http
    slow = story.merge(SLOW_MODEL, "A model that takes seconds to build")
    running = eventually(
        lambda: [r["id"] for r in http.runs("staging") if r["commit"] == slow and r["status"] == "running"],
        what="the slow deployment to start",
    )[0]
    page = tab.page
    page.goto(f"/runs/{running}")
    assert page.locator("#status span.badge.running").count() == 1
    shown = page.locator("pre#log span.line").count()

    page.wait_for_function(f"document.querySelectorAll('pre#log span.line').length > {shown}")
    run = finished(http, "staging", slow)
    assert run["status"] == "success", run
    stored = [
        line.rstrip() for line in http.get(f"/api/runs/{running}")[1]["log"].splitlines() if line.strip()
    ]
    page.wait_for_function(f"document.querySelectorAll('pre#log span.line').length >= {len(stored)}")
    assert lines(page) == stored  # the whole log, each line once, without reloading the page
    page.wait_for_selector("#status span.badge.success")  # the stream's end gives the final status
    assert tab.errors == []


def choose_version(page: Page, version: str) -> None:
    """Pick `version` in the rollback form, a select or a text field."""
    field = page.locator("form#rollback [name=version]")
    if field.evaluate("element => element.tagName") == "SELECT":
        field.select_option(version)
    else:
        field.fill(version)


def lines(page: Page) -> list[str]:
    """The log lines the page shows, blank ones left out."""
    shown = page.locator("pre#log span.line").all_inner_texts()
    return [line.rstrip() for line in shown if line.strip()]
