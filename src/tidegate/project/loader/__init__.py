"""Load a project directory into a :class:`Project`.

Loading renders every model once with placeholders for refs, parses it with sqlglot and keeps the
normalized text: everything later (fingerprints, plans, builds) works from that.

`loading` sets the order of a load; `discovery` finds and reads the files (and dbt packages),
`folder_configs` gives each node the configs of `dbt_project.yml`, `dbt_settings` what rendering
a dbt project needs; `nodes` is what every node has (dbt's node, its relation's names, its kind),
`hooks` its hooks; `seed_model`, `sql_model`, `python_model` and `snapshot_model` build each kind
of node, `data_tests` the tests, `dashboard_files` the dashboards and exposures, `sources` the
sources that read files or seeds; `state` is one load in progress, `validation` what a loaded
project must be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidegate.project.loader.loading import Loader
from tidegate.project.project import Project


def load_project(
    root: Path | str, *, variables: dict[str, Any] | None = None, manifest: Path | str | None = None
) -> Project:
    """Read, render and validate the project in `root`; every error names its file and line.
    With `manifest` (a dbt `target/manifest.json`, relative to `root`), the SQL dbt compiled is
    used instead of rendering Jinja (see `tidegate.project.manifest`)."""
    if manifest is not None:
        from tidegate.project.manifest import load_manifest_project

        return load_manifest_project(Path(root), manifest, variables=variables)
    return Loader(Path(root).resolve(), variables or {}).load()


__all__ = ["load_project"]
