"""One headless Chromium and one live controller for the whole session (both take seconds to
start); each test gets its own browser context (no cookies shared between tests).

Without Playwright or Chromium the browser tests are skipped with the reason, unless
TIDEGATE_REQUIRE_BROWSER=1 (CI) makes that a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from tests.browser.live import Story, chromium, live_controller, missing_browser
from tests.server.gitops import TOKEN

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("TIDEGATE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser is required (TIDEGATE_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with live_controller(tmp_path_factory.mktemp("dashboard")) as told:
        yield told


@dataclass
class Tab:
    """A page in a fresh browser context, with what its console reported as errors (console
    errors and uncaught exceptions, on every page it showed)."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        """Keep an error the console shows, with the address it is about (a resource that
        failed to load is named only there)."""
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url') or self.page.url})")

    def login(self, token: str = TOKEN, then: str = "/") -> None:
        """Log in through the login form, which sends the browser on to `then`."""
        self.page.goto(f"/login?next={then}")
        self.page.fill("form#login input[name=token]", token)
        with self.page.expect_navigation():
            self.page.click("form#login [type=submit]")
        assert self.page.url.endswith(then), self.page.url


@pytest.fixture
def tab(browser: Browser, story: Story) -> Iterator[Tab]:
    context = browser.new_context(base_url=story.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    opened = Tab(page)
    page.on("console", opened.console)
    page.on("pageerror", lambda error: opened.errors.append(f"{error} (on {page.url})"))
    try:
        yield opened
    finally:
        context.close()
