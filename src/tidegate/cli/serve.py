"""`tidegate serve`: the GitOps controller, its webhooks, API and metrics, under uvicorn."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tidegate.cli import Output, cli, command

if TYPE_CHECKING:
    from tidegate.server.controller import Controller


@command(cli)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on."
)
@click.option(
    "--once",
    is_flag=True,
    help="One pass and exit (for cron or a scheduled CI job): fetch, deploy what moved, check "
    "drift. Exit 0 all well, 1 a run failed or an environment drifted, 2 bad configuration.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line, for log collectors.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the controller keeps its clone of the repository and its runs "
    "(default: <project>/.tidegate/controller).",
)
def serve(
    host: str,
    port: int,
    once: bool,
    log_format: str,
    state_dir: Path | None,
    project_dir: Path,
    output: Output,
) -> int:
    """Keep every environment that `branches:` maps a branch to equal to its branch: fetch the
    repository (`controller.repository` in tidegate.yml, default the project's origin) into the
    controller's own clone every `controller.poll` and on each signed webhook, deploy what
    moved, run CI for pull requests, and report to the forge.

    \b
    Endpoints: POST /hooks/github, POST /hooks/gitlab, GET /api/health, GET /api/environments,
    GET /api/environments/ENV/history, GET /api/runs, GET /api/runs/ID, GET /api/drift,
    POST /api/environments/ENV/sync|rollback|unpin (Authorization: Bearer $API_TOKEN), GET /metrics.
    Examples:
      tidegate serve --project . --port 8080
      tidegate serve --once --log-format json
    """
    from tidegate.server.controller import Controller
    from tidegate.server.logs import configure

    logger = configure("json" if log_format == "json" else "text")
    project = project_dir.resolve()
    controller = Controller(
        project,
        (state_dir or project / ".tidegate" / "controller").resolve(),
        base_url=f"http://{host}:{port}",
        logger=logger,
    )
    if once:
        return controller.once()
    _run_server(controller, host, port)
    return 0


def _run_server(controller: Controller, host: str, port: int) -> None:
    """Until SIGINT or SIGTERM: uvicorn stops accepting requests, the controller lets its runs
    finish, and uvicorn raises the signal again once done, which ends here as a clean stop."""
    import uvicorn

    from tidegate.processes import Terminated
    from tidegate.server.app import create_app

    config = uvicorn.Config(
        create_app(controller), host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    with contextlib.suppress(Terminated):
        uvicorn.Server(config).run()
