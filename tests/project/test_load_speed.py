"""What makes a large project load fast changes nothing it loads: queries parsed in worker
processes, the caches of normalized SQL, parsed YAML and compiled templates, and their errors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tidegate.errors import ProjectError
from tidegate.project import Project, load_project, queries, yamlio
from tidegate.project.cache import CACHE_DIR

MakeProject = Callable[..., Path]

PROPERTIES = """
version: 2
models:
  - name: m03
    columns:
      - name: id
        data_tests: [unique, not_null, {accepted_values: {values: [1, 2]}}]
"""


def many_models(count: int = 12) -> dict[str, str]:
    files = {"models/m00.sql": "{{ config(materialized='view') }}\nselect 1 as id, 'a' as name\n"}
    for index in range(1, count):
        files[f"models/m{index:02}.sql"] = (
            f"-- model {index}\nselect id, name, {index} as n\nfrom {{{{ ref('m{index - 1:02}') }}}}\n"
            f"where id > {index} -- keep\n"
        )
    files["models/incremental.sql"] = (
        "{{ config(materialized='incremental', unique_key='id') }}\n"
        "select * from {{ ref('m01') }}\n{% if is_incremental() %}where id > 0{% endif %}\n"
    )
    files["models/properties.yml"] = PROPERTIES
    files["tests/no_negative.sql"] = "select * from {{ ref('m02') }} where id < 0"
    files["dashboards/board.yml"] = (
        "dashboards:\n  - name: board\n    queries:\n      - sql: select count(*) from {{ ref('m04') }}\n"
    )
    return files


def snapshot(project: Project) -> Any:
    """Everything loaded, comparable."""
    return (
        {name: dataclasses.asdict(model) for name, model in project.models.items()},
        [dataclasses.asdict(test) for test in project.tests],
        [dataclasses.asdict(dashboard) for dashboard in project.dashboards],
    )


def in_workers(
    monkeypatch: pytest.MonkeyPatch, chunk: int = 2, pool: Callable[[], Any] | None = None
) -> list[int]:
    """Loads parse every query in two worker processes (or `pool`), `chunk` queries per task,
    also under a test runner with threads of its own; returns the pools started, as it grows."""
    started: list[int] = []
    make = pool or queries._pool

    def counted() -> Any:
        started.append(1)
        return make()

    monkeypatch.setattr(queries, "PARALLEL_FROM", 1)
    monkeypatch.setattr(queries, "CHUNK", chunk)
    monkeypatch.setattr(queries, "_workers", lambda: 2)
    monkeypatch.setattr(queries, "_can_fork", lambda: True)
    monkeypatch.setattr(queries, "_pool", counted)
    return started


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return in_workers(monkeypatch)


def fresh(root: Path) -> Project:
    """A cold load: no cache."""
    import shutil

    shutil.rmtree(root / ".tidegate", ignore_errors=True)
    return load_project(root)


def test_queries_parsed_by_workers_load_the_same_project(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(many_models())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queries, "PARALLEL_FROM", 10**9)
        serial = snapshot(fresh(root))
    started = in_workers(monkeypatch)
    assert snapshot(fresh(root)) == serial
    assert started == [1]
    assert snapshot(load_project(root)) == serial  # and from the cache
    assert serial[0]["m05"]["sql"] == "SELECT id, name, 5 AS n FROM __tgref__m04 WHERE id > 5"


@pytest.mark.parametrize("workers", [True, False])
def test_the_first_query_that_fails_is_reported_with_its_file_and_line(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    if workers:
        in_workers(monkeypatch)
    files = many_models()
    files["models/m07.sql"] = (
        "{{ config(\n  tags=['x']\n) }}\nselect id,\n  name\nfrom {{ ref('m06') }}\nwhere (id >\n"
    )
    files["models/m09.sql"] = "select from from\n"
    files["models/m10.sql"] = "{{ config(materialized='nope') }}\nselect 1 as id"  # later: not reported
    with pytest.raises(ProjectError) as info:
        fresh(make_project(files))
    error = info.value
    assert (error.path, error.line, error.model) == ("models/m07.sql", 7, "m07")  # the template's line
    assert "SQL syntax error" in error.message


def test_a_later_error_of_another_kind_is_reported_when_the_queries_before_it_parse(
    make_project: MakeProject, parallel: list[int]
) -> None:
    files = many_models()
    files["models/m10.sql"] = "{{ config(materialized='nope') }}\nselect 1 as id"
    with pytest.raises(ProjectError, match="unknown materialization 'nope'") as info:
        fresh(make_project(files))
    assert info.value.path == "models/m10.sql"
    assert parallel == [1]


def test_a_generic_test_s_query_error_names_the_test_and_its_line(
    make_project: MakeProject, parallel: list[int]
) -> None:
    files = many_models()
    broken = "{not_null: {name: broken, config: {where: 'id >'}}}"
    files["models/properties.yml"] = PROPERTIES.replace("data_tests: [", f"data_tests: [{broken}, ")
    with pytest.raises(ProjectError) as info:
        fresh(make_project(files))
    error = info.value
    assert error.message.startswith("test 'broken': SQL syntax error")
    assert (error.path, error.line) == ("models/properties.yml", 6)


def test_a_dashboard_query_error_points_into_the_yaml_file(
    make_project: MakeProject, parallel: list[int]
) -> None:
    files = many_models()
    files["dashboards/board.yml"] = (
        "dashboards:\n  - name: board\n    queries:\n      - sql: |\n          select\n          from from\n"
    )
    with pytest.raises(ProjectError, match="SQL syntax error") as info:
        fresh(make_project(files))
    assert (info.value.path, info.value.line, info.value.model) == ("dashboards/board.yml", 6, "board")


def test_a_worker_that_fails_otherwise_has_its_queries_parsed_here(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(many_models())
    expected = snapshot(fresh(root))

    def broken(dialect: str, items: list[Any]) -> Any:
        raise RuntimeError("the worker died")

    started = in_workers(monkeypatch, chunk=3, pool=lambda: ThreadPoolExecutor(2))
    monkeypatch.setattr(queries, "parse_chunk", broken)
    assert snapshot(fresh(root)) == expected
    assert started == [1]


def test_without_processes_queries_are_parsed_here(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(many_models())
    expected = snapshot(fresh(root))

    def refused() -> Any:
        raise OSError("no processes here")

    started = in_workers(monkeypatch, pool=refused)
    assert snapshot(fresh(root)) == expected
    assert started == [1]


def test_where_forking_is_not_safe_queries_are_parsed_here(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(many_models())
    expected = snapshot(fresh(root))
    started = in_workers(monkeypatch)
    monkeypatch.setattr(queries, "_can_fork", lambda: False)
    assert snapshot(fresh(root)) == expected
    assert started == []


def test_forking_is_safe_only_while_the_process_has_one_thread() -> None:
    import threading

    if not sys.platform.startswith("linux"):
        assert not queries._can_fork()
        return
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not queries._can_fork()
    finally:
        release.set()
        thread.join()
    code = "from tidegate.project import queries; print(queries._can_fork())"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "True"


def test_an_unchanged_query_is_not_parsed_again_and_a_changed_one_is(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(many_models())
    first = fresh(root)
    assert (root / CACHE_DIR / "sql.json").is_file()
    parsed: list[str] = []
    from tidegate.project import sql

    parse_query = sql.parse_query

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text)
        return parse_query(text, *args, **kwargs)

    monkeypatch.setattr(sql, "parse_query", counting)
    assert snapshot(load_project(root)) == snapshot(first)
    assert parsed == []
    (root / "models/m05.sql").write_text("select id, name from {{ ref('m04') }}\n")
    changed = load_project(root)
    assert parsed == ["select id, name from __tgref__m04\n"]
    assert changed.models["m05"].sql == "SELECT id, name FROM __tgref__m04"
    assert changed.models["m06"].sql == first.models["m06"].sql


def test_compiled_templates_are_kept_in_one_file_and_follow_their_source(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = many_models()
    files["macros/limit.sql"] = "{% macro row_limit() %}{{ return(3) }}{% endmacro %}"
    files["models/limited.sql"] = "select * from {{ ref('m01') }} limit {{ row_limit() }}"
    root = make_project(files)
    first = fresh(root)
    assert (root / CACHE_DIR / "jinja.bin").is_file()
    assert not (root / CACHE_DIR / "jinja").exists()

    def no_compiling(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached template was compiled again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jinja2.Environment, "compile", no_compiling)
        assert snapshot(load_project(root)) == snapshot(first)
    (root / "macros/limit.sql").write_text("{% macro row_limit() %}{{ return(5) }}{% endmacro %}")
    assert load_project(root).models["limited"].sql.endswith("LIMIT 5")


def test_unreadable_caches_are_rebuilt(make_project: MakeProject) -> None:
    root = make_project(many_models())
    expected = snapshot(fresh(root))
    for name in ("sql.json", "jinja.bin", "yaml.bin"):
        (root / CACHE_DIR / name).write_bytes(b"\x00garbage{")
    assert snapshot(load_project(root)) == expected
    assert snapshot(load_project(root)) == expected


def test_unchanged_yaml_is_not_parsed_again_and_changed_yaml_is(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(many_models())
    first = fresh(root)
    assert (root / CACHE_DIR / "yaml.bin").is_file()
    parsed: list[str] = []
    load_yaml_text = yamlio.load_yaml_text

    def counting(text: str, path: Any) -> Any:
        if not str(path).endswith("tidegate.yml"):  # the configuration is read before the load
            parsed.append(path)
        return load_yaml_text(text, path)

    monkeypatch.setattr(yamlio, "load_yaml_text", counting)
    assert snapshot(load_project(root)) == snapshot(first)
    assert parsed == []
    (root / "models/properties.yml").write_text(PROPERTIES.replace("unique, ", ""))
    changed = load_project(root)
    assert parsed == ["models/properties.yml"]
    assert {test.name for test in changed.tests} == {test.name for test in first.tests} - {"unique_m03_id"}
