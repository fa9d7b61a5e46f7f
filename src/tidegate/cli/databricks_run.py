"""`tidegate databricks run`: a Databricks job, notebook or Python file at the tested commit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tidegate.cli import Output, command
from tidegate.cli.databricks import databricks
from tidegate.errors import ConfigError
from tidegate.orchestrate.databricks import PROVIDERS

if TYPE_CHECKING:
    from tidegate.orchestrate.databricks import RunResult, Submission
    from tidegate.orchestrate.databricks_client import RunState
    from tidegate.orchestrate.databricks_dry_run import DryRun


class Duration(click.ParamType):
    """Seconds, or a number with a unit: `90`, `2.5`, `30s`, `20m`, `2h`. `0` is no limit."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        from tidegate.project.config import parse_duration

        try:
            return float(parse_duration(text))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@command(databricks, "run")
@click.option("--job-id", type=click.IntRange(min=1), help="The job to run (the number in its URL).")
@click.option(
    "--notebook",
    metavar="PATH",
    help="Instead of a job: a one-time run of this notebook (e.g. notebooks/etl.py), relative to "
    "the repository's root.",
)
@click.option(
    "--python-file",
    metavar="PATH",
    help="Instead of a job: a one-time run of this Python file, relative to the repository's root.",
)
@click.option(
    "--ref",
    default="HEAD",
    show_default=True,
    help="The commit to run: a branch, tag or sha of the local repository, resolved to a full sha.",
)
@click.option("--cluster-id", help="One-time runs: the existing cluster to run on.")
@click.option(
    "--new-cluster-json",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="FILE",
    help="One-time runs: a JSON file with the spec of a new cluster (the API's `new_cluster`).",
)
@click.option(
    "--git-url",
    help="The repository Databricks clones (default: the job's Git source, else the `origin` "
    "remote as an https URL).",
)
@click.option(
    "--git-provider",
    type=click.Choice(PROVIDERS, case_sensitive=False),
    metavar="PROVIDER",
    help=f"The repository's host, one of {', '.join(PROVIDERS)} (default: the job's, else from the "
    "URL for github.com, gitlab.com, bitbucket.org, Azure DevOps and CodeCommit).",
)
@click.option(
    "--timeout",
    type=Duration(),
    default="1h",
    show_default=True,
    help="How long to wait for the run (seconds or 30m, 2h; 0 for no limit); past it the run is cancelled.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=10.0,
    show_default=True,
    help="Seconds between two looks at the run's state.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the requests that would be sent (method, path, runs/submit's body with secrets "
    "masked) and send none: needs no credentials and no network.",
)
@click.option(
    "--job-json",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="FILE",
    help="With --dry-run --job-id: the job's definition (the answer of jobs/get, e.g. "
    "`databricks jobs get N --output json`), so the body of runs/submit is shown offline.",
)
def run_command(
    job_id: int | None,
    notebook: str | None,
    python_file: str | None,
    ref: str,
    cluster_id: str | None,
    new_cluster_json: Path | None,
    git_url: str | None,
    git_provider: str | None,
    timeout: float,
    poll_interval: float,
    dry_run: bool,
    job_json: Path | None,
    project_dir: Path,
    output: Output,
) -> int:
    """Run a Databricks job at exactly one commit, wait for it, and exit with its result.

    \b
    With --job-id, the job's definition is read and submitted as a one-time run whose Git
    source is the job's repository pinned to the commit --ref names (`jobs/runs/submit`:
    `jobs/run-now` cannot change the source, and tidegate never modifies the job, so scheduled
    runs are untouched). Job clusters become each task's new cluster; job parameters take
    their defaults. Refused (exit 2): a job without a Git source, a task reading its code from
    the workspace, a task running another job.
    With --notebook or --python-file, that file of the repository runs once at the commit, on
    --cluster-id or a cluster made from --new-cluster-json.

    \b
    Progress is printed on stderr while the run goes; past --timeout, or on Ctrl-C, the run
    is cancelled. --json prints the run (id, URL, state, result, tasks) as one JSON document.
    --dry-run prints the requests instead (secrets masked) and sends none, without
    credentials; for a job, --job-json FILE gives its definition offline.
    Exit codes: 0 the run succeeded, 1 it failed, was cancelled or skipped, or timed out,
    2 bad input (unknown job or ref, missing DATABRICKS_HOST/DATABRICKS_TOKEN, ...).
    Examples:
      tidegate databricks run --job-id 123 --ref origin/main
      tidegate databricks run --notebook notebooks/etl.py --cluster-id 0123-456789-abcdef --ref v1.4
    """
    from tidegate.git.repository import Repository
    from tidegate.orchestrate import databricks as api
    from tidegate.orchestrate.databricks_client import Credentials, JobsClient

    if job_id is not None and (notebook or python_file):
        raise ConfigError("give either --job-id or a one-time --notebook/--python-file, not both")
    if job_id is None and not (notebook or python_file):
        raise ConfigError(
            "nothing to run: give --job-id, --notebook or --python-file",
            hint="e.g. tidegate databricks run --job-id 123 --ref origin/main",
        )
    if job_id is not None and (cluster_id or new_cluster_json):
        raise ConfigError(
            "--cluster-id and --new-cluster-json are for one-time runs: a job has its own compute"
        )
    if job_json is not None and not (dry_run and job_id is not None):
        raise ConfigError(
            "--job-json goes with --dry-run and --job-id: a run reads the job from the workspace"
        )
    repo = Repository(project_dir)
    repo.resolve(ref)  # an unknown ref is bad input, before talking to Databricks

    def submission_of(job: dict[str, Any] | None) -> Submission:
        if job is not None:
            source = (job.get("settings") or {}).get("git_source")
            commit = api.resolve_commit(
                repo, ref, git_url=git_url, git_provider=git_provider, job_source=source
            )
            return api.job_submission(job, commit)
        commit = api.resolve_commit(repo, ref, git_url=git_url, git_provider=git_provider)
        new_cluster = None
        if new_cluster_json is not None:
            new_cluster = api.load_cluster_spec(new_cluster_json.read_text(), str(new_cluster_json))
        return api.task_submission(
            repo,
            commit,
            notebook=notebook,
            python_file=python_file,
            cluster_id=cluster_id,
            new_cluster=new_cluster,
        )

    if dry_run:
        from tidegate.orchestrate import databricks_dry_run as dry

        host = os.environ.get("DATABRICKS_HOST")
        if job_id is not None and job_json is None:
            planned = dry.of_unread_job(job_id, repo.resolve(ref), ref, host)
        else:
            job = dry.load_job(job_json.read_text(), str(job_json), job_id) if job_json and job_id else None
            planned = dry.of_submission(submission_of(job), host)
        if output.as_json:
            output.json(planned.to_dict())
        _render_dry_run(output.human, planned)
        return 0
    client = JobsClient(Credentials.from_env())
    submission = submission_of(client.get_job(job_id) if job_id is not None else None)
    _render_submission(output.err, submission)
    result = api.run(
        client,
        submission,
        timeout=timeout or None,
        poll_interval=poll_interval,
        on_progress=_Progress(output.err),
    )
    if not result.succeeded:
        _render_result(output.err, result)
        raise result.failure()
    if output.as_json:
        output.json(result.to_dict())
    _render_result(output.human, result)
    return 0


class _Progress:
    """A line on stderr each time the run or one of its tasks changes state, and every five
    minutes while nothing changes (CI systems stop jobs that print nothing for long)."""

    HEARTBEAT = 300.0

    def __init__(self, console: Console) -> None:
        self.console = console
        self._seen: tuple[Any, ...] | None = None
        self._printed = 0.0

    def __call__(self, state: RunState, seconds: float) -> None:
        seen = (state.lifecycle, state.result, tuple((t.key, t.lifecycle, t.result) for t in state.tasks))
        if seen == self._seen and seconds - self._printed < self.HEARTBEAT:
            return
        if self._seen is None and state.url:
            self.console.print(Text.assemble("  run ", (str(state.run_id), "bold"), f": {state.url}"))
        self._seen, self._printed = seen, seconds
        tasks = ", ".join(f"{t.key} {t.result or t.lifecycle}" for t in state.tasks)
        self.console.print(
            Text.assemble(
                "  ",
                (state.verdict, _style(state.verdict)),
                f" ({tasks})" if tasks else "",
                (f"  {_elapsed(seconds)}", "dim"),
            ),
            highlight=False,
        )


def _render_submission(console: Console, submission: Submission) -> None:
    commit = submission.commit
    what = f"job {submission.job_id} ({submission.name})" if submission.job_id else submission.name
    console.print(
        Text.assemble(
            ("Running ", "bold"),
            (what, "bold magenta"),
            " at ",
            (commit.sha[:12], "bold"),
            f" ({commit.ref}) from {commit.url} ({commit.provider})",
        ),
        highlight=False,
    )


def _render_dry_run(console: Console, planned: DryRun) -> None:
    source = f" from {planned.commit.url} ({planned.commit.provider})" if planned.commit else ""
    console.print(
        Text.assemble(
            ("Would run ", "bold"),
            (planned.what, "bold magenta"),
            " at ",
            (planned.sha[:12], "bold"),
            f" ({planned.ref}){source}; nothing is sent (--dry-run):",
        ),
        highlight=False,
    )
    console.print(planned.render(), markup=False, highlight=False)


def _render_result(console: Console, result: RunResult) -> None:
    state = result.state
    if state.tasks:
        table = Table(box=None, show_edge=False)
        for column in ("task", "result", "message"):
            table.add_column(Text(column), no_wrap=column != "message")
        for task in state.tasks:
            verdict = task.result or task.lifecycle
            table.add_row(Text(task.key), Text(verdict, style=_style(verdict)), Text(task.message))
        console.print(table)
    verdict = "TIMED OUT" if result.timed_out else state.verdict
    console.print(
        Text.assemble(
            (verdict, _style(verdict)),
            f" run {state.run_id} in {_elapsed(result.seconds)}",
            f": {state.url}" if state.url else "",
        ),
        highlight=False,
    )


def _style(verdict: str) -> str:
    if verdict in ("SUCCESS", "SUCCESS_WITH_FAILURES"):
        return "green"
    if verdict in ("PENDING", "QUEUED", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"):
        return "yellow"
    return "red"


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"
