"""The configs `dbt_project.yml` gives a node by its folder (`models:`, `seeds:`, `snapshots:`,
`data_tests:`), a package's own and the root project's `<package>:` ones, with their Jinja
rendered as dbt renders it. A tidegate project has none."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project.dbt import DBT_PROJECT, DbtProject, FolderConfig, merge_configs
from tidegate.project.jinja import Renderer
from tidegate.project.loader.discovery import ProjectFiles

_HOOKS = frozenset({"pre_hook", "post_hook"})


class FolderConfigs:
    """The folder configs of one project's nodes."""

    def __init__(
        self,
        files: ProjectFiles,
        dbt: DbtProject | None,
        renderer: Renderer,
        command_line_variables: dict[str, Any],
    ) -> None:
        self._files = files
        self._dbt = dbt
        self._renderer = renderer
        self._command_line_variables = command_line_variables
        projects = [dbt, *(package.dbt for package in files.packages)] if dbt is not None else []
        self._have_jinja = any(has_jinja(project.data) for project in projects)
        """Whether any dbt_project.yml has Jinja (in a config, or a hook), to render configs only then."""

    def of(self, resource: str, path: Path, folders: list[str]) -> FolderConfig:
        """`dbt_project.yml`'s configs for the node in `path` (none without dbt_project.yml)."""
        return self.rendered(self._unrendered(resource, path, folders))

    def of_snapshot(self, rel: str, name: str, folders: list[str]) -> FolderConfig:
        """The configs of `snapshots:` for the snapshot `name` defined in `rel`: by the folders
        of its file below the snapshots' folder, then its name."""
        if self._dbt is None:
            return FolderConfig()
        root = self._files.root
        base = next((f for f in folders if (root / rel).is_relative_to(root / f)), None)
        parts = list(Path(rel).relative_to(base).parent.parts) if base else []
        return self.rendered(self._dbt.folder_config("snapshots", [*parts, name]))

    def of_test(self, rel: str, name: str) -> FolderConfig:
        """`dbt_project.yml`'s test configs for the test `name` declared in `rel`: as dbt does,
        the test sits under the folders of its file, below the models' or tests' folder."""
        if self._dbt is None:
            return FolderConfig()
        path, projects = Path(rel), [self._dbt]
        package = self._files.package_of_rel(rel)
        if package is not None:  # the package's dbt_project.yml, then the root's `<package>:` configs
            path = (self._files.root / rel).relative_to(package.root)
            projects = [package.dbt, dataclasses.replace(self._dbt, name=package.name)]
        parts = [*path.parts[1:-1], name]
        config = FolderConfig()
        for project in projects:
            for resource in ("tests", "data_tests"):
                config = merge_configs(config, project.folder_config(resource, parts))
        return config

    def rendered(self, config: FolderConfig) -> FolderConfig:
        """Folder configs with their Jinja rendered, as dbt renders `dbt_project.yml`
        (`+enabled: "{{ var('load_raw', false) }}"`): a value that renders to a Python literal
        (`False`, `3`) becomes that value. `var()` sees the command line's variables only (those
        of `vars:` are not defined yet). Hooks are rendered later, per node."""
        if not self._have_jinja or not any(
            has_jinja(value) for key, value in config.values.items() if key not in _HOOKS
        ):
            return config
        values = {
            key: value if key in _HOOKS else self.render_value(value, config.lines.get(key))
            for key, value in config.values.items()
        }
        return FolderConfig(values, config.lines)

    def render_value(self, value: Any, line: int | None, path: str = DBT_PROJECT) -> Any:
        """A config value with its Jinja rendered: in dbt_project.yml with the command line's
        vars only, in a properties file (`path`) with the project's."""
        if isinstance(value, list):
            return [self.render_value(item, line, path) for item in value]
        if isinstance(value, dict):
            return {key: self.render_value(item, line, path) for key, item in value.items()}
        if not has_jinja(value):
            return value
        variables = self._command_line_variables if path == DBT_PROJECT else None
        try:
            text = self._renderer.render(value, path, variables=variables, mask=False).text
        except ProjectError as error:
            raise ProjectError(error.message, path=path, line=line, hint=error.hint) from None
        try:
            return ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            return text

    def _unrendered(self, resource: str, path: Path, folders: list[str]) -> FolderConfig:
        if self._dbt is None:
            return FolderConfig()
        package = self._files.package_of(path)
        if package is not None:  # the package's dbt_project.yml, then the root's `<package>:` configs
            own = package.dbt.model_paths if resource == "models" else package.dbt.seed_paths
            for folder in own:
                if path.is_relative_to(package.root / folder):
                    parts = list(path.relative_to(package.root / folder).with_suffix("").parts)
                    root = dataclasses.replace(self._dbt, name=package.name)
                    return merge_configs(
                        package.dbt.folder_config(resource, parts), root.folder_config(resource, parts)
                    )
            return FolderConfig()
        for folder in folders:
            below = self._files.parts_below(path, folder)
            if below is not None:
                return self._dbt.folder_config(resource, below)
        return FolderConfig()


def has_jinja(value: Any) -> bool:
    if isinstance(value, list):
        return any(has_jinja(item) for item in value)
    if isinstance(value, dict):
        return any(has_jinja(item) for item in value.values())
    return isinstance(value, str) and ("{{" in value or "{%" in value)
