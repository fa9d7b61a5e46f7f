"""The controller's web dashboard, served at `/` by `tidegate serve` from the same process and
the same data as the JSON API: environments, runs, pull requests, models with their lineage,
drift and infrastructure.

Pages are rendered on the server (Jinja2) and read without JavaScript; the little script there
is (live logs over server-sent events, the lineage graph's interaction) ships in `static/`. Pages
that change something need the API token, given once in a login form that sets an HttpOnly,
SameSite cookie, and every form POST carries a CSRF token.

- `render`: the templates and the one function pages answer with.
- `auth`: login, the session cookie, CSRF.
- `pages`: environments (history, versions compared, rollback and sync), drift and infrastructure.
- `runs`: runs with their steps, report and live log (server-sent events), pull requests.
- `models`: models and their lineage graph (`lineage_svg` draws it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from tidegate.server.controller import Controller

STATIC = "/static"


def routes(controller: Controller) -> list[BaseRoute]:
    """The dashboard's routes, to be mounted beside the API's."""
    from pathlib import Path

    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from tidegate.server.dashboard import auth, models, pages, runs

    gate = auth.Gate(controller)
    return [
        *auth.routes(gate),
        *pages.routes(controller, gate),
        *runs.routes(controller, gate),
        *models.routes(controller, gate),
        Mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
