"""Data diff between two environments of one warehouse, counted by the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import write_files
from tests.engines.conftest import postgres_database  # noqa: F401  (a fixture)
from tidegate.ci.diff import DiffConfig, ModelDiff, diff_environments, diff_model, primary_key
from tidegate.context import Context
from tidegate.errors import TidegateError

BEFORE = "id,name,country,score\n1,ann,FR,10\n2,bob,DE,\n3,cid,US,30\n4,dan,UK,40\n"
# 2: score NULL -> 20, 3: country US -> CA, 4 removed, 5 added
AFTER = "id,name,country,score\n1,ann,FR,10\n2,bob,DE,20\n3,cid,CA,30\n5,eve,US,50\n"

FILES = {
    "seeds/people.csv": BEFORE,
    "models/customers.sql": "select id, name, country, score from {{ ref('people') }}",
    "models/countries.sql": "select country, count(*) as n from {{ ref('customers') }} group by country",
    "models/static.sql": "select 1 as x",
    "models/schema.yml": """
        version: 2
        models:
          - name: customers
            columns:
              - name: id
                data_tests: [unique, not_null]
    """,
}


@pytest.fixture
def pr(make_project: Callable[..., Path], open_context: Callable[..., Context]) -> Context:
    """prod built from BEFORE, then pr_3 applied with the seed's rows changed to AFTER."""
    return _pr(make_project, open_context)


def _pr(make_project: Callable[..., Path], open_context: Callable[..., Context], **options: Any) -> Context:
    root = make_project(FILES, **options)
    open_context(root).plan_and_apply("prod")
    write_files(root, {"seeds/people.csv": AFTER})
    ctx = open_context(root)
    _, result = ctx.plan_and_apply("pr_3")
    assert result is not None
    return ctx


def by_model(ctx: Context, *models: str, **config: Any) -> dict[str, ModelDiff]:
    result = diff_environments(ctx, "prod", "pr_3", models, DiffConfig(**config))
    return {diff.model: diff for diff in result.models}


def test_rows_added_removed_and_changed_by_key(pr: Context) -> None:
    diff = by_model(pr)["customers"]
    assert (diff.key, diff.rows_before, diff.rows_after) == (("id",), 4, 4)
    assert (diff.added, diff.removed, diff.changed) == (1, 1, 2)
    assert {c.column: c.changed for c in diff.columns} == {"name": 0, "country": 1, "score": 1}
    assert diff.samples_added is not None and diff.samples_added.rows == ((5, "eve", "US", 50),)
    assert diff.samples_removed is not None and diff.samples_removed.rows == ((4, "dan", "UK", 40),)
    changed = diff.samples_changed
    assert changed is not None
    assert changed.columns == ("id", "country (prod)", "country (pr_3)", "score (prod)", "score (pr_3)")
    assert changed.rows == ((2, "DE", "DE", None, 20), (3, "US", "CA", 30, 30))  # NULL -> 20 counts
    assert diff.differing == 4 and diff.percent == 100.0


def test_without_a_key_whole_rows_are_compared(pr: Context) -> None:
    diff = by_model(pr)["countries"]
    assert diff.key == () and diff.note == "no primary key: whole rows compared"
    assert (diff.rows_before, diff.rows_after, diff.added, diff.removed, diff.changed) == (4, 4, 1, 1, None)
    assert diff.samples_added is not None and diff.samples_added.rows == (("CA", 1),)
    assert diff.samples_removed is not None and diff.samples_removed.rows == (("UK", 1),)
    assert diff.differing == 1 and diff.percent == 25.0


def test_models_on_the_same_snapshot_are_identical_and_not_queried(
    pr: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pr.engine("prod")
    ran: list[str] = []
    original = engine.fetch

    def fetch(sql: str, parameters: Any = ()) -> Any:
        ran.append(sql)
        return original(sql, parameters)

    monkeypatch.setattr(engine, "fetch", fetch)
    result = diff_environments(pr, "prod", "pr_3")
    assert result.identical == ("static",)
    assert {d.model for d in result.models} == {"people", "customers", "countries"}
    assert not any("static" in sql for sql in ran)
    (asked,) = diff_environments(pr, "prod", "pr_3", ["static"]).models
    assert asked.status == "identical" and asked.same


def test_thresholds(pr: Context) -> None:
    config = DiffConfig(fail_above=30)
    result = diff_environments(pr, "prod", "pr_3", ["customers", "countries"], config)
    assert [d.model for d in result.failures(config)] == ["customers"]
    assert not result.failures(DiffConfig())
    assert DiffConfig.model_validate({"fail_above": 12.5, "samples": 2}).samples == 2
    with pytest.raises(ValidationError):
        DiffConfig.model_validate({"fail_above": 120})
    with pytest.raises(ValidationError):
        DiffConfig.model_validate({"fail_abov": 1})


def test_samples_are_limited(pr: Context) -> None:
    diff = by_model(pr, "customers", samples=1)["customers"]
    assert diff.samples_changed is not None and len(diff.samples_changed.rows) == 1
    none = by_model(pr, "customers", samples=0)["customers"]
    assert none.samples_added is None and none.changed == 2


def test_columns_added_removed_and_retyped(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    root = make_project(FILES)
    open_context(root).plan_and_apply("prod")
    write_files(
        root,
        {
            "models/customers.sql": "select id, upper(name) as label, country, cast(score as varchar) as score "
            "from {{ ref('people') }}"
        },
    )
    ctx = open_context(root)
    ctx.plan_and_apply("pr_3")
    diff = diff_model(ctx, "customers", "prod", "pr_3")
    assert (diff.columns_added, diff.columns_removed) == (("label",), ("name",))
    assert [(c, new) for c, _, new in diff.types_changed] == [("score", "VARCHAR")]
    assert (diff.added, diff.removed, diff.changed) == (0, 0, 0)  # the same values, as text
    assert not diff.same


def test_a_key_that_is_not_unique_falls_back_to_whole_rows(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = _pr(make_project, open_context)
    diff = by_model(ctx, "countries", keys={"countries": ["n"]})["countries"]
    assert diff.key == () and "not unique" in diff.note
    assert (diff.added, diff.removed) == (1, 1)


def test_a_model_only_one_side_has(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    root = make_project(FILES)
    open_context(root).plan_and_apply("prod")
    write_files(root, {"models/fresh.sql": "select id from {{ ref('customers') }} where id > 2"})
    ctx = open_context(root)
    ctx.plan_and_apply("pr_3")
    diff = by_model(ctx)["fresh"]
    assert (diff.status, diff.rows_after, diff.added) == ("added", 2, 2)
    back = diff_model(ctx, "fresh", "pr_3", "prod")
    assert (back.status, back.rows_before, back.removed) == ("removed", 2, 2)


def test_bad_input(pr: Context) -> None:
    with pytest.raises(TidegateError, match="neither prod nor pr_3 has model"):
        diff_environments(pr, "prod", "pr_3", ["nope"])
    with pytest.raises(TidegateError, match="does not exist") as raised:
        diff_environments(pr, "prod", "pr_99")
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("files", "config", "key"),
    [
        ({}, None, ("id",)),  # the column of the unique test
        (
            {
                "models/customers.sql": "{{ config(unique_key=['id', 'name']) }} select * from {{ ref('people') }}"
            },
            None,
            ("id", "name"),
        ),
        ({}, DiffConfig(keys={"customers": ["name"]}), ("name",)),
        ({"models/schema.yml": "version: 2\nmodels:\n  - name: customers\n"}, None, ()),
    ],
)
def test_primary_key(
    make_project: Callable[..., Path],
    open_context: Callable[..., Context],
    files: dict[str, str],
    config: DiffConfig | None,
    key: tuple[str, ...],
) -> None:
    root = make_project({**FILES, **files})
    assert primary_key(open_context(root).project, "customers", config) == key


def test_on_postgres(
    make_project: Callable[..., Path],
    open_context: Callable[..., Context],
    postgres_database: str,  # noqa: F811
) -> None:
    connection = f'{{engine: postgres, dsn: "{postgres_database}", threads: 2, lock_timeout: 5s}}'
    config = f"name: test\ndialect: duckdb\nenvironments:\n  prod: {connection}\n"
    ctx = _pr(make_project, open_context, config=config)
    diffs = by_model(ctx)
    customers = diffs["customers"]
    assert (customers.key, customers.added, customers.removed, customers.changed) == (("id",), 1, 1, 2)
    assert {c.column: c.changed for c in customers.columns} == {"name": 0, "country": 1, "score": 1}
    assert customers.samples_changed is not None
    assert customers.samples_changed.rows == ((2, "DE", "DE", None, 20), (3, "US", "CA", 30, 30))
    countries = diffs["countries"]
    assert (countries.added, countries.removed, countries.changed) == (1, 1, None)
    assert diff_environments(ctx, "prod", "pr_3").identical == ("static",)
