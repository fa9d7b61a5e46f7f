"""Concurrent and interrupted applies never corrupt state (DESIGN section 2, "State" and "Apply").

Two applies on one environment at once: one waits or fails with a clear message; afterwards the
history is consistent. A killed apply leaves the environment as it was, leaves no lock behind,
and a rerun reuses what was already built.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CONFIG, COUNT_REFUNDS, LAYERED, rows, write_files
from tidegate.context import Context
from tidegate.state.store import SCHEMA
from tidegate.state.views import INTERNAL_PREFIX

TIDEGATE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "tidegate")

# A Python model downstream of everything; it sleeps when TIDEGATE_TEST_SLOW names a marker file,
# so the same source (and fingerprint) is slow in the killed run and fast in the rerun.
SLOW_MODEL = """
import os
import pathlib
import time


def model(big_customers):
    marker = os.environ.get("TIDEGATE_TEST_SLOW")
    if marker:
        pathlib.Path(marker).write_text("building")
        time.sleep(float(os.environ.get("TIDEGATE_TEST_SLEEP", "60")))
    return big_customers.project("customer_id, total * 2 AS doubled")
"""


def tidegate(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TIDEGATE, *args, "--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TIDEGATE_USER": "tester", **(env or {})},
    )


def assert_consistent(ctx: Context, environment: str = "prod", *, no_locks: bool = True) -> list[int]:
    """Versions 1..n without gaps, no lock left, and every view of the environment readable."""
    versions = [v.version for v in ctx.history(environment)]
    assert versions == list(range(1, len(versions) + 1))
    engine = ctx.engine(environment)
    if no_locks:
        assert engine.fetch(f"SELECT * FROM {SCHEMA}.locks").rows == []
    for name, record in ctx.current(environment).models.items():
        if record.physical:
            ctx.show(environment, name, limit=1)
    return versions


def snapshot_rows(ctx: Context) -> dict[str, list[tuple[object, ...]]]:
    return {
        name: sorted(rows(ctx, f"select * from {name}"))
        for name in ("stg_orders", "customer_totals", "big_customers", "order_count")
    }


def test_two_contexts_applying_one_environment_in_threads(layered: Path, open_context) -> None:
    """Two Context objects in one process share the DuckDB file; the state lock serializes them."""
    outcomes: dict[int, object] = {}
    start = threading.Barrier(3)

    def run(i: int) -> None:
        ctx = Context(layered)
        try:
            start.wait()
            _, result = ctx.plan_and_apply("prod")
            outcomes[i] = result.version if result else None
        except BaseException as error:  # pragma: no cover - reported by the assertion
            outcomes[i] = error
        finally:
            ctx.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values(), key=str) == [1, None, None]
    ctx = open_context(layered)
    assert assert_consistent(ctx) == [1]
    assert ctx.query("prod", "select * from big_customers").rows == [(1, 30)]


def test_a_plan_made_before_another_apply_is_refused(layered: Path, open_context) -> None:
    first, second = open_context(layered), open_context(layered)
    plan_a, plan_b = first.plan("prod"), second.plan("prod")
    first.apply(plan_a)
    try:
        second.apply(plan_b)
    except Exception as error:
        assert "moved since the plan was made" in str(error)
    else:  # pragma: no cover
        raise AssertionError("a stale plan was applied")
    assert assert_consistent(first) == [1]


def test_two_processes_applying_prod_at_once(layered: Path, open_context) -> None:
    first = open_context(layered)
    first.plan_and_apply("prod")
    first.close()  # a DuckDB file is opened by one process at a time
    write_files(layered, COUNT_REFUNDS)
    processes = [tidegate(layered, "plan", "prod", "--auto-apply") for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    codes = sorted(process.returncode for process in processes)
    assert codes in ([0, 0], [0, 1]), outputs
    for process, (_, err) in zip(processes, outputs, strict=True):
        if process.returncode == 1:
            assert "stayed locked for 5s: another tidegate process (PID" in err or "is locked by" in err, err
    ctx = open_context(layered)
    assert assert_consistent(ctx) == [1, 2]
    assert ctx.query("prod", "select total from customer_totals where customer_id = 2").rows == [(5,)]


def test_a_second_process_that_cannot_wait_long_enough_fails_clearly(make_project, open_context) -> None:
    root = make_project(
        {**LAYERED, "models/slow.py": SLOW_MODEL},
        config=CONFIG.replace("lock_timeout: 5s", "lock_timeout: 1s"),
    )
    marker = root.parent / "slow.marker"
    slow = tidegate(
        root,
        "plan",
        "prod",
        "--auto-apply",
        env={"TIDEGATE_TEST_SLOW": str(marker), "TIDEGATE_TEST_SLEEP": "4"},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert slow.poll() is None, slow.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = tidegate(root, "plan", "prod", "--auto-apply")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1, err
        assert f"warehouse.duckdb stayed locked for 1s: another tidegate process (PID {slow.pid})" in err
        assert "Traceback" not in err
    finally:
        slow.communicate(timeout=60)
    assert slow.returncode == 0
    ctx = open_context(root)
    assert assert_consistent(ctx) == [1]
    assert ctx.query("prod", "select * from slow").rows == [(1, 60)]


def test_a_killed_apply_leaves_prod_as_it_was_and_a_rerun_reuses_its_builds(
    make_project: Callable[..., Path], open_context
) -> None:
    root = make_project({**LAYERED, "models/slow.py": SLOW_MODEL})
    ctx = open_context(root)
    _, first = ctx.plan_and_apply("prod")
    assert first is not None and first.version == 1
    before = snapshot_rows(ctx)
    tables_before = set(ctx.engine("prod").relations(INTERNAL_PREFIX))
    ctx.close()

    write_files(root, COUNT_REFUNDS)
    marker = root.parent / "slow.marker"
    process = tidegate(root, "plan", "prod", "--auto-apply", env={"TIDEGATE_TEST_SLOW": str(marker)})
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    ctx = open_context(root)
    assert assert_consistent(ctx, no_locks=False) == [1]
    assert snapshot_rows(ctx) == before
    # the killed run's lock names a dead process: it is taken over at once
    with ctx.state("prod").lock("prod", timeout=0.5):
        pass
    # the builds committed before the kill are recorded; the interrupted one is not
    models = [model for model, _ in ctx.state("prod").snapshots()]
    assert models.count("customer_totals") == 2 and models.count("big_customers") == 2
    assert models.count("slow") == 1

    built_by_the_killed_run = set(ctx.engine("prod").relations(INTERNAL_PREFIX)) - tables_before
    assert len(built_by_the_killed_run) == 2

    plan, result = ctx.plan_and_apply("prod")
    assert result is not None and result.version == 2
    # only the interrupted model is built again; the others reuse the killed run's snapshots
    assert [build.model for build in plan.builds if build.reused_from is None] == ["slow"]
    changes = {change.model: change for change in plan.changes}
    assert not changes["customer_totals"].rebuild and not changes["big_customers"].rebuild
    assert result.built == ["slow"]
    new_tables = set(ctx.engine("prod").relations(INTERNAL_PREFIX)) - tables_before - built_by_the_killed_run
    assert [name.split("__")[0] for _, name, _ in new_tables] == ["slow"]
    assert ctx.query("prod", "select total from customer_totals where customer_id = 2").rows == [(5,)]
    assert ctx.query("prod", "select * from slow").rows == [(1, 60)]
    assert assert_consistent(ctx) == [1, 2]
    assert tables_before <= set(ctx.engine("prod").relations(INTERNAL_PREFIX))
