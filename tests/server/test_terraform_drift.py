"""The controller's drift check reports Terraform drift of an environment's roots, as the
deployed commit declares them (a refresh-only plan of each, on the kit's real Terraform), and
never heals it: with `self_heal`, a view dropped by hand comes back while the schemas changed
outside Terraform stay drifted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.repos import PIPELINE_CONFIG
from tests.infra.terraform.kit import TerraformKit, TerraformNames
from tests.server.gitops import SECRETS, make_world
from tidegate.infra.terraform.roots import root_files
from tidegate.infra.terraform.workflow import Settings, apply_root
from tidegate.project.config import load_config
from tidegate.server.controller import Controller
from tidegate.state.views import record_view

RESOURCES = """
    resource "pg_schema" "a" {
      name    = "{p}a"
      comment = "one"
    }

    resource "pg_schema" "b" {
      name = "{p}b"
    }
"""


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_terraform_drift_is_reported_and_never_healed(
    tmp_path: Path, terraform_env: TerraformKit, terraform_names: TerraformNames
) -> None:
    kit, p = terraform_env, terraform_names.prefix
    config = PIPELINE_CONFIG + (
        f'terraform:\n  binary: "{kit.binary}"\n  roots:\n    - {{path: terraform/staging, environment: staging}}\n'
    )
    world = make_world(tmp_path, config=config, extra="  drift: {interval: 1h, self_heal: true}\n")
    main_tf = kit.main_tf(terraform_names.state_schema, RESOURCES.replace("{p}", p))
    # the root is only in the commit deployed: the project directory (a clone) never sees it
    world.push({"terraform/staging/main.tf": main_tf}, "the staging root")
    terraform = load_config(world.work).terraform
    files = root_files(world.work, terraform.roots[0])
    apply_root(world.work, files, Settings.of(terraform, world.work), None, allow_unreviewed=True)
    controller = Controller(world.project, world.state)
    try:
        controller.poll()
        controller.wait()
        assert controller.environments.check_drift() is False
        assert controller.environments.drift() == []

        kit.sql(f"COMMENT ON SCHEMA \"{p}a\" IS 'by hand'")
        kit.sql(f'DROP SCHEMA "{p}b"')
        with controller.environments.context() as ctx:
            view = record_view(ctx.engine("staging"), "staging", ctx.current("staging").models["order_count"])
            ctx.engine("staging").execute(f"DROP VIEW {view}")

        assert controller.environments.check_drift() is True
        found = [
            (item["object"], item["kind"], item["problem"], item["healed"])
            for item in controller.environments.drift()
        ]
        assert found == [
            (view.replace('"', ""), "view", "the view is missing", True),
            (
                "pg_schema.a",
                "terraform",
                "changed outside Terraform: comment (root terraform/staging)",
                False,
            ),
            ("pg_schema.b", "terraform", "deleted outside Terraform (root terraform/staging)", False),
        ]
        staging = next(e for e in controller.environments.listed() if e["name"] == "staging")
        assert staging["state"] == "drifted"
        assert sql_comment(kit, f"{p}a") == "by hand"  # healing never applied Terraform
        assert_drift_page_shows_the_root(controller)
    finally:
        controller.stop()


def sql_comment(kit: TerraformKit, schema: str) -> str | None:
    rows = kit.sql(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", [schema]
    )
    return rows[0][0] if rows else None


def assert_drift_page_shows_the_root(controller: Controller) -> None:
    """The dashboard's drift page: the Terraform drift in its table, and what the last
    deployment did to the root (nothing: it was applied already) in staging's card."""
    from tidegate.server.dashboard.pages import _Pages
    from tidegate.server.dashboard.render import templates

    last = _Pages(controller)._last_infra("staging")
    assert last is not None and [(r["root"], r["outcome"]) for r in last["terraform"]] == [
        ("terraform/staging", "no changes")
    ]
    drift = controller.environments.drift()
    html = (
        templates()
        .get_template("drift.html")
        .render(
            drift=drift,
            checked=None,
            infra={"staging": last},
            user=None,
            csrf="",
            path="/drift",
            nav="/drift",
        )
    )
    assert 'data-root="terraform/staging"' in html and "no changes" in html
    assert "pg_schema.a" in html and "changed outside Terraform: comment" in html
