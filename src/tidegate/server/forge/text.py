"""What the controller writes on a forge: the comment's marker, and texts cut to the forge's limits."""

from __future__ import annotations

MARKER = "<!-- tidegate report -->"
"""The first line of the controller's comment, how it finds it again; the same as the CI workflows'
(project/ci_files), so one pull request keeps one report whichever of them wrote it."""

DESCRIPTION_LIMIT = 140
"""Characters of a commit status's description that GitHub accepts."""


def short(description: str) -> str:
    """`description` on one line, cut to what a commit status holds."""
    line = " ".join(description.split())
    return line if len(line) <= DESCRIPTION_LIMIT else line[: DESCRIPTION_LIMIT - 1] + "…"


def commented(body: str, limit: int) -> str:
    """The comment's text: the marker, then `body`, cut to `limit` characters with a note."""
    text = f"{MARKER}\n{body}"
    if len(text) <= limit:
        return text
    note = "\n\n… (cut: the full report is on the controller, linked from the commit status)"
    return text[: limit - len(note)] + note
