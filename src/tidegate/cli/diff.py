"""`tidegate diff ENV_A ENV_B [--model M]...`: the data diff of DESIGN section 5."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from tidegate.cli import Output, cli, command, context

if TYPE_CHECKING:
    from rich.console import Console

    from tidegate.ci.diff import EnvironmentDiff, ModelDiff, Sample


@command(cli, "diff")
@click.argument("before", metavar="ENV_A")
@click.argument("after", metavar="ENV_B")
@click.option("--model", "-m", "models", multiple=True, help="Diff this model only (repeatable).")
@click.option(
    "--samples",
    type=click.IntRange(0, 1000),
    default=5,
    show_default=True,
    help="Sample rows to show of each kind (added, removed, changed).",
)
def diff_command(
    before: str, after: str, models: tuple[str, ...], samples: int, project_dir: Path, output: Output
) -> int:
    """What changes in the models' rows from ENV_A to ENV_B (e.g. `tidegate diff prod pr_12`).

    Rows are matched on the model's primary key (its `unique` test or `unique_key`) to count
    rows added, removed and changed, and changed values per column; without one, whole rows
    are compared. Everything is counted by the warehouse. Without --model, every model whose
    snapshot differs is diffed: models pointing at the same snapshot are identical and not
    queried.
    """
    from tidegate.ci.diff import DiffConfig, diff_environments

    with context(project_dir, output) as ctx:
        result = diff_environments(ctx, before, after, models, DiffConfig(samples=samples))
    if output.as_json:
        output.json(result.to_dict())
    render_diff(output.human, result)
    return 0


def render_diff(console: Console, result: EnvironmentDiff) -> None:
    console.print(
        Text.assemble(
            ("Data diff from ", "bold"),
            (result.before, "bold magenta"),
            (" to ", "bold"),
            (result.after, "bold magenta"),
        )
    )
    compared = [d for d in result.models if d.status != "identical"]
    if compared:
        from rich.table import Table  # imported when a table is printed: the CLI starts faster

        table = Table(box=None, show_edge=False)
        for column in ("model", "key", result.before, result.after, "added", "removed", "changed", "%"):
            table.add_column(
                Text(column), no_wrap=True, justify="left" if column in ("model", "key") else "right"
            )
        for diff in compared:
            table.add_row(
                Text(diff.model),
                Text(", ".join(diff.key) or "(whole rows)", style="" if diff.key else "dim"),
                "" if diff.status == "added" else str(diff.rows_before),
                "" if diff.status == "removed" else str(diff.rows_after),
                Text(str(diff.added), style="green" if diff.added else ""),
                Text(str(diff.removed), style="red" if diff.removed else ""),
                Text(
                    "" if diff.changed is None else str(diff.changed), style="yellow" if diff.changed else ""
                ),
                f"{diff.percent:.1f}",
            )
        console.print(table)
        for diff in compared:
            _details(console, diff)
    identical = list(result.identical)
    if identical:
        shown = ", ".join(identical[:10]) + (
            f" and {len(identical) - 10} more" if len(identical) > 10 else ""
        )
        console.print(
            Text(
                f"{len(identical)} model(s) identical, not queried (both point at the same snapshot): {shown}",
                style="dim",
            )
        )
    if not compared and not identical:
        console.print("No models to diff.")


def _details(console: Console, diff: ModelDiff) -> None:
    lines: list[Text] = []
    if diff.status == "added":
        lines.append(Text(f"only in {diff.after}"))
    elif diff.status == "removed":
        lines.append(Text(f"only in {diff.before}"))
    if diff.columns_added:
        lines.append(Text.assemble(("+ columns ", "green"), ", ".join(diff.columns_added)))
    if diff.columns_removed:
        lines.append(Text.assemble(("- columns ", "red"), ", ".join(diff.columns_removed)))
    for column, old, new in diff.types_changed:
        lines.append(Text.assemble(("~ type ", "yellow"), f"{column}: {old} -> {new}"))
    changed = [f"{c.column} ({c.changed})" for c in diff.columns if c.changed]
    if changed:
        lines.append(Text.assemble(("~ values ", "yellow"), ", ".join(changed)))
    if diff.note:
        lines.append(Text(diff.note, style="dim"))
    samples = [
        ("added", diff.samples_added),
        ("removed", diff.samples_removed),
        ("changed", diff.samples_changed),
    ]
    if not lines and not any(sample for _, sample in samples):
        return
    console.print(Text.assemble(("\n" + diff.model, "bold"), f" ({diff.seconds:.2f}s)"))
    for line in lines:
        console.print(Text("  ") + line)
    for kind, sample in samples:
        if sample is not None and sample.rows:
            console.print(Text(f"  {kind} rows (sample):", style="dim"))
            _sample(console, sample)


def _sample(console: Console, sample: Sample) -> None:
    from rich.padding import Padding
    from rich.table import Table

    table = Table(box=None, show_edge=False)
    for column in sample.columns:
        table.add_column(Text(column))
    for row in sample.rows:
        table.add_row(*(Text("NULL", style="dim") if value is None else Text(str(value)) for value in row))
    console.print(Padding(table, (0, 0, 0, 4), expand=False))
