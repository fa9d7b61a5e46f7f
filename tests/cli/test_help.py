"""`--help` of every command explains it and its options; `--version`."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from tests.cli.conftest import invoke
from tidegate import __version__
from tidegate.cli import cli

COMMANDS = sorted(cli.commands)
SUBCOMMANDS = [
    (name, sub)
    for name, command in sorted(cli.commands.items())
    for sub in (
        [None] if not isinstance(command, click.Group) else command.list_commands(click.Context(command))
    )
]


def test_the_commands_of_the_contract_exist() -> None:
    contract = {"init", "plan", "apply", "test", "promote", "rollback", "envs", "history", "query", "show"}
    assert contract | {"run", "janitor", "demo", "ci", "deploy", "lint", "diff", "infra"} <= set(COMMANDS)
    assert {"plan", "apply", "drift", "import", "export"} <= set(cli.commands["infra"].commands)


def test_version() -> None:
    ran = invoke(None, "--version")
    assert ran.code == 0
    assert ran.stdout.strip() == f"tidegate, version {__version__}"


def test_top_level_help_lists_commands_and_exit_codes() -> None:
    ran = invoke(None, "--help")
    assert ran.code == 0
    for name in COMMANDS:
        assert f"  {name} " in ran.stdout
    assert "Exit codes" in ran.stdout


@pytest.mark.parametrize(("name", "sub"), SUBCOMMANDS)
def test_every_option_is_explained(name: str, sub: str | None) -> None:
    ran = invoke(None, name, *([sub] if sub else []), "--help")
    assert ran.code == 0, ran.all
    group = cli.commands[name]
    command = (
        group.get_command(click.Context(group), sub) if isinstance(group, click.Group) and sub else group
    )
    assert command is not None
    text = " ".join(ran.stdout.split())
    assert command.help and " ".join(command.help.split("\n")[0].split()) in text
    for parameter in command.params:
        if parameter.param_type_name != "option":
            continue
        assert getattr(parameter, "help", None), f"{name} {parameter.opts[0]} has no help"
        assert parameter.opts[0] in ran.stdout
    assert "--project" in ran.stdout
    assert "--json" in ran.stdout


def test_the_command_line_starts_without_the_libraries_of_its_commands() -> None:
    """Start-up: `tidegate --help` (and every command, until it needs them) imports no engine,
    no SQL or template library and no orchestrator client."""
    heavy = [
        "duckdb",
        "jinja2",
        "pydantic",
        "sqlglot",
        "yaml",
        "rich.table",
        "multiprocessing",
        "tidegate.ci.pipeline",
        "tidegate.context",
        "tidegate.orchestrate.databricks",
        "tidegate.project.loader",
    ]
    code = f"import sys, tidegate.cli; print([m for m in {heavy!r} if m in sys.modules])"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "[]"


def test_a_lazy_group_lists_and_runs_its_commands() -> None:
    group = cli.commands["databricks"]
    assert "run" in group.list_commands(click.Context(group))
    ran = invoke(None, "databricks", "run", "--help")
    assert ran.code == 0, ran.all
    assert "--git-provider" in ran.stdout and "gitHub" in ran.stdout
