"""Drift on demand over real HTTP, on a PostgreSQL warehouse: a view dropped by hand in prod
shows in `GET /api/drift` at once (not at the next interval), and with `drift: {self_heal:
true}` the controller restores it, at its first pass and on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines.conftest import postgres_database  # noqa: F401  (a fixture)
from tests.server.gitops import (
    SECRETS,
    Served,
    World,
    eventually,
    make_world,
    postgres_config,
    push_payload,
)
from tidegate.context import Context
from tidegate.errors import TidegateError
from tidegate.server.controller import Controller
from tidegate.state.views import record_view


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def serve(world: World) -> Served:
    return Served(lambda url: Controller(world.project, world.state, base_url=url))


def drop_order_count(world: World, environment: str) -> str:
    """Drop the environment's `order_count` view by hand; the object drift names."""
    with Context(world.project) as ctx:
        engine = ctx.engine(environment)
        view = record_view(engine, environment, ctx.current(environment).models["order_count"])
        engine.execute(f"DROP VIEW {view}")
    return view.replace('"', "")


def order_count(world: World, environment: str) -> list[tuple]:
    """The view's rows, or [] while it is missing."""
    try:
        with Context(world.project) as ctx:
            return list(ctx.query(environment, "select n from order_count").rows)
    except TidegateError:
        return []


def drift_of(served: Served) -> list[tuple[str, str, bool]]:
    status, answer = served.http.get("/api/drift")
    assert status == 200, answer
    return [(item["environment"], item["object"], item["healed"]) for item in answer["drift"]]


def test_a_view_dropped_by_hand_in_prod_shows_at_once_and_self_heal_restores_it(
    tmp_path: Path,
    postgres_database: str,  # noqa: F811
) -> None:
    world = make_world(
        tmp_path,
        config=postgres_config(postgres_database),
        extra="  drift: {interval: 1h, self_heal: false}\n",
    )
    served = serve(world)
    try:
        eventually(lambda: served.http.environment("staging")["state"] == "synced", what="staging")
        head = world.release()
        assert served.http.github("push", push_payload("production", head))[0] == 200
        eventually(lambda: served.http.environment("prod")["state"] == "synced", what="prod")
        assert drift_of(served) == []

        view = drop_order_count(world, "prod")

        assert drift_of(served) == [("prod", view, False)]
        assert served.http.environment("prod")["state"] == "drifted"
        assert order_count(world, "prod") == []
    finally:
        served.stop()

    config = world.project / "tidegate.yml"
    config.write_text(config.read_text().replace("self_heal: false", "self_heal: true"))
    served = serve(world)
    try:
        eventually(  # the first pass checks prod, then staging (nothing else sets staging's gauge)
            lambda: 'tidegate_drift_objects{environment="staging"}' in served.http.get("/metrics")[1],
            what="the first pass's drift check",
        )
        assert order_count(world, "prod") == [(4,)]  # healed by the first pass
        drop_order_count(world, "prod")

        assert drift_of(served) == [("prod", view, True)]
        assert order_count(world, "prod") == [(4,)]
        assert drift_of(served) == []
        assert served.http.environment("prod")["state"] == "synced"
    finally:
        served.stop()
