"""Healing drift, on DuckDB and PostgreSQL: views, schemas and snapshots come back as the
environment's version records them (snapshots from the version's commit, not the working tree),
managed infrastructure is applied again, and nothing is ever destroyed; after a heal the next
drift check is clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ci.repos import commit, git
from tests.conftest import CONFIG, LAYERED, edit, write_files
from tests.engines.conftest import (
    environment_line,
    postgres_database,  # noqa: F401  (a fixture)
)
from tests.infra.conftest import pg_project, prefix, psql  # noqa: F401  (fixtures)
from tidegate.context import Context, Drift, DriftKind, NotHealed

IGNORED = {".gitignore": ".tidegate/\n*.duckdb\n*.duckdb.wal\n"}


def committed(root: Path) -> str:
    git(root, "init", "-q", "-b", "main")
    return commit(root, "the project")


@pytest.fixture(params=["duckdb", "postgres"])
def prod(
    request: pytest.FixtureRequest, make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> Context:
    """prod and dev built from the layered project at its commit, on the engine."""
    connection = environment_line(request.param, request)
    config = f"name: test\ndialect: duckdb\nenvironments:\n  prod: {connection}\n  dev: {connection}\n"
    root = make_project({**LAYERED, **IGNORED}, config=config)
    sha = committed(root)
    ctx = open_context(root)
    for environment in ("prod", "dev"):
        ctx.plan_and_apply(environment, git_commit=sha)
    return ctx


def by_hand(ctx: Context, *statements: str) -> None:
    for statement in statements:
        ctx.engine("prod").execute(statement)


def totals(ctx: Context, environment: str = "prod") -> list[tuple[object, ...]]:
    return [
        tuple(int(v) for v in row)
        for row in ctx.query(environment, "select * from customer_totals order by 1").rows
    ]


def test_healing_a_clean_environment_does_nothing(prod: Context) -> None:
    report = prod.heal("prod")
    assert (report.restored, report.rebuilt, report.reapplied, report.not_healed) == ((), (), (), ())
    assert report.healed and report.version == 1


def test_views_and_schemas_come_back_without_a_new_version(prod: Context) -> None:
    before = totals(prod)
    by_hand(
        prod,
        "DROP VIEW analytics.customer_totals",
        "DROP VIEW analytics.order_count",
        "CREATE VIEW analytics.order_count AS SELECT count(*) AS n FROM analytics.big_customers",
        "DROP SCHEMA analytics__dev CASCADE",
    )
    report = prod.heal("prod")
    assert report.restored == ("analytics.customer_totals", "analytics.order_count")
    assert report.healed and report.rebuilt == ()
    assert prod.heal("dev").restored == (
        "analytics__dev",
        *(
            f"analytics__dev.{name}"
            for name in ("big_customers", "customer_totals", "order_count", "raw_orders", "stg_orders")
        ),
    )
    assert prod.drift("prod") == [] and prod.drift("dev") == []
    assert totals(prod) == before == totals(prod, "dev")
    assert [version.version for version in prod.history("prod")] == [1]


def test_a_dropped_snapshot_is_rebuilt_from_the_versions_commit(prod: Context) -> None:
    before = totals(prod)
    snapshot = prod.current("prod").models["customer_totals"].physical
    by_hand(prod, f"DROP TABLE {snapshot} CASCADE")  # PostgreSQL drops the views reading it too
    # the working tree moved on: what is rebuilt is the commit's model, not this one
    edit(prod.root, "models/customer_totals.sql", "where status = 'paid'", "where false")

    report = prod.heal("prod")
    assert report.rebuilt == (str(snapshot).replace('"', ""),)
    assert report.healed
    assert prod.drift("prod") == []
    prod.heal("dev")  # on PostgreSQL, its view went with the snapshot: prod's heal left it
    assert prod.drift("dev") == []
    assert totals(prod) == before == [(1, 30, 2), (3, 7, 1)]


def test_a_snapshot_without_a_commit_is_not_rebuilt(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    ctx = open_context(make_project(LAYERED))
    ctx.plan_and_apply("prod")  # from files outside git: the version has no commit
    snapshot = str(ctx.current("prod").models["order_count"].physical)
    by_hand(ctx, f"DROP TABLE {snapshot}")

    report = ctx.heal("prod")
    shown = snapshot.replace('"', "")
    assert report.not_healed == (
        NotHealed(shown, DriftKind.SNAPSHOT, "the version records no commit to build it from"),
    )
    assert ctx.drift("prod") == [
        Drift("prod", shown, "the snapshot of order_count is missing", DriftKind.SNAPSHOT)
    ]


def test_a_table_where_a_view_should_be_is_never_dropped(prod: Context) -> None:
    by_hand(prod, "DROP VIEW analytics.order_count", "CREATE TABLE analytics.order_count AS SELECT 41 AS n")
    report = prod.heal("prod")
    assert [(item.object, item.kind) for item in report.not_healed] == [
        ("analytics.order_count", DriftKind.VIEW)
    ]
    assert "never drops" in report.not_healed[0].reason
    assert prod.engine("prod").fetch("SELECT n FROM analytics.order_count").rows == [(41,)]
    assert report.to_dict()["healed"] is False


# infrastructure (PostgreSQL) -------------------------------------------------------------

INFRA = """
schemas:
  - name: analytics
roles:
  - name: {p}reporting
  - name: {p}analyst
    member_of: [{p}reporting]
grants:
  - to: {p}reporting
    privileges: [usage]
    on: {schema: analytics}
  - to: {p}reporting
    privileges: [select]
    on: {all_tables_in_schema: analytics}
"""

roles = pytest.mark.xdist_group("postgres_roles")  # roles belong to the whole server


@pytest.fixture
def managed(
    pg_project: Callable[[dict[str, str]], Path],  # noqa: F811
    open_context: Callable[..., Context],
) -> Iterator[Context]:
    """prod on PostgreSQL with its infrastructure applied and its models built, at one commit."""
    from tidegate.infra.apply import Target, apply_plan

    root = pg_project({**LAYERED, **IGNORED, "infra/warehouse.yml": INFRA})
    sha = committed(root)
    ctx = open_context(root)
    with ctx.lock("prod"):
        apply_plan(Target.of(ctx, "prod"))
    ctx.plan_and_apply("prod", git_commit=sha)
    assert ctx.drift("prod") == []
    yield ctx


@roles
def test_a_role_and_a_grant_removed_by_hand_are_applied_again(
    managed: Context,
    prefix: str,  # noqa: F811
) -> None:
    psql(managed.root, f'DROP ROLE "{prefix}analyst"')
    psql(managed.root, f'REVOKE USAGE ON SCHEMA analytics FROM "{prefix}reporting"')
    found = managed.drift("prod")
    assert {(item.object, item.kind) for item in found} == {
        (f"role {prefix}analyst", DriftKind.INFRA),
        (f"membership of {prefix}analyst in {prefix}reporting", DriftKind.INFRA),
        (f"grant on schema analytics to {prefix}reporting", DriftKind.INFRA),
    }

    report = managed.heal("prod")
    assert set(report.reapplied) == {item.object for item in found}
    assert report.healed
    assert managed.drift("prod") == []


@roles
def test_healing_never_applies_a_destructive_change(
    managed: Context,
    prefix: str,  # noqa: F811
) -> None:
    psql(
        managed.root, f'GRANT CREATE ON SCHEMA analytics TO "{prefix}reporting"'
    )  # revoking it is destructive in prod
    psql(managed.root, f'DROP ROLE "{prefix}analyst"')
    grant = f"grant on schema analytics to {prefix}reporting"
    assert grant in {item.object for item in managed.drift("prod")}

    report = managed.heal("prod")
    assert f"role {prefix}analyst" in report.reapplied  # what is safe is healed
    assert [(item.object, item.kind) for item in report.not_healed] == [(grant, DriftKind.INFRA)]
    assert "destructive" in report.not_healed[0].reason
    assert psql(managed.root, f"SELECT has_schema_privilege('{prefix}reporting', 'analytics', 'CREATE')") == [
        (True,)
    ]
    assert [item.object for item in managed.drift("prod")] == [grant]


@roles
def test_drift_of_a_project_with_infra_files_is_against_its_commit(
    pg_project: Callable[[dict[str, str]], Path],  # noqa: F811
    open_context: Callable[..., Context],
    prefix: str,  # noqa: F811
) -> None:
    """A declaration in the working tree that no deployment applied yet is not drift."""
    from tidegate.infra.apply import Target, apply_plan

    root = pg_project({**LAYERED, **IGNORED, "infra/warehouse.yml": INFRA})
    sha = committed(root)
    ctx = open_context(root)
    with ctx.lock("prod"):
        apply_plan(Target.of(ctx, "prod"))
    ctx.plan_and_apply("prod", git_commit=sha)
    write_files(
        root, {"infra/warehouse.yml": INFRA.replace("privileges: [usage]", "privileges: [usage, create]")}
    )
    assert ctx.drift("prod") == []


def test_a_terraform_root_that_cannot_be_checked_is_drift_saying_why(
    make_project: Callable[..., Path], open_context: Callable[..., Context]
) -> None:
    """Neither clean nor hiding the rest: the view dropped by hand is found beside it."""
    config = CONFIG + (
        "terraform:\n  binary: /nowhere/terraform\n  roots:\n    - {path: terraform/prod, environment: prod}\n"
    )
    ctx = open_context(make_project({**LAYERED, "terraform/prod/main.tf": "\n"}, config=config))
    ctx.plan_and_apply("prod")
    by_hand(ctx, "DROP VIEW analytics.order_count")

    found = ctx.drift("prod")

    assert [(item.object, item.kind) for item in found] == [
        ("analytics.order_count", DriftKind.VIEW),
        ("terraform/prod", DriftKind.TERRAFORM),
    ]
    assert found[1].problem.startswith(
        "cannot check Terraform drift of root terraform/prod: no Terraform binary"
    )
    assert ctx.drift("prod", terraform=False) == found[:1]
    assert ctx.heal("prod").restored == ("analytics.order_count",)
    assert ctx.drift("prod") == found[1:]  # healing never touches Terraform
