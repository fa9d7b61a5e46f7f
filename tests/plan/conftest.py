"""Helpers shared by the plan tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import build_prod
from tidegate.context import Context
from tidegate.plan import Plan


def rebuilt(plan: Plan) -> set[str]:
    """Models whose snapshot the plan materializes anew (ephemeral models have nothing to build)."""
    return {build.model for build in plan.builds if build.reused_from is None and build.kind != "ephemeral"}


def changes(plan: Plan) -> dict[str, str]:
    return {change.model: change.change for change in plan.changes}


def built_prod(root: Path, open_context: Callable[..., Context], **options: object) -> Context:
    """Build prod from scratch with a context that is then closed; return a fresh one."""
    build_prod(root, open_context, **options).close()
    return open_context(root, **options)
