"""`tidegate lint [PATH...]`: findings by file, a summary, and the exit code that gates CI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.conftest import CONFIG

DIRTY = {
    "models/clean.sql": "select id from {{ ref('raw') }}\n",
    "models/spacing.sql": "select id,amount\nfrom {{ ref('clean') }}\n",
    "models/helper.py": "import os\n\n\ndef model(clean):\n    return clean\n",
}


def test_a_clean_project_passes(make_project: Callable[..., Path]) -> None:
    root = make_project({"models/clean.sql": DIRTY["models/clean.sql"]})

    ran = invoke(root, "lint")

    assert ran.code == 0, ran.all
    assert "No problems in 2 file(s)" in ran.stdout  # the model and tidegate.yml
    assert "sqlfluff" in ran.stdout


def test_findings_are_listed_by_file_and_fail(make_project: Callable[..., Path]) -> None:
    root = make_project(DIRTY)

    ran = invoke(root, "lint")

    assert ran.code == 1, ran.all
    lines = ran.stdout.splitlines()
    assert "models/helper.py:1:8 F401 `os` imported but unused" in lines
    assert (
        "models/spacing.sql:1:11 LT01 Expected single whitespace between comma ',' and naked identifier."
        in lines
    )
    assert lines.index("models/helper.py:1:8 F401 `os` imported but unused") < lines.index("") < len(lines)
    assert "2 error(s), 0 warning(s) in 2 of 4 file(s)" in ran.stdout


def test_json_is_one_document(make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(DIRTY)
    monkeypatch.chdir(root)

    ran = invoke(root, "lint", "models/helper.py", "README.md", "--json")

    assert ran.code == 1
    document = ran.json()
    assert document["passed"] is False
    assert document["paths"] == ["models/helper.py"]
    assert document["skipped"] == ["README.md"]
    assert document["findings"] == [
        {
            "path": "models/helper.py",
            "line": 1,
            "column": 8,
            "code": "F401",
            "message": "`os` imported but unused",
            "severity": "error",
            "tool": "ruff",
        }
    ]
    assert set(document["timings"]) == {"ruff"}


def test_paths_are_relative_to_the_current_directory(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(DIRTY)
    monkeypatch.chdir(root / "models")

    ran = invoke(root, "lint", "clean.sql", "--json")

    assert ran.code == 0, ran.all
    assert ran.json()["paths"] == ["models/clean.sql"]


def test_without_paths_the_configured_dag_folder_is_linted(make_project: Callable[..., Path]) -> None:
    unused = "import os\n"
    root = make_project(
        {"airflow/dags/daily.py": unused, "dags/not_dags.py": unused},
        config=CONFIG + "orchestration: {airflow: {dags: airflow/dags}}\n",
    )

    ran = invoke(root, "lint", "--json")

    assert ran.code == 1, ran.all
    assert [(f["path"], f["code"]) for f in ran.json()["findings"]] == [("airflow/dags/daily.py", "F401")]


def test_warnings_do_not_fail(make_project: Callable[..., Path]) -> None:
    root = make_project({"models/spacing.sql": DIRTY["models/spacing.sql"]})
    (root / ".sqlfluff").write_text("[sqlfluff]\nrules = core\nwarnings = LT01\n")

    ran = invoke(root, "lint", "--json")

    assert ran.code == 0, ran.all
    assert [f["severity"] for f in ran.json()["findings"]] == ["warning"]


def test_a_yaml_error_names_its_line(make_project: Callable[..., Path]) -> None:
    root = make_project({"models/schema.yml": "version: 2\nversion: 2\n"})

    ran = invoke(root, "lint", str(root / "models"))

    assert ran.code == 1
    assert "models/schema.yml:2:1 duplicate-key invalid YAML: duplicate key 'version'" in ran.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["/elsewhere/model.sql"], "outside the project"), ([], "no tidegate.yml")],
)
def test_bad_input_exits_2(
    tmp_path: Path, make_project: Callable[..., Path], args: list[str], message: str
) -> None:
    root = make_project({}) if args else tmp_path / "empty"
    root.mkdir(exist_ok=True)

    ran = invoke(root, "lint", *args)

    assert ran.code == 2
    assert message in ran.stderr
