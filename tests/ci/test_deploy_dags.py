"""`tidegate deploy` ships the environment's DAGs after its models (`orchestration: airflow:
targets:`): a shipment that fails leaves the models deployed, is recorded as failed, and the next
deploy of the same commit ships the DAGs again."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.ci.repos import PIPELINE_CONFIG, commit, git
from tests.ci.test_deploy import deploy
from tests.cli.conftest import invoke
from tests.conftest import LAYERED, write_files
from tests.orchestrate.test_check import CLEAN
from tests.stores import SECRET, Bucket


def test_dags_follow_the_models_and_a_failed_shipment_ships_with_the_next_deploy(
    tmp_path: Path, s3_bucket: Bucket
) -> None:
    late = f"{s3_bucket.name}-late"  # the staging bucket does not exist yet
    root = tmp_path / "repo"
    targets = (
        "orchestration:\n  airflow:\n    targets:\n"
        f"      staging: s3://{late}/mwaa\n      prod: {tmp_path / 'airflow-prod'}\n"
    )
    write_files(
        root,
        {
            "tidegate.yml": PIPELINE_CONFIG + targets,
            **LAYERED,
            "dags/sales.py": CLEAN.format(dag_id="sales", cycle=""),
            ".gitignore": ".tidegate/\n*.duckdb\n*.duckdb.wal\n",
        },
    )
    git(root, "init", "-q", "-b", "main")
    head = commit(root, "models and a DAG")

    failed = deploy(root, "--branch", "main")

    assert failed.code == 1, failed.all
    assert f"s3://{late}/mwaa" in failed.stderr and "NoSuchBucket" in failed.stderr
    assert "models of staging are deployed at version 1" in failed.stderr
    assert SECRET not in failed.all
    history = invoke(root, "history", "staging", "--json").json()
    assert [(v["version"], v["git_commit"]) for v in history] == [(1, head)]
    runs = last_runs(root, "staging")
    assert runs[0][0] == "failed" and runs[0][1]["error"]["step"] == "dags"
    assert runs[0][1]["version"] == 1 and runs[0][1]["dags"] is None

    s3_bucket.client.create_bucket(Bucket=late)
    again = deploy(root, "--branch", "main")

    assert again.code == 0, again.all
    record = again.json()
    assert record["built"] == [] and record["dags"]["uploaded"] == ["dags/sales.py"]
    assert last_runs(root, "staging")[0][0] == "success"
    assert deploy(root, "--branch", "main").json()["dags"]["uploaded"] == []

    git(root, "branch", "production")
    to_prod = deploy(root, "--branch", "production")

    assert to_prod.code == 0, to_prod.all
    current = tmp_path / "airflow-prod" / "current"
    assert (current / "dags" / "sales.py").is_file()
    assert os.readlink(current).endswith(to_prod.json()["dags"]["release"])


def last_runs(root: Path, environment: str) -> list[tuple[str, dict]]:
    """The deploy runs of an environment, newest first: (status, detail)."""
    ran = invoke(
        root,
        "query",
        environment,
        f"select status, detail from _tidegate.runs where command = 'deploy' and environment = '{environment}' "
        "order by finished_at desc",
        "--json",
    )
    assert ran.code == 0, ran.all
    return [(status, json.loads(detail)) for status, detail in ran.json()["rows"]]
