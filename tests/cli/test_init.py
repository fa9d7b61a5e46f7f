"""`tidegate init`: a new project builds as it is; an existing project is never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import invoke


def test_shop_example_builds_production_and_passes_every_test(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    ran = invoke(None, "init", str(root), "--example", "shop")
    assert ran.code == 0, ran.all
    assert (root / "tidegate.yml").exists()
    assert "tidegate plan prod --auto-apply" in ran.stdout

    ran = invoke(root, "plan", "prod", "--auto-apply", "--json")
    assert ran.code == 0, ran.all
    document = ran.json()
    applied = document["apply"]
    assert applied["version"] == 1
    assert len(applied["built"]) == document["summary"]["builds"] >= 20
    assert applied["tests"], "the example has tests"
    assert all(test["passed"] for test in applied["tests"])
    assert {t["kind"] for t in applied["tests"]} >= {"unit"}

    ran = invoke(root, "query", "prod", "select count(*) as n from fct_orders", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["rows"][0][0] > 0


def test_minimal_project_builds(tmp_path: Path) -> None:
    root = tmp_path / "new"
    assert invoke(None, "init", str(root)).code == 0
    ran = invoke(root, "plan", "prod", "--auto-apply")
    assert ran.code == 0, ran.all
    assert "Applied prod version 1" in ran.stdout
    ran = invoke(root, "envs", "--json")
    assert [e["environment"] for e in ran.json()] == ["prod"]


def test_init_defaults_to_the_project_directory_and_prints_json(tmp_path: Path) -> None:
    ran = invoke(tmp_path, "init", "--json")
    assert ran.code == 0, ran.all
    document = ran.json()
    assert document["project"] == str(tmp_path.resolve())
    assert "tidegate.yml" in document["files"]
    assert (tmp_path / "tidegate.yml").exists()


@pytest.mark.parametrize("marker", ["tidegate.yml", "dbt_project.yml"])
def test_init_into_an_existing_project_exits_2_and_changes_nothing(tmp_path: Path, marker: str) -> None:
    (tmp_path / marker).write_text("name: mine\n")
    ran = invoke(None, "init", str(tmp_path), "--example", "shop")
    assert ran.code == 2
    assert marker in ran.stderr
    assert "already" in ran.stderr
    assert "Traceback" not in ran.all
    assert (tmp_path / marker).read_text() == "name: mine\n"
    assert not (tmp_path / "models").exists()


def test_init_never_overwrites_the_users_files(tmp_path: Path) -> None:
    mine = tmp_path / "models" / "hello.sql"
    mine.parent.mkdir()
    mine.write_text("select 42 as mine")
    ran = invoke(None, "init", str(tmp_path))
    assert ran.code == 2
    assert "models/hello.sql" in ran.stderr.replace(os.sep, "/")
    assert mine.read_text() == "select 42 as mine"
    assert not (tmp_path / "tidegate.yml").exists()


def test_unknown_example_is_a_usage_error(tmp_path: Path) -> None:
    ran = invoke(None, "init", str(tmp_path / "x"), "--example", "nope")
    assert ran.code == 2
    assert "shop" in ran.stderr
