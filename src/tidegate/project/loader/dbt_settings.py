"""What rendering a dbt project needs to know of it before any model renders: the target, the
packages' macros, every model and its package, and the vars each package's nodes see."""

from __future__ import annotations

from typing import Any

from tidegate.project.config import ProjectConfig
from tidegate.project.dbt import DBT_PROJECT
from tidegate.project.jinja import DbtSettings
from tidegate.project.loader.discovery import ProjectFiles


def dbt_settings(
    files: ProjectFiles,
    config: ProjectConfig,
    versions: dict[str, tuple[str, dict[str, str]]],
    command_line_variables: dict[str, Any],
) -> DbtSettings | None:
    """The renderer's settings of a dbt project; None for a tidegate project."""
    dbt = config.dbt
    if dbt is None:
        return None
    stems = {path.stem for path in files.files(config.model_paths, ".sql", ".py")}
    owners = {path.stem: dbt.name for path in files.files(config.model_paths, ".sql", ".py")}
    for path in files.package_files("models", ".sql", ".py"):
        package = files.package_of(path)
        stems.add(path.stem)
        owners[path.stem] = package.name if package else dbt.name
    return DbtSettings(
        target=_target(config),
        packages=_package_macros(files),
        models=frozenset(stems),
        versions=versions,
        model_packages=owners,
        project=dbt.name,
        dispatch=dbt.dispatch,
        package_variables={
            files.rel(package.root): {
                **package.dbt.vars,
                **config.vars,
                **dbt.vars_scoped_to(package.name),
                **command_line_variables,
            }
            for package in files.packages
        },
    )


def _target(config: ProjectConfig) -> dict[str, Any]:
    """dbt's `target`: the profile's, else (tidegate.yml decides the warehouse and
    dbt_project.yml found no profile) prod's connection."""
    assert config.dbt is not None
    if config.dbt.target is not None:
        return config.dbt.target.context()
    connection = config.connection_for("prod")
    return {
        "name": "prod",
        "target_name": "prod",
        "type": connection.engine,
        "schema": config.default_schema,
        "threads": connection.threads,
        "database": "",
        "profile_name": config.dbt.name,
    }


def _package_macros(files: ProjectFiles) -> dict[str, dict[str, str]]:
    """Package name -> {macro file: text} of every folder of `dbt_packages/` with macros (a
    package without its own dbt_project.yml is named after its folder)."""
    packages: dict[str, dict[str, str]] = {}
    base = files.root / "dbt_packages"
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if not (folder / "macros").is_dir():
            continue
        name = folder.name
        if (folder / DBT_PROJECT).is_file():
            data = files.yaml(folder / DBT_PROJECT)
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                name = data["name"]
        packages[name] = {
            files.rel(path): files.read(path) for path in sorted((folder / "macros").rglob("*.sql"))
        }
    return packages
