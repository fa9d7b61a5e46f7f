"""New projects from the built-in examples: complete, never overwriting, with a .gitignore."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.errors import ConfigError
from tidegate.project import load_project
from tidegate.project.scaffold import create_project


def test_the_shop_example_is_a_loadable_project_that_ignores_its_warehouse(tmp_path: Path) -> None:
    files = create_project(tmp_path / "shop", "shop")
    assert Path("tidegate.yml") in files and Path(".gitignore") in files
    ignored = (tmp_path / "shop" / ".gitignore").read_text().split()
    assert {".tidegate/", "*.duckdb"} <= set(ignored)
    assert len(load_project(tmp_path / "shop").models) >= 12


def test_an_existing_gitignore_is_kept(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("secrets.env\n")
    create_project(tmp_path, "minimal")
    assert (tmp_path / ".gitignore").read_text() == "secrets.env\n"


def test_nothing_is_overwritten(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "hello.sql").write_text("select 42 as mine")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        create_project(tmp_path, "minimal")
    assert (tmp_path / "models" / "hello.sql").read_text() == "select 42 as mine"
    assert not (tmp_path / "tidegate.yml").exists()
