"""`tidegate demo` runs the whole story to the end."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import invoke


def test_demo_tells_the_story(tmp_path: Path) -> None:
    ran = invoke(None, "demo", "--keep", str(tmp_path))
    assert ran.code == 0, ran.all
    out = ran.stdout
    chapters = [
        "1. Build production from Git",
        "2. Change a model",
        "3. Plan a dev environment",
        "4. Test dev",
        "5. Promote dev to prod through Git",
        "6. Roll prod back",
        "7. A pull request breaks a dashboard",
        "8. The fix passes",
        "9. Merge: deploy to staging, then prod",
        "Demo finished",
    ]
    positions = [out.index(chapter) for chapter in chapters]
    assert positions == sorted(positions)
    build, dev = out[positions[0] : positions[1]], out[positions[2] : positions[3]]
    assert "Applied staging version 1" in build  # a bound environment's first build: a deploy
    assert "production → prod: version 1, 0 snapshot(s) built" in build  # what staging ran
    assert "failed" not in build.lower()
    assert "rebuilt in dev: fct_orders;" in dev  # only the changed model is built
    assert "1 snapshot(s) to build" in dev
    assert "(1 new snapshot(s))" in dev
    promoted = out[positions[4] : positions[5]]
    assert "refused: prod changes only from Git (branches: production -> prod)" in promoted
    assert "prod is now version 2" in promoted
    assert "prod is now version 3; is_large_order in prod: False" in out
    assert "production → prod: pinned at version 3" in out  # the rollback holds until a new commit
    broken, fixed, merged = (out[positions[i] : positions[i + 1]] for i in (6, 7, 8))
    assert "CI failed" in broken and "revenue_overview" in broken and "revenue_by_category" in broken
    assert "units_sold" in broken
    assert "CI passed" in fixed
    assert "main → staging: version 3, 0 snapshot(s) built" in merged
    assert "production → prod: version 4, 0 snapshot(s) built" in merged
    assert "\x1b[" not in out
    assert (tmp_path / "shop" / "warehouse.duckdb").exists()


def test_demo_json_and_a_used_keep_directory(tmp_path: Path) -> None:
    ran = invoke(None, "demo", "--keep", str(tmp_path), "--json")
    assert ran.code == 0, ran.all
    facts = ran.json()
    assert facts["dev"]["built"] == ["fct_orders"]
    assert facts["promoted"]["version"] == 2
    assert facts["rolled_back"] == {"version": 3, "pinned": 3}
    assert facts["tests"]["passed"] == facts["tests"]["total"] > 0
    assert facts["ci_broken"] == {"passed": False, "failed": ["impact"]}
    assert facts["ci_fixed"]["passed"] is True
    assert facts["deployed"] == {"environment": "prod", "version": 4, "built": []}
    assert "Demo finished" in ran.stderr
    ran = invoke(None, "demo", "--keep", str(tmp_path))
    assert ran.code == 2
    assert "already exists" in ran.stderr
