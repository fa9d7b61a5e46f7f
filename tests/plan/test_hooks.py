"""dbt's hooks: `pre-hook`/`post-hook` run around a model's build in its transaction, with `this`
the snapshot's table; `on-run-start`/`on-run-end` run when an apply (or a run) starts and ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_files
from tidegate.context import Context
from tidegate.errors import EngineError
from tidegate.project.model import THIS_PLACEHOLDER

PROFILES = """\
shop:
  target: prod
  outputs:
    prod: {type: duckdb, path: warehouse.duckdb, schema: main, threads: 2}
"""

# every hook writes one row into `audit`: its position, and who wrote it
AUDIT = "insert into main.audit select count(*), '{who}' from main.audit"

DBT_PROJECT = f"""\
name: shop
profile: shop
models:
  shop:
    +materialized: table
    +pre-hook: "{AUDIT.format(who="project pre")}"
    marts:
      +post-hook:
        - "{AUDIT.format(who="marts post")}"
on-run-start:
  - create table if not exists main.audit (n integer, who varchar)
  - "{AUDIT.format(who="start {{ target.name }}")}"
on-run-end: "{AUDIT.format(who="end")}"
"""

FILES = {
    "dbt_project.yml": DBT_PROJECT,
    "profiles.yml": PROFILES,
    "seeds/raw_orders.csv": "id,amount\n1,10\n2,-5\n3,7\n",
    "models/marts/orders.sql": """
        {{ config(post_hook=["delete from {{ this }} where amount < 0", "CONFIG"]) }}
        select id, amount from {{ ref('raw_orders') }}
    """.replace("CONFIG", AUDIT.format(who="config post")),
    "models/marts/schema.yml": """
        version: 2
        models:
          - name: orders
            config:
              post-hook: "PROPERTIES"
    """.replace("PROPERTIES", AUDIT.format(who="properties post")),
}


@pytest.fixture
def dbt_project(make_dbt: Callable[..., Path]) -> Callable[..., Path]:
    """`dbt_project(**{path: text})`: the project above, those files changed."""
    return lambda **changes: make_dbt({**FILES, **changes})


def audit(ctx: Context) -> list[str]:
    return [who for (who,) in ctx.engine("prod").fetch("select who from main.audit order by n").rows]


def test_hooks_run_around_the_build_and_add_up_from_project_to_config(dbt_project, open_context) -> None:
    ctx = open_context(dbt_project())
    plan, _ = ctx.plan_and_apply("prod")
    build = next(b for b in plan.builds if b.model == "orders")
    # dbt_project.yml's folders first, then the properties file, then config()
    assert build.post_hooks == [
        AUDIT.format(who="marts post"),
        AUDIT.format(who="properties post"),
        f"delete from {build.physical} where amount < 0",
        AUDIT.format(who="config post"),
    ]
    assert THIS_PLACEHOLDER not in " ".join(build.pre_hooks + build.post_hooks)
    # the post-hook deleted from the snapshot table, which the view reads
    assert ctx.query("prod", "select id from orders order by id").rows == [(1,), (3,)]
    # the seed has no hooks: models: configs are not seeds'
    assert audit(ctx) == ["start prod", "project pre", "marts post", "properties post", "config post", "end"]


def test_a_failing_hook_leaves_nothing_and_hooks_are_in_the_fingerprint(dbt_project, open_context) -> None:
    root = dbt_project()
    ctx = open_context(root)
    ctx.plan_and_apply("prod")
    before = ctx.current("prod")
    tables = ctx.engine("prod").relations("tidegate__")
    snapshots = ctx.state("prod").all_snapshots()
    ctx.close()

    broken = FILES["models/marts/orders.sql"].replace("amount < 0", "no_such_column < 0")
    write_files(root, {"models/marts/orders.sql": broken})
    ctx = open_context(root)
    plan = ctx.plan("prod")
    assert {c.model: c.change for c in plan.changes} == {"orders": "directly_modified"}
    with pytest.raises(EngineError, match="post-hook 3 failed") as info:
        ctx.apply(plan)
    assert info.value.model == "orders"
    assert ctx.current("prod") == before
    assert ctx.engine("prod").relations("tidegate__") == tables
    assert ctx.state("prod").all_snapshots() == snapshots

    # another hook is another fingerprint: a new snapshot, the old one stays for rollbacks
    write_files(root, {"models/marts/orders.sql": broken.replace("no_such_column < 0", "amount < 8")})
    ctx.close()
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("prod")
    assert result is not None and result.built == ["orders"]
    assert ctx.query("prod", "select id from orders").rows == [(1,)]
    ctx.rollback("prod")
    assert ctx.query("prod", "select id from orders order by id").rows == [(1,), (3,)]


def test_a_failing_on_run_end_says_the_swap_is_done(dbt_project, open_context) -> None:
    root = dbt_project(
        **{"dbt_project.yml": DBT_PROJECT.replace('on-run-end: "insert', 'on-run-end: "insert into nowhere')}
    )
    ctx = open_context(root)
    with pytest.raises(
        EngineError, match=r"on-run-end hook 1 failed after the swap \('prod' is at version 1\)"
    ):
        ctx.plan_and_apply("prod")
    assert ctx.current("prod").version == 1


def test_a_failing_on_run_start_stops_the_apply_before_anything_is_built(dbt_project, open_context) -> None:
    root = dbt_project(
        **{"dbt_project.yml": DBT_PROJECT.replace("create table if not exists", "create tabel")}
    )
    ctx = open_context(root)
    with pytest.raises(EngineError, match="on-run-start hook 1 failed") as info:
        ctx.plan_and_apply("prod")
    assert info.value.path == "dbt_project.yml"
    assert ctx.state("prod").current("prod") is None
    assert ctx.engine("prod").relations("tidegate__") == []


def test_this_in_on_run_start_is_refused_with_its_line(dbt_project) -> None:
    from tidegate.errors import ProjectError
    from tidegate.project import load_project

    root = dbt_project(**{"dbt_project.yml": DBT_PROJECT.replace("main.audit (n", "{{ this }} (n")})
    with pytest.raises(ProjectError, match=r"on-run-start: \{\{ this \}\} has no meaning") as info:
        load_project(root)
    assert (info.value.path, info.value.line) == ("dbt_project.yml", 10)
