"""The side-by-side report: goals judged from the samples, and a real run of tidegate against dbt."""

import os
from pathlib import Path

import pytest

from compare import GOALS, Results, main, report
from measure import REPO_DIR
from peers.base import Sample


def results(tidegate_ci: float, dbt_ci: float) -> Results:
    taken = Results("test")
    taken.add(200, "tidegate", "ci", Sample(tidegate_ci + 1, 100))
    taken.add(200, "tidegate", "ci", Sample(tidegate_ci, 120))
    taken.add(200, "dbt-core", "ci", Sample(dbt_ci, 300))
    taken.add(200, "tidegate", "promote", Sample(0.25, 90))
    return taken


def verdicts(taken: Results) -> dict[str, str]:
    return {goal.text: goal.verdict(taken)[0] for goal in GOALS}


def test_the_ratio_goal_uses_the_best_run_of_each_tool() -> None:
    assert verdicts(results(0.5, 6.0))["CI at least 10x faster than dbt slim CI"] == "**PASS**"
    assert verdicts(results(0.7, 6.0))["CI at least 10x faster than dbt slim CI"] == "**FAIL**"


def test_a_goal_without_figures_is_never_a_pass() -> None:
    judged = verdicts(results(0.5, 6.0))
    assert judged["CI at least 10x faster than SQLMesh plan dev"] == "n/a"
    assert judged["loading 10,000 models under 5 s, cold"] == "n/a"
    assert judged["promotion under 0.3 s"] == "**PASS**"


def test_the_report_sets_tools_side_by_side(tmp_path: Path) -> None:
    taken = results(0.5, 6.0)
    text = report(taken, None)
    assert "| CI for one breaking change | 0.50 | 6.00 | 12.0x |" in text
    assert "| peak memory of one command (MiB) | 120 | 300 |" in text
    taken.save(tmp_path / "r.json")
    assert report(Results.read(tmp_path / "r.json"), None) == text


def test_the_served_goals_set_the_controller_against_dbt_slim_ci_and_a_limit() -> None:
    taken = results(0.5, 6.0)
    taken.add(200, "tidegate", "served_ci", Sample(0.55, 200))
    taken.add(200, "tidegate", "served_deploy", Sample(0.62, 200))
    judged = {goal.measure: goal.verdict(taken) for goal in GOALS if goal.measure.startswith("served")}
    assert judged["served_ci"] == ("**PASS**", "6.00 s / 0.55 s = 10.9x")
    assert judged["served_deploy"] == ("**FAIL**", "0.62 s")
    text = report(taken, None)
    assert (
        "| CI for that change by `tidegate serve`, signed webhook to commit status | 0.55 | — | 10.9x |"
        in text
    )


def test_a_resumed_run_measures_only_what_is_missing() -> None:
    taken = results(0.5, 6.0)
    taken.notes.append("200 models, dbt-core: stopped: BenchError: dbt failed")
    assert taken.complete(200, "tidegate", ("ci", "promote"))
    assert not taken.complete(200, "dbt-core", ("ci", "promote"))
    taken.forget(200, "dbt-core")
    assert taken.best(200, "dbt-core", "ci") is None
    assert taken.notes == []
    assert taken.best(200, "tidegate", "ci") is not None


@pytest.mark.slow
def test_tidegate_and_dbt_run_the_same_sequence_on_the_same_project(tmp_path: Path) -> None:
    if not (REPO_DIR / ".venv-dbt" / "bin" / "dbt").exists():
        if os.environ.get("TIDEGATE_REQUIRE_DBT") == "1":
            pytest.fail("dbt is not installed in .venv-dbt; TIDEGATE_REQUIRE_DBT=1")
        pytest.skip("dbt is not installed in .venv-dbt (run `make .venv-dbt/.installed`)")
    out = tmp_path / "results"
    args = ["--models", "24", "--repeat", "1", "--peers", "tidegate,dbt", "--work-dir", str(tmp_path)]
    args += ["--json", f"{out}.json", "--results", f"{out}.md", "--plot", f"{out}.png"]
    assert main(args) == 0
    taken = Results.read(Path(f"{out}.json"))
    assert taken.notes == []
    for peer in ("tidegate", "dbt-core"):
        for measure in ("load_cold", "load_warm", "build", "noop", "ci", "promote"):
            best = taken.best(24, peer, measure)
            assert best is not None and best.seconds > 0, (peer, measure)
    served = taken.samples["24"]["tidegate"]
    assert "webhook to `tidegate/ci`" in served["served_ci"][0].detail
    assert "nothing built" in served["served_deploy"][0].detail
    assert "served_ci" not in taken.samples["24"]["dbt-core"]
    assert "17 snapshots built" not in taken.samples["24"]["tidegate"]["ci"][0].detail
    assert "snapshots built" in taken.samples["24"]["tidegate"]["ci"][0].detail
    assert Path(f"{out}.png").stat().st_size > 10_000
