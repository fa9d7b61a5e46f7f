"""New projects: copy a built-in example (`minimal` or `shop`) into a directory.

Shared by `tidegate init` and `tidegate demo`, so what the demo shows is what a user gets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tidegate.errors import ConfigError

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
        if path.is_file() and "__pycache__" not in path.parts and ".duckdb" not in path.name
    ]


def create_project(target: Path, example: str = "minimal") -> list[Path]:
    """Copy `example` into `target` without overwriting anything; returns the files written."""
    for marker in ("tidegate.yml", "dbt_project.yml"):
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
