"""Finding and reading a project's files: each folder listed once per load, paths relative to
the root as every error names them, and the dbt packages under `dbt_packages/`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.cache import YamlCache
from tidegate.project.config import ProjectConfig
from tidegate.project.dbt import DBT_PROJECT, DbtProject, read_dbt_project
from tidegate.project.files import read_text


@dataclasses.dataclass(frozen=True)
class Package:
    """A dbt package under `dbt_packages/` (as `dbt deps` leaves it) with its own project."""

    name: str
    root: Path
    dbt: DbtProject


class ProjectFiles:
    """The files of one project and of its dbt packages."""

    def __init__(self, root: Path, config: ProjectConfig, yaml_cache: YamlCache) -> None:
        self.root = root
        self.config = config
        self._yaml_cache = yaml_cache
        self._root_prefix = os.path.join(str(root), "")
        self._folder_prefixes: dict[str, str] = {}
        self._listings: dict[str, list[Path]] = {}
        """Folder -> every file below it, sorted: see `files`."""
        self.packages = _find_packages(root) if config.dbt is not None else []

    def files(self, folders: list[str], *suffixes: str) -> Iterator[Path]:
        """As `project_files`; each folder is listed once per load (the models' folder is read
        for properties, SQL and Python models, and dbt's model names)."""
        for folder in folders:
            listing = self._listings.get(folder)
            if listing is None:
                base = self.root / folder
                found = (path for path in base.rglob("*") if path.is_file()) if base.is_dir() else ()
                listing = self._listings[folder] = sorted(found)
            yield from (path for path in listing if path.suffix in suffixes)

    def package_files(self, resource: str, *suffixes: str) -> Iterator[Path]:
        """The files of every package's `model-paths` (resource `models`) or `seed-paths`."""
        for package in self.packages:
            for folder in package.dbt.model_paths if resource == "models" else package.dbt.seed_paths:
                base = package.root / folder
                if base.is_dir():
                    yield from sorted(
                        path for path in base.rglob("*") if path.suffix in suffixes and path.is_file()
                    )

    def with_packages(self, folders: list[str], resource: str, *suffixes: str) -> list[Path]:
        """The project's files in `folders` and then the packages' of `resource`."""
        return [*self.files(folders, *suffixes), *self.package_files(resource, *suffixes)]

    def package_of(self, path: Path) -> Package | None:
        return next((package for package in self.packages if path.is_relative_to(package.root)), None)

    def package_of_rel(self, rel: str) -> Package | None:
        return self.package_of(self.root / rel) if self.packages else None

    def rel(self, path: Path) -> str:
        """`path` relative to the root, as errors name files."""
        text = str(path)
        if text.startswith(self._root_prefix):  # what relative_to gives, without its cost
            return text[len(self._root_prefix) :].replace(os.sep, "/")
        return path.relative_to(self.root).as_posix()

    def yaml(self, path: Path) -> Any:
        """A project YAML file; errors name it relative to the root, like every other error."""
        rel = self.rel(path)
        return self._yaml_cache.load(read_text(path, rel, error=ConfigError), rel)

    def read(self, path: Path) -> str:
        """A project file's text; one that is not UTF-8 is a ProjectError naming it."""
        return read_text(path, self.rel(path))

    def generic_test_files(self) -> list[Path]:
        """dbt's custom generic tests in `tests/generic/`: macros, not singular tests."""
        return [path for path in self.files(self.config.test_paths, ".sql") if self.is_generic_test(path)]

    def is_generic_test(self, path: Path) -> bool:
        return any(path.is_relative_to(self.root / folder / "generic") for folder in self.config.test_paths)

    def parts_below(self, path: Path, folder: str) -> list[str] | None:
        """The folders and stem of `path` below the project's `folder`; None if not below it."""
        base = self._folder_prefixes.get(folder)
        if base is None:
            base = self._folder_prefixes[folder] = os.path.join(str(self.root / folder), "")
        text = str(path)
        if text.startswith(base):  # what relative_to gives, without its cost
            *folders, name = text[len(base) :].split(os.sep)
            return [*folders, without_suffix(name)]
        if path.is_relative_to(self.root / folder):
            return list(path.relative_to(self.root / folder).with_suffix("").parts)
        return None


def _find_packages(root: Path) -> list[Package]:
    """The packages under `dbt_packages/` that are dbt projects (with a dbt_project.yml)."""
    base = root / "dbt_packages"
    packages = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if (folder / DBT_PROJECT).is_file():
            dbt = read_dbt_project(folder, require_profile=False, profile=False)
            packages.append(Package(dbt.name, folder, dbt))
    return packages


def without_suffix(name: str) -> str:
    """A file name without its suffix, as pathlib's `with_suffix("")` makes it."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name
