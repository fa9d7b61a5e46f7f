"""Which files of a project `tidegate lint` and `tidegate ci` lint, and how each is linted:
SQL of models, tests and snapshots; macros (which must compile); Python models and DAGs; any YAML;
the `.tf` and `.tfvars` files of Terraform roots and of the local modules they call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Literal

from tidegate.errors import ConfigError
from tidegate.project.config import ProjectConfig

Kind = Literal["sql", "macro", "python", "yaml", "terraform"]

IGNORED_FOLDERS = frozenset(
    {"dbt_packages", "target", "logs", "node_modules", "__pycache__", "venv", "spark-warehouse"}
)
"""Folders that hold no source of the project (as do hidden folders such as `.git`, `.venv`)."""


def select(
    root: Path, config: ProjectConfig, paths: Sequence[str | Path] | None
) -> tuple[dict[str, Kind], list[str]]:
    """The files to lint (relative path -> kind) and the paths given that are skipped."""
    selected: dict[str, Kind] = {}
    skipped: list[str] = []
    terraform = terraform_folders(root, config)
    for target in [root] if paths is None else [_inside(root, path) for path in paths]:
        if target.is_dir():
            for file in _walk(target):
                rel = file.relative_to(root).as_posix()
                if (kind := file_kind(rel, config, terraform)) is not None:
                    selected.setdefault(rel, kind)
            continue
        rel = target.relative_to(root).as_posix()
        kind = file_kind(rel, config, terraform) if target.is_file() else None
        if kind is None:
            skipped.append(rel)
        else:
            selected.setdefault(rel, kind)
    return selected, skipped


def _inside(root: Path, path: str | Path) -> Path:
    """`path` as an absolute path in the project (lexically: a symlink in the project that
    points elsewhere is still in it)."""
    target = Path(os.path.abspath(root / path))
    if not target.is_relative_to(root):
        raise ConfigError(f"{path} is outside the project {root}")
    return target


def _walk(folder: Path) -> Iterable[Path]:
    for directory, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not _ignored(name))
        yield from (Path(directory) / name for name in sorted(names))


def _ignored(folder: str) -> bool:
    return folder.startswith(".") or folder in IGNORED_FOLDERS


def terraform_folders(root: Path, config: ProjectConfig) -> tuple[str, ...]:
    """The folders (and variables files) whose Terraform files are linted: each root of
    `terraform: roots:` that is a folder of the project, the local modules it calls, and the
    variables files it reads."""
    from tidegate.infra.terraform.roots import root_files

    found: list[str] = []
    for root_config in config.terraform.roots:
        if (root / root_config.path).is_dir():
            files = root_files(root, root_config)
            found += [*files.folders, *files.var_file_paths]
    return tuple(dict.fromkeys(found))


def file_kind(rel: str, config: ProjectConfig, terraform: Sequence[str] = ()) -> Kind | None:
    """How a project file (relative path) is linted, or None when it is not: SQL of models,
    tests and snapshots; macros (which must compile); Python models and DAGs; any YAML; the
    `.tf` and `.tfvars` files in `terraform` (`terraform_folders`: `terraform fmt` formats
    them; it leaves JSON alone)."""
    path = PurePosixPath(rel)
    if any(_ignored(folder) for folder in path.parts[:-1]):
        return None
    if path.suffix in (".tf", ".tfvars"):
        return "terraform" if under(path, terraform) or rel in terraform else None
    if path.suffix in (".yml", ".yaml"):
        return "yaml"
    if path.suffix == ".py":
        dag = config.orchestration.airflow.holds(rel)
        return "python" if dag or under(path, config.model_paths) else None
    if path.suffix != ".sql":
        return None
    generic_tests = [f"{folder}/generic" for folder in config.test_paths]
    if under(path, [*config.macro_paths, *generic_tests]):
        return "macro"
    if under(path, [*config.model_paths, *config.test_paths, *config.snapshot_paths]):
        return "sql"
    return None


def under(path: PurePosixPath, folders: Iterable[str]) -> bool:
    for folder in folders:
        parts = PurePosixPath(folder).parts
        if parts and path.parts[: len(parts)] == parts and len(path.parts) > len(parts):
            return True
    return False
