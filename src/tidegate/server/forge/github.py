"""GitHub (and GitHub Enterprise): commit statuses, and the one pull-request comment.

A pull request's conversation is its issue's, so the comment lives under `/issues/{n}/comments`;
it is found again by the marker its body starts with (the marker tidegate's CI workflow uses too,
so a team moving from CI to the controller keeps one comment).
"""

from __future__ import annotations

from tidegate.server.forge import StatusState
from tidegate.server.forge.api import ApiClient
from tidegate.server.forge.text import MARKER, commented, short

COMMENT_LIMIT = 65536
"""Characters of an issue comment GitHub accepts."""


class GitHub:
    def __init__(self, api: ApiClient, repo: str) -> None:
        self._api = api
        self._repo = f"/repos/{repo}"

    def set_status(
        self, commit: str, context: str, state: StatusState, description: str, target_url: str | None
    ) -> None:
        status = {"state": state.value, "context": context, "description": short(description)}
        if target_url:
            status["target_url"] = target_url
        self._api.call("POST", f"{self._repo}/statuses/{commit}", status)

    def upsert_comment(self, number: int, body: str) -> None:
        text = commented(body, COMMENT_LIMIT)
        comments = self._api.pages(f"{self._repo}/issues/{number}/comments?per_page=100")
        ours = next((c for c in comments if str(c.get("body") or "").startswith(MARKER)), None)
        if ours is None:
            self._api.call("POST", f"{self._repo}/issues/{number}/comments", {"body": text})
        else:
            self._api.call("PATCH", f"{self._repo}/issues/comments/{ours['id']}", {"body": text})
