"""(Interface first; the dashboard's helpers complete it.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from tidegate.server.controller import Controller
    from tidegate.server.dashboard.auth import Gate


def routes(controller: Controller, gate: Gate) -> list[BaseRoute]:
    return []
