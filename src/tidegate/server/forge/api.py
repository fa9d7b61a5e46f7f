"""JSON over HTTPS to a forge's REST API with the standard library, the token kept out of sight.

The token travels only in a request header: `ApiClient` keeps it out of its repr, and every
message it raises is scrubbed of it (a proxy or a forge may echo a header back in an error).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tidegate.errors import TidegateError
from tidegate.project.dsn import scrub

TIMEOUT = 20.0
"""Seconds; a forge that does not answer must not hold up the controller's runs for long."""

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class ForgeError(TidegateError):
    """The forge refused a request or could not be reached; the message never holds the token."""


@dataclass(frozen=True)
class ApiClient:
    forge: str
    """`GitHub` or `GitLab`, as messages name it."""
    base: str
    """The API's root URL, without a trailing slash."""
    headers: Mapping[str, str] = field(repr=False)
    token: str = field(repr=False)
    token_hint: str = ""
    """What to check when the forge refuses the token (which variable holds it)."""

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer to `method path` with `body` as JSON."""
        return self._send(method, self.base + path, body)[0]

    def pages(self, path: str) -> Iterator[Any]:
        """The items of every page of a list, following the `Link: <...>; rel="next"` headers
        both GitHub and GitLab send."""
        url: str | None = self.base + path
        while url is not None:
            items, links = self._send("GET", url, None)
            yield from items
            url = self._next_page(links)

    def _next_page(self, links: str | None) -> str | None:
        match = _NEXT.search(links or "")
        if match is None:
            return None
        if not match.group(1).startswith(self.base + "/"):
            raise ForgeError(
                f"{self.forge} sent a next page outside its API ({self._scrub(match.group(1))}): "
                "not followed, so that the token goes nowhere else"
            )
        return match.group(1)

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None) -> tuple[Any, str | None]:
        data = None if body is None else json.dumps(body).encode()
        headers = {**self.headers, "Accept": "application/json", "User-Agent": "tidegate"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        doing = f"{method} {url.removeprefix(self.base)}"
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                raw = answer.read()
                links = answer.headers.get("Link")
        except urllib.error.HTTPError as error:
            raise self._refused(error, doing) from None
        except (OSError, ValueError) as error:
            raise ForgeError(
                f"cannot reach {self.forge} at {self._scrub(self.base)} ({doing}): "
                f"{self._scrub(str(getattr(error, 'reason', error)))}",
                hint="check controller.forge.api_url in tidegate.yml and the network",
            ) from None
        try:
            return (json.loads(raw) if raw.strip() else None), links
        except ValueError:
            raise ForgeError(f"{self.forge} did not answer {doing} with JSON") from None

    def _refused(self, error: urllib.error.HTTPError, doing: str) -> ForgeError:
        said = _message(error.read())
        hint = None
        if error.code in (401, 403):
            hint = self.token_hint
        elif error.code == 404:
            hint = "check controller.forge.repo and api_url in tidegate.yml, and the token's access to it"
        return ForgeError(
            f"{self.forge} answered {error.code} to {doing}" + (f": {self._scrub(said)}" if said else ""),
            hint=hint,
        )

    def _scrub(self, text: str) -> str:
        return scrub(text, (self.token,))


def _message(raw: bytes) -> str:
    """What a forge's error answer says: its `message` (GitHub, GitLab) or `error` (GitLab)."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        answer = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(answer, dict):
        said = answer.get("message") or answer.get("error") or text
        return (said if isinstance(said, str) else json.dumps(said))[:300]
    return text[:300]
