"""Webhook deliveries as GitHub and GitLab send them, and the events (or refusals) they give."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from tidegate.server.events import Event, Ping, PullRequest, PullRequestAction, Push
from tidegate.server.webhooks import MAX_BODY, WebhookRejected, github_event, gitlab_event

SECRET = "webhook-secret"
HEAD = "9fceb02d0ae598e95dc970b74767f19372d61af8"
BASE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
ZERO = "0" * 40


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def from_github(kind: str, payload: Any, **headers: str) -> Event | None:
    body = json.dumps(payload).encode()
    sent = {"x-github-event": kind, "x-github-delivery": "gh-1", "x-hub-signature-256": sign(body)}
    return github_event({**sent, **headers}, body, SECRET)


def from_gitlab(kind: str, payload: Any, **headers: str) -> Event | None:
    body = json.dumps(payload).encode()
    sent = {"x-gitlab-event": kind, "x-gitlab-event-uuid": "gl-1", "x-gitlab-token": SECRET}
    return gitlab_event({**sent, **headers}, body, SECRET)


def github_push(ref: str, after: str = HEAD, *, deleted: bool = False) -> dict[str, Any]:
    return {"ref": ref, "before": BASE, "after": after, "created": False, "deleted": deleted}


def github_pull_request(action: str, number: int = 7) -> dict[str, Any]:
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "merged": action == "closed",
            "head": {"sha": HEAD, "ref": "feature/orders"},
            "base": {"sha": BASE, "ref": "main"},
        },
    }


def gitlab_push(ref: str, after: str = HEAD, kind: str = "push") -> dict[str, Any]:
    return {"object_kind": kind, "ref": ref, "before": BASE, "after": after, "checkout_sha": after}


def gitlab_merge_request(action: str, *, oldrev: str | None = None, iid: int = 12) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "iid": iid,
        "action": action,
        "source_branch": "feature/orders",
        "target_branch": "main",
        "last_commit": {"id": HEAD},
    }
    if oldrev:
        attributes["oldrev"] = oldrev
    return {"object_kind": "merge_request", "object_attributes": attributes}


def pull_request(action: PullRequestAction, number: int, delivery: str) -> PullRequest:
    return PullRequest(action, number, HEAD, "feature/orders", "main", delivery)


# -- GitHub ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "event"),
    [
        ("push", github_push("refs/heads/main"), Push("main", HEAD, "gh-1")),
        ("push", github_push("refs/heads/team/x"), Push("team/x", HEAD, "gh-1")),
        ("push", github_push("refs/heads/old", ZERO, deleted=True), Push("old", None, "gh-1")),
        ("push", github_push("refs/tags/v1.0"), None),
        ("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}, Ping("gh-1")),
        *[
            ("pull_request", github_pull_request(action.value), pull_request(action, 7, "gh-1"))
            for action in PullRequestAction
        ],
        ("pull_request", github_pull_request("edited"), None),
        ("pull_request", github_pull_request("labeled"), None),
        ("issues", {"action": "opened"}, None),
        ("workflow_run", {"action": "completed"}, None),
    ],
)
def test_github_deliveries_give_these_events(kind: str, payload: Any, event: Event | None) -> None:
    assert from_github(kind, payload) == event


def test_a_github_delivery_sent_as_a_form_reads_its_payload_field() -> None:
    body = urlencode({"payload": json.dumps(github_push("refs/heads/main"))}).encode()
    headers = {
        "x-github-event": "push",
        "content-type": "application/x-www-form-urlencoded",
        "x-hub-signature-256": sign(body),
    }
    assert github_event(headers, body, SECRET) == Push("main", HEAD, None)


BODY = json.dumps(github_push("refs/heads/main")).encode()


@pytest.mark.parametrize(
    ("signature", "secret"),
    [
        (sign(BODY, "another-secret"), SECRET),
        (sign(b'{"ref": "refs/heads/prod"}'), SECRET),
        (sign(BODY).replace("sha256=", "sha1="), SECRET),
        (sign(BODY)[:-1], SECRET),
        ("", SECRET),
        (None, SECRET),
        (sign(BODY), None),
        (sign(BODY, ""), ""),
    ],
    ids=[
        "wrong secret",
        "other body",
        "wrong scheme",
        "cut",
        "empty",
        "missing",
        "no secret",
        "empty secret",
    ],
)
def test_a_github_delivery_not_signed_with_the_secret_is_refused_with_401(
    signature: str | None, secret: str | None
) -> None:
    headers = {"x-github-event": "push"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    with pytest.raises(WebhookRejected) as refused:
        github_event(headers, BODY, secret)
    assert refused.value.status == 401


def test_the_signature_is_checked_before_the_event_kind_and_the_body() -> None:
    with pytest.raises(WebhookRejected) as refused:
        github_event({"x-github-event": "issues"}, b"not json", SECRET)
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"x-github-event": "push"}, b"{not json"),
        ({"x-github-event": "push"}, b'{"after": "abc"}'),
        ({"x-github-event": "push"}, b'["refs/heads/main"]'),
        ({"x-github-event": "pull_request"}, json.dumps({"action": "opened", "number": 7}).encode()),
        ({"x-github-event": "push", "content-type": "application/x-www-form-urlencoded"}, b"ref=main"),
        ({}, BODY),
    ],
    ids=["not json", "no ref", "a list", "no pull_request", "form without payload", "no event header"],
)
def test_an_unreadable_github_delivery_is_refused_with_400(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookRejected) as refused:
        github_event({**headers, "x-hub-signature-256": sign(body)}, body, SECRET)
    assert refused.value.status == 400


# -- GitLab ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "event"),
    [
        ("Push Hook", gitlab_push("refs/heads/main"), Push("main", HEAD, "gl-1")),
        (
            "Push Hook",
            gitlab_push("refs/heads/old", ZERO) | {"checkout_sha": None},
            Push("old", None, "gl-1"),
        ),
        ("Tag Push Hook", gitlab_push("refs/tags/v1.0", kind="tag_push"), None),
        ("Push Hook", gitlab_push("refs/tags/v1.0"), None),
        (
            "Merge Request Hook",
            gitlab_merge_request("open"),
            pull_request(PullRequestAction.OPENED, 12, "gl-1"),
        ),
        (
            "Merge Request Hook",
            gitlab_merge_request("update", oldrev=BASE),
            pull_request(PullRequestAction.SYNCHRONIZE, 12, "gl-1"),
        ),
        ("Merge Request Hook", gitlab_merge_request("update"), None),
        (
            "Merge Request Hook",
            gitlab_merge_request("reopen"),
            pull_request(PullRequestAction.REOPENED, 12, "gl-1"),
        ),
        (
            "Merge Request Hook",
            gitlab_merge_request("close"),
            pull_request(PullRequestAction.CLOSED, 12, "gl-1"),
        ),
        (
            "Merge Request Hook",
            gitlab_merge_request("merge"),
            pull_request(PullRequestAction.CLOSED, 12, "gl-1"),
        ),
        ("Merge Request Hook", gitlab_merge_request("approved"), None),
        ("Note Hook", {"object_kind": "note"}, None),
        ("Pipeline Hook", {"object_kind": "pipeline"}, None),
    ],
)
def test_gitlab_deliveries_give_these_events(kind: str, payload: Any, event: Event | None) -> None:
    assert from_gitlab(kind, payload) == event


@pytest.mark.parametrize(
    ("token", "secret"),
    [
        ("another-secret", SECRET),
        (SECRET[:-1], SECRET),
        ("", SECRET),
        (None, SECRET),
        (SECRET, None),
        ("", ""),
    ],
    ids=["wrong", "prefix", "empty", "missing", "no secret", "empty secret"],
)
def test_a_gitlab_delivery_without_the_secret_token_is_refused_with_401(
    token: str | None, secret: str | None
) -> None:
    headers = {"x-gitlab-event": "Push Hook"}
    if token is not None:
        headers["x-gitlab-token"] = token
    with pytest.raises(WebhookRejected) as refused:
        gitlab_event(headers, json.dumps(gitlab_push("refs/heads/main")).encode(), secret)
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("Push Hook", b"{not json"),
        ("Push Hook", b'{"object_kind": "push"}'),
        ("Merge Request Hook", json.dumps({"object_attributes": {"action": "open", "iid": 3}}).encode()),
        ("Merge Request Hook", b'{"object_attributes": "open"}'),
    ],
    ids=["not json", "no ref", "no last commit", "attributes not an object"],
)
def test_an_unreadable_gitlab_delivery_is_refused_with_400(kind: str, body: bytes) -> None:
    with pytest.raises(WebhookRejected) as refused:
        gitlab_event({"x-gitlab-event": kind, "x-gitlab-token": SECRET}, body, SECRET)
    assert refused.value.status == 400


# -- both --------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_before_anything_else() -> None:
    body = b" " * (MAX_BODY + 1)
    for read, headers in [
        (github_event, {"x-github-event": "push", "x-hub-signature-256": sign(body)}),
        (gitlab_event, {"x-gitlab-event": "Push Hook", "x-gitlab-token": SECRET}),
    ]:
        with pytest.raises(WebhookRejected) as refused:
            read(headers, body, SECRET)
        assert refused.value.status == 413


def test_a_body_at_the_limit_is_read() -> None:
    payload = json.dumps(github_push("refs/heads/main")).encode()
    body = payload + b" " * (MAX_BODY - len(payload))
    headers = {"x-github-event": "push", "x-hub-signature-256": sign(body)}
    assert github_event(headers, body, SECRET) == Push("main", HEAD, None)


def test_a_refusal_never_shows_the_secret_and_says_how_to_set_one() -> None:
    with pytest.raises(WebhookRejected) as wrong:
        from_github("push", github_push("refs/heads/main"), **{"x-hub-signature-256": sign(BODY, "x")})
    with pytest.raises(WebhookRejected) as unset:
        github_event({"x-github-event": "push", "x-hub-signature-256": sign(BODY)}, BODY, None)
    assert SECRET not in str(wrong.value)
    assert "webhook_secret" in str(unset.value)
