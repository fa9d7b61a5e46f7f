"""`tidegate databricks`: the group; its commands are imported when one runs (`databricks_run`,
`databricks_jobs`), so that the Databricks client code costs nothing to the other commands' start-up."""

from __future__ import annotations

from tidegate.cli import LazyGroup, cli


@cli.group(
    "databricks",
    cls=LazyGroup,
    lazy_commands={
        "run": "tidegate.cli.databricks_run",
        "plan": "tidegate.cli.databricks_jobs",
        "drift": "tidegate.cli.databricks_jobs",
    },
)
def databricks() -> None:
    """Databricks jobs at the tested commit, through the Jobs API 2.1 with a Git source: one-time
    runs (`run`), and the jobs of databricks/jobs/*.yml that `tidegate deploy` keeps (`plan`, `drift`).

    Credentials come from DATABRICKS_HOST (the workspace's URL) and DATABRICKS_TOKEN (a personal
    access token or a service principal's), never from options, and are never printed.
    """
