"""`tidegate dags deploy --astro`: the `astro deploy` command line built and the Astro project it
runs in. The real astro CLI cannot run here (it needs an Astronomer account, and Docker for an
image deploy), so a test executable named `astro` on PATH records its arguments, its working
folder and what that folder holds, and answers as told."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.ci.repos import commit
from tests.cli.conftest import invoke
from tests.conftest import write_files
from tests.orchestrate.test_release import DAG, repo  # noqa: F401 (the fixture)

FAKE_ASTRO = """\
#!{python}
import json, os, sys
from pathlib import Path
here = Path.cwd()
record = {{
    "arguments": sys.argv[1:],
    "cwd": str(here),
    "files": sorted(p.relative_to(here).as_posix() for p in here.rglob("*") if p.is_file()),
    "token": os.environ.get("ASTRO_API_TOKEN"),
}}
Path(os.environ["ASTRO_RECORD"]).write_text(json.dumps(record))
print(os.environ.get("ASTRO_SAY", "Successfully uploaded DAGs"), "token", os.environ.get("ASTRO_API_TOKEN"))
sys.exit(int(os.environ.get("ASTRO_EXIT", "0")))
"""
TOKEN = "astro-secret-token-1234"
RUNTIME = "FROM astrocrpublic.azurecr.io/runtime:3.1-1\nENV TEAM=data\n"


@pytest.fixture
def astro(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts the recording `astro` on PATH; returns the file its record is written to."""
    folder = tmp_path / "bin"
    folder.mkdir()
    executable = folder / "astro"
    executable.write_text(FAKE_ASTRO.format(python=sys.executable))
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    monkeypatch.setenv("ASTRO_API_TOKEN", TOKEN)
    record = tmp_path / "astro.json"
    monkeypatch.setenv("ASTRO_RECORD", str(record))
    return record


def test_a_dag_only_deploy_runs_astro_in_an_astro_project_of_the_release(repo: Path, astro: Path) -> None:  # noqa: F811
    ran = invoke(repo, "dags", "deploy", "--astro", "clx123dep", "--json")

    assert ran.code == 0, ran.all
    done = ran.json()
    recorded = json.loads(astro.read_text())
    assert recorded["arguments"] == [
        "deploy",
        "clx123dep",
        "--dags",
        "--description",
        f"tidegate release {done['release']}",
        "--wait",
    ]
    assert done["command"] == ["astro", *recorded["arguments"]] and done["deploy"] == "dags"
    assert {".astro/config.yaml", "dags/sales.py", "plugins/helpers.py"} <= set(recorded["files"])
    assert recorded["token"] == TOKEN and TOKEN not in ran.all  # passed through, never printed
    assert not Path(recorded["cwd"]).exists()  # a temporary project


def test_an_image_deploy_builds_the_project_s_runtime_dockerfile_with_the_release(
    repo: Path,  # noqa: F811
    astro: Path,
    tmp_path: Path,
) -> None:
    write_files(repo, {"Dockerfile": RUNTIME, "dags/old.py": DAG.replace('"sales"', '"old"')})
    commit(repo, "an Astro project")
    out = tmp_path / "astro-project"
    assert invoke(repo, "dags", "deploy", "--astro", "clx123dep", "--image", str(out)).code == 0
    (repo / "dags" / "old.py").unlink()
    commit(repo, "old DAG removed")

    ran = invoke(repo, "dags", "deploy", "--astro", "clx123dep", "--image", str(out), "--json")

    assert ran.code == 0, ran.all
    recorded = json.loads(astro.read_text())
    assert recorded["arguments"][:3] == ["deploy", "clx123dep", "--description"]
    assert "--dags" not in recorded["arguments"] and recorded["cwd"] == str(out)
    assert (out / "Dockerfile").read_text().endswith(RUNTIME)
    assert "dags/old.py" not in recorded["files"]  # the folder holds exactly the new release
    assert {".astro/config.yaml", "dags/sales.py", "requirements.txt", "packages.txt"} <= set(
        recorded["files"]
    )


@pytest.mark.parametrize(
    ("setting", "code", "message"),
    [
        ({"ASTRO_EXIT": "1", "ASTRO_SAY": "Error: invalid deployment"}, 1, "invalid deployment"),
        ({"ASTRO_SAY": "Project directory has uncommitted changes"}, 1, "deployed nothing"),
        ({"PATH": "/usr/bin:/bin"}, 2, "astro CLI is not on PATH"),
    ],
)
def test_astro_failing_deploying_nothing_or_missing_is_an_error(
    repo: Path,  # noqa: F811
    astro: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: dict[str, str],
    code: int,
    message: str,
) -> None:
    for name, value in setting.items():
        monkeypatch.setenv(name, value)

    ran = invoke(repo, "dags", "deploy", "--astro", "clx123dep")

    assert ran.code == code, ran.all
    assert message in ran.stderr and TOKEN not in ran.all and "Traceback" not in ran.all


def test_an_image_deploy_needs_an_astro_runtime_dockerfile(repo: Path, astro: Path, tmp_path: Path) -> None:  # noqa: F811
    ran = invoke(repo, "dags", "deploy", "--astro", "clx123dep", "--image", str(tmp_path / "out"))
    assert ran.code == 2 and "Astro Runtime" in ran.stderr
    assert not astro.exists()  # astro never ran
