"""The CI report in each format: what a pull request, a CI system and a machine read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from tidegate.ci.findings import Finding
from tidegate.ci.report import Case, Report, Step, Table, parse_targets, render, write
from tidegate.errors import ConfigError


def report(*steps: Step) -> Report:
    return Report(
        project="shop",
        environment="pr_4",
        base="a" * 40,
        head="b" * 40,
        pull_request=4,
        changed_files=("models/a.sql",),
        steps=steps,
        seconds=1.25,
    )


PASSED = Step(status="passed", summary="3 file(s): no problems", name="lint", title="Lint", seconds=0.5)
BROKEN = Step(
    status="failed",
    summary="1 dashboard quer(ies) broken",
    name="impact",
    title="Impact",
    seconds=0.25,
    findings=(
        Finding(
            message="query top fails: column total | gone",
            path="dashboards/sales.yml",
            line=2,
            title="dashboard",
        ),
    ),
    tables=(Table("Dashboard queries", ("dashboard", "result"), (("sales", "FAILED"),)),),
    cases=(Case("sales.top", 0.1, failure="column total is gone"), Case("sales.volume", 0.1)),
)


def test_markdown_puts_the_verdict_and_the_steps_first_and_folds_details() -> None:
    text = render(report(PASSED, BROKEN), "md")

    first = text.split("\n", 1)[0]
    assert first == "## ❌ tidegate CI failed for pull request #4"
    assert text.index("| ✅ | Lint |") < text.index("<details")
    assert "<details open><summary><b>Impact</b>" in text  # a failed step is unfolded
    assert r"column total \| gone" in text  # table cells escape pipes
    assert "| sales | FAILED |" in text


def test_a_passing_report_exits_0_and_a_failing_one_1() -> None:
    assert report(PASSED).exit_code == 0
    assert report(PASSED, BROKEN).exit_code == 1
    assert "✅ tidegate CI passed" in render(report(PASSED), "md")


STOPPED = Step(
    status="failed",
    summary="stopped: models/schema.yml:3: properties are declared for 'gone'",
    name="plan",
    title="Plan and build",
    exit_code=2,
)


def test_a_step_stopped_by_bad_input_exits_2_whatever_else_failed() -> None:
    assert report(PASSED, STOPPED).exit_code == 2
    assert report(BROKEN, STOPPED).exit_code == 2
    assert report(PASSED, replace(STOPPED, status="skipped")).exit_code == 0
    assert json.loads(render(report(BROKEN, STOPPED), "json"))["exit_code"] == 2


def test_notices_warn_at_the_top_of_the_comment_and_as_annotations_without_failing() -> None:
    conflict = Finding(
        message="merging it into main conflicts in models/a.sql",
        severity="warning",
        title="Conflicts with its base",
    )
    committed = Finding(message="holds caches", path=".tidegate", severity="warning", title="Committed")
    warned = replace(report(PASSED), notices=(conflict, committed), conflicts=("models/a.sql",))

    text = render(warned, "md")
    assert warned.exit_code == 0 and text.startswith("## ✅ tidegate CI passed")
    assert text.index("> ⚠️ **Conflicts with its base**: merging it into main") < text.index("| ✅ | Lint |")
    assert "> ⚠️ **Committed**: `.tidegate`: holds caches" in text
    assert render(warned, "github").splitlines() == [
        "::warning title=Conflicts with its base::merging it into main conflicts in models/a.sql",
        "::warning file=.tidegate,title=Committed::holds caches",
    ]
    assert json.loads(render(warned, "json"))["conflicts"] == ["models/a.sql"]


def test_junit_has_a_suite_per_step_and_a_case_per_check() -> None:
    suites = ET.fromstring(render(report(PASSED, BROKEN), "junit").split("\n", 1)[1])

    assert [s.get("name") for s in suites] == ["Lint", "Impact"]
    impact = suites[1]
    assert (impact.get("tests"), impact.get("failures")) == ("2", "1")
    failure = impact.find("testcase[@name='sales.top']/failure")
    assert failure is not None and failure.text == "column total is gone"
    assert suites[0].find("testcase") is not None  # a step without checks is one case


def test_github_annotations_escape_what_workflow_commands_reserve() -> None:
    step = Step(
        status="failed",
        summary="x",
        name="tests",
        title="Tests",
        findings=(
            Finding(
                message="two\nlines, 100%",
                path="models/a,b.sql",
                line=3,
                column=7,
                severity="warning",
                title="sqlfluff: LT01",
            ),
        ),
    )

    (line,) = render(report(step), "github").splitlines()

    assert line == "::warning file=models/a%2Cb.sql,line=3,col=7,title=sqlfluff%3A LT01::two%0Alines, 100%25"


def test_json_is_the_whole_report() -> None:
    document = json.loads(render(report(PASSED, BROKEN), "json"))

    assert document["passed"] is False
    assert [s["name"] for s in document["steps"]] == ["lint", "impact"]
    assert document["steps"][1]["findings"][0]["line"] == 2


def test_targets_are_formats_with_optional_paths(tmp_path: Path) -> None:
    assert parse_targets(["md", f"junit={tmp_path / 'j.xml'}"]) == [
        ("md", None),
        ("junit", tmp_path / "j.xml"),
    ]
    with pytest.raises(ConfigError, match="unknown report format 'html'"):
        parse_targets(["html"])
    with pytest.raises(ConfigError, match="junit report needs a file"):
        parse_targets(["junit"])


def test_github_appends_the_markdown_to_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    class Out:
        text = ""

        def write(self, text: str) -> None:
            self.text += text

    out = Out()
    write(report(PASSED, BROKEN), [("github", None), ("md", tmp_path / "r.md")], out)

    assert out.text.startswith("::error file=dashboards/sales.yml")
    assert summary.read_text().startswith("## ❌ tidegate CI failed")
    assert (tmp_path / "r.md").read_text() == summary.read_text()
