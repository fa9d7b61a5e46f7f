"""The user's name where the operating system has none (a container's uid without a passwd entry)."""

from __future__ import annotations

import getpass
from collections.abc import Callable

import pytest

from tidegate.project import Project
from tidegate.project.config import current_author, current_user


def _no_passwd_entry() -> str:
    raise KeyError("getpwuid(): uid not found: 1234")  # what Python 3.11 raises; 3.13 an OSError


@pytest.fixture
def nameless(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("TIDEGATE_USER", "GIT_AUTHOR_NAME", "LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(getpass, "getuser", _no_passwd_entry)


@pytest.mark.usefixtures("nameless")
def test_without_a_passwd_entry_the_user_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_user() == "unknown"
    monkeypatch.setattr(getpass, "getuser", lambda: (_ for _ in ()).throw(OSError("no user")))
    assert current_user() == "unknown"


@pytest.mark.usefixtures("nameless")
def test_per_user_environments_and_authors_do_not_fail_without_a_user(load: Callable[..., Project]) -> None:
    config = load({}, "name: t\nenvironments:\n  prod: {}\n  dev: {per_user: true}\n").config
    assert config.resolve_environment("dev") == "dev_unknown"
    assert current_author() == "unknown"


def test_the_user_is_the_operating_system_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "jane")
    assert current_user() == "jane"
