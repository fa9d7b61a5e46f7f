"""The steps of `tidegate ci`, in the order they run and are reported: each a function of the
`Run` (what the run knows so far) that returns its `Step`, run by `tidegate.ci.pipeline`."""

from __future__ import annotations

from collections.abc import Callable

from tidegate.ci.report import Step
from tidegate.ci.steps.build import plan_step, tests_step
from tidegate.ci.steps.diff import diff_step
from tidegate.ci.steps.files import dags_step, lint_step
from tidegate.ci.steps.impact import impact_step
from tidegate.ci.steps.infra import infra_step
from tidegate.ci.steps.run import Run
from tidegate.ci.steps.terraform import terraform_step

STEPS: list[tuple[str, str, Callable[[Run], Step]]] = [
    ("lint", "Lint", lint_step),
    ("dags", "DAG checks", dags_step),
    ("plan", "Plan and build", plan_step),
    ("tests", "Tests", tests_step),
    ("impact", "Impact on models and dashboards", impact_step),
    ("diff", "Data diff", diff_step),
    ("infra", "Infrastructure plan", infra_step),
    ("terraform", "Terraform plans", terraform_step),
]
"""(name, title, step): the name keys the JSON report, the title is what people read."""
