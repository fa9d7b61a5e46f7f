"""What the browser tests and `make screenshots` stand on: Debian's headless Chromium driven by
Playwright, and a live controller (tests/server/gitops.py: a real uvicorn on 127.0.0.1) with a
short story behind it, so every page has something true to show.

The story: main's first commit ("the project") deployed to staging, released to prod, then a
second commit on main ("Count every order ten times") deployed to staging. So staging is at
version 2 and prod at version 1, both synced, each at a different commit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.ci.repos import git
from tests.server.gitops import (
    SECRETS,
    TIMES_TEN,
    Served,
    World,
    exported,
    finished,
    make_world,
    push_payload,
)
from tidegate.server.controller import Controller

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path(os.environ.get("TIDEGATE_CHROMIUM", "/usr/bin/chromium"))
"""Debian's `chromium` (`make chromium` installs it); Playwright's own browser download cannot
work here, so Playwright is pointed at this executable."""

SECOND_MESSAGE = "Count every order ten times"


def missing_browser() -> str | None:
    """Why no browser can be driven here (None when one can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (`make chromium` installs Debian's, as root with apt-get)"
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for as long as the block lasts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Story:
    """The live controller and what happened to it before any page was opened."""

    world: World
    served: Served
    first: str
    """The commit prod is at (version 1); staging's version 1."""
    second: str
    """The commit staging is at (version 2)."""

    @property
    def url(self) -> str:
        return self.served.url

    def merge(self, files: dict[str, str], message: str, branch: str = "main") -> str:
        """Push a commit to `branch` and announce it with a signed GitHub webhook, as a forge
        would; the commit (its deployment is queued, not awaited)."""
        sha = self.world.push(files, message, branch)
        status, answer = self.served.http.github("push", push_payload(branch, sha))
        assert status == 200, answer
        return sha

    def release(self) -> str:
        """Fast-forward production to main and announce it; the commit (not awaited)."""
        sha = self.world.release()
        status, answer = self.served.http.github("push", push_payload("production", sha))
        assert status == 200, answer
        return sha

    def deployed(self, environment: str, sha: str) -> None:
        """Wait until the deployment of `sha` to `environment` succeeded."""
        run = finished(self.served.http, environment, sha)
        assert run["status"] == "success", run

    def author(self, sha: str) -> str:
        return git(self.world.work, "log", "-1", "--format=%an", sha)


@contextmanager
def live_controller(root: Path) -> Iterator[Story]:
    """The controller served on a free port with the story above behind it, stopped after."""
    with exported(SECRETS):
        world = make_world(root)
        served = Served(lambda url: Controller(world.project, world.state, base_url=url))
        try:
            first = git(world.work, "rev-parse", "main")
            story = Story(world, served, first, first)
            story.deployed("staging", first)  # the controller's first pass deploys main
            story.deployed("prod", story.release())
            second = story.merge(TIMES_TEN, SECOND_MESSAGE)
            story.deployed("staging", second)
            yield Story(world, served, first, second)
        finally:
            served.stop()
