"""Planning a wide project: each ephemeral model compiles once per plan, not once per reader."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tidegate.plan.compile as compile_module
from tidegate.context import Context

WIDTH = 300
MIDDLE = WIDTH // 2


def _wide(make_project: Callable[..., Path]) -> Path:
    """A chain of tables up to an ephemeral model in the middle, which every later model reads
    (the later ones through a second ephemeral model too), with a test on each reader."""
    files = {"models/m000.sql": "select 1 as id, 'a' as name"}
    for index in range(1, MIDDLE):
        files[f"models/m{index:03}.sql"] = f"select id, name from {{{{ ref('m{index - 1:03}') }}}}"
    files["models/eph.sql"] = (
        f"{{{{ config(materialized='ephemeral') }}}} select id, name from {{{{ ref('m{MIDDLE - 1:03}') }}}}"
    )
    files["models/eph_b.sql"] = (
        "{{ config(materialized='ephemeral') }} select id * 2 as id from {{ ref('eph') }}"
    )
    for index in range(MIDDLE, WIDTH):
        files[f"models/m{index:03}.sql"] = (
            "select e.id, e.name, b.id as doubled from {{ ref('eph') }} as e "
            "join {{ ref('eph_b') }} as b on b.id = e.id * 2"
        )
    tests = "\n".join(
        f"  - name: m{index:03}\n    columns:\n      - name: id\n        data_tests: [not_null]"
        for index in range(MIDDLE, WIDTH)
    )
    files["models/schema.yml"] = f"version: 2\nmodels:\n{tests}\n"
    return make_project(files)


def test_each_ephemeral_model_compiles_once_per_plan(
    make_project: Callable[..., Path], open_context: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = open_context(_wide(make_project))
    ephemeral = {ctx.project.models[name].sql: name for name in ("eph", "eph_b")}
    compiled: Counter[str] = Counter()
    original = compile_module.compile_sql

    def counting(sql: str, *args: Any, **options: Any) -> str:
        if sql in ephemeral:
            compiled[ephemeral[sql]] += 1
        return original(sql, *args, **options)

    monkeypatch.setattr(compile_module, "compile_sql", counting)
    plan = ctx.plan("prod")
    assert compiled == {"eph": 1, "eph_b": 1}
    readers = [build for build in plan.builds if build.model >= f"m{MIDDLE:03}" and build.model[0] == "m"]
    assert len(readers) == WIDTH - MIDDLE
    assert all("__tgref__" not in build.sql and ") AS e" in build.sql for build in readers)
    assert len(plan.tests) == WIDTH - MIDDLE and all("__tgref__" not in t.sql for t in plan.tests)

    compiled.clear()  # a second plan compiles them again, against its own mapping
    ctx.plan("dev")
    assert compiled == {"eph": 1, "eph_b": 1}


def test_the_wide_project_builds_and_reads_through_its_ephemeral_models(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(_wide(make_project))
    ctx.plan_and_apply("prod")
    assert ctx.query("prod", f"select id, name, doubled from m{WIDTH - 1:03}").rows == [(1, "a", 2)]


def test_a_ref_whose_name_starts_another_model_name_is_its_own(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    """`__tgref__e` is a prefix of `__tgref__e_x`: reading e_x does not inline e."""
    root = make_project(
        {
            "models/e.sql": "{{ config(materialized='ephemeral') }} select 1 as id",
            "models/e_x.sql": "select 2 as id",
            "models/reader.sql": "select id from {{ ref('e_x') }}",
        }
    )
    plan = open_context(root).plan("prod")
    reader = next(build for build in plan.builds if build.model == "reader")
    assert "(SELECT" not in reader.sql and "e_x__" in reader.sql
