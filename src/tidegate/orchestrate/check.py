"""`tidegate dags check`: the static rules, then a real import with Airflow when one is set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidegate.orchestrate.dagbag import airflow_python, import_dags
from tidegate.orchestrate.rules import DagProblem, check_source
from tidegate.project.shipping import AirflowConfig


@dataclass(frozen=True)
class DagCheck:
    files: list[str]
    problems: list[DagProblem]
    airflow: str | None = None
    """The interpreter that imported the files; None: static checks only."""
    dags: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "files": self.files,
            "airflow": self.airflow,
            "dags": self.dags,
            "import_seconds": self.seconds,
            "problems": [vars(problem) for problem in self.problems],
        }


def dag_files(root: Path, config: AirflowConfig) -> list[str]:
    folder = root / config.dags
    if not folder.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix() for p in folder.rglob("*.py") if "__pycache__" not in p.parts
    )


def _involves(problem: DagProblem, chosen: set[str]) -> bool:
    """A problem of a chosen file, or one a chosen file takes part in: a duplicate dag_id is
    reported on the file loaded second, which may be the one that did not change."""
    if problem.path in chosen:
        return True
    return problem.rule in ("duplicate_dag_id", "cycle") and any(path in problem.message for path in chosen)


def check_dags(root: Path, config: AirflowConfig, files: list[str] | None = None) -> DagCheck:
    """Check `files` (default: every DAG file); Airflow imports the whole folder, as the
    scheduler does, so duplicates and cycles across files are found, and reports on `files`."""
    chosen = files if files is not None else dag_files(root, config)
    problems: list[DagProblem] = []
    for path in chosen:
        problems += check_source((root / path).read_text(encoding="utf-8"), path, config.rules)
    python = airflow_python(config.python, root)
    if python is None or not chosen:
        return DagCheck(chosen, problems)
    imported = import_dags(python, root, config.dags, config.import_budget)
    broken = {p.path for p in problems if p.rule == "syntax"}  # Airflow says the same again
    problems += [p for p in imported.problems if p.path not in broken and _involves(p, set(chosen))]
    return DagCheck(
        chosen,
        sorted(problems, key=lambda p: (p.path, p.line or 0, p.rule)),
        python,
        imported.dags,
        imported.seconds,
    )
