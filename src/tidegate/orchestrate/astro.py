"""`tidegate dags deploy --astro DEPLOYMENT_ID`: a checked release handed to Astronomer's `astro` CLI.

The `astro` CLI deploys an *Astro project*: the folder it runs in, which must hold
`.astro/config.yaml`. tidegate writes one from the release (`dags/`, `plugins/`,
`requirements.txt`, the release's manifest) and runs, in that folder:

- `astro deploy ID --dags ...`: a DAG-only deploy (the Deployment mounts the new `dags/`
  without restarting), from a temporary folder;
- `astro deploy ID ...` with `--image DIR`: an image deploy (image and DAGs) of DIR, whose
  Dockerfile is the project's own: Astro builds only images FROM Astro Runtime, which installs
  `requirements.txt` and `packages.txt` itself and fixes the Airflow version (the project's
  `packages.txt` and `include/` go in too).

Both pass `--description "tidegate release ID"` (the Deploy History names the release) and
`--wait` (the command ends when the Deployment is healthy again). Authentication is the CLI's:
`ASTRO_API_TOKEN` in the environment (a Deployment API token in CI), passed through and never
printed. `astro deploy` exits 0 without deploying when its folder is in a git working tree with
uncommitted changes; that answer is a failure here, not a success.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError, TidegateError
from tidegate.orchestrate import release as releases

RUNTIME_IMAGES = ("astrocrpublic.azurecr.io/runtime", "quay.io/astronomer/astro-runtime")
"""The registries of Astro Runtime images, the only base an Astro image deploy accepts."""
TOKEN = "ASTRO_API_TOKEN"
_NOTHING_DEPLOYED = "uncommitted changes"


class AstroDeployFailed(TidegateError):
    """`astro deploy` failed or deployed nothing: the Deployment runs what it ran before. Exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class AstroDeploy:
    deployment: str
    release: str
    image: bool
    """An image deploy (image and DAGs), else a DAG-only deploy."""
    arguments: tuple[str, ...]
    """The `astro` command line run, without the executable."""
    output: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "astro": self.deployment,
            "release": self.release,
            "deploy": "image" if self.image else "dags",
            "command": ["astro", *self.arguments],
        }


def astro_arguments(deployment: str, release: str, *, image: bool) -> list[str]:
    """The `astro deploy` command line of a release (flags as Astro CLI 1.x documents them)."""
    return [
        "deploy",
        deployment,
        *([] if image else ["--dags"]),
        "--description",
        f"tidegate release {release}",
        "--wait",
    ]


def astro_executable() -> str:
    found = shutil.which("astro")
    if found is None:
        raise ConfigError(
            "the astro CLI is not on PATH: --astro deploys through it",
            hint="install it (https://www.astronomer.io/docs/astro/cli/install-cli) and set ASTRO_API_TOKEN "
            "to a Deployment API token; or release to a folder with --to DIR",
        )
    return found


def deploy_to_astro(
    root: Path,
    name: str,
    dags: str,
    deployment: str,
    image: Path | None = None,
    identifier: str | None = None,
) -> AstroDeploy:
    """Write the Astro project of the release (in `image`, or a temporary folder for a DAG-only
    deploy) and run `astro deploy` in it."""
    executable = astro_executable()
    if image is not None:
        release = write_astro_project(root, name, dags, image, identifier, dockerfile=True)
        return _run(executable, deployment, release, image, image=True)
    with tempfile.TemporaryDirectory(prefix="tidegate-astro-") as folder:
        project = Path(folder) / "project"
        release = write_astro_project(root, name, dags, project, identifier, dockerfile=False)
        return _run(executable, deployment, release, project, image=False)


def write_astro_project(
    root: Path, name: str, dags: str, out: Path, identifier: str | None, *, dockerfile: bool
) -> str:
    """An Astro project holding exactly one release; returns the release's id. A folder of an
    earlier release is replaced whole (a DAG removed since is gone); any other folder is refused."""
    if out.exists() and any(out.iterdir()) and not (out / releases.MANIFEST).is_file():
        raise ConfigError(
            f"{out} is not empty and was not written by tidegate: will not replace it",
            hint="give an empty or new folder to --image",
        )
    base = _astro_dockerfile(root) if dockerfile else None
    with tempfile.TemporaryDirectory(prefix="tidegate-release-") as staging:
        made = releases.deploy(root, dags, Path(staging), keep=1, identifier=identifier)
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(made.path, out)
    (out / ".astro").mkdir()
    (out / ".astro" / "config.yaml").write_text(f"project:\n  name: {name}\n")
    if base is not None:
        (out / "Dockerfile").write_text(f"# tidegate release {made.id}, on the project's Dockerfile\n{base}")
        packages = root / "packages.txt"
        (out / "packages.txt").write_text(packages.read_text() if packages.is_file() else "")
        if (root / "include").is_dir():  # an Astro project's other files, which its image may use
            shutil.copytree(root / "include", out / "include")
        if not (out / "requirements.txt").exists():
            (out / "requirements.txt").write_text("")
    return made.id


def _astro_dockerfile(root: Path) -> str:
    """The project's Dockerfile, which must build FROM an Astro Runtime image."""
    path = root / "Dockerfile"
    text = path.read_text() if path.is_file() else ""
    bases = [_from_image(line) for line in text.splitlines() if line.strip().upper().startswith("FROM ")]
    if not any(base.startswith(RUNTIME_IMAGES) for base in bases):
        raise ConfigError(
            "an Astro image deploy builds the project's Dockerfile, which must be FROM an Astro Runtime image",
            path="Dockerfile",
            hint="add a Dockerfile with `FROM astrocrpublic.azurecr.io/runtime:<version>` (astro dev init "
            "writes one), or deploy the DAGs only: --astro without --image",
        )
    return text


def _from_image(line: str) -> str:
    """The image of a FROM line, after its options (`FROM --platform=linux/amd64 image AS base`)."""
    return next((word for word in line.split()[1:] if not word.startswith("--")), "")


def _run(executable: str, deployment: str, release: str, folder: Path, *, image: bool) -> AstroDeploy:
    arguments = astro_arguments(deployment, release, image=image)
    done = subprocess.run(
        [executable, *arguments],
        cwd=folder,
        stdin=subprocess.DEVNULL,  # a question from astro fails rather than waits
        capture_output=True,
        text=True,
        check=False,
    )
    output = _scrub(done.stdout + done.stderr)
    what = f"astro deploy of release {release} to Deployment {deployment}"
    if done.returncode != 0:
        raise AstroDeployFailed(
            f"{what} failed (exit {done.returncode}): {_last_lines(output)}",
            hint=f"the Deployment runs what it ran before; check {TOKEN} and the Deployment ID",
        )
    if _NOTHING_DEPLOYED in output:
        raise AstroDeployFailed(
            f"{what} deployed nothing: astro found uncommitted changes in the git working tree of {folder}",
            hint="commit the changes, or give --image a folder outside the repository",
        )
    return AstroDeploy(deployment, release, image, tuple(arguments), output)


def _scrub(text: str) -> str:
    token = os.environ.get(TOKEN, "")
    return text.replace(token, "***") if len(token) >= 4 else text


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-count:]) or "(no output)"
