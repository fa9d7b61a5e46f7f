"""Linting a project's files: each finding names its file, line and code, whatever the Jinja.

Most cases are files of one project linted once (sqlfluff takes a second to start); each test
reads the findings of its own file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG, write_files
from tidegate.ci.findings import Finding
from tidegate.ci.lint import LintResult, lint, sqlfluff_dialect
from tidegate.ci.lint_files import file_kind
from tidegate.errors import ConfigError
from tidegate.project.config import ProjectConfig
from tidegate.project.scaffold import create_project

FILES = {
    # a model using tidegate's Jinja throughout: clean
    "models/clean.sql": """
        {{ config(materialized='incremental', unique_key='id') }}

        {%- set columns = column_list() %}

        select
            {% for column in columns %}{{ column }},{% endfor %}
            {{ cents('amount') }} as dollars,
            {{ adapter.dispatch('greeting')() }} as greeting,
            {{ var('limit') }} as row_limit,
            '{{ env_var('TIDEGATE_LINT_UNSET', 'x') }}' as setting
        from {{ ref('raw_orders') }}
        {% if is_incremental() %}
            where id > (select max(id) from {{ this }})
        {% endif %}
    """,
    # a package's macro, called with its package's name, calling a sibling unqualified
    "models/from_package.sql": """
        select {{ shop_utils.star(ref('clean')) }}
        from {{ ref('clean') }}
    """,
    # a violation after a multi-line Jinja call: reported on the line of the file
    "models/spacing.sql": """
        {{ config(
            materialized='table'
        ) }}

        select id,amount
        from {{ ref('clean') }}
    """,
    "models/broken_jinja.sql": """
        select 1 as x
        {% if true %}
        from y
    """,
    "models/unparsable.sql": """
        select id
        from {{ ref('clean') }}
        where and and
    """,
    "models/unknown_macro.sql": """
        select 1 as x

        from {{ no_such_macro('a') }}
    """,
    # what would query the warehouse gives nothing when linting: the SQL around it is linted
    "models/queries.sql": """
        {%- set rows = run_query('select max(id) from orders') -%}
        select {{ rows | length }} as found
    """,
    "snapshots/orders_snapshot.sql": """
        {% snapshot orders_snapshot %}
        {{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}

        select id, updated_at from {{ ref('raw_orders') }}
        {% endsnapshot %}
    """,
    "tests/assert_positive.sql": "select id from {{ ref('clean') }} where dollars < 0\n",
    "macros/cents.sql": """
        {% macro cents(column) %}({{ column }} / 100.0){% endmacro %}
        {% macro column_list() %}{{ return(['id', 'status']) }}{% endmacro %}
        {% macro default__greeting() %}'hi'{% endmacro %}
    """,
    # macros are not linted for style, but must compile
    "macros/badly_styled.sql": "{% macro shout() %}SELECT   1{% endmacro %}\n",
    "macros/broken.sql": "{% macro broken( %}x{% endmacro %}\n",
    "dbt_packages/shop_utils/dbt_project.yml": "name: shop_utils\n",
    "dbt_packages/shop_utils/macros/star.sql": """
        {% macro star(relation) %}{{ all_columns() }}{% endmacro %}
        {% macro all_columns() %}*{% endmacro %}
    """,
    "dbt_packages/shop_utils/models/ugly.sql": "SELECT   1\n",
    "models/unused_import.py": """
        import os


        def model(raw_orders):
            return raw_orders
    """,
    "dags/broken.py": "def dag(:\n",
    "models/duplicate.yml": """
        version: 2
        models:
          - name: clean
            description: One.
            description: Two.
    """,
    "models/not_properties.yml": """
        version: 2
        models:
          name: clean
    """,
    "models/bad_syntax.yml": "models: [unclosed\n",
    "seeds/raw_orders.csv": "id,amount,status,updated_at\n1,100,paid,2024-01-01\n",
    "README.md": "# a project\n",
    ".venv/lib/site.yml": "not: [linted\n",
}
CONFIG_WITH_VARS = CONFIG + "vars: {limit: 10}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lint") / "project"
    root.mkdir()
    (root / "tidegate.yml").write_text(CONFIG_WITH_VARS)
    write_files(root, FILES)
    return root


@pytest.fixture(scope="module")
def result(project: Path) -> LintResult:
    return lint(project)


def findings(result: LintResult, path: str) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in result.findings if f.path == path]


def test_a_model_using_refs_macros_and_tidegate_functions_is_clean(result: LintResult) -> None:
    assert "models/clean.sql" in result.paths
    assert findings(result, "models/clean.sql") == []
    assert findings(result, "models/from_package.sql") == []
    assert findings(result, "models/queries.sql") == []
    assert findings(result, "tests/assert_positive.sql") == []


def test_a_violation_is_on_the_line_of_the_file_as_written(result: LintResult) -> None:
    [finding] = [f for f in result.findings if f.path == "models/spacing.sql"]
    assert finding == Finding(
        path="models/spacing.sql",
        line=5,
        column=11,
        code="LT01",
        message="Expected single whitespace between comma ',' and naked identifier.",
        severity="error",
        tool="sqlfluff",
    )


def test_broken_jinja_and_unparsable_sql_are_findings(result: LintResult) -> None:
    assert findings(result, "models/broken_jinja.sql") == [(2, "TMP")]
    assert (3, "PRS") in findings(result, "models/unparsable.sql")
    [unparsable] = [f for f in result.findings if f.code == "PRS" and f.path == "models/unparsable.sql"]
    assert unparsable.message.startswith("Found unparsable section: 'where and and'")


def test_an_unknown_macro_is_reported_where_it_is_called(result: LintResult) -> None:
    [finding] = [f for f in result.findings if f.path == "models/unknown_macro.sql" and f.code == "TMP"]
    assert (finding.line, finding.message) == (3, "Undefined jinja template variable: 'no_such_macro'")


def test_a_dbt_snapshot_block_is_linted_as_its_query(result: LintResult) -> None:
    assert "snapshots/orders_snapshot.sql" in result.paths
    assert findings(result, "snapshots/orders_snapshot.sql") == []


def test_macros_are_not_linted_but_must_compile(result: LintResult) -> None:
    assert findings(result, "macros/badly_styled.sql") == []
    assert findings(result, "macros/broken.sql") == [(1, "TMP")]


def test_python_is_linted_with_ruff(result: LintResult) -> None:
    [unused] = [f for f in result.findings if f.path == "models/unused_import.py"]
    assert unused == Finding(
        path="models/unused_import.py",
        line=1,
        column=8,
        code="F401",
        message="`os` imported but unused",
        severity="error",
        tool="ruff",
    )
    assert {f.tool for f in result.findings if f.path == "dags/broken.py"} == {"ruff"}
    assert result.errors > 0 and not result.passed


def test_yaml_errors_have_their_line(result: LintResult) -> None:
    assert findings(result, "models/duplicate.yml") == [(5, "duplicate-key")]
    assert findings(result, "models/not_properties.yml") == [(2, "invalid-properties")]
    assert findings(result, "models/bad_syntax.yml") == [(2, "invalid-yaml")]
    assert findings(result, "tidegate.yml") == []


def test_the_whole_project_is_its_sources_only(result: LintResult) -> None:
    assert not any(path.startswith(("dbt_packages/", ".venv/")) for path in result.paths)
    assert "README.md" not in result.paths and "seeds/raw_orders.csv" not in result.paths
    assert set(result.timings) == {"sqlfluff", "ruff", "yaml"}


def test_only_the_paths_given_are_linted(project: Path) -> None:
    result = lint(
        project, ["models/unused_import.py", "models/gone.sql", "README.md", "models/duplicate.yml"]
    )

    assert result.paths == ("models/unused_import.py", "models/duplicate.yml")
    assert result.skipped == ("models/gone.sql", "README.md")
    assert {f.path for f in result.findings} == set(result.paths)
    assert set(result.timings) == {"ruff", "yaml"}  # no SQL: sqlfluff is not even started


def test_sql_lints_the_same_where_pytest_is_not_imported(project: Path) -> None:
    """A lint's process imports sqlfluff without pytest (`tidegate ci`'s, in production): the
    findings are those of this process, where pytest is imported."""
    paths = ["models/spacing.sql", "models/clean.sql", "macros/broken.sql"]
    script = (
        "import json, sys\n"
        "from tidegate.ci.lint import lint\n"
        "found = lint(sys.argv[1], sys.argv[2:]).to_dict()['findings']\n"
        "print(json.dumps({'pytest': 'pytest' in sys.modules, 'findings': found}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(project), *paths], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["pytest"] is False
    assert answer["findings"] == lint(project, paths).to_dict()["findings"]
    assert answer["findings"] and {f["path"] for f in answer["findings"]} == {
        "models/spacing.sql",
        "macros/broken.sql",
    }


def test_a_folder_is_every_file_in_it(project: Path) -> None:
    assert lint(project, ["dags"]).paths == ("dags/broken.py",)
    assert lint(project, [project / "macros"]).paths == (
        "macros/badly_styled.sql",
        "macros/broken.sql",
        "macros/cents.sql",
    )


def test_a_path_outside_the_project_is_refused(project: Path) -> None:
    with pytest.raises(ConfigError, match="outside the project"):
        lint(project, ["../elsewhere.sql"])


@pytest.mark.parametrize(
    ("tidegate_yml", "line", "message"),
    [
        ("name: x\nenvironments:\n  prod: {}\npromotion: [prod, nope]\n", 4, "promotion.1:"),
        ("name: x\ndialect: klingon\n", 2, "dialect: unknown SQL dialect 'klingon'"),
        ("name: x\nname: y\n", 2, "duplicate key 'name'"),
    ],
)
def test_a_bad_tidegate_yml_is_a_finding_on_its_line(
    tmp_path: Path, tidegate_yml: str, line: int, message: str
) -> None:
    (tmp_path / "tidegate.yml").write_text(tidegate_yml)

    result = lint(tmp_path, ["tidegate.yml"])

    [finding] = result.findings
    assert (finding.path, finding.line, finding.tool) == ("tidegate.yml", line, "yaml")
    assert message in finding.message


def test_without_a_project_lint_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no tidegate\.yml"):
        lint(tmp_path)


def test_the_projects_sqlfluff_settings_apply(tmp_path: Path) -> None:
    write_files(tmp_path, {"models/m.sql": "SELECT id,amount FROM {{ ref('raw') }}\n"})
    (tmp_path / "tidegate.yml").write_text(CONFIG)
    assert [(f.code, f.severity) for f in lint(tmp_path).findings] == [("LT01", "error")]

    (tmp_path / ".sqlfluff").write_text(
        "[sqlfluff]\nrules = core\nwarnings = LT01\n\n"
        "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = lower\n"
    )
    result = lint(tmp_path)

    assert [(f.code, f.severity) for f in result.findings] == [
        ("CP01", "error"),
        ("LT01", "warning"),
        ("CP01", "error"),
    ]
    assert result.errors == 2 and result.warnings == 1


def test_warnings_alone_pass(tmp_path: Path) -> None:
    write_files(tmp_path, {"models/m.sql": "select id,amount from {{ ref('raw') }}\n"})
    (tmp_path / "tidegate.yml").write_text(CONFIG)
    (tmp_path / ".sqlfluff").write_text("[sqlfluff]\nrules = core\nwarnings = LT01\n")

    result = lint(tmp_path)

    assert [(f.code, f.severity) for f in result.findings] == [("LT01", "warning")]
    assert result.passed


def test_a_file_too_large_for_sqlfluff_is_a_warning_not_silence(tmp_path: Path) -> None:
    columns = ",\n".join(f"    {i} as c{i}" for i in range(2500))
    write_files(tmp_path, {"models/wide.sql": f"select\n{columns}\n"})
    (tmp_path / "tidegate.yml").write_text(CONFIG)

    [finding] = lint(tmp_path, ["models/wide.sql"]).findings

    assert (finding.code, finding.severity) == ("skipped", "warning")
    assert "large_file_skip_byte_limit (20000 bytes)" in finding.message


def test_the_projects_ruff_settings_apply(tmp_path: Path) -> None:
    write_files(tmp_path, {"models/m.py": "import os\n\n\ndef model():\n    return None\n"})
    (tmp_path / "tidegate.yml").write_text(CONFIG)
    (tmp_path / "ruff.toml").write_text('[lint]\nignore = ["F401"]\n')

    assert lint(tmp_path).findings == ()


QUALIFY = "select id from {{ ref('raw') }}\nqualify row_number() over (partition by id order by id) = 1\n"
"""DuckDB has `qualify`; PostgreSQL has not."""


def test_sql_is_parsed_in_the_projects_dialect(tmp_path: Path) -> None:
    write_files(tmp_path, {"models/m.sql": QUALIFY})
    (tmp_path / "tidegate.yml").write_text(CONFIG)
    assert lint(tmp_path).findings == ()

    (tmp_path / "tidegate.yml").write_text(CONFIG.replace("dialect: duckdb", "dialect: postgres"))
    assert [(f.line, f.code) for f in lint(tmp_path).findings] == [(2, "PRS")]


def test_a_dbt_projects_dialect_is_its_profiles_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    write_files(
        tmp_path,
        {
            "dbt_project.yml": "name: shop\nprofile: shop\n",
            "profiles.yml": """
                shop:
                  target: dev
                  outputs:
                    dev: {type: postgres, host: localhost, user: me, dbname: shop, schema: analytics}
            """,
            "models/m.sql": QUALIFY,
        },
    )

    assert [(f.line, f.code) for f in lint(tmp_path).findings] == [(2, "PRS")]


@pytest.mark.parametrize(
    ("sqlglot", "sqlfluff"),
    [
        ("duckdb", "duckdb"),
        ("postgres", "postgres"),
        ("spark", "sparksql"),
        ("presto", "trino"),
        ("prql", "ansi"),
    ],
)
def test_dialect_names_are_sqlfluffs(sqlglot: str, sqlfluff: str) -> None:
    assert sqlfluff_dialect(sqlglot) == sqlfluff


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("models/a/b.sql", "sql"),
        ("tests/assert_x.sql", "sql"),
        ("tests/generic/positive.sql", "macro"),
        ("snapshots/s.sql", "sql"),
        ("macros/m.sql", "macro"),
        ("models/m.py", "python"),
        ("dags/daily.py", "python"),
        ("scripts/tool.py", None),
        ("models/schema.yml", "yaml"),
        ("infra/prod.yaml", "yaml"),
        ("seeds/raw.csv", None),
        ("analysis/a.sql", None),
        ("dbt_packages/p/models/m.sql", None),
        (".github/workflows/ci.yml", None),
    ],
)
def test_which_files_are_linted(path: str, kind: str | None) -> None:
    assert file_kind(path, ProjectConfig(name="p")) == kind


@pytest.mark.parametrize("folder", ["airflow/dags", "./airflow/dags/"])
@pytest.mark.parametrize(
    ("path", "kind"),
    [("airflow/dags/daily.py", "python"), ("airflow/dags/sub/hourly.py", "python"), ("dags/old.py", None)],
)
def test_dag_files_are_those_of_the_configured_folder(folder: str, path: str, kind: str | None) -> None:
    config = ProjectConfig.model_validate({"name": "p", "orchestration": {"airflow": {"dags": folder}}})

    assert file_kind(path, config) == kind


@pytest.mark.parametrize("example", ["shop", "minimal"])
def test_the_built_in_examples_lint_clean(tmp_path: Path, example: str) -> None:
    root = tmp_path / example
    create_project(root, example)

    result = lint(root)

    assert result.findings == ()
    assert (root / ".sqlfluff").is_file()
    assert any(path.endswith(".sql") for path in result.paths)
