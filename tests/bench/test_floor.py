"""The engine floor: tidegate's statements from its saved plan, run on DuckDB alone, beside its figures."""

from pathlib import Path

import pytest

from compare import GOALS, Results, report
from generate import breaking_variant, choose_change_target, generate_project
from peers.base import Change, Sample
from peers.tidegate import TidegatePeer


def test_the_report_sets_each_figure_beside_its_floor() -> None:
    taken = Results("test")
    taken.add(200, "tidegate", "ci", Sample(1.2, 120))
    taken.add(200, "dbt-core", "ci", Sample(6.0, 300))
    taken.add(200, "engine floor", "ci", Sample(0.5, 80))
    taken.add(200, "engine floor", "ci", Sample(0.6, 80))
    text = report(taken, None)
    assert (
        "| measure | tidegate (s) | dbt-core (s) | dbt-core / tidegate | engine floor (s) | tidegate / floor |"
        in text
    )
    assert "| CI for one breaking change | 1.20 | 6.00 | 5.0x | 0.50 | 2.4x |" in text
    assert "| peak memory of one command (MiB) | 120 | 300 | | 80 | |" in text
    within = next(goal for goal in GOALS if goal.within is not None)
    assert within.verdict(taken) == ("**FAIL**", "1.20 s / 0.50 s = 2.4x")


@pytest.mark.slow
def test_the_floor_runs_the_statements_of_the_build_ci_and_promotion(tmp_path: Path) -> None:
    source = tmp_path / "source"
    generate_project(source, 24, "dbt")
    target = choose_change_target(source)
    peer = TidegatePeer()
    peer.setup(source, tmp_path / "tidegate", 2)
    full = peer.build()
    peer.save_built()
    build = peer.floor("build")
    change = Change(1, target.relative_to(source), breaking_variant(target.read_text(), 1))
    peer.restore_built()
    ci = peer.ci(change)
    floor_ci, floor_promote = peer.floor("ci"), peer.floor("promote")
    for sample in (build, floor_ci, floor_promote):
        assert sample.seconds > 0 and sample.peak_mib > 0
    built = int(ci.detail.split(" snapshots built")[0])
    assert build.detail.startswith(f"statements (s): {int(full.detail.split()[0])} builds ")
    assert f"{built} builds" in floor_ci.detail and " tests " in floor_ci.detail
    assert "builds" not in floor_promote.detail and "views" in floor_promote.detail
    assert not (tmp_path / "tidegate-floor").exists()
    peer.promote(change)  # the floors left tidegate's project as they found it
