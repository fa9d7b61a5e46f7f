"""`tidegate infra` on embedded DuckDB: schemas, and a clear refusal of what DuckDB has no notion of."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import invoke
from tests.conftest import write_files
from tidegate.context import Context


def test_schemas_are_planned_applied_and_dropped(make_project: Callable[..., Path]) -> None:
    project = make_project({"infra/schemas.yml": "schemas:\n  - name: raw\n  - name: landing\n"})
    plan = invoke(project, "infra", "plan", "prod", "--json").json()
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("create", "landing"), ("create", "raw")]
    assert invoke(project, "infra", "apply", "prod").code == 0
    assert invoke(project, "infra", "plan", "prod", "--json").json()["changes"] == []

    write_files(project, {"infra/schemas.yml": "schemas:\n  - name: raw\n"})
    plan = invoke(project, "infra", "plan", "prod", "--json").json()
    assert [(c["action"], c["name"], c["destructive"]) for c in plan["changes"]] == [
        ("delete", "landing", None)
    ]
    assert invoke(project, "infra", "apply", "prod").code == 0
    with Context(project) as ctx:
        rows = (
            ctx.engine("prod")
            .fetch("select schema_name from duckdb_schemas() where schema_name in ('raw', 'landing')")
            .rows
        )
    assert rows == [("raw",)]


def test_roles_on_duckdb_are_refused_naming_the_file_and_line(make_project: Callable[..., Path]) -> None:
    project = make_project({"infra/roles.yml": "schemas:\n  - name: raw\nroles:\n  - name: analyst\n"})
    refused = invoke(project, "infra", "plan", "prod")
    assert refused.code == 2
    assert "infra/roles.yml:4" in refused.stderr and "DuckDB has no roles, users or grants" in refused.stderr
    assert "only:" in refused.stderr


def test_databases_are_files_every_connection_attaches(make_project: Callable[..., Path]) -> None:
    project = make_project({"infra/databases.yml": 'databases:\n  - name: "archive_{{ env }}"\n'})
    plan = invoke(project, "infra", "plan", "prod", "--json").json()
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [("create", "archive_prod")]
    assert invoke(project, "infra", "apply", "prod").code == 0
    with Context(project) as ctx:  # a new connection attaches it: models can use it
        ctx.engine("prod").execute("create table archive_prod.main.kept as select 1 as id")
    with Context(project) as ctx:
        assert ctx.engine("prod").fetch("select id from archive_prod.main.kept").rows == [(1,)]
    assert invoke(project, "infra", "plan", "prod", "--json").json()["changes"] == []

    write_files(project, {"infra/databases.yml": "databases: []\n"})
    plan = invoke(project, "infra", "plan", "prod", "--json").json()
    assert [(c["action"], c["destructive"]) for c in plan["changes"]] == [
        ("delete", "drops a database and everything in it")
    ]
    assert invoke(project, "infra", "apply", "prod").code == 1  # destructive: refused
    assert invoke(project, "infra", "apply", "prod", "--allow-destroy").code == 0
    assert not list(project.glob("*.databases/*.duckdb"))
