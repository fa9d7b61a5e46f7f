"""`tidegate init`: a new project builds as it is; an existing project is never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ci.repos import git
from tests.cli.conftest import invoke


def test_shop_example_builds_production_and_passes_every_test(tmp_path: Path) -> None:
    """prod and staging change only from Git in the shop: init says how the first build goes
    (commit, deploy main to staging, then production to prod), and it goes that way."""
    root = tmp_path / "shop"
    ran = invoke(None, "init", str(root), "--example", "shop")
    assert ran.code == 0, ran.all
    assert (root / "tidegate.yml").exists()
    assert "tidegate deploy --branch main" in ran.stdout
    assert "git branch production && tidegate deploy --branch production" in ran.stdout
    assert invoke(root, "plan", "prod", "--auto-apply").code == 2  # not in git yet: refused

    _commit(root)
    ran = invoke(root, "deploy", "--branch", "main", "--json")
    assert ran.code == 0, ran.all
    document = ran.json()
    assert document["version"] == 1
    assert len(document["built"]) == document["summary"]["builds"] >= 20
    git(root, "branch", "production")
    ran = invoke(root, "deploy", "--branch", "production", "--json")
    assert ran.code == 0, ran.all
    assert (ran.json()["version"], ran.json()["built"]) == (1, [])  # what staging built and tested

    ran = invoke(root, "test", "prod", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["tests"], "the example has tests"
    assert {t["kind"] for t in ran.json()["tests"]} >= {"unit"}
    ran = invoke(root, "query", "prod", "select count(*) as n from fct_orders", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["rows"][0][0] > 0


def test_minimal_project_builds(tmp_path: Path) -> None:
    root = tmp_path / "new"
    ran = invoke(None, "init", str(root))
    assert ran.code == 0
    assert "tidegate deploy --branch main" in ran.stdout
    _commit(root)
    ran = invoke(root, "deploy", "--branch", "main")
    assert ran.code == 0, ran.all
    assert "Applied prod version 1" in ran.stdout
    ran = invoke(root, "envs", "--json")
    assert [e["environment"] for e in ran.json()] == ["prod"]


def _commit(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first version")


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
