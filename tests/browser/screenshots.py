"""`make screenshots`: PNGs of the dashboard's main pages, taken in headless Chromium from a live
controller, for the README (`python -m tests.browser.screenshots [DIR]`, default docs/screenshots).

The controller gets the browser tests' story (tests/browser/live.py) and a little more, so each
page shows something: the sales dashboard merged and deployed to staging, pull request 7 with
its CI run, and a view of prod dropped by hand (drift)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser.live import Story, chromium, live_controller, missing_browser
from tests.ci.repos import DASHBOARD
from tests.conftest import LAYERED
from tests.server.gitops import TOKEN, finished, pull_request_payload
from tidegate.context import Context
from tidegate.state.views import record_view

if TYPE_CHECKING:
    from playwright.sync_api import Browser

MORE_ORDERS = {"seeds/raw_orders.csv": LAYERED["seeds/raw_orders.csv"] + "5,3,9,paid\n6,2,12,paid\n"}


def main(out: Path) -> int:
    reason = missing_browser()
    if reason is not None:
        print(f"no screenshots: {reason}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as root, live_controller(Path(root)) as story, chromium() as browser:
        pages = more_story(story)
        shoot(browser, story.url, pages, out)
    for name in pages:
        print(out / f"{name}.png")
    return 0


def more_story(story: Story) -> dict[str, str]:
    """Add the dashboard, a pull request and drift to the story; the pages to shoot, by name."""
    http = story.served.http
    dashboard = story.merge(DASHBOARD, "Add the sales dashboard")
    story.deployed("staging", dashboard)
    head = story.world.push(MORE_ORDERS, "Two more orders in the seed", "feature")
    status, answer = http.github("pull_request", pull_request_payload("opened", 7, head, "feature"))
    assert status == 200, answer
    ci = finished(http, "pr_7", head)
    drop_view(story, "prod", "big_customers")
    return {
        "environments": "/",
        "environment": "/environments/staging?from=1&to=2",
        "runs": "/runs",
        "run": f"/runs/{ci['id']}",
        "pulls": "/pulls",
        "model": "/models/customer_totals?env=staging",
        "drift": "/drift",
    }


def drop_view(story: Story, environment: str, model: str) -> None:
    """Drop a model's view by hand, as someone in the warehouse might (the controller is idle)."""
    with Context(story.world.project) as ctx:
        engine = ctx.engine(environment)
        engine.execute(
            f"DROP VIEW {record_view(engine, environment, ctx.current(environment).models[model])}"
        )


def shoot(browser: Browser, url: str, pages: dict[str, str], out: Path) -> None:
    """Each page, logged in (so its forms show), as a full-page PNG."""
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/login?next=/")
    page.fill("form#login input[name=token]", TOKEN)
    with page.expect_navigation():
        page.click("form#login [type=submit]")
    for name, path in pages.items():
        page.goto(path)
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    context.close()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
