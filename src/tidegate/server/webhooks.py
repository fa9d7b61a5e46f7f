"""Signed GitHub and GitLab webhook deliveries, turned into the controller's `Event`s.

A delivery is checked before anything in it is read: its size (`MAX_BODY`), then its signature
(GitHub's HMAC-SHA256 of the body in `X-Hub-Signature-256`) or token (GitLab's `X-Gitlab-Token`),
both compared in constant time. A controller without a webhook secret refuses every delivery:
an unsigned hook would let anyone who can reach the port deploy. What a valid delivery asks that
the controller does not act on (tag pushes, other events, labels put on a pull request) gives
None, which the app answers with 202 and nothing run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from tidegate.errors import TidegateError
from tidegate.server.events import Event, Ping, PullRequest, PullRequestAction, Push

MAX_BODY = 5 * 1024 * 1024
"""Bytes; GitHub caps its payloads at 25 MB, but nothing the controller reads comes near 5 MB."""

_GITHUB_PULL_REQUEST_ACTIONS = {action.value: action for action in PullRequestAction}
_GITLAB_MERGE_REQUEST_ACTIONS = {
    "open": PullRequestAction.OPENED,
    "reopen": PullRequestAction.REOPENED,
    "close": PullRequestAction.CLOSED,
    "merge": PullRequestAction.CLOSED,
}


class WebhookRejected(TidegateError):
    """A delivery the controller refuses; `status` is the HTTP status the app answers with."""

    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def github_event(headers: Mapping[str, str], body: bytes, secret: str | None) -> Event | None:
    """The event of a GitHub delivery (`headers` with lower-case names), None if there is none
    to act on; `WebhookRejected` when it is too large, unsigned, wrongly signed or unreadable."""
    _check_size(body)
    _check_signature(headers.get("x-hub-signature-256"), body, secret)
    kind = headers.get("x-github-event")
    if not kind:
        raise WebhookRejected(400, "not a GitHub delivery: it has no X-GitHub-Event header")
    read = _GITHUB_EVENTS.get(kind)
    if read is None:
        return None
    return _read(read, _github_payload(headers, body), headers.get("x-github-delivery"), "GitHub")


def gitlab_event(headers: Mapping[str, str], body: bytes, secret: str | None) -> Event | None:
    """The event of a GitLab delivery, as `github_event` does for GitHub's."""
    _check_size(body)
    _check_token(headers.get("x-gitlab-token"), secret)
    kind = headers.get("x-gitlab-event")
    if not kind:
        raise WebhookRejected(400, "not a GitLab delivery: it has no X-Gitlab-Event header")
    read = _GITLAB_EVENTS.get(kind)
    if read is None:
        return None
    return _read(read, _json(body), headers.get("x-gitlab-event-uuid"), "GitLab")


# -- what is checked before the body is read -----------------------------------------------------


def _check_size(body: bytes) -> None:
    if len(body) > MAX_BODY:
        raise WebhookRejected(413, f"the delivery is larger than {MAX_BODY // (1024 * 1024)} MB")


def _require_secret(secret: str | None) -> str:
    if not secret:
        raise WebhookRejected(
            401,
            "webhooks are refused: the controller has no webhook secret",
            hint="set controller.webhook_secret: ${TIDEGATE_WEBHOOK_SECRET} in tidegate.yml, "
            "and the same secret on the forge's webhook",
        )
    return secret


def _check_signature(signature: str | None, body: bytes, secret: str | None) -> None:
    key = _require_secret(secret).encode()
    if not signature:
        raise WebhookRejected(401, "the delivery is not signed: no X-Hub-Signature-256 header")
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise WebhookRejected(401, "the delivery's signature does not match the webhook secret")


def _check_token(token: str | None, secret: str | None) -> None:
    expected = _require_secret(secret)
    if not token:
        raise WebhookRejected(401, "the delivery has no X-Gitlab-Token header")
    if not hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
        raise WebhookRejected(401, "the delivery's X-Gitlab-Token does not match the webhook secret")


# -- reading the payload -------------------------------------------------------------------------


def _github_payload(headers: Mapping[str, str], body: bytes) -> Any:
    """GitHub sends JSON, or the JSON in a form's `payload` field (the content type its webhook
    settings offer first)."""
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in fields:
            raise WebhookRejected(400, "the delivery is a form without a `payload` field")
        return _json(fields["payload"][0].encode())
    return _json(body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise WebhookRejected(400, f"the delivery is not JSON: {error}") from None


def _read(
    read: Callable[[Any, str | None], Event | None], payload: Any, delivery: str | None, forge: str
) -> Event | None:
    """`read(payload, delivery)`, a payload without the fields it needs refused with 400."""
    try:
        return read(payload, delivery)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise WebhookRejected(
            400, f"the {forge} delivery lacks what its event needs ({type(error).__name__}: {error})"
        ) from None


def _branch(ref: str) -> str | None:
    """The branch a pushed ref names; None for tags and other refs."""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def _pushed(branch: str, after: str | None, deleted: bool, delivery: str | None) -> Push:
    gone = deleted or not after or not after.strip("0")  # the zero id: the branch was deleted
    return Push(branch=branch, commit=None if gone else str(after), delivery=delivery)


def _github_push(payload: Any, delivery: str | None) -> Event | None:
    branch = _branch(payload["ref"])
    if branch is None:
        return None
    return _pushed(branch, payload["after"], bool(payload.get("deleted")), delivery)


def _github_pull_request(payload: Any, delivery: str | None) -> Event | None:
    action = _GITHUB_PULL_REQUEST_ACTIONS.get(payload["action"])
    if action is None:
        return None
    pull = payload["pull_request"]
    return PullRequest(
        action=action,
        number=int(payload["number"]),
        head_commit=str(pull["head"]["sha"]),
        head_branch=str(pull["head"]["ref"]),
        base_branch=str(pull["base"]["ref"]),
        delivery=delivery,
    )


def _github_ping(payload: Any, delivery: str | None) -> Event | None:
    return Ping(delivery=delivery)


def _gitlab_push(payload: Any, delivery: str | None) -> Event | None:
    branch = _branch(payload["ref"])
    if branch is None:
        return None
    return _pushed(branch, payload["after"], False, delivery)


def _gitlab_merge_request(payload: Any, delivery: str | None) -> Event | None:
    attributes = payload["object_attributes"]
    action = _GITLAB_MERGE_REQUEST_ACTIONS.get(attributes.get("action"))
    if attributes.get("action") == "update" and attributes.get("oldrev"):
        action = PullRequestAction.SYNCHRONIZE  # an update without `oldrev` changed no commit
    if action is None:
        return None
    return PullRequest(
        action=action,
        number=int(attributes["iid"]),
        head_commit=str(attributes["last_commit"]["id"]),
        head_branch=str(attributes["source_branch"]),
        base_branch=str(attributes["target_branch"]),
        delivery=delivery,
    )


_GITHUB_EVENTS: dict[str, Callable[[Any, str | None], Event | None]] = {
    "push": _github_push,
    "pull_request": _github_pull_request,
    "ping": _github_ping,
}
_GITLAB_EVENTS: dict[str, Callable[[Any, str | None], Event | None]] = {
    "Push Hook": _gitlab_push,
    "Merge Request Hook": _gitlab_merge_request,
}
