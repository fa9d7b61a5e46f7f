"""Load a dbt project from the `target/manifest.json` dbt wrote (`tidegate plan --manifest`).

tidegate renders a dbt project's Jinja itself and refuses what it cannot render (`run_query`,
`statement` blocks, `graph`...). A project that needs those can be compiled by dbt instead
(`dbt compile`, or any `dbt build`): the manifest holds every enabled node's compiled SQL, its
configs, its parents and the relation dbt named for it. Each compiled query is turned back into
tidegate's placeholder SQL (`placeholders`); from there the project is the same as one tidegate
rendered: fingerprints are of the normalized SQL.

A manifest that does not match the files is an error, never a silently older build
(`freshness`); the hint says to rerun `dbt compile`. What the manifest cannot give is refused
with the file (`nodes`), and so are `--vars` (variables are compiled into the manifest: pass them
to `dbt compile`). Unit tests and exposures come from the properties files, read as without a
manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.config import load_config
from tidegate.project.exposures import check_exposures
from tidegate.project.files import project_files, read_text
from tidegate.project.manifest.document import read_manifest
from tidegate.project.manifest.freshness import check_fresh
from tidegate.project.manifest.nodes import ManifestNodes
from tidegate.project.manifest.placeholders import Relations, read_relations, relation_key, to_placeholders
from tidegate.project.project import Project
from tidegate.project.properties import Properties
from tidegate.project.validation import check_unit_tests

__all__ = ["Relations", "load_manifest_project", "relation_key", "to_placeholders"]


def load_manifest_project(
    root: Path, manifest: Path | str, *, variables: Mapping[str, Any] | None = None
) -> Project:
    """The project in `root` as the dbt manifest `manifest` (relative to `root`) describes it."""
    root = root.resolve()
    config = load_config(root)
    document = read_manifest(root, root / Path(manifest), dict(variables or {}))
    check_fresh(document, root, config)
    relations, sources, names = read_relations(document, config.dialect)
    nodes = ManifestNodes(document, root, config, relations, names)
    models = nodes.models()
    tests = tuple(nodes.tests())
    properties = _properties(root, config.model_paths)
    check_unit_tests(properties.unit_tests, models, {})
    return Project(
        root=root,
        config=config,
        models=models,
        sources=sources,
        tests=tests,
        unit_tests=tuple(properties.unit_tests),
        dashboards=(),
        exposures=check_exposures(
            properties.exposures, models, {}, sources, properties.versions, properties.disabled_sources
        ),
        on_run_start=nodes.run_hooks("on-run-start"),
        on_run_end=nodes.run_hooks("on-run-end"),
    )


def _properties(root: Path, folders: list[str]) -> Properties:
    """The properties files, read as without a manifest: for unit tests and exposures."""
    from tidegate.project.properties import read_properties
    from tidegate.project.yamlio import load_yaml_text

    files = [
        (path.relative_to(root).as_posix(), load_yaml_text(read_text(path, error=ConfigError), str(path)))
        for path in project_files(root, folders, ".yml", ".yaml")
    ]
    return read_properties(files)
