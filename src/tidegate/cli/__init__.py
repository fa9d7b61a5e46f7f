"""The `tidegate` command line.

Every command takes `--project DIR` and `--json`; errors from anywhere in tidegate are rendered
once, here, as one readable message and an exit code (2 bad input, 1 failed checks).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from tidegate import __version__
from tidegate.errors import InternalError, TidegateError
from tidegate.processes import Terminated, signals_interrupt

if TYPE_CHECKING:
    from tidegate.context import Context

F = TypeVar("F", bound=Callable[..., Any])


class Output:
    """Where a command writes: rich text for people, one JSON document for machines."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.out = _console(stderr=False)
        self.err = _console(stderr=True)

    @property
    def human(self) -> Console:
        """Human output goes to stderr when stdout carries JSON."""
        return self.err if self.as_json else self.out

    def json(self, document: Any) -> None:
        click.echo(json.dumps(document, indent=2, default=str))


def _console(*, stderr: bool) -> Console:
    """Colour on a terminal only; in pipes and CI logs tables are never wrapped at 80 columns."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200
    return console


def command(group: click.Group, name: str | None = None, **settings: Any) -> Callable[[F], F]:
    """A command with the common options and the single error boundary."""

    def decorate(function: F) -> F:
        @group.command(name, **settings)
        @click.option(
            "--project",
            "project_dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("."),
            show_default=True,
            help="Project directory.",
        )
        @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
        @functools.wraps(function)
        def wrapper(*args: Any, project_dir: Path, as_json: bool, **kwargs: Any) -> None:
            output = Output(as_json)
            try:
                with signals_interrupt():
                    code = function(*args, project_dir=project_dir, output=output, **kwargs)
            except (Exception, KeyboardInterrupt) as raised:
                error = _interruption(raised) or raised
                if isinstance(error, TidegateError):
                    report_error(output, error)
                    sys.exit(error.exit_code)
                if isinstance(error, KeyboardInterrupt):  # Ctrl-C, or a CI system cancelling the job
                    name = f" ({error})" if isinstance(error, Terminated) else ""
                    output.err.print(f"[red]interrupted[/]{name}: the environment was left as it was")
                    sys.exit(error.exit_code if isinstance(error, Terminated) else 130)
                if os.environ.get("TIDEGATE_DEBUG"):  # a bug in tidegate: say so plainly
                    raise
                report_error(output, InternalError(f"{type(error).__name__}: {error}"))
                sys.exit(InternalError.exit_code)
            sys.exit(code or 0)

        return function

    return decorate


def _interruption(error: BaseException) -> KeyboardInterrupt | None:
    """The interrupt (Ctrl-C, a signal) that `error` was raised while unwinding from, if any:
    cleaning up after an interrupt can fail in turn (a connection still busy with a build the
    interrupt left running), which must not turn a cancelled run into an internal error."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


class LazyGroup(click.Group):
    """A group whose commands live in modules imported only when one of them is asked for (run,
    or listed by the group's `--help`): `lazy_commands` maps a command's name to its module,
    which registers it with `command(group)`."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy_commands:
            import importlib

            importlib.import_module(self.lazy_commands[name])
        return super().get_command(ctx, name)


def report_error(output: Output, error: TidegateError) -> None:
    """The error once, on stderr (and as the JSON document with --json); failed tests first."""
    from rich.text import Text

    from tidegate.cli.render import render_tests
    from tidegate.plan.results import TestsFailed

    results = error.results if isinstance(error, TestsFailed) else []
    if results:
        render_tests(output.err, results, only_problems=True)
    if output.as_json:
        document = error.to_dict()
        if results:
            document["tests"] = [r.to_dict() for r in results]
        output.json(document)
    label = "failed" if error.exit_code == 1 else "error"
    output.err.print(Text.assemble((label, "red"), f": {error}"), highlight=False)


def context(project_dir: Path, output: Output, **options: Any) -> Context:
    """The facade on the project in `project_dir`, its progress and waits shown on stderr;
    `options` go to `Context` (variables, threads, manifest, workspace, pull_request)."""
    from tidegate.cli.render import ConsoleProgress
    from tidegate.context import Context

    return Context(
        project_dir,
        progress=ConsoleProgress(output.err),
        on_wait=lambda text: output.err.print(f"[yellow]{text}[/]"),
        **options,
    )


def parse_vars(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TidegateError(f"--vars is not valid YAML: {error}") from None
    if not isinstance(value, dict):
        raise TidegateError("--vars must be a mapping, e.g. --vars '{start: 2024-01-01}'")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tidegate")
def cli() -> None:
    """tidegate: Git is the source of truth of your data platform.

    Models are built once per fingerprint into snapshots; environments (prod, dev, one per pull
    request) are views onto snapshots, so creating, promoting and rolling back environments
    copies no data. Exit codes: 0 success, 1 checks failed, 2 bad input or configuration.
    """


def main() -> None:
    cli(prog_name="tidegate")


from tidegate.cli import commands as _commands  # noqa: E402,F401  (registers the commands)
from tidegate.cli import dags as _dags  # noqa: E402,F401
from tidegate.cli import dags_generate as _dags_generate  # noqa: E402,F401
from tidegate.cli import databricks as _databricks  # noqa: E402,F401
from tidegate.cli import diff as _diff  # noqa: E402,F401
from tidegate.cli import infra as _infra  # noqa: E402,F401
from tidegate.cli import lint as _lint  # noqa: E402,F401
from tidegate.cli import pipeline as _pipeline  # noqa: E402,F401
from tidegate.cli import serve as _serve  # noqa: E402,F401

__all__ = ["LazyGroup", "Output", "cli", "command", "main"]
