"""The static rules of `tidegate dags check`, as a table: each source, the problems found."""

from __future__ import annotations

import pytest

from tidegate.orchestrate.rules import check_source
from tidegate.project.shipping import DagRules

GOOD = """
from datetime import datetime
from airflow.sdk import DAG, Variable, task
DEFAULTS = {"owner": "data", "retries": 2}
with DAG("good", start_date=datetime(2024, 1, 1), schedule="@daily", tags=["sales"], default_args=DEFAULTS):
    @task
    def load():
        return Variable.get("threshold")  # inside a task: fine
    load()
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (GOOD, []),
        ("def broken(:\n    pass\n", [(1, "syntax")]),
        ("from airflow.sdk import Variable\nx = Variable.get('x')\n", [(2, "import_time_work")]),
        ("import psycopg\nconnection = psycopg.connect('dbname=x')\n", [(2, "import_time_work")]),
        ("import requests\nclass C:\n    data = requests.get('http://x')\n", [(3, "import_time_work")]),
        (
            "from h import PostgresHook\nrows = PostgresHook('c').get_records('select 1')\n",
            [(2, "import_time_work")],
        ),
        (
            GOOD.replace("datetime(2024, 1, 1)", "datetime.now()"),
            [(5, "static_start_date")],
        ),
        (
            "from airflow.utils.dates import days_ago\nargs = {'start_date': days_ago(1)}\n",
            [(2, "static_start_date")],
        ),
        (GOOD.replace('tags=["sales"], ', ""), [(5, "tags")]),
        (GOOD.replace('"retries": 2', '"email": "x"'), [(5, "retries")]),
        (
            "from airflow.sdk import dag\n@dag(schedule=None)\ndef flow():\n    pass\n",
            [(2, "owner"), (2, "retries"), (2, "tags")],
        ),
        (
            "from airflow.sdk import dag\n@dag\ndef flow():\n    pass\n",
            [(2, "owner"), (2, "retries"), (2, "tags")],
        ),
        (
            "from h import PostgresHook\nhook = PostgresHook('c')\nrows = hook.get_records('q')\n",
            [(3, "import_time_work")],
        ),
        (
            GOOD.replace("datetime(2024, 1, 1)", "START").replace(
                "DEFAULTS =", "START = pendulum.now()\nDEFAULTS ="
            ),
            [(4, "static_start_date")],
        ),
    ],
)
def test_static_rules(source: str, expected: list[tuple[int, str]]) -> None:
    problems = check_source(source, "dags/x.py", DagRules())
    assert [(p.line, p.rule) for p in problems] == expected
    assert all(p.path == "dags/x.py" for p in problems)


def test_rules_can_be_turned_off() -> None:
    source = GOOD.replace('tags=["sales"], ', "").replace("datetime(2024, 1, 1)", "datetime.now()")
    assert check_source(source, "d.py", DagRules(tags=False, static_start_date=False)) == []
