"""The CI report of a run as HTML, rendered from the very Markdown the pull request's comment
holds (`tidegate.ci.report.markdown`), so the page and the comment cannot say different things.

The comment folds each step's details in `<details>` and marks titles with `<b>`, as forges
render them; any other HTML in it (a finding that quotes a tag) is shown as text, never run.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

_TAG = re.compile(r"<[^<>]*>")
_KEPT = re.compile(r"</?(?:details|summary|b|br)(?: open)?\s*/?>", re.IGNORECASE)
"""The tags the report writes itself, without attributes but `open`: the only HTML passed on."""


def report_html(comment: str) -> str:
    """The Markdown comment as HTML (tables, folded details; other tags escaped)."""
    return _renderer().render(comment)


@cache
def _renderer() -> MarkdownIt:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": True}).enable("table")
    renderer.add_render_rule("html_block", _kept_tags_only)
    renderer.add_render_rule("html_inline", _kept_tags_only)
    return renderer


def _kept_tags_only(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """Raw HTML of the Markdown with every tag the report does not write itself escaped (the
    text between tags keeps its entities: the report escaped it already)."""
    content = tokens[idx].content
    kept, position = [], 0
    for tag in _TAG.finditer(content):
        kept.append(_escape_brackets(content[position : tag.start()]))
        kept.append(tag.group() if _KEPT.fullmatch(tag.group()) else html.escape(tag.group()))
        position = tag.end()
    kept.append(_escape_brackets(content[position:]))
    return "".join(kept)


def _escape_brackets(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")
