"""`tidegate lint [PATH...]`: sqlfluff, ruff, YAML and `terraform fmt` checks on the project, as
`tidegate ci` runs them."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape
from rich.text import Text

from tidegate.cli import Output, cli, command

if TYPE_CHECKING:
    from tidegate.ci.lint import LintResult

_STYLES = {"error": "red", "warning": "yellow"}


@command(cli)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def lint(paths: tuple[Path, ...], project_dir: Path, output: Output) -> int:
    """Lint SQL (sqlfluff), Python models and DAGs (ruff), YAML and Terraform (`terraform fmt
    -check` on the .tf and .tfvars files of `terraform: roots:` and their local modules) of the
    project, or only PATHs (files or folders, relative to the current directory). DAGs are the
    Python files of the folder `orchestration: airflow: dags` names (default dags/).

    SQL is rendered with the project's Jinja (ref, source, macros) and linted with the project's
    .sqlfluff; Python with the project's ruff settings. Exit codes: 0 no errors (warnings
    allowed), 1 errors found, 2 bad input.
    """
    from tidegate.ci.lint import lint as lint_project

    root = project_dir.resolve()
    with output.err.status("Linting…"):
        result = lint_project(root, [path.absolute() for path in paths] if paths else None)
    _render(output, result)
    if output.as_json:
        output.json(result.to_dict())
    return 0 if result.passed else 1


def _render(output: Output, result: LintResult) -> None:
    console = output.human
    for _, findings in groupby(result.findings, key=lambda finding: finding.path):
        for finding in findings:
            console.print(
                Text.assemble(
                    (f"{finding.path}:{finding.line}:{finding.column}", "bold"),
                    " ",
                    (finding.code, _STYLES[finding.severity]),
                    f" {finding.message}",
                )
            )
        console.print()
    if result.skipped:
        shown = ", ".join(result.skipped[:10]) + (" …" if len(result.skipped) > 10 else "")
        console.print(f"[dim]Skipped (deleted, or not linted by tidegate): {escape(shown)}[/]")
    timings = ", ".join(f"{tool} {seconds:.1f}s" for tool, seconds in result.timings.items())
    files = f"{len(result.paths)} file(s)" + (f" ({timings})" if timings else "")
    if not result.findings:
        console.print(f"[green]No problems[/] in {files}")
        return
    with_problems = len({finding.path for finding in result.findings})
    style = "red" if result.errors else "yellow"
    console.print(
        f"[{style}]{result.errors} error(s), {result.warnings} warning(s)[/] in {with_problems} of {files}"
    )
