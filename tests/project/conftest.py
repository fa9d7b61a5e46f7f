"""Fixtures for loading small projects and for catching the error a broken one raises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CONFIG
from tidegate.errors import TidegateError
from tidegate.project import Project, load_project


@pytest.fixture
def load(make_project: Callable[..., Path]) -> Callable[..., Project]:
    """`load({path: text}, config=..., variables=...)` writes the project and loads it."""

    def load_(files: dict[str, str], config: str = CONFIG, **options: object) -> Project:
        return load_project(make_project(files, config), **options)  # type: ignore[arg-type]

    return load_


@pytest.fixture
def load_error(load: Callable[..., Project]) -> Callable[..., TidegateError]:
    """`load_error(files, ...)` asserts that loading fails and returns the error."""

    def load_error_(
        files: dict[str, str],
        config: str = CONFIG,
        expected: type[TidegateError] = TidegateError,
        **options: object,
    ) -> TidegateError:
        with pytest.raises(expected) as info:
            load(files, config, **options)
        return info.value

    return load_error_
