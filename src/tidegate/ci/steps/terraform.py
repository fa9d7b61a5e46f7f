"""The Terraform roots a pull request touches, planned for review and kept for the deploy.

Each touched root gets `init`, `validate` and `plan` (its `fmt -check` is the lint step's) in a
private copy, and its plan is recorded in the state of the root's environment as reviewed by the
pull request, keyed by the content of the root's files: the merge commit finds it, and `tidegate
deploy` applies exactly it. A destructive change (delete, replace) fails the check unless
`--allow-destroy` or `terraform: allow_destroy:` allows it; a root Terraform refuses (a syntax
error, a provider it cannot install) fails with its file and line, and never hides the others.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.ci.findings import Finding
from tidegate.ci.report import Case, Step, Table
from tidegate.ci.steps.run import Run, skipped
from tidegate.errors import TidegateError

if TYPE_CHECKING:
    from tidegate.infra.terraform.plans import TerraformChange
    from tidegate.infra.terraform.roots import RootFiles
    from tidegate.infra.terraform.workflow import RootPlan, Settings
    from tidegate.project.shipping import TerraformConfig, TerraformRoot
    from tidegate.state.records import ReviewedPlan

_HINT = "allow it with `tidegate ci --allow-destroy`, or list the address under `terraform: allow_destroy:`"


@dataclass(frozen=True)
class _Planned:
    """One root, planned and recorded for review."""

    plan: RootPlan
    reviewed: ReviewedPlan


@dataclass(frozen=True)
class _Refused:
    """One root Terraform refused (or whose plan could not be recorded)."""

    files: RootFiles
    error: TidegateError


def terraform_step(run: Run) -> Step:
    """Plan every root the change touches; the report shows each plan's resource changes."""
    from tidegate.infra.terraform.workflow import Settings, touched_roots

    config = run.session.config.terraform
    if not config.roots:
        return skipped("no Terraform roots (terraform: roots: in tidegate.yml)")
    roots = touched_roots(run.session.root, config, run.touched_paths)
    named = {files.root.path for files in roots}
    roots += [files for files in _resettled(run, config) if files.root.path not in named]
    if not roots:
        return skipped("no change touches a Terraform root")
    settings = Settings.of(config, run.project_dir)
    outcomes = [_plan(run, files, settings) for files in roots]
    return _step(run, settings, outcomes)


def _plan(run: Run, files: RootFiles, settings: Settings) -> _Planned | _Refused:
    from tidegate.infra.terraform.workflow import plan_root

    try:
        planned = plan_root(run.session.root, files, settings, allow_destroy=run.allow_destroy)
        reviewed = planned.reviewed(f"pr {run.pull_request}", run.head, allowed=run.allow_destroy)
        run.session.state(files.root.environment).record_reviewed_plan(reviewed)
    except TidegateError as error:
        return _Refused(files, error)
    return _Planned(planned, reviewed)


def _resettled(run: Run, config: TerraformConfig) -> list[RootFiles]:
    """Roots whose entry in tidegate.yml the change adds or edits (their variables, variables
    files or environment): their plans, and the key a deploy looks them up by, change too."""
    from tidegate.infra.terraform.roots import root_files
    from tidegate.project.config import CONFIG_FILE

    if CONFIG_FILE not in run.touched_paths:
        return []
    before = _roots_at_base(run)
    return [
        root_files(run.session.root, root)
        for root in config.roots
        if before.get(root.path) != root and (run.session.root / root.path).is_dir()
    ]


def _roots_at_base(run: Run) -> dict[str, TerraformRoot]:
    """The roots tidegate.yml listed where the pull request branched off (none when it did not
    load there: then every root counts as new)."""
    from pydantic import ValidationError

    from tidegate.git.repository import Repository
    from tidegate.project.config import CONFIG_FILE
    from tidegate.project.shipping import TerraformConfig
    from tidegate.project.yamlio import load_yaml_text

    if run.base is None:
        return {}
    try:
        text = Repository(run.project_dir).read_file(run.base, CONFIG_FILE).decode()
        data = load_yaml_text(text, CONFIG_FILE)
        before = TerraformConfig.model_validate(data.get("terraform") or {})
    except (TidegateError, ValidationError, AttributeError, UnicodeDecodeError):
        return {}
    return {root.path: root for root in before.roots}


# the step's report ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shown:
    """What the report says of one root."""

    summary: str
    case: Case
    findings: tuple[Finding, ...] = ()
    table: Table | None = None
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    exit_code: int = 0
    """1 when a destructive change is not allowed, the error's when Terraform refused the root."""


def _step(run: Run, settings: Settings, outcomes: list[_Planned | _Refused]) -> Step:
    shown = [_shown(run, settings, o) if isinstance(o, _Planned) else _refused(run, o) for o in outcomes]
    exit_code = max(each.exit_code for each in shown)
    return Step(
        status="failed" if exit_code else "passed",
        summary=f"{len(shown)} root(s): " + "; ".join(each.summary for each in shown),
        findings=tuple(finding for each in shown for finding in each.findings),
        tables=tuple(each.table for each in shown if each.table is not None),
        cases=tuple(each.case for each in shown),
        notes=tuple(each.note for each in shown if each.note is not None),
        data={"roots": [each.data for each in shown], "allow_destroy": run.allow_destroy},
        exit_code=exit_code or 1,
    )


def _shown(run: Run, settings: Settings, planned: _Planned) -> _Shown:
    """A planned root: a table of its changes, a finding per destructive change (an error when
    not allowed), Terraform's warnings."""
    root, plan = planned.plan.root, planned.plan.plan
    blocked = ", ".join(change.address for change in planned.plan.blocked)
    table = Table(
        f"{root.path} → {root.environment}: {plan.summary}",
        ("action", "address", "changes", "destructive"),
        tuple(_row(settings, planned.plan, change) for change in plan.changes),
    )
    unformatted = planned.plan.unformatted
    return _Shown(
        summary=f"{root.path}: {plan.summary}{_destroys(planned.plan)}",
        case=Case(
            root.path,
            failure=f"destructive changes not allowed: {blocked} ({_HINT})" if blocked else None,
            path=run.repo_path(root.path),
            output=plan.summary,
        ),
        findings=(
            *(_destructive(run, settings, planned.plan, change) for change in plan.destructive),
            *(_warning(run, root.path, d.message, d.path, d.line) for d in planned.plan.warnings),
        ),
        table=table if plan.changes else None,
        note=f"`{root.path}`: `terraform fmt` would rewrite {', '.join(unformatted)}"
        if unformatted
        else None,
        data={**planned.plan.to_dict(), "reviewed": planned.reviewed.to_dict()},
        exit_code=1 if blocked else 0,
    )


def _refused(run: Run, refused: _Refused) -> _Shown:
    """A root Terraform refused: its error, on the file and line Terraform named."""
    root, error = refused.files.root, refused.error
    path = run.repo_path(posixpath.normpath(str(error.path or root.path)))
    where = f"{path}:{error.line}" if error.line else path
    said = error.message.removeprefix(f"{root.path}: ")  # the report names the root already
    finding = Finding(
        message=said + (f" ({error.hint})" if error.hint else ""),
        path=path,
        line=error.line,
        title=f"Terraform ({root.path})",
    )
    return _Shown(
        summary=f"{root.path}: stopped: {where}: {said}",
        case=Case(root.path, failure=finding.message, path=path),
        findings=(finding,),
        data={
            "root": root.path,
            "environment": root.environment,
            "error": {**error.to_dict(), "path": path},
        },
        exit_code=error.exit_code,
    )


def _destroys(planned: RootPlan) -> str:
    """What a root's plan destroys, for the summary."""
    blocked = [change.address for change in planned.blocked]
    allowed = [change.address for change in planned.plan.destructive if change not in planned.blocked]
    said = [f"destroys {', '.join(blocked)}: not allowed"] if blocked else []
    said += [f"destroys {', '.join(allowed)}: allowed"] if allowed else []
    return f" ({'; '.join(said)})" if said else ""


def _row(settings: Settings, planned: RootPlan, change: TerraformChange) -> tuple[str, ...]:
    from tidegate.infra.terraform.plans import SYMBOLS

    forced = set(change.replaced_by)
    shown = "; ".join(
        f"{a.name}: {_value(a.before)} → {_value(a.after)}"
        + (" (forces replacement)" if a.name in forced else "")
        for a in change.attributes
    )
    return (
        f"{SYMBOLS.get(change.action, '')} {change.action}".strip(),
        change.address,
        shown,
        _verdict(settings, planned, change) if change.destructive else "",
    )


def _verdict(settings: Settings, planned: RootPlan, change: TerraformChange) -> str:
    """How a destructive change stands in the table: blocked, or what allowed it."""
    if change in planned.blocked:
        return "⚠️ DESTRUCTIVE: not allowed"
    return f"⚠️ DESTRUCTIVE: allowed by {_allowed_by(settings, change)}"


def _allowed_by(settings: Settings, change: TerraformChange) -> str:
    return "terraform: allow_destroy:" if settings.allows(change) else "--allow-destroy"


def _value(value: Any) -> str:
    """A value as Terraform prints it: strings quoted, the redacted and unknown as they are."""
    from tidegate.infra.terraform.plans import SENSITIVE

    if value in (SENSITIVE, "(known after apply)"):
        return str(value)
    return "null" if value is None else json.dumps(value, sort_keys=True, default=str)


def _destructive(run: Run, settings: Settings, planned: RootPlan, change: TerraformChange) -> Finding:
    """A finding on the resource's declaration (when it is still declared in the root)."""
    path, line = _declaration(run.session.root, planned.files, change.address)
    blocked = change in planned.blocked
    verdict = _HINT if blocked else f"allowed by {_allowed_by(settings, change)}"
    what = "destroys it" if change.action == "delete" else "destroys it and creates it again"
    return Finding(
        message=f"{change.address} ({planned.root.path}): {change.action} {what}; {verdict}",
        path=run.repo_path(path),
        line=line,
        severity="error" if blocked else "warning",
        title="Destructive Terraform change",
    )


def _declaration(project: Path, files: RootFiles, address: str) -> tuple[str, int | None]:
    """Where the root declares a resource (file and line), for annotations on it; the root's
    folder for a resource of a module, or one no longer declared (deleted)."""
    match = re.fullmatch(r"(data\.)?([\w-]+)\.([\w-]+)(\[.*\])?", address)
    if match is None:
        return files.root.path, None
    block = "data" if match[1] else "resource"
    declared = re.compile(
        rf'^[ \t]*{block}\s+"{re.escape(match[2])}"\s+"{re.escape(match[3])}"', re.MULTILINE
    )
    for name, _ in files.files:
        if Path(name).parent.as_posix() == files.root.path and name.endswith(".tf"):
            text = (project / name).read_text(errors="replace")
            if found := declared.search(text):
                return name, text.count("\n", 0, found.start()) + 1
    return files.root.path, None


def _warning(run: Run, root: str, message: str, path: str | None, line: int | None) -> Finding:
    return Finding(
        message=message,
        path=run.repo_path(posixpath.normpath(f"{root}/{path}") if path else root),
        line=line,
        severity="warning",
        title=f"Terraform warning ({root})",
    )
