"""Bad input exits 2 with the file, the line and the model; never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import LAYERED
from tidegate.cli import cli


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
