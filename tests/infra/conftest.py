"""Infrastructure projects on the real PostgreSQL server: each test gets its own database and a
role prefix, and drops the roles it made (roles belong to the whole server)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import write_files
from tests.engines.conftest import PG_ADMIN_DSN, drop_databases_and_roles, postgres_admin, require_postgres


@pytest.fixture
def prefix() -> str:
    """A prefix for the names of the roles a test makes; they are dropped afterwards."""
    return f"tg{uuid.uuid4().hex[:8]}_"


@pytest.fixture
def pg_project(tmp_path: Path, prefix: str) -> Iterator[Callable[[dict[str, str]], Path]]:
    """`pg_project(files)`: a project whose prod and dev live in a new PostgreSQL database;
    `{p}` in file texts is the test's role prefix."""
    require_postgres()
    database = f"{prefix}db"
    postgres_admin(f'CREATE DATABASE "{database}"')
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
    connection = f'{{engine: postgres, dsn: "{dsn}", threads: 2, lock_timeout: 5s}}'
    root = tmp_path / "project"

    def make(files: dict[str, str]) -> Path:
        config = f"name: infra_test\nenvironments:\n  prod: {connection}\n  dev: {connection}\n"
        write_files(root, {"tidegate.yml": config, **{k: v.replace("{p}", prefix) for k, v in files.items()}})
        return root

    yield make
    drop_databases_and_roles(prefix)


def psql(project: Path, sql: str) -> list[tuple[object, ...]]:
    """Run SQL as an administrator would by hand, in the project's database."""
    import psycopg

    from tidegate.project.config import load_config

    dsn = load_config(project).connection_for("prod").dsn
    with psycopg.connect(dsn, autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if cursor.description else []
