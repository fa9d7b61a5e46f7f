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
