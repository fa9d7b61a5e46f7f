"""`wait_for_arrival` against a real Airflow 3 (api-server, dag-processor, scheduler): what its
REST API reports after DAG files land in its folder."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ci.repos import PIPELINE_CONFIG, commit, git
from tests.cli.conftest import invoke
from tests.conftest import LAYERED, write_files
from tests.orchestrate.airflow_server import PASSWORD, USER, AirflowServer
from tidegate.errors import CheckFailed
from tidegate.orchestrate.arrival import AirflowApiError, wait_for_arrival

pytestmark = pytest.mark.xdist_group("airflow")  # one Airflow per session, on one worker

GOOD = """\
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="noop")
"""

BROKEN = """\
from datetime import datetime

from airflow.sdk import DAG
import tidegate_no_such_module

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule=None):
    pass
"""


@pytest.fixture
def dags(airflow_api: AirflowServer) -> Iterator[Path]:
    """Airflow's DAGs folder; the files a test writes there are removed after it."""
    before = set(airflow_api.dags.rglob("*.py"))
    yield airflow_api.dags
    for path in set(airflow_api.dags.rglob("*.py")) - before:
        path.unlink()


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))


def _jwt(server: AirflowServer) -> str:
    request = urllib.request.Request(
        f"{server.url}/auth/token",
        data=json.dumps({"username": USER, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["access_token"])


@pytest.mark.parametrize("auth", ["user:password", "jwt"])
def test_shipped_dags_arrive_once_airflow_parsed_them(
    airflow_api: AirflowServer, dags: Path, auth: str
) -> None:
    since = datetime.now(UTC)
    _write(dags, f"arrive_{auth[:3]}.py", GOOD.format(dag_id=f"arrive_{auth[:3]}"))
    _write(dags, f"team/arrive_{auth[:3]}_b.py", GOOD.format(dag_id=f"arrive_{auth[:3]}_b"))
    token = airflow_api.token if auth == "user:password" else _jwt(airflow_api)
    heard: list[str] = []

    arrival = wait_for_arrival(
        airflow_api.url + "/",
        token,
        [f"arrive_{auth[:3]}.py", f"team/arrive_{auth[:3]}_b.py"],
        since=since,
        timeout=60,
        progress=heard.append,
        poll=0.5,
    )

    assert arrival.dags == {
        f"arrive_{auth[:3]}": f"arrive_{auth[:3]}.py",
        f"arrive_{auth[:3]}_b": f"team/arrive_{auth[:3]}_b.py",
    }
    assert all(token not in line for line in heard)


def test_an_import_error_in_airflow_fails_naming_the_file_and_line(
    airflow_api: AirflowServer, dags: Path
) -> None:
    since = datetime.now(UTC)
    _write(dags, "arrive_ok.py", GOOD.format(dag_id="arrive_ok"))
    _write(dags, "etl/arrive_broken.py", BROKEN.format(dag_id="arrive_broken"))

    with pytest.raises(CheckFailed) as caught:
        wait_for_arrival(
            airflow_api.url,
            airflow_api.token,
            ["arrive_ok.py", "etl/arrive_broken.py"],
            since=since,
            timeout=60,
            folder="./dags/",
            poll=0.5,
        )

    error = caught.value
    assert (error.path, error.line, error.exit_code) == ("dags/etl/arrive_broken.py", 4, 1)
    assert "No module named 'tidegate_no_such_module'" in error.message
    assert PASSWORD not in str(error)


def test_an_import_error_from_before_the_upload_does_not_count(
    airflow_api: AirflowServer, dags: Path
) -> None:
    """Deploying the fix of a broken file: its old import error stays in Airflow until the new
    file is parsed, and must not fail the new deploy."""
    _write(dags, "arrive_fixed.py", BROKEN.format(dag_id="arrive_fixed"))
    with pytest.raises(CheckFailed):
        wait_for_arrival(
            airflow_api.url,
            airflow_api.token,
            ["arrive_fixed.py"],
            since=datetime.now(UTC),
            timeout=60,
            poll=0.5,
        )

    since = datetime.now(UTC)
    _write(dags, "arrive_fixed.py", GOOD.format(dag_id="arrive_fixed"))
    arrival = wait_for_arrival(
        airflow_api.url, airflow_api.token, ["arrive_fixed.py"], since=since, timeout=60, poll=0.5
    )

    assert arrival.dags == {"arrive_fixed": "arrive_fixed.py"}


def test_a_file_airflow_never_parses_times_out_naming_it(airflow_api: AirflowServer, dags: Path) -> None:
    since = datetime.now(UTC)
    _write(dags, "arrive_here.py", GOOD.format(dag_id="arrive_here"))

    with pytest.raises(CheckFailed) as caught:
        wait_for_arrival(
            airflow_api.url,
            airflow_api.token,
            ["arrive_here.py", "arrive_elsewhere.py"],
            since=since,
            timeout=6,
            poll=0.5,
        )

    assert "had not parsed arrive_elsewhere.py 6s after the upload" in caught.value.message
    assert "arrive_here.py" not in caught.value.message


def test_refused_credentials_fail_without_showing_them(airflow_api: AirflowServer) -> None:
    with pytest.raises(AirflowApiError) as caught:
        wait_for_arrival(
            airflow_api.url, f"{USER}:wrong-{PASSWORD}", ["any.py"], since=datetime.now(UTC), timeout=30
        )

    assert "401" in caught.value.message
    assert PASSWORD not in str(caught.value)


def test_deploy_into_the_folder_airflow_reads_fails_on_its_import_error(
    airflow_api: AirflowServer, tmp_path: Path
) -> None:
    """`tidegate deploy` ships a release into the folder this Airflow reads and waits for it:
    the real dag-processor's import error stops it, naming the project's file and line; the
    fixed commit then arrives."""
    root = tmp_path / "repo"
    target = (
        "orchestration:\n  airflow:\n    targets:\n"
        f"      staging: {{to: {airflow_api.target}, api_url: '{airflow_api.url}', "
        "token: '${TIDEGATE_TEST_AIRFLOW}', parse_timeout: 90s}\n"
    )
    write_files(
        root,
        {
            "tidegate.yml": PIPELINE_CONFIG + target,
            **LAYERED,
            "dags/deploy_ok.py": GOOD.format(dag_id="deploy_ok"),
            "dags/etl/deploy_broken.py": BROKEN.format(dag_id="deploy_broken"),
            ".gitignore": ".tidegate/\n*.duckdb\n*.duckdb.wal\n",
        },
    )
    git(root, "init", "-q", "-b", "main")
    commit(root, "models and two DAGs, one broken")
    env = {"TIDEGATE_TEST_AIRFLOW": airflow_api.token}

    failed = invoke(root, "deploy", "--branch", "main", "--json", env=env)

    assert failed.code == 1, failed.all
    assert "dags/etl/deploy_broken.py:4" in failed.stderr
    assert "No module named 'tidegate_no_such_module'" in failed.stderr
    assert "models of staging are deployed at version 1" in failed.stderr
    assert PASSWORD not in failed.all
    assert (airflow_api.dags / "etl" / "deploy_broken.py").is_file()  # shipped, then refused by Airflow

    write_files(root, {"dags/etl/deploy_broken.py": GOOD.format(dag_id="deploy_broken")})
    commit(root, "the DAG imports")
    fixed = invoke(root, "deploy", "--branch", "main", "--json", env=env)

    assert fixed.code == 0, fixed.all
    assert fixed.json()["dags"]["arrival"]["dags"] == {
        "deploy_broken": "dags/etl/deploy_broken.py",
        "deploy_ok": "dags/deploy_ok.py",
    }
