"""The dashboard's templates (Jinja2, autoescaped) and the one function every page answers with."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).parent / "templates"


@cache
def templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["short"] = lambda sha: (sha or "")[:10]
    return environment


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page of the dashboard: `template` with `context`, and what every page shows (who is
    logged in, the CSRF token of its forms, the path for the navigation)."""
    from starlette.responses import HTMLResponse

    from tidegate.server.dashboard.sessions import page_context

    html = templates().get_template(template).render(**page_context(request), **context)
    return HTMLResponse(html, status_code=status)
