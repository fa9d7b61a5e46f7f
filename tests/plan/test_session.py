"""The session commands work in: each environment name resolved once, each warehouse opened once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.context import Context
from tidegate.project.config import ProjectConfig


def test_a_plan_and_its_apply_resolve_the_environment_once(
    layered: Path, open_context: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    resolve_environment = ProjectConfig.resolve_environment

    def counting(self: ProjectConfig, name: str) -> str:
        looked_up.append(name)
        return resolve_environment(self, name)

    monkeypatch.setattr(ProjectConfig, "resolve_environment", counting)
    ctx = open_context(layered)
    ctx.plan_and_apply("prod")
    ctx.plan("prod")
    assert looked_up == ["prod"]


def test_environments_of_one_warehouse_share_its_engine_and_state(
    layered: Path, open_context: Callable[..., Context]
) -> None:
    ctx = open_context(layered)
    prod, pr = ctx.resolve("prod"), ctx.resolve("pr_3")
    assert ctx.resolve("prod") is prod
    assert ctx.engine(prod) is ctx.engine("pr_3") and ctx.state(pr) is ctx.state("prod")
