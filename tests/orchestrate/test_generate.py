"""`tidegate dags generate`: the DAG's shape, its tasks called one by one as a scheduler would,
and the DAG run by Apache Airflow (`dag.test()`) against DuckDB."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tidegate.cli.dags_generate  # noqa: F401  (registers `dags generate` until cli/__init__ does)
from tests.cli.conftest import invoke
from tests.conftest import CONFIG, COUNTS_ORDERS, LAYERED, write_files
from tidegate.context import Context
from tidegate.errors import CheckFailed, PlanError
from tidegate.orchestrate import tasks
from tidegate.orchestrate.generate import DagOptions, generate_dag
from tidegate.orchestrate.layout import Layout
from tidegate.orchestrate.rules import check_source
from tidegate.project.shipping import DagRules

# LAYERED, with a singular test reading two models and a unit test
PROJECT = {
    **LAYERED,
    "tests/big_customers_have_totals.sql": """
        select b.customer_id from {{ ref('big_customers') }} b
        left join {{ ref('customer_totals') }} t on t.customer_id = b.customer_id
        where t.customer_id is null
    """,
    **COUNTS_ORDERS,
}
MODELS = {
    "raw_orders": [],
    "stg_orders": ["raw_orders"],
    "customer_totals": ["stg_orders"],
    "order_count": ["stg_orders"],
    "big_customers": ["customer_totals"],
}
TESTS = {
    "customer_totals": ["customer_totals"],
    "order_count": ["order_count"],
    "big_customers": ["customer_totals", "big_customers"],
}
# customer 1 comes twice: customer_totals' unique test fails
DUPLICATES = """
    select customer_id, amount as total, 1 as orders
    from {{ ref('stg_orders') }} where status = 'paid'
"""


def project(root: Path, files: dict[str, str] = PROJECT) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tidegate.yml").write_text(CONFIG)
    write_files(root, files)
    return root


def generate(root: Path, out: Path | None = None, **options: Any) -> Path:
    with Context(root) as ctx:
        dag = generate_dag(ctx, DagOptions(**options))
    target = out or root / "dags" / f"{dag.dag_id}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dag.source)
    return target


def constants(source: str) -> dict[str, Any]:
    """The DAG file's module-level constants, read without running it."""
    return {
        target.id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.Dict))
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.isupper() and target.id != "RUN"
    }


def expected_upstreams(models: dict[str, list[str]], tests: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each task's upstream task ids, as the DAG must wire them."""
    upstreams = {"plan": [], "swap": sorted([f"build_{m}" for m in models] + [f"test_{m}" for m in tests])}
    for model, reads in models.items():
        upstreams[f"build_{model}"] = sorted(f"build_{name}" for name in reads) or ["plan"]
    for model, reads in tests.items():
        upstreams[f"test_{model}"] = sorted(f"build_{name}" for name in reads)
    return upstreams


def prod(root: Path) -> tuple[int, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """prod's version and the rows of two of its models, read through tidegate."""
    with Context(root) as ctx:
        return (
            ctx.current("prod").version,
            ctx.query("prod", "select * from customer_totals order by customer_id").rows,
            ctx.query("prod", "select * from big_customers order by customer_id").rows,
        )


# the file -------------------------------------------------------------------------------


def test_the_dag_has_a_task_per_model_and_the_graph_s_dependencies(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    source = generate(root).read_text()
    found = constants(source)
    assert found["MODELS"] == MODELS
    assert found["TESTS"] == TESTS
    assert found["PROJECT"] == str(root.resolve()) and found["ENVIRONMENT"] == "prod"
    with Context(root) as ctx:
        assert found["LAYOUT"] == Layout.of(ctx.project, ctx.graph).key
    assert check_source(source, "dags/tidegate_test.py", DagRules()) == []  # `tidegate dags check`'s rules
    imports = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imports == {
        "__future__",
        "datetime",
        "airflow.sdk",
        "airflow.providers.standard.operators.python",
        "tidegate.orchestrate",
    }
    assert generate(root).read_text() == source  # generating again changes nothing


def test_the_generated_file_is_clean_python(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    path = generate(root, dag_id="shop.models", schedule=None, project_path="/opt/airflow/shop")
    source = path.read_text()
    assert 'dag_id="shop.models"' in source and "schedule=None" in source
    assert constants(source)["PROJECT"] == "/opt/airflow/shop"
    for check in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--isolated", str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_generate_command(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    ran = invoke(root, "dags", "generate", "--json", "--schedule", "none", "--env", "dev")
    assert ran.code == 0, ran.all
    report = ran.json()
    assert report["dag_id"] == "tidegate_test_dev" and report["environment"] == "dev"
    path = Path(report["path"])
    assert path == root.resolve() / "dags" / "tidegate_test_dev.py"
    assert constants(path.read_text())["ENVIRONMENT"] == "dev"
    assert invoke(root, "dags", "generate", "--env", "dev").code == 0  # its own file: regenerated
    mine = root / "dags" / "mine.py"
    mine.write_text("# a DAG written by hand\n")
    ran = invoke(root, "dags", "generate", "--out", str(mine))
    assert ran.code == 2 and "not generated by tidegate" in ran.stderr
    assert mine.read_text() == "# a DAG written by hand\n"


# the tasks, called as a scheduler would ---------------------------------------------------


def run_tasks(root: Path, run_id: str, skip: frozenset[str] = frozenset()) -> int | None:
    """plan, the builds in order, the tests, then the swap: what the DAG does, one by one;
    the tasks of the models in `skip` are left out."""
    where = (str(root), "prod", run_id)
    tasks.plan(*where, _key(root))
    with Context(root) as ctx:
        layout = Layout.of(ctx.project, ctx.graph)
    for model in [name for name in layout.models if name not in skip]:  # in topological order
        tasks.build(*where, model)
    for model in [name for name in layout.tests if name not in skip]:
        tasks.test(*where, model)
    return tasks.swap(*where)


def _key(root: Path) -> str:
    with Context(root) as ctx:
        return Layout.of(ctx.project, ctx.graph).key


def test_the_tasks_apply_the_project_and_a_failing_test_stops_the_swap(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    assert run_tasks(root, "first") == 1
    before = prod(root)
    assert before == (1, [(1, 30, 2), (3, 7, 1)], [(1, 30)])
    assert run_tasks(root, "again") is None  # nothing changed: nothing to build or swap

    write_files(root, {"models/customer_totals.sql": DUPLICATES})
    with pytest.raises(CheckFailed, match="unique_customer_totals_customer_id"):
        run_tasks(root, "duplicates")
    assert prod(root) == before


def test_the_swap_needs_every_build(tmp_path: Path) -> None:
    """A build marked done by hand (in Airflow's UI) cannot make a view point at nothing."""
    root = project(tmp_path / "shop")
    with pytest.raises(PlanError, match="not built: big_customers"):
        run_tasks(root, "skipped", skip=frozenset({"big_customers"}))
    with Context(root) as ctx:
        assert ctx.state("prod").current("prod") is None
    assert tasks.build(str(root), "prod", "skipped", "big_customers") is not None
    assert tasks.build(str(root), "prod", "skipped", "big_customers") is None  # built: a retry is a no-op
    assert tasks.swap(str(root), "prod", "skipped") == 1


def test_a_dag_of_another_model_graph_refuses_to_plan(tmp_path: Path) -> None:
    root = project(tmp_path / "shop")
    stale = _key(root)
    write_files(root, {"models/extra.sql": "select 1 as one"})
    with pytest.raises(PlanError, match="another version of the model graph"):
        tasks.plan(str(root), "prod", "run", stale)
    write_files(root, {"models/order_count.sql": "select 2 as n"})  # SQL changes need no new DAG
    tasks.plan(str(root), "prod", "run", _key(root))


# Airflow --------------------------------------------------------------------------------

RUNNER = """
import json, runpy, sys, time
from airflow.utils.db import initdb
initdb()
report = {}
for path in sys.argv[1:]:
    started = time.perf_counter()
    dag = runpy.run_path(path)["dag"]
    run = dag.test()
    report[dag.dag_id] = {
        "upstreams": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "state": str(run.state),
        "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()},
        "seconds": time.perf_counter() - started,
    }
print(json.dumps(report))
"""


def test_airflow_runs_the_dag_and_builds_the_models(tmp_path: Path, airflow_python: str) -> None:
    """Two DAGs in one Airflow: one builds a new prod; the other's failing test stops its
    swap and leaves its prod as it was."""
    dags = tmp_path / "dags"
    fresh = project(tmp_path / "fresh")
    generate(fresh, dags / "fresh.py", dag_id="fresh", schedule=None)
    failing = project(tmp_path / "failing")
    with Context(failing) as ctx:
        ctx.plan_and_apply("prod")
    before = prod(failing)
    write_files(failing, {"models/customer_totals.sql": DUPLICATES})
    generate(failing, dags / "failing.py", dag_id="failing", schedule=None)

    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [airflow_python, "-c", RUNNER, str(dags / "fresh.py"), str(dags / "failing.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"Airflow ran both DAGs in {time.perf_counter() - started:.1f}s")

    ran = report["fresh"]
    assert ran["upstreams"] == expected_upstreams(MODELS, TESTS)
    assert ran["state"] == "success", ran["tasks"]
    assert set(ran["tasks"].values()) == {"success"}
    version, totals, big = prod(fresh)
    assert version == 1
    assert totals == [(1, 30, 2), (3, 7, 1)] and big == [(1, 30)]

    ran = report["failing"]
    assert ran["state"] == "failed"
    assert ran["tasks"]["test_customer_totals"] == "failed"
    assert ran["tasks"]["swap"] == "upstream_failed"
    assert ran["tasks"]["build_customer_totals"] == "success"  # a snapshot nothing reads yet
    assert prod(failing) == before
