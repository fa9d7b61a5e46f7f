"""Projects on every engine: the same behaviour suite runs on DuckDB, PostgreSQL and Spark.

PostgreSQL tests get a fresh database each on the server at 127.0.0.1:5432 and skip when it is
not there, unless TIDEGATE_REQUIRE_PG=1 (CI) makes that a failure. Spark tests share one local
session per test process and drop the databases they made.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tidegate.project.engines import ENGINES as REGISTRY

PG_ADMIN_DSN = os.environ.get("TIDEGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ENGINES = list(REGISTRY)
"""Every engine tidegate declares: the behaviour suite runs on each."""


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


def require_postgres() -> None:
    if not postgres_available():
        if os.environ.get("TIDEGATE_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL is required (TIDEGATE_REQUIRE_PG=1) but {PG_ADMIN_DSN} is unreachable")
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432")


def require_spark() -> None:
    """Skip without PySpark or Java: in a test, or (at import) the whole module."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java", allow_module_level=True)


def postgres_admin(sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement as the server's administrator, in a session of its own; its rows."""
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as connection:
        cursor = connection.execute(sql, parameters or None)
        return cursor.fetchall() if cursor.description else []


def drop_databases_and_roles(prefix: str) -> None:
    """Drop every database, then every role, whose name starts with `prefix`: what a test made
    on the server (roles belong to the whole server, so their names carry the test's prefix)."""
    import psycopg

    like = prefix.replace("_", "\\_") + "%"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        for (name,) in admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [like]
        ).fetchall():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        roles = [r for (r,) in admin.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [like])]
        for role in roles:
            admin.execute(f'DROP OWNED BY "{role}"')
        for role in roles:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty database; its DSN (no password: trust auth)."""
    require_postgres()
    name = f"tg_{uuid.uuid4().hex[:12]}"
    postgres_admin(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def spark_isolation() -> Iterator[None]:
    """Drop every Spark database a test made; the session itself is shared."""
    require_spark()
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        for database in session.catalog.listDatabases():
            if database.name != "default":
                session.sql(f"DROP DATABASE IF EXISTS `{database.name}` CASCADE")


def environment_line(engine: str, request: pytest.FixtureRequest) -> str:
    """The connection of every environment of the test project, for `engine`."""
    if engine == "duckdb":
        return "{engine: duckdb, path: warehouse.duckdb, threads: 2, lock_timeout: 5s}"
    if engine == "postgres":
        dsn = request.getfixturevalue("postgres_database")
        return f'{{engine: postgres, dsn: "{dsn}", threads: 2, lock_timeout: 5s}}'
    if engine == "spark":
        request.getfixturevalue("spark_isolation")
        return (
            '{engine: spark, master: "local[1]", warehouse_dir: spark-warehouse, '
            "state_path: .tidegate/state.duckdb, threads: 1, lock_timeout: 5s}"
        )
    pytest.fail(f"no test warehouse for the {engine} engine: add its connection here")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine_project(
    engine: str, make_project: Callable[..., Path], request: pytest.FixtureRequest
) -> Callable[..., Path]:
    """`engine_project(files)`: a project whose environments all live on the engine under test."""
    connection = environment_line(engine, request)
    config = (
        "name: test\ndialect: duckdb\n"
        f"environments:\n  prod: {connection}\n  dev: {connection}\n"
        "promotion: [dev, prod]\n"
    )

    def make(files: dict[str, str]) -> Path:
        return make_project(files, config=config)

    return make
