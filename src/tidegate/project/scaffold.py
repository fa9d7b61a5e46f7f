"""New projects: copy a built-in example (`minimal` or `shop`) into a directory, and write the
CI/CD pipeline file of a project (`tidegate init --ci github|gitlab`).

Shared by `tidegate init` and `tidegate demo`, so what the demo shows is what a user gets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tidegate.errors import ConfigError, GitError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GITIGNORE = """\
# tidegate: the local warehouse and the load cache are not source
*.duckdb
*.duckdb.wal
.tidegate/
"""


def example_files(example: str) -> list[Path]:
    """The files of an example, relative to its folder."""
    source = EXAMPLES / example
    if not source.is_dir():
        raise ConfigError(f"unknown example {example!r}")
    return [
        path.relative_to(source)
        for path in sorted(source.rglob("*"))
        if path.is_file()
        and not {"__pycache__", ".tidegate"} & set(path.parts)  # caches are never part of an example
        and ".duckdb" not in path.name
    ]


PROJECT_MARKERS = ("tidegate.yml", "dbt_project.yml")


def is_project(directory: Path) -> bool:
    return any((directory / marker).is_file() for marker in PROJECT_MARKERS)


def create_project(target: Path, example: str = "minimal") -> list[Path]:
    """Copy `example` into `target` without overwriting anything; returns the files written."""
    for marker in PROJECT_MARKERS:
        if (target / marker).exists():
            raise ConfigError(
                f"{target} is already a project (it has a {marker})",
                path=target / marker,
                hint="choose another directory, e.g. `tidegate init new_project`",
            )
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a directory")
    files = example_files(example)
    clashes = [str(name) for name in files if (target / name).exists()]
    if clashes:
        raise ConfigError(
            f"{target} already has {', '.join(clashes[:5])}; refusing to overwrite",
            hint="choose an empty or new directory",
        )
    source = EXAMPLES / example
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    if not (target / ".gitignore").exists():
        (target / ".gitignore").write_text(GITIGNORE)
        files.append(Path(".gitignore"))
    return files


def pipeline_path(project_dir: Path, provider: str) -> Path:
    """Where the CI system reads its pipeline: at the top of the project's repository (a project
    not in one yet will be its top). An existing file is the user's and is never overwritten."""
    from tidegate.project.ci_files import PIPELINE_FILES

    path = _repository_root(project_dir) / PIPELINE_FILES[provider]
    if path.exists():
        raise ConfigError(
            f"{path} already exists; refusing to overwrite it",
            path=path,
            hint="move it away and run `tidegate init --ci` again, then merge your own jobs back into it",
        )
    return path


def write_pipeline(project_dir: Path, provider: str) -> Path:
    """Write the `github` or `gitlab` pipeline of the project, with the branches, credentials and
    engines of its tidegate.yml, and return its path."""
    from tidegate.project.ci_files import pipeline_settings, render_pipeline
    from tidegate.project.config import load_config

    path = pipeline_path(project_dir, provider)
    settings = pipeline_settings(project_dir, _repository_root(project_dir), load_config(project_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_pipeline(provider, settings), encoding="utf-8")
    return path


def _repository_root(directory: Path) -> Path:
    """The top of the git repository `directory` is (or will be, once created) in; the directory
    itself when it is in none."""
    from tidegate.git.repository import Repository

    directory = directory.resolve()
    existing = next(p for p in (directory, *directory.parents) if p.is_dir())
    try:
        return Repository(existing).root
    except GitError:
        return directory
