"""The CI report on a run's page is the pull request's Markdown comment as HTML: its tables and
folded details as a forge shows them, and any other tag in it shown as text, never run."""

from __future__ import annotations

import pytest

from tidegate.server.dashboard.report import report_html


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("## passed\n", "<h2>passed</h2>"),
        ("| a | b |\n|---|---|\n| 1 | 2 |\n", "<td>1</td>"),
        (
            "<details open><summary><b>lint</b>: 2</summary>\n\n</details>\n",
            "<details open><summary><b>lint</b>: 2</summary>",
        ),
        ("| x |\n|---|\n| one<br>two |\n", "<td>one<br>two</td>"),
        ("| x |\n|---|\n| &lt;i&gt; |\n", "<td>&lt;i&gt;</td>"),  # escaped by the report: kept so
        (
            "<details><summary>a <img src=x onerror=alert(1)></summary>\n",
            "a &lt;img src=x onerror=alert(1)&gt;",
        ),
        ("> a note <script>alert(1)</script>\n", "a note &lt;script&gt;alert(1)&lt;/script&gt;"),
        ('<div onclick="alert(1)">\n\nx\n\n</div>\n', "&lt;div onclick=&quot;alert(1)&quot;&gt;"),
        ("<details ontoggle=alert(1)>\n", "&lt;details ontoggle=alert(1)&gt;"),
    ],
)
def test_the_comment_renders_with_only_the_tags_the_report_writes(markdown: str, html: str) -> None:
    rendered = report_html(markdown)

    assert html in rendered
    assert "<script" not in rendered and "<img" not in rendered and "<div" not in rendered
