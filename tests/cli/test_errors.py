"""Bad input exits 2 with the file, the line and the model; never a traceback."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import LAYERED
from tidegate.cli import cli
from tidegate.processes import Terminated


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--project", str(root)])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"models/broken.sql": "select a,\nfrom where"}, ["models/broken.sql", "SQL syntax error", "broken"]),
        ({"models/bad_ref.sql": "select 1\nfrom {{ ref('nope') }}"}, ["models/bad_ref.sql:2", "ref('nope')"]),
        ({"models/bad_jinja.sql": "select 1\n{% if %}"}, ["models/bad_jinja.sql:2", "Jinja syntax error"]),
        ({"models/schema.yml": "models:\n  - name: x\n   bad: [\n"}, ["models/schema.yml", "invalid YAML"]),
        (
            {"models/a.sql": "select * from {{ ref('b') }}", "models/b.sql": "select * from {{ ref('a') }}"},
            ["cycle", "a -> b -> a"],
        ),
    ],
)
def test_bad_projects_exit_2_naming_the_file(
    make_project: Callable[..., Path], files: dict[str, str], expected: list[str]
) -> None:
    root = make_project({**LAYERED, **files})
    code, output = run(root, "plan", "prod")
    assert code == 2
    for text in expected:
        assert text in output
    assert "Traceback" not in output


def test_invalid_config_names_the_line(make_project: Callable[..., Path]) -> None:
    root = make_project(LAYERED, config="name: test\nenvironments:\n  prod: {engine: oracle}\n")
    code, output = run(root, "plan", "prod")
    assert code == 2
    assert "tidegate.yml:3" in output


def _boundary(failure: Callable[[], None]) -> tuple[int, str]:
    """`failure` run as a command behind the CLI's one error boundary."""
    import click

    from tidegate.cli import command

    group = click.Group()

    @command(group)
    def fails(project_dir: Path, output: object) -> int:
        failure()
        return 0

    result = CliRunner().invoke(group, ["fails"])
    return result.exit_code, result.stderr


def _cleanup_fails_after(interrupt: BaseException) -> Callable[[], None]:
    def fail() -> None:
        try:
            raise interrupt
        finally:  # as closing a connection a build the interrupt left running still uses
            raise RuntimeError("connection is busy with another call")

    return fail


@pytest.mark.parametrize(
    ("interrupt", "code", "said"),
    [
        (Terminated(signal.SIGTERM), 143, "interrupted (SIGTERM)"),
        (Terminated(signal.SIGHUP), 129, "interrupted (SIGHUP)"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_an_interrupt_is_reported_as_such_even_when_cleaning_up_after_it_fails(
    interrupt: BaseException, code: int, said: str
) -> None:
    assert _boundary(_cleanup_fails_after(interrupt)) == (
        code,
        f"{said}: the environment was left as it was\n",
    )


def test_an_unexpected_error_is_an_internal_error_exit_3() -> None:
    def fail() -> None:
        raise RuntimeError("a bug")

    exit_code, stderr = _boundary(fail)
    assert exit_code == 3 and stderr.startswith("error: internal error: RuntimeError: a bug")
