"""Fixtures of the controller's tests: a local forge (GitHub's and GitLab's endpoints)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.forge_server import TOKEN, TOKEN_VARIABLE, FakeForge


@pytest.fixture
def fake_forge(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeForge]:
    """A local forge on 127.0.0.1, its token exported as TOKEN_VARIABLE (the variable
    `fake_forge.config(kind)` refers to), stopped after the test."""
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    with FakeForge() as forge:
        yield forge


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    """One local forge for a module's controller (its token exported by the module's fixture)."""
    with FakeForge() as fake:
        yield fake
