"""The progress of `tidegate ci` (and the demo's pipeline) as one line per step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tidegate.ci.pipeline import StepProgress

if TYPE_CHECKING:
    from rich.console import Console

    from tidegate.ci.findings import Finding
    from tidegate.ci.report import Step


class StepLines(StepProgress):
    """One line per step, so a CI log shows where the time went."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def started(self, title: str) -> None:
        self.console.print(Text.assemble(("▶ ", "bold"), (title, "bold")))

    def finished(self, step: Step) -> None:
        marks = {"passed": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("-", "dim")}
        self.console.print(
            Text.assemble(
                "  ", marks[step.status], f" {step.title}: {step.summary} ", (f"{step.seconds:.2f}s", "dim")
            ),
            highlight=False,
        )

    def notice(self, finding: Finding) -> None:
        where = f"{finding.path}: " if finding.path else ""
        colour = "yellow" if finding.severity == "warning" else "dim"
        self.console.print(
            Text.assemble((f"! {finding.title}: ", f"bold {colour}"), f"{where}{finding.message}"),
            highlight=False,
        )
