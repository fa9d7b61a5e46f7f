"""The CI report: what each step found, and how it is written for people and for CI systems.

Steps describe their outcome in a few generic shapes (findings on files and lines, tables, test
cases) so that every format (the pull-request comment in Markdown, JSON, JUnit XML, GitHub
annotations) is written once here, whatever the step.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tidegate.ci.findings import Finding

Status = Literal["passed", "failed", "skipped"]

_ICONS = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}
FORMATS = ("md", "json", "junit", "github")


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Case:
    """One check, as JUnit counts them: a lint of a file, a data test, a dashboard query..."""

    name: str
    seconds: float = 0.0
    failure: str | None = None
    skipped: str | None = None
    path: str | None = None
    output: str | None = None
    """What the check found beyond its verdict (JUnit's `system-out`)."""


@dataclass(frozen=True)
class Step:
    status: Status
    summary: str
    name: str = ""
    """Set by the pipeline, with the title and the time the step took."""
    title: str = ""
    seconds: float = 0.0
    findings: tuple[Finding, ...] = ()
    tables: tuple[Table, ...] = ()
    cases: tuple[Case, ...] = ()
    notes: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """The step's own results for machines (the JSON report)."""
    exit_code: int = 1
    """What the step failing makes `tidegate ci` exit with: 1 a check failed, 2 the step was
    stopped by bad input (a file of the pull request that does not load)."""


@dataclass(frozen=True)
class Report:
    project: str
    environment: str
    base: str
    head: str
    pull_request: int | None
    changed_files: tuple[str, ...]
    steps: tuple[Step, ...]
    seconds: float
    notices: tuple[Finding, ...] = ()
    """Warnings about the pull request as a whole, that fail no check: it conflicts with its
    base, it commits tidegate's local folder."""
    conflicts: tuple[str, ...] = ()
    """The files that conflict when head is merged into base (relative to the repository)."""

    @property
    def passed(self) -> bool:
        return all(step.status != "failed" for step in self.steps)

    @property
    def exit_code(self) -> int:
        """0 every check passed; 2 the pull request holds bad input (a step could not run its
        checks), also when checks failed too; otherwise 1."""
        return max((step.exit_code for step in self.steps if step.status == "failed"), default=0)

    def step(self, name: str) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (the JSON report): every step with its findings, tables,
        cases and data, the verdict and the exit code."""
        document = asdict(self)
        document["notices"] = [notice.to_dict() for notice in self.notices]
        for step, shown in zip(self.steps, document["steps"], strict=True):
            shown["findings"] = [finding.to_dict() for finding in step.findings]
        return document | {"passed": self.passed, "exit_code": self.exit_code}


def parse_targets(values: Iterable[str]) -> list[tuple[str, Path | None]]:
    """`--report md=report.md` -> ("md", Path); a format without a path writes to stdout (md,
    json) or where the CI reads it (github)."""
    from tidegate.errors import ConfigError

    targets = []
    for value in values:
        kind, _, path = value.partition("=")
        if kind not in FORMATS:
            raise ConfigError(f"unknown report format {kind!r}; use one of {', '.join(FORMATS)}")
        if kind == "junit" and not path:
            raise ConfigError("the junit report needs a file: --report junit=junit.xml")
        targets.append((kind, Path(path) if path else None))
    return targets


def render(report: Report, kind: str) -> str:
    writers: dict[str, Callable[[Report], str]] = {
        "md": markdown,
        "json": to_json,
        "junit": junit,
        "github": github_annotations,
    }
    return writers[kind](report)


# markdown ------------------------------------------------------------------------------------


def markdown(report: Report) -> str:
    """The pull-request comment: the verdict and one line per step first, details folded."""
    verdict = "passed" if report.passed else "failed"
    failed = [step.title for step in report.steps if step.status == "failed"]
    where = f"pull request #{report.pull_request}" if report.pull_request else report.head[:12]
    lines = [
        f"## {_ICONS[verdict]} tidegate CI {verdict} for {where}",
        "",
        f"`{report.project}` · environment `{report.environment}` · base `{report.base[:12]}` → "
        f"head `{report.head[:12]}` · {len(report.changed_files)} changed file(s) · "
        f"{report.seconds:.1f} s",
        "",
    ]
    for notice in report.notices:
        where = f"`{notice.path}`: " if notice.path else ""
        lines += [f"> ⚠️ **{notice.title or 'Warning'}**: {where}{_html(notice.message)}", ""]
    if failed:
        lines += [f"**Failed:** {', '.join(failed)}", ""]
    lines += ["| | step | result | time |", "|---|---|---|---:|"]
    lines += [
        f"| {_ICONS[s.status]} | {s.title} | {_cell(s.summary)} | {s.seconds:.2f} s |" for s in report.steps
    ]
    for step in report.steps:
        body = _step_body(step)
        if body:
            state = " open" if step.status == "failed" else ""
            lines += ["", f"<details{state}><summary><b>{step.title}</b>: {_html(step.summary)}</summary>"]
            lines += ["", *body, "", "</details>"]
    return "\n".join(lines) + "\n"


def _step_body(step: Step) -> list[str]:
    lines: list[str] = [f"> {note}" for note in step.notes]
    if step.findings:
        lines += ["", "| file | line | problem |", "|---|---:|---|"]
        lines += [
            f"| `{f.path or ''}` | {f.line or ''} | {_cell((f.title + ': ' if f.title else '') + f.message)} |"
            for f in step.findings[:200]
        ]
        if len(step.findings) > 200:
            lines.append(f"\n… and {len(step.findings) - 200} more")
    for table in step.tables:
        if not table.rows:
            continue
        lines += ["", f"**{table.title}**", ""] if table.title else [""]
        lines += ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table.rows[:200]]
    return lines


def _cell(text: str) -> str:
    return _html(str(text)).replace("|", "\\|").replace("\n", "<br>")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# json ----------------------------------------------------------------------------------------


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"


# junit ---------------------------------------------------------------------------------------


def junit(report: Report) -> str:
    """One test suite per step, one test case per check: what CI systems show as test results."""
    suites = ET.Element("testsuites", name=f"tidegate ci {report.project}", time=f"{report.seconds:.3f}")
    for step in report.steps:
        cases = step.cases or (_step_case(step),)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=step.title,
            tests=str(len(cases)),
            failures=str(sum(1 for c in cases if c.failure is not None)),
            skipped=str(sum(1 for c in cases if c.skipped is not None)),
            time=f"{step.seconds:.3f}",
        )
        for case in cases:
            element = ET.SubElement(
                suite,
                "testcase",
                name=case.name,
                classname=f"tidegate.{step.name}",
                time=f"{case.seconds:.3f}",
            )
            if case.path:
                element.set("file", case.path)
            if case.failure is not None:
                failure = ET.SubElement(element, "failure", message=case.failure.splitlines()[0][:500])
                failure.text = case.failure
            elif case.skipped is not None:
                ET.SubElement(element, "skipped", message=case.skipped)
            if case.output is not None:
                ET.SubElement(element, "system-out").text = case.output
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _step_case(step: Step) -> Case:
    """A step without checks of its own (the plan) is one case."""
    return Case(
        step.title,
        step.seconds,
        failure=step.summary if step.status == "failed" else None,
        skipped=step.summary if step.status == "skipped" else None,
    )


# github --------------------------------------------------------------------------------------


def github_annotations(report: Report) -> str:
    """GitHub Actions workflow commands: each finding becomes an annotation on its file and line."""
    lines = []
    located = [(notice, "tidegate ci") for notice in report.notices]
    located += [(finding, step.title) for step in report.steps for finding in step.findings]
    for finding, default_title in located:
        properties = [("file", finding.path), ("line", finding.line), ("col", finding.column)]
        title = finding.title or default_title
        fields = ",".join(f"{key}={_property(str(v))}" for key, v in properties if v is not None)
        fields = f"{fields},title={_property(title)}" if fields else f"title={_property(title)}"
        lines.append(f"::{finding.severity} {fields}::{_data(finding.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def write(report: Report, targets: list[tuple[str, Path | None]], stdout: Any) -> None:
    """Write each requested format; `github` prints annotations (GitHub reads them from the log)
    and appends the Markdown to the job summary when `GITHUB_STEP_SUMMARY` is set."""
    for kind, path in targets:
        text = render(report, kind)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            continue
        stdout.write(text)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if kind == "github" and summary:
            with open(summary, "a", encoding="utf-8") as stream:
                stream.write(markdown(report))
