"""The dashboard's environments, history, levers, drift and login, over real HTTP behind a real
uvicorn (no browser: the browser tests drive the same pages). staging follows main and prod
follows production on DuckDB; reads need the read token, so every page is read logged in."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from tests.ci.repos import git
from tests.cli.conftest import invoke
from tests.conftest import write_files
from tests.server.gitops import (
    READ_TOKEN,
    SECRETS,
    TIMES_TEN,
    TOKEN,
    Served,
    World,
    eventually,
    exported,
    finished,
    make_world,
    push_payload,
)
from tidegate.context import Context
from tidegate.server.controller import Controller
from tidegate.state.views import record_view


@dataclass
class Node:
    """An element of a page: enough of a DOM to find what the selectors of PLAN19 name."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join([*self.texts, *(child.text for child in self.children)]).split())

    def all(self, tag: str, **attrs: str) -> list[Node]:
        """Descendants with `tag` ("*": any) whose attributes hold `attrs` (`class_` is one class)."""
        found = []
        for child in self.children:
            classes = child.attrs.get("class", "").split()
            wanted = {key.rstrip("_"): value for key, value in attrs.items()}
            if (tag in ("*", child.tag)) and all(
                value in classes if key == "class" else child.attrs.get(key) == value
                for key, value in wanted.items()
            ):
                found.append(child)
            found.extend(child.all(tag, **attrs))
        return found

    def one(self, tag: str, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]


VOID = {"input", "meta", "link", "br", "img", "hr"}


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {key: value or "" for key, value in attrs})
        self.open[-1].children.append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_endtag(self, tag: str) -> None:
        while len(self.open) > 1 and self.open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.open[-1].texts.append(data)


def parsed(html: str) -> Node:
    parser = _Parser()
    parser.feed(html)
    return parser.root


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer to look at, not to follow


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: str

    @property
    def page(self) -> Node:
        return parsed(self.body)


class Visitor:
    """A browser without JavaScript: keeps the session cookie it is given."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookie: str | None = None
        self.opener = urllib.request.build_opener(_Stay)

    def request(self, method: str, path: str, fields: dict[str, str] | None = None) -> Answer:
        body = urllib.parse.urlencode(fields).encode() if fields is not None else None
        headers = {"content-type": "application/x-www-form-urlencoded"} if body is not None else {}
        if self.cookie:
            headers["cookie"] = self.cookie
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=60) as answer:
                status, message, raw = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, message, raw = error.code, error.headers, error.read()
        return Answer(status, dict(message.items()), message.get_all("set-cookie") or [], raw.decode())

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, fields: dict[str, str]) -> Answer:
        return self.request("POST", path, fields)

    def login(self, token: str) -> Answer:
        answer = self.post("/login", {"token": token, "next": "/"})
        if answer.cookies:
            self.cookie = answer.cookies[0].split(";")[0]
        return answer

    def csrf(self, path: str) -> str:
        return self.get(path).page.one("form", id="rollback").one("input", name="csrf").attrs["value"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Served]]:
    """main deployed to staging and released to prod, reads guarded by the read token."""
    with exported(SECRETS):
        world = make_world(tmp_path_factory.mktemp("pages"), extra="  read_token: ${TG_CTL_READ}\n")
        served = Served(lambda url: Controller(world.project, world.state, base_url=url))
        served.http.reader = READ_TOKEN
        try:
            eventually(lambda: served.http.environment("staging")["state"] == "synced", what="staging")
            head = world.release()
            assert served.http.github("push", push_payload("production", head))[0] == 200
            assert finished(served.http, "prod", head)["status"] == "success"
            yield world, served
        finally:
            served.stop()


def reader(server: Served) -> Visitor:
    visitor = Visitor(server.url)
    assert visitor.login(READ_TOKEN).status == 303
    return visitor


def writer(server: Served) -> Visitor:
    visitor = Visitor(server.url)
    assert visitor.login(TOKEN).status == 303
    return visitor


def test_the_environments_page_shows_each_commit_its_version_and_state(served: tuple[World, Served]) -> None:
    world, server = served
    head = git(world.work, "rev-parse", "origin/production")

    page = reader(server).get("/").page

    rows = {row.attrs["data-environment"]: row for row in page.one("table", id="environments").all("tr")[1:]}
    assert page.one("h1").text == "Environments" and sorted(rows) == ["prod", "staging"]
    prod = rows["prod"]
    assert prod.one("td", class_="commit").one("code").text == head[:10]
    assert prod.one("span", class_="message").text == "the project"
    assert prod.one("span", class_="author").text == git(world.work, "log", "-1", "--format=%an", head)
    assert prod.one("td", class_="version").text == f"v{server.http.environment('prod')['version']}"
    assert prod.one("td", class_="state").one("span", class_="badge").attrs["class"] == "badge synced"
    assert prod.one("td", class_="state").text == "synced"
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", prod.one("td", class_="last-run").text)
    assert prod.one("td", class_="name").one("a").attrs["href"] == "/environments/prod"


def test_login_sets_an_httponly_strict_session_cookie_and_a_wrong_token_opens_none(
    served: tuple[World, Served],
) -> None:
    _, server = served
    anonymous = Visitor(server.url)

    asked = anonymous.get("/environments/prod?from=1&to=2")
    wrong = anonymous.post("/login", {"token": "guessed", "next": "/drift"})
    elsewhere = anonymous.post("/login", {"token": TOKEN, "next": "//evil.example/"})
    right = anonymous.post("/login", {"token": TOKEN, "next": "/drift"})

    assert (asked.status, asked.headers["location"]) == (
        303,
        "/login?next=%2Fenvironments%2Fprod%3Ffrom%3D1%26to%3D2",
    )
    login = anonymous.get("/login?next=/drift").page.one("form", id="login")
    assert login.one("input", name="token").attrs["type"] == "password"
    assert login.one("input", name="next").attrs["value"] == "/drift"
    assert (wrong.status, wrong.cookies) == (401, [])
    assert elsewhere.headers["location"] == "/"
    assert (right.status, right.headers["location"]) == (303, "/drift")
    flags = [flag.strip().lower() for flag in right.cookies[0].split(";")]
    assert flags[0].startswith("tidegate_session=") and len(flags[0]) > 40
    assert {"httponly", "samesite=strict", "path=/"} <= set(flags)


def test_form_posts_without_a_writing_session_or_the_csrf_field_are_refused_and_change_nothing(
    served: tuple[World, Served],
) -> None:
    _, server = served
    before, runs = server.http.environment("staging"), server.http.runs("staging")
    acting, reading = writer(server), reader(server)
    csrf = acting.csrf("/environments/staging")

    anonymous = Visitor(server.url).post("/environments/staging/rollback", {"csrf": csrf, "version": "1"})
    read_only = reading.post("/environments/staging/sync", {"csrf": reading.csrf("/environments/staging")})
    without = acting.post("/environments/staging/rollback", {"version": "1"})
    wrong = acting.post("/environments/staging/sync", {"csrf": csrf[::-1]})
    logout = acting.post("/logout", {"csrf": "guessed"})

    assert (anonymous.status, read_only.status) == (401, 401)
    assert (without.status, wrong.status, logout.status) == (403, 403, 403)
    assert anonymous.page.one("h1").text == "Log in first" and without.page.one("h1").text == "Refused"
    assert server.http.environment("staging") == before and server.http.runs("staging") == runs
    assert acting.post("/logout", {"csrf": csrf}).status == 303
    assert acting.post("/environments/staging/sync", {"csrf": csrf}).status == 401


def test_a_break_glass_change_shows_its_reason_in_the_list_and_the_history(
    served: tuple[World, Served],
) -> None:
    world, server = served
    write_files(
        world.project, {"models/order_count.sql": "select count(*) * 100 as n from {{ ref('stg_orders') }}"}
    )
    try:
        assert invoke(world.project, "plan", "dev", "--auto-apply").code == 0
        assert invoke(world.project, "promote", "dev", "staging", "--break-glass", "board meeting").code == 0
    finally:
        git(world.project, "checkout", "-q", "--", "models/order_count.sql")

    before = reader(server).get("/").page.one("tr", **{"data-environment": "staging"})
    server.controller.environments.read_all()  # the controller's next pass reads the warehouses
    listed = reader(server).get("/").page.one("tr", **{"data-environment": "staging"})
    page = reader(server).get("/environments/staging").page

    assert before.one("td", class_="state").text != "out_of_sync"  # pages show what it read last
    assert listed.one("div", class_="break-glass").text == "board meeting"
    assert listed.one("td", class_="state").text == "out_of_sync"
    newest = page.one("table", id="history").all("tr")[1]
    assert newest.one("td", class_="action").text == "promote"
    assert newest.one("td", class_="break-glass").text == "board meeting"


def test_a_rollback_through_the_form_pins_staging_and_shows_in_its_history(
    served: tuple[World, Served],
) -> None:
    world, server = served
    before = server.http.environment("staging")
    head = world.push(TIMES_TEN, "count orders ten times")
    server.controller.poll()
    assert finished(server.http, "staging", head)["status"] == "success"
    after = server.http.environment("staging")
    visitor = writer(server)
    page = visitor.get("/environments/staging").page
    choices = [option.attrs["value"] for option in page.one("form", id="rollback").all("option")]

    rolled = visitor.post(
        "/environments/staging/rollback",
        {"csrf": visitor.csrf("/environments/staging"), "version": choices[0]},
    )

    assert choices[0] == str(before["version"])
    assert (rolled.status, rolled.headers["location"]) == (303, "/environments/staging")
    staging = server.http.environment("staging")
    assert staging["state"] == "pinned" and staging["pin"] is not None
    page = visitor.get("/environments/staging").page
    assert page.one("h1").one("span", class_="badge").text == "pinned"
    assert f"v{staging['pin']['version']}" in page.one("div", id="pin").text
    newest = page.one("table", id="history").all("tr")[1]
    assert newest.attrs["data-version"] == str(staging["version"])
    assert newest.one("td", class_="action").text == "rollback"
    assert page.one("form", id="unpin").attrs["action"] == "/environments/staging/unpin"

    compared = visitor.get(f"/environments/staging?from={before['version']}&to={after['version']}").page
    changes = {
        row.attrs["data-model"]: row.one("td", class_="change").text
        for row in compared.all("tr")
        if "data-model" in row.attrs
    }
    assert changes == {"order_count": "changed"}
    assert visitor.get("/environments/staging?from=1&to=999").status == 400
    assert visitor.get("/environments/nowhere").status == 404

    unpinned = visitor.post("/environments/staging/unpin", {"csrf": visitor.csrf("/environments/staging")})

    assert unpinned.status == 303
    eventually(
        lambda: (s := server.http.environment("staging"))["state"] == "synced" and s["commit"] == head,
        what="staging back at main's head",
    )


def test_the_drift_page_lists_a_view_dropped_by_hand_and_each_environments_infrastructure(
    served: tuple[World, Served],
) -> None:
    world, server = served
    visitor = reader(server)
    clean = visitor.get("/drift").page
    with Context(world.project) as ctx:
        engine = ctx.engine("prod")
        view = record_view(engine, "prod", ctx.current("prod").models["order_count"])
        engine.execute(f"DROP VIEW {view}")
    try:
        before = visitor.get("/drift").page  # the last check's
        server.controller.environments.check_drift()  # what "Check now" and each drift interval do
        page = visitor.get("/drift").page
    finally:
        with Context(world.project) as ctx:
            ctx.heal("prod")

    assert clean.one("table", id="drift").all("tr", **{"data-environment": "prod"}) == []
    assert before.one("table", id="drift").all("tr", **{"data-environment": "prod"}) == []
    row = page.one("table", id="drift").one("tr", **{"data-environment": "prod"})
    assert row.one("td", class_="object").text == view.replace('"', "")
    assert row.one("td", class_="kind").text == "view"
    infra = page.one("section", id="infra")
    assert [block.attrs["data-environment"] for block in infra.all("div", class_="infra")] == [
        "prod",
        "staging",
    ]
    assert "No infrastructure declared" in infra.one("div", **{"data-environment": "prod"}).text


def test_check_now_compares_the_environments_again_and_needs_a_writing_session(
    served: tuple[World, Served],
) -> None:
    world, server = served
    server.controller.environments.check_drift()  # a clean last check to start from
    visitor = writer(server)
    csrf = visitor.get("/drift").page.one("form", id="check-drift").one("input", name="csrf").attrs["value"]
    with Context(world.project) as ctx:
        engine = ctx.engine("prod")
        view = record_view(engine, "prod", ctx.current("prod").models["order_count"])
        engine.execute(f"DROP VIEW {view}")
    try:
        unread = reader(server).post("/drift/check", {"csrf": csrf})
        shown_before = visitor.get("/drift").page
        checked = visitor.post("/drift/check", {"csrf": csrf})
        page = visitor.get("/drift").page
    finally:
        with Context(world.project) as ctx:
            ctx.heal("prod")
        server.controller.environments.check_drift()

    assert unread.status == 401
    assert shown_before.one("table", id="drift").all("tr", **{"data-environment": "prod"}) == []
    assert checked.status == 303 and checked.headers["location"] == "/drift"
    row = page.one("table", id="drift").one("tr", **{"data-environment": "prod"})
    assert row.one("td", class_="object").text == view.replace('"', "")
