"""`tidegate dags check|deploy`: Airflow DAG files checked and released (DESIGN section 7)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.text import Text

from tidegate.cli import Output, cli, command
from tidegate.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from tidegate.orchestrate.check import DagCheck
    from tidegate.orchestrate.ship.targets import Shipped
    from tidegate.project.shipping import AirflowConfig


@cli.group("dags")
def dags() -> None:
    """Airflow DAG files: check them, release them into a DAGs folder, generate one from the models.

    Airflow is found through `orchestration: airflow: python` in tidegate.yml or
    TIDEGATE_AIRFLOW_PYTHON (the Python of your Airflow image or virtualenv); DAG files are in
    `dags/` unless `orchestration: airflow: dags` says otherwise.
    """


def _config(project_dir: Path) -> AirflowConfig:
    """Read without opening a warehouse: DAG checks need none."""
    from tidegate.project.config import load_config

    return load_config(project_dir).orchestration.airflow


@command(dags, "check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def check_command(paths: tuple[Path, ...], project_dir: Path, output: Output) -> int:
    """Check DAG files (default: all of them): syntax; static rules (no work at import time, a
    fixed start_date, owner, retries and tags); then a real import with Airflow: import errors
    with file and line, cycles, duplicate dag_ids, import time against the budget. Exit 1 if
    any check fails."""
    from tidegate.orchestrate.check import check_dags

    config = _config(project_dir)
    files = [_relative(project_dir, file) for path in paths for file in _python_files(path)] or None
    result = check_dags(project_dir, config, files)
    if output.as_json:
        output.json(result.to_dict())
    render_check(output.human, result)
    return 0 if result.passed else 1


def _python_files(path: Path) -> list[Path]:
    """A file as it is, a folder as the Python files in it."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    if not path.exists():
        raise ConfigError(f"no such DAG file: {path}")
    return [path]


def _relative(root: Path, path: Path) -> str:
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def render_check(console: Console, result: DagCheck) -> None:
    how = (
        f"imported with {result.airflow}" if result.airflow else "static checks only (no Airflow configured)"
    )
    console.print(Text.assemble(("DAG checks", "bold"), f": {len(result.files)} file(s), {how}"))
    for problem in result.problems:
        where = f"{problem.path}:{problem.line}" if problem.line else problem.path
        console.print(Text.assemble(("  ✗ ", "red"), (where, "bold"), f" [{problem.rule}] {problem.message}"))
    if result.passed:
        console.print("[green]All DAG checks passed[/]")


@command(dags, "deploy")
@click.option(
    "--to",
    "target",
    metavar="DIR|s3://BUCKET/PREFIX|gs://BUCKET/PREFIX",
    help="Where Airflow reads the DAGs: a folder (releases go in releases/, Airflow reads "
    "current/), an MWAA S3 prefix (dags/, plugins.zip, requirements.txt) or a Cloud Composer "
    "bucket prefix (dags/, plugins/).",
)
@click.option("--rollback", is_flag=True, help="Switch current/ back to the release before it.")
@click.option(
    "--release", "release", help="With --rollback: the release to switch to (a folder name in DIR/releases/)."
)
@click.option(
    "--image",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the build context of an Airflow image with this release (building it needs Docker).",
)
@click.option(
    "--keep", type=click.IntRange(1), help="Releases to keep (default: orchestration: airflow: releases, 5)."
)
@click.option(
    "--astro",
    "astro",
    metavar="DEPLOYMENT_ID",
    help="Deploy to this Astronomer Deployment with the astro CLI (ASTRO_API_TOKEN): the DAGs only, "
    "or with --image DIR the image too, built from the project's Astro Runtime Dockerfile.",
)
def deploy_command(
    target: str | None,
    rollback: bool,
    release: str | None,
    image: Path | None,
    keep: int | None,
    astro: str | None,
    project_dir: Path,
    output: Output,
) -> int:
    """Release the DAG files once every check passes: a new releases/<commit>-<digest>/ and an
    atomic switch of current/ (point Airflow's dags_folder at DIR/current/dags), or --rollback
    (to the release before, or --release ID: a folder name in DIR/releases/, checked against its
    manifest before current/ moves). To s3:// or gs://, new and changed files are uploaded
    first, then a manifest of their hashes, then the files the last release had and this one
    has not are removed, and a listing checks the result: a scheduler listing the prefix sees
    the whole old set or the whole new set. Credentials come from boto3's or
    google-cloud-storage's usual environment. With --astro, `astro deploy` ships the release to
    an Astronomer Deployment instead."""
    from tidegate.errors import ConfigError
    from tidegate.orchestrate import release as releases
    from tidegate.orchestrate.check import check_dags
    from tidegate.orchestrate.dagbag import airflow_python
    from tidegate.orchestrate.ship.targets import is_object_store, ship

    config = _config(project_dir)
    if astro is not None:
        if target is not None or rollback:
            raise ConfigError("--astro deploys through astro: it takes no --to or --rollback")
        from tidegate.orchestrate.astro import astro_executable

        astro_executable()  # before the checks: a missing CLI is known at once
    elif (target is None) == (image is None):
        raise ConfigError(
            "give --to DIR (a DAGs folder), --image DIR (an image's build context) or --astro ID"
        )
    if rollback:
        if target is None or is_object_store(target):
            raise ConfigError("--rollback needs --to DIR (a folder): deploy the earlier commit to a bucket")
        done = releases.rollback(Path(target), release)
        output.human.print(f"[green]Rolled back[/]: current/ is release {done.id} (was {done.previous})")
        if output.as_json:
            output.json(done.to_dict())
        return 0
    checked = check_dags(project_dir, config)
    if not checked.passed:
        render_check(output.err, checked)
        raise CheckFailed(f"{len(checked.problems)} DAG check(s) failed: nothing was deployed")
    if astro is not None:
        return _deploy_to_astro(project_dir, config, astro, image, output)
    if image is not None:
        python = airflow_python(config.python, project_dir)
        releases.write_image_context(project_dir, config.dags, image, python)
        output.human.print(f"Wrote the image build context to {image}: docker build {image}")
        if output.as_json:
            output.json({"image": str(image)})
        return 0
    assert target is not None
    if is_object_store(target):
        shipped = ship(
            target,
            project_dir,
            config.dags,
            commit=None,
            base=Path.cwd(),
            keep=keep or config.releases,
            progress=lambda text: output.err.print(Text(text, style="dim")),
        )
        if output.as_json:
            output.json(shipped.to_dict())
        render_shipped(output.human, shipped)
        return 0
    done = releases.deploy(project_dir, config.dags, Path(target), keep=keep or config.releases)
    if output.as_json:
        output.json(done.to_dict())
    output.human.print(
        f"[green]Deployed[/] release {done.id} ({len(done.files)} file(s)) to {target}/current"
        + (f", replacing {done.previous}" if done.previous and done.previous != done.id else "")
    )
    return 0


def render_shipped(console: Console, shipped: Shipped) -> None:
    """Where the DAGs went, and what changed there."""
    if not shipped.changed:
        console.print(f"DAGs: {shipped.target} already has release {shipped.release}: nothing changed")
    else:
        console.print(
            Text.assemble(
                ("DAGs shipped", "green"),
                f": release {shipped.release} to {shipped.target} ({len(shipped.uploaded)} file(s) written, "
                f"{len(shipped.removed)} removed"
                + (f", replacing {shipped.previous})" if shipped.previous else ")"),
            )
        )
    if shipped.arrival is not None:
        console.print("DAGs: Airflow parsed the shipped files")


def _deploy_to_astro(
    project_dir: Path, config: AirflowConfig, deployment: str, image: Path | None, output: Output
) -> int:
    from tidegate.orchestrate.astro import deploy_to_astro
    from tidegate.project.config import load_config

    name = load_config(project_dir).name
    done = deploy_to_astro(project_dir, name, config.dags, deployment, image)
    if done.output.strip():
        output.err.print(done.output.rstrip(), markup=False, highlight=False)
    if output.as_json:
        output.json(done.to_dict())
    what = "image and DAGs" if done.image else "DAGs"
    output.human.print(
        f"[green]Deployed[/] release {done.release} ({what}) to Astronomer Deployment {deployment}"
    )
    return 0
