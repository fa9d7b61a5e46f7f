"""GitLab (gitlab.com or self-managed): commit statuses, and the one merge-request note.

The project is named by its path (`group/data`, URL-encoded as one path segment) or its numeric
id. GitLab refuses to set a status to the state it already has while that state is pending or
running ("Cannot transition status via :enqueue from :pending"): the status is then already what
was asked, so that answer is not an error.
"""

from __future__ import annotations

from urllib.parse import quote

from tidegate.server.forge import StatusState
from tidegate.server.forge.api import ApiClient, ForgeError
from tidegate.server.forge.text import MARKER, commented, short

COMMENT_LIMIT = 1_000_000
"""Characters of a note GitLab accepts."""
_STATES = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failed",
    StatusState.ERROR: "failed",
}
"""GitLab has no `error`: a run that could not finish failed as far as a merge request cares."""


class GitLab:
    def __init__(self, api: ApiClient, repo: str) -> None:
        self._api = api
        self._project = f"/projects/{quote(repo, safe='')}"

    def set_status(
        self, commit: str, context: str, state: StatusState, description: str, target_url: str | None
    ) -> None:
        status = {"state": _STATES[state], "name": context, "description": short(description)}
        if target_url:
            status["target_url"] = target_url
        try:
            self._api.call("POST", f"{self._project}/statuses/{commit}", status)
        except ForgeError as error:
            if "Cannot transition status" not in error.message:
                raise

    def upsert_comment(self, number: int, body: str) -> None:
        text = commented(body, COMMENT_LIMIT)
        notes_path = f"{self._project}/merge_requests/{number}/notes"
        notes = self._api.pages(f"{notes_path}?per_page=100")
        ours = next(
            (n for n in notes if not n.get("system") and str(n.get("body") or "").startswith(MARKER)),
            None,
        )
        if ours is None:
            self._api.call("POST", notes_path, {"body": text})
        else:
            self._api.call("PUT", f"{notes_path}/{ours['id']}", {"body": text})
