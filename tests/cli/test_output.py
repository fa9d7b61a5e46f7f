"""Output rules: errors rendered once and readable, JSON alone on stdout, no colour in pipes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from tests.cli.conftest import invoke
from tidegate.cli import Output, command
from tidegate.errors import CheckFailed, StateError, TidegateError


@click.group()
def scratch() -> None:
    """A group to raise errors through the real error boundary."""


@command(scratch)
@click.option("--kind", default="state")
def boom(kind: str, project_dir: Path, output: Output) -> int:
    if kind == "state":
        raise StateError("no [bold]version[/] 9 of [/]prod", hint="see `tidegate history prod`")
    if kind == "check":
        raise CheckFailed(
            "1 data test(s) failed: t; the environment was not changed", path="tests/t.sql", line=3
        )
    if kind == "code":
        return 1
    if kind == "bug":
        raise RuntimeError("something unexpected")
    raise TidegateError("plain")


def _boom(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    result = CliRunner().invoke(scratch, ["boom", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def test_error_is_one_readable_message_on_stderr() -> None:
    code, stdout, stderr = _boom()
    assert code == 2
    assert stdout == ""
    assert stderr == "error: no [bold]version[/] 9 of [/]prod\n  hint: see `tidegate history prod`\n"


def test_failed_checks_exit_1_with_their_location() -> None:
    code, _, stderr = _boom("--kind", "check")
    assert code == 1
    assert stderr.startswith("failed: tests/t.sql:3: 1 data test(s) failed")


def test_error_with_json_is_a_json_document() -> None:
    import json

    code, stdout, stderr = _boom("--json")
    assert code == 2
    assert json.loads(stdout) == {
        "error": "StateError",
        "message": "no [bold]version[/] 9 of [/]prod",
        "path": None,
        "line": None,
        "model": None,
        "hint": "see `tidegate history prod`",
    }
    assert "error:" in stderr


def test_return_value_is_the_exit_code() -> None:
    assert _boom("--kind", "code")[0] == 1
    assert _boom("--kind", "other")[0] == 2


def test_missing_project_exits_2(tmp_path: Path) -> None:
    ran = invoke(tmp_path, "plan", "prod")
    assert ran.code == 2
    assert "tidegate.yml" in ran.stderr
    assert "Traceback" not in ran.all


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "prod"),
        ("envs",),
        ("history", "prod"),
        ("query", "prod", "select * from order_count"),
        ("test",),
    ],
)
def test_human_output_has_no_colour_codes_in_a_pipe(built: Path, args: tuple[str, ...]) -> None:
    ran = invoke(built, *args)
    assert ran.code == 0, ran.all
    assert ran.stdout.strip()
    assert "\x1b[" not in ran.all


def test_an_unexpected_exception_is_an_internal_error_with_exit_3_and_no_traceback() -> None:
    code, stdout, stderr = _boom("--kind", "bug")
    assert code == 3
    assert "internal error: RuntimeError: something unexpected" in stderr
    assert "TIDEGATE_DEBUG=1" in stderr
    assert "Traceback" not in stderr + stdout


def test_tidegate_debug_shows_the_real_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    monkeypatch.setenv("TIDEGATE_DEBUG", "1")
    result = CliRunner().invoke(scratch, ["boom", "--kind", "bug"])
    assert isinstance(result.exception, RuntimeError)
