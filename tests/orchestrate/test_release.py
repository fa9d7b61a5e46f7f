"""`tidegate dags deploy`: releases switched atomically, kept, rolled back; the image context."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.ci.repos import commit, git
from tests.cli.conftest import invoke
from tests.conftest import write_files
from tests.orchestrate.test_check import CLEAN

DAG = CLEAN.format(dag_id="sales", cycle="")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_files(
        root, {"tidegate.yml": "name: flows\n", "dags/sales.py": DAG, "plugins/helpers.py": "X = 1\n"}
    )
    (root / "requirements.txt").write_text("apache-airflow-providers-postgres\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "first DAG")
    return root


def deploy(root: Path, *args: str) -> dict:
    ran = invoke(root, "dags", "deploy", *args, "--json")
    assert ran.code == 0, ran.all
    return ran.json()


def current(target: Path) -> str:
    return Path(os.readlink(target / "current")).name


def test_a_release_is_switched_in_whole_and_rolled_back(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "airflow"
    first = deploy(repo, "--to", str(target))["release"]
    assert first.startswith(git(repo, "rev-parse", "HEAD")[:12] + "-") and current(target) == first
    original = (repo / "dags" / "sales.py").read_text()
    assert (target / "current" / "dags" / "sales.py").read_text() == original
    assert (target / "current" / "plugins" / "helpers.py").exists()
    manifest = json.loads((target / "current" / "tidegate-release.json").read_text())
    assert set(manifest["files"]) == {"dags/sales.py", "plugins/helpers.py", "requirements.txt"}

    write_files(repo, {"dags/sales.py": DAG.replace('"sales"', '"sales_v2"')})
    second = deploy(repo, "--to", str(target))["release"]
    commit(repo, "second")
    assert second != first and current(target) == second
    assert "sales_v2" in (target / "current" / "dags" / "sales.py").read_text()
    assert (target / "releases" / first / "dags" / "sales.py").read_text() == original  # untouched

    back = deploy(repo, "--to", str(target), "--rollback")
    assert (back["release"], back["previous"]) == (first, second)
    assert current(target) == first


def test_only_the_newest_releases_are_kept(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "airflow"
    ids = []
    for number in range(3):
        write_files(repo, {"dags/sales.py": DAG + f"# {number}\n"})
        ids.append(commit(repo, f"change {number}")[:12])
        deploy(repo, "--to", str(target), "--keep", "2")
    assert sorted(p.name.split("-")[0] for p in (target / "releases").iterdir()) == sorted(ids[1:])


def test_rolling_back_twice_goes_further_back(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "airflow"
    releases = []
    for number in range(3):
        write_files(repo, {"dags/sales.py": DAG + f"# {number}\n"})
        commit(repo, f"change {number}")
        releases.append(deploy(repo, "--to", str(target))["release"])
    assert deploy(repo, "--to", str(target), "--rollback")["release"] == releases[1]
    assert deploy(repo, "--to", str(target), "--rollback")["release"] == releases[0]
    assert invoke(repo, "dags", "deploy", "--to", str(target), "--rollback").code == 2


def test_the_same_commit_with_other_files_is_another_release(repo: Path, tmp_path: Path) -> None:
    """Files git ignores (generated ones) are released too: the release follows their content."""
    target = tmp_path / "airflow"
    write_files(repo, {".gitignore": "dags/generated.py\n", "dags/generated.py": "# v1\n"})
    commit(repo, "ignore generated DAGs")
    first = deploy(repo, "--to", str(target))["release"]
    write_files(repo, {"dags/generated.py": "# v2\n"})
    second = deploy(repo, "--to", str(target))["release"]
    assert second != first and (target / "current" / "dags" / "generated.py").read_text() == "# v2\n"


def test_nothing_is_deployed_when_a_check_fails(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "airflow"
    write_files(repo, {"dags/broken.py": "with DAG('x' as d:\n"})
    ran = invoke(repo, "dags", "deploy", "--to", str(target))
    assert ran.code == 1 and "dags/broken.py:1" in ran.stderr
    assert not (target / "current").exists()


def test_rollback_without_an_earlier_release_is_refused(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "airflow"
    deploy(repo, "--to", str(target))
    ran = invoke(repo, "dags", "deploy", "--to", str(target), "--rollback")
    assert ran.code == 2 and "no earlier release" in ran.stderr


def test_the_image_context_pins_the_packages_of_the_airflow_that_checked_it(
    repo: Path, tmp_path: Path, airflow_python: str
) -> None:
    write_files(
        repo, {"tidegate.yml": f"name: flows\norchestration:\n  airflow:\n    python: {airflow_python}\n"}
    )
    commit(repo, "with Airflow")
    out = tmp_path / "image"
    deploy(repo, "--image", str(out))
    dockerfile = (out / "Dockerfile").read_text()
    lock = (out / "requirements.lock").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        dockerfile.startswith("# Written by tidegate")
        and f"FROM apache/airflow:{manifest['airflow']}" in dockerfile
    )
    assert f"apache-airflow=={manifest['airflow']}" in lock and "tidegate" not in lock
    assert (
        "dags/sales.py" in manifest["files"] and (out / "build" / "releases" / manifest["release"]).is_dir()
    )


@pytest.fixture
def two_releases(repo: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """Two releases in tmp_path/airflow, the second current: (target, first, second)."""
    target = tmp_path / "airflow"
    first = deploy(repo, "--to", str(target))["release"]
    write_files(repo, {"dags/sales.py": DAG + "# two\n"})
    commit(repo, "second")
    return target, first, deploy(repo, "--to", str(target))["release"]


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ("/tmp", "'/tmp' is not a release"),
        ("../..", "'../..' is not a release"),
        ("..", "'..' is not a release"),
        ("releases/x", "'releases/x' is not a release"),
        (".incoming-x", "'.incoming-x' is not a release"),
        ("0123456789ab-deadbeef", "no release '0123456789ab-deadbeef'"),
    ],
)
def test_a_rollback_to_what_is_not_a_release_switches_and_records_nothing(
    repo: Path, two_releases: tuple[Path, str, str], release: str, message: str
) -> None:
    target, first, second = two_releases
    log = (target / "deployments.jsonl").read_text()

    ran = invoke(repo, "dags", "deploy", "--to", str(target), "--rollback", "--release", release)

    assert ran.code == 2, ran.all
    assert message in ran.stderr and first in ran.stderr  # the hint lists the releases there are
    assert current(target) == second
    assert (target / "deployments.jsonl").read_text() == log


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: (folder / "tidegate-release.json").write_text("{not json"), "no readable manifest"),
        (lambda folder: (folder / "tidegate-release.json").unlink(), "no readable manifest"),
        (lambda folder: (folder / "dags" / "sales.py").write_text("# changed\n"), "dags/sales.py"),
    ],
)
def test_a_rollback_to_a_damaged_release_switches_and_records_nothing(
    repo: Path, two_releases: tuple[Path, str, str], damage: object, message: str
) -> None:
    target, first, second = two_releases
    damage(target / "releases" / first)  # type: ignore[operator]
    log = (target / "deployments.jsonl").read_text()

    ran = invoke(repo, "dags", "deploy", "--to", str(target), "--rollback", "--release", first)

    assert ran.code == 2, ran.all
    assert f"release {first}" in ran.stderr and message in ran.stderr
    assert "nothing was switched" in ran.stderr
    assert current(target) == second
    assert (target / "deployments.jsonl").read_text() == log


def test_a_rollback_to_a_named_release_switches_and_records_it(
    repo: Path, two_releases: tuple[Path, str, str]
) -> None:
    target, first, second = two_releases

    back = deploy(repo, "--to", str(target), "--rollback", "--release", first)

    assert (back["release"], back["previous"], current(target)) == (first, second, first)
    last = json.loads((target / "deployments.jsonl").read_text().splitlines()[-1])
    assert (last["release"], last["rollback"]) == (first, True)
