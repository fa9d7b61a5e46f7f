"""`tidegate dags check` with a real Airflow 3: DAG files with known defects are each reported by
file (and line where there is one), a clean file passes, and `tidegate ci` runs it on changed files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ci.repos import branch_off_production, commit, make_repository
from tests.cli.conftest import invoke
from tests.conftest import write_files

CLEAN = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, tags=["t"],
         default_args={{"owner": "data", "retries": 1}}):
    first = EmptyOperator(task_id="first")
    second = EmptyOperator(task_id="second")
    first >> second{cycle}
"""

DEFECTS = {
    "dags/clean.py": CLEAN.format(dag_id="clean", cycle=""),
    "dags/syntax.py": "from airflow.sdk import DAG\nwith DAG('s' as d:\n    pass\n",
    "dags/missing_import.py": "import pandas_but_misspelled\n" + CLEAN.format(dag_id="missing", cycle=""),
    "dags/cycle.py": CLEAN.format(dag_id="cyclic", cycle=" >> first"),
    "dags/duplicate.py": CLEAN.format(dag_id="clean", cycle=""),
    "dags/db_at_import.py": "import sqlite3\nrows = sqlite3.connect(':memory:').execute('select 1')\n"
    + CLEAN.format(dag_id="db", cycle=""),
}


def project(tmp_path: Path, python: str, files: dict[str, str]) -> Path:
    root = tmp_path / "project"
    config = f"name: flows\norchestration:\n  airflow:\n    python: {python}\n"
    write_files(root, {"tidegate.yml": config, **files})
    return root


def test_each_defect_is_reported_by_file_and_a_clean_file_passes(tmp_path: Path, airflow_python: str) -> None:
    root = project(tmp_path, airflow_python, DEFECTS)

    ran = invoke(root, "dags", "check", "--json")

    assert ran.code == 1, ran.all
    report = ran.json()
    assert report["airflow"] == airflow_python
    found = {(p["path"], p["rule"]) for p in report["problems"]}
    assert ("dags/syntax.py", "syntax") in found
    assert ("dags/missing_import.py", "import") in found
    assert ("dags/cycle.py", "cycle") in found
    assert {("dags/clean.py", "duplicate_dag_id"), ("dags/duplicate.py", "duplicate_dag_id")} & found
    assert ("dags/db_at_import.py", "import_time_work") in found
    assert not [
        p for p in report["problems"] if p["path"] == "dags/clean.py" and p["rule"] != "duplicate_dag_id"
    ]
    lines = {p["path"]: p["line"] for p in report["problems"]}
    assert lines["dags/missing_import.py"] == 1 and lines["dags/db_at_import.py"] == 2
    assert "dags/clean.py" in report["import_seconds"]


def test_a_clean_folder_passes_with_airflow(tmp_path: Path, airflow_python: str) -> None:
    root = project(tmp_path, airflow_python, {"dags/clean.py": DEFECTS["dags/clean.py"]})
    ran = invoke(root, "dags", "check", "--json")
    assert ran.code == 0, ran.all
    assert ran.json()["dags"] == {"clean": "dags/clean.py"}


def test_a_duplicate_dag_id_is_reported_for_either_file(tmp_path: Path, airflow_python: str) -> None:
    """Airflow names the file it loaded second; checking the other one alone finds it too."""
    files = {
        "dags/a_new.py": CLEAN.format(dag_id="shared", cycle=""),
        "dags/z_old.py": CLEAN.format(dag_id="shared", cycle=""),
    }
    root = project(tmp_path, airflow_python, files)
    for path in files:
        ran = invoke(root, "dags", "check", str(root / path), "--json")
        assert ran.code == 1, ran.all
        assert [p["rule"] for p in ran.json()["problems"]] == ["duplicate_dag_id"]


def test_without_airflow_the_static_checks_still_run(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"tidegate.yml": "name: flows\n", **{k: DEFECTS[k] for k in ("dags/clean.py", "dags/syntax.py")}},
    )
    ran = invoke(tmp_path, "dags", "check", "--json")
    assert ran.code == 1
    assert [(p["path"], p["rule"], p["line"]) for p in ran.json()["problems"]] == [
        ("dags/syntax.py", "syntax", 2)
    ]


def test_ci_checks_the_changed_dag_files(tmp_path: Path, airflow_python: str) -> None:
    root = branch_off_production(make_repository(tmp_path / "repo"))
    config = (
        root / "tidegate.yml"
    ).read_text() + f"orchestration:\n  airflow:\n    python: {airflow_python}\n"
    write_files(root, {"tidegate.yml": config, "dags/cycle.py": DEFECTS["dags/cycle.py"]})
    commit(root, "a DAG with a cycle")

    ran = invoke(root, "ci", "--base", "main", "--head", "HEAD", "--pr", "3", "--json")

    assert ran.code == 1, ran.all
    step = next(s for s in ran.json()["steps"] if s["name"] == "dags")
    assert step["status"] == "failed"
    assert [(f["path"], f["title"]) for f in step["findings"]] == [("dags/cycle.py", "DAG cycle")]
    assert json.dumps(step).count("Cycle detected") >= 1
