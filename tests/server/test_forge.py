"""The GitHub and GitLab clients against a local forge (tests/server/forge_server.py): what they
post, where, with which token, and what they say when the forge refuses."""

from __future__ import annotations

import pytest

from tests.server.forge_server import TOKEN, TOKEN_VARIABLE, FakeForge, Kind, Status
from tidegate.errors import ConfigError
from tidegate.project.controller import ForgeConfig
from tidegate.server.forge import ForgeError, StatusState, forge_for
from tidegate.server.forge.text import MARKER

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
RUN = "http://127.0.0.1:8080/api/runs/3"

# -- statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "state", "shown"),
    [
        ("github", StatusState.PENDING, "pending"),
        ("github", StatusState.SUCCESS, "success"),
        ("github", StatusState.FAILURE, "failure"),
        ("github", StatusState.ERROR, "error"),
        ("gitlab", StatusState.PENDING, "pending"),
        ("gitlab", StatusState.SUCCESS, "success"),
        ("gitlab", StatusState.FAILURE, "failed"),
        ("gitlab", StatusState.ERROR, "failed"),
    ],
)
def test_a_status_is_posted_in_the_forges_own_words(
    fake_forge: FakeForge, kind: Kind, state: StatusState, shown: str
) -> None:
    forge_for(fake_forge.config(kind)).set_status(SHA, "tidegate/deploy/prod", state, "3 models built", RUN)
    assert fake_forge.statuses(SHA) == [Status(kind, "tidegate/deploy/prod", shown, "3 models built", RUN)]


@pytest.mark.parametrize(
    ("kind", "path", "fields"),
    [
        ("github", f"/repos/acme/data/statuses/{SHA}", {"state", "context", "description"}),
        ("gitlab", f"/api/v4/projects/acme%2Fdata/statuses/{SHA}", {"state", "name", "description"}),
    ],
)
def test_a_status_without_a_link_is_posted_without_target_url(
    fake_forge: FakeForge, kind: Kind, path: str, fields: set[str]
) -> None:
    forge_for(fake_forge.config(kind)).set_status(SHA, "tidegate/ci", StatusState.PENDING, "running", None)
    (request,) = fake_forge.requests
    assert (request.method, request.path, set(request.body)) == ("POST", path, fields)


def test_a_long_description_is_cut_to_one_line_of_140_characters(fake_forge: FakeForge) -> None:
    description = "checks failed:\n" + "model orders changed a column; " * 10
    forge_for(fake_forge.config("github")).set_status(
        SHA, "tidegate/ci", StatusState.FAILURE, description, RUN
    )
    (status,) = fake_forge.statuses(SHA)
    assert status.description is not None
    assert len(status.description) == 140
    assert status.description.startswith("checks failed: model orders")


def test_gitlab_setting_a_pending_status_twice_is_not_an_error(fake_forge: FakeForge) -> None:
    gitlab = forge_for(fake_forge.config("gitlab"))
    for state in (StatusState.PENDING, StatusState.PENDING, StatusState.SUCCESS):
        gitlab.set_status(SHA, "tidegate/ci", state, "", RUN)
    assert [s.state for s in fake_forge.statuses(SHA)] == ["pending", "success"]
    assert [r.method for r in fake_forge.requests] == ["POST", "POST", "POST"]


# -- the one comment ---------------------------------------------------------------------------

COMMENTS = {
    "github": ("/repos/acme/data/issues/7/comments", "/repos/acme/data/issues/comments/{id}", "PATCH"),
    "gitlab": (
        "/api/v4/projects/acme%2Fdata/merge_requests/7/notes",
        "/api/v4/projects/acme%2Fdata/merge_requests/7/notes/{id}",
        "PUT",
    ),
}


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_the_comment_is_created_once_then_edited_in_place(fake_forge: FakeForge, kind: Kind) -> None:
    listing, one, edit = COMMENTS[kind]
    fake_forge.add_comment(7, "Looks good to me")
    forge = forge_for(fake_forge.config(kind))
    forge.upsert_comment(7, "## tidegate: 3 models to build")
    forge.upsert_comment(7, "## tidegate: 4 models to build")
    people, ours = fake_forge.comments(7)
    assert people.body == "Looks good to me"
    assert ours.body == f"{MARKER}\n## tidegate: 4 models to build"
    assert [(r.method, r.path) for r in fake_forge.requests] == [
        ("GET", listing),
        ("POST", listing),
        ("GET", listing),
        (edit, one.format(id=ours.id)),
    ]


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_the_comment_is_found_on_a_later_page(kind: Kind, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    with FakeForge(page_size=2) as fake:
        forge = forge_for(fake.config(kind))
        forge.upsert_comment(7, "first report")
        for n in range(4):
            fake.add_comment(7, f"review {n}")
        forge.upsert_comment(7, "second report")
        assert [c.body for c in fake.comments(7)] == [
            f"{MARKER}\nsecond report",
            *[f"review {n}" for n in range(4)],
        ]
        pages = [r.query.get("page", "1") for r in fake.requests if r.method == "GET"]
    # GitHub lists oldest first (ours is on page 1), GitLab newest first (ours is on page 3)
    assert pages == (["1", "1"] if kind == "github" else ["1", "1", "2", "3"])


def test_a_github_comment_past_the_first_page_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    with FakeForge(page_size=2) as fake:
        for n in range(3):
            fake.add_comment(7, f"review {n}")
        forge = forge_for(fake.config("github"))
        forge.upsert_comment(7, "first report")
        forge.upsert_comment(7, "second report")
        assert [c.body for c in fake.comments(7)][-1] == f"{MARKER}\nsecond report"
        assert len(fake.comments(7)) == 4
        assert [r.method for r in fake.requests] == ["GET", "GET", "POST", "GET", "GET", "PATCH"]


def test_gitlab_system_notes_are_never_taken_for_the_comment(fake_forge: FakeForge) -> None:
    fake_forge.add_comment(7, f"{MARKER}\nquoted by GitLab", system=True)
    forge_for(fake_forge.config("gitlab")).upsert_comment(7, "report")
    assert [c.body for c in fake_forge.comments(7)] == [f"{MARKER}\nquoted by GitLab", f"{MARKER}\nreport"]


def test_a_report_longer_than_a_github_comment_is_cut_with_a_note(fake_forge: FakeForge) -> None:
    forge_for(fake_forge.config("github")).upsert_comment(7, "x" * 70_000)
    (comment,) = fake_forge.comments(7)
    assert len(comment.body) == 65536
    assert comment.body.startswith(MARKER)
    assert "cut" in comment.body[-100:]


# -- where, and with which token ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prefix", "status_path"),
    [
        ("github", "/api/v3", "/api/v3/repos/acme/data/statuses/"),
        ("gitlab", "/gitlab/api/v4", "/gitlab/api/v4/projects/acme%2Fdata/statuses/"),
    ],
)
def test_api_url_is_honoured(fake_forge: FakeForge, kind: Kind, prefix: str, status_path: str) -> None:
    forge = forge_for(fake_forge.config(kind, api_url=fake_forge.url + prefix + "/"))
    forge.set_status(SHA, "tidegate/ci", StatusState.SUCCESS, "ok", RUN)
    forge.upsert_comment(7, "report")
    assert fake_forge.requests[0].path == status_path + SHA
    assert all(r.path.startswith(prefix + "/") for r in fake_forge.requests)
    assert len(fake_forge.comments(7)) == 1


def test_a_gitlab_project_may_be_named_by_its_numeric_id(fake_forge: FakeForge) -> None:
    config = fake_forge.config("gitlab").model_copy(update={"repo": "42"})
    forge_for(config).set_status(SHA, "tidegate/ci", StatusState.SUCCESS, "ok", RUN)
    assert fake_forge.requests[0].path == f"/api/v4/projects/42/statuses/{SHA}"
    assert len(fake_forge.statuses(SHA)) == 1


@pytest.mark.parametrize(
    ("kind", "header", "value"),
    [("github", "authorization", f"Bearer {TOKEN}"), ("gitlab", "private-token", TOKEN)],
)
def test_the_token_is_sent_in_the_forges_header(
    fake_forge: FakeForge, kind: Kind, header: str, value: str
) -> None:
    forge = forge_for(fake_forge.config(kind))
    forge.set_status(SHA, "tidegate/ci", StatusState.SUCCESS, "ok", None)
    forge.upsert_comment(7, "report")
    assert [r.headers.get(header) for r in fake_forge.requests] == [value] * 3


@pytest.mark.parametrize("kind", ["github", "gitlab"])
@pytest.mark.parametrize("status", [401, 403, 404, 500, 502])
def test_a_refusal_is_a_forge_error_that_never_shows_the_token(
    fake_forge: FakeForge, kind: Kind, status: int
) -> None:
    fake_forge.fail(status, f"refused the request with header Authorization: Bearer {TOKEN}")
    forge = forge_for(fake_forge.config(kind))
    for call in (
        lambda: forge.set_status(SHA, "tidegate/ci", StatusState.SUCCESS, "ok", RUN),
        lambda: forge.upsert_comment(7, "report"),
    ):
        with pytest.raises(ForgeError) as refused:
            call()
        assert f"answered {status}" in str(refused.value)
        assert "refused the request" in str(refused.value)
        assert TOKEN not in str(refused.value)
        assert TOKEN not in repr(refused.value.to_dict())


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_wrong_token_is_refused_by_the_forge_and_the_error_says_which_variable(
    fake_forge: FakeForge, kind: Kind, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, "an-expired-token")
    with pytest.raises(ForgeError) as refused:
        forge_for(fake_forge.config(kind)).set_status(SHA, "tidegate/ci", StatusState.SUCCESS, "ok", RUN)
    assert "answered 401" in str(refused.value)
    assert TOKEN_VARIABLE in str(refused.value.hint)
    assert "an-expired-token" not in str(refused.value)
    assert fake_forge.statuses(SHA) == []


def test_an_unreachable_forge_is_a_forge_error_naming_it(fake_forge: FakeForge) -> None:
    url = fake_forge.url
    fake_forge.stop()
    with pytest.raises(ForgeError) as unreachable:
        forge_for(
            ForgeConfig(kind="github", repo="acme/data", token=f"${{{TOKEN_VARIABLE}}}", api_url=url)
        ).set_status(SHA, "tidegate/ci", StatusState.SUCCESS, "ok", RUN)
    assert f"cannot reach GitHub at {url}" in str(unreachable.value)
    assert TOKEN not in str(unreachable.value)


@pytest.mark.parametrize("token", [None, "${TIDEGATE_TEST_UNSET_TOKEN}"])
def test_a_forge_without_its_token_is_a_configuration_error(token: str | None) -> None:
    with pytest.raises(ConfigError) as missing:
        forge_for(ForgeConfig(kind="github", repo="acme/data", token=token))
    assert "no token" in str(missing.value)
    assert (token or "${GITHUB_TOKEN}") in str(missing.value)


def test_the_token_is_not_in_the_clients_repr(fake_forge: FakeForge) -> None:
    forge = forge_for(fake_forge.config("github"))
    assert TOKEN not in repr(vars(forge))
