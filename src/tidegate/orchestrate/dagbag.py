"""Import DAG files with the user's real Apache Airflow, in its own interpreter.

tidegate never imports Airflow itself: the interpreter named by `orchestration: airflow: python`
or TIDEGATE_AIRFLOW_PYTHON (an image's or a virtualenv's) runs `_dagbag_probe.py` on the DAG
folder, exactly as the scheduler's DagBag would load it, and tidegate reads its JSON report:
import errors (with the file and line of the traceback), cycles, duplicate dag_ids, and the
import time of each file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tidegate.errors import ConfigError
from tidegate.orchestrate.rules import DagProblem

PROBE = Path(__file__).with_name("_dagbag_probe.py")
_MARK = "TIDEGATE-DAGBAG "


@dataclass(frozen=True)
class AirflowImport:
    problems: list[DagProblem]
    dags: dict[str, str]
    """dag_id -> the file (relative to the project) that defines it."""
    seconds: dict[str, float]
    """Import time of each file."""


def airflow_python(configured: str | None, root: Path) -> str | None:
    """The Airflow interpreter: TIDEGATE_AIRFLOW_PYTHON, else tidegate.yml's, else none."""
    value = os.environ.get("TIDEGATE_AIRFLOW_PYTHON") or configured
    if not value:
        return None
    path = Path(value) if os.path.isabs(value) else root / value
    if not path.exists():
        raise ConfigError(
            f"the Airflow interpreter {value} does not exist",
            path="tidegate.yml",
            hint="set orchestration: airflow: python (or TIDEGATE_AIRFLOW_PYTHON) to the python of your Airflow",
        )
    return str(path)


def import_dags(python: str, root: Path, folder: str, budget: float, timeout: float = 600) -> AirflowImport:
    """Load `folder` with Airflow's DagBag in `python`; problems name the project's files."""
    dags_dir = (root / folder).resolve()
    with tempfile.TemporaryDirectory(prefix="tidegate-airflow-") as home:
        env = {
            **os.environ,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.setdefault("AIRFLOW_HOME", home)
        try:
            done = subprocess.run(
                [python, "-c", PROBE.read_text(encoding="utf-8"), str(dags_dir)],
                capture_output=True,
                text=True,
                env=env,
                cwd=root,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(f"Airflow did not finish importing {folder}/ in {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ConfigError(f"Airflow ({python}) could not load the DAG folder:\n{tail}")
    marked = [line for line in done.stdout.splitlines() if line.startswith(_MARK)]  # DAGs may print too
    if not marked:
        raise ConfigError(f"Airflow ({python}) printed no report on the DAG folder")
    report = json.loads(marked[-1][len(_MARK) :])
    return _read(report, root, dags_dir, budget)


def _relative(root: Path, path: str) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _read(report: dict, root: Path, dags_dir: Path, budget: float) -> AirflowImport:
    problems = []
    for path, error in sorted(report["import_errors"].items()):
        rel = _relative(root, path)
        message = _summary(error).replace(str(root.resolve()) + os.sep, "")
        problems.append(DagProblem(rel, _line_in(error, path), _kind(error), message))
    seconds = {}
    for stat in report["stats"]:
        rel = _relative(root, str(dags_dir / stat["file"].lstrip("/")))
        seconds[rel] = float(stat["seconds"])
        if stat["seconds"] > budget:
            problems.append(
                DagProblem(
                    rel,
                    None,
                    "import_time",
                    f"imports in {stat['seconds']:.2f}s, over the budget of {budget:g}s "
                    "(orchestration: airflow: import_budget): the scheduler pays it on every parse",
                )
            )
    dags = {dag_id: _relative(root, info["fileloc"]) for dag_id, info in report["dags"].items()}
    return AirflowImport(problems, dags, seconds)


def _line_in(error: str, path: str) -> int | None:
    """The line of the DAG file in a traceback (its last frame in that file)."""
    lines = re.findall(rf'File "{re.escape(path)}", line (\d+)', error)
    return int(lines[-1]) if lines else None


def _kind(error: str) -> str:
    if "AirflowDagCycleException" in error or "Cycle detected" in error:
        return "cycle"
    if "AirflowDagDuplicatedIdException" in error:
        return "duplicate_dag_id"
    return "import"


def _summary(error: str) -> str:
    """The exception line of a traceback, which says what went wrong."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else error
