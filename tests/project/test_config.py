"""tidegate.yml: validation errors name the file and the line of the key at fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.errors import ConfigError, TidegateError
from tidegate.project import Project
from tidegate.project.config import load_config, parse_duration

LoadError = Callable[..., TidegateError]


def config_error(load_error: LoadError, config: str) -> ConfigError:
    error = load_error({}, config, ConfigError)
    assert isinstance(error, ConfigError)
    assert error.path is not None and error.path.endswith("tidegate.yml")
    return error


@pytest.mark.parametrize(
    ("config", "line", "words"),
    [
        ("name: t\ndialect: duckdb\ncolour: blue\n", 3, ["colour", "Extra inputs"]),
        ("name: t\nenvironments:\n  prod: {engine: oracle}\n", 3, ["environments.prod.engine"]),
        ("name: t\nenvironments:\n  prod:\n    path: w.duckdb\n    thread: 2\n", 5, ["thread"]),
        ("name: t\nenvironments:\n  prod: {}\npromotion:\n  - prod\n  - staging\n", 6, ["'staging'"]),
        ("name: t\nenvironments:\n  prod: {}\nbranches:\n  main: prod\n  release: qa\n", 6, ["'qa'"]),
        ("name: t\njanitor:\n  retention: a week\n", 3, ["janitor.retention", "duration"]),
        ("name: t\nenvironments:\n  prod: {lock_timeout: 10 minutes}\n", 3, ["lock_timeout"]),
        ("name: t\nenvironments:\n  prod: {lock_timeout: -5}\n", 3, ["negative"]),
        ("name: t\npull_requests:\n  environment: pr_{number}\n  ttl: 3 days\n", 4, ["ttl"]),
        ("name: t\npull_requests:\n  base: nope\n", 3, ["pull_requests.base", "'nope'"]),
        ("name: t\nenvironments:\n  prod: {}\n  my-env: {}\n", 4, ["my-env"]),
        ("name: t\nenvironments: {}\npromotion: []\n", 2, ["at least one environment"]),
        ("name: my project\n", 1, ["not a valid name"]),
        ("name: t\ndialect: cobol\n", 2, ["unknown SQL dialect"]),
        ("dialect: duckdb\n", 1, ["name", "Field required"]),
        ("- name: t\n", 1, ["mapping"]),
        ("name: t\nname: u\n", 2, ["duplicate key 'name'"]),
        ("name: t\nenvironments:\n  prod: {engine: postgres}\n", 3, ["needs a dsn"]),
        (
            "name: t\npull_requests:\n  connection: {engine: postgres, dsn: '${PR_DSN}'}\n",
            3,
            ["pull_requests.connection", "names its role"],
        ),
        ("name: t\nenvironments:\n  prod: {engine: duckdb, role: ci}\n", 3, ["PostgreSQL setting"]),
        ("name: t\nenvironments:\n  prod: {engine: postgres, dsn: x, role: 'a b'}\n", 3, ["role name"]),
        (
            "name: t\nenvironments:\n  prod: {engine: postgres, dsn: 'postgresql://me:hunter2@db/x'}\n",
            3,
            ["holds a password", "environment"],
        ),
        (
            "name: t\nenvironments:\n  prod: {engine: postgres, dsn: 'host=db password=hunter2'}\n",
            3,
            ["password"],
        ),
    ],
)
def test_invalid_config_is_reported_at_its_line(
    load_error: LoadError, config: str, line: int, words: list[str]
) -> None:
    error = config_error(load_error, config)
    assert error.line == line
    for word in words:
        assert word in error.message
    assert "Value error," not in error.message


def test_missing_config_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.hint is not None and "tidegate init" in info.value.hint


def test_a_name_is_enough_and_everything_else_has_defaults(load: Callable[..., Project]) -> None:
    config = load({}, "name: shop\n").config
    assert (config.dialect, config.default_schema, config.promotion) == ("duckdb", "analytics", ["prod"])
    assert config.environments["prod"].engine == "duckdb"
    assert config.environments["prod"].threads == 4
    assert parse_duration(config.janitor.retention) == 7 * 86400
    assert parse_duration(config.pull_requests.ttl) == 3 * 86400
    assert config.pull_requests.base == "prod"
    assert config.model_paths == ["models"] and config.seed_paths == ["seeds"]


def test_per_user_environment_is_named_after_the_user(
    load: Callable[..., Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each developer gets their own dev environment without configuring it."""
    config = load({}, "name: t\nenvironments:\n  prod: {}\n  dev: {per_user: true, threads: 3}\n").config
    monkeypatch.setenv("TIDEGATE_USER", "Jane.Doe-Smith")
    assert config.resolve_environment("dev") == "dev_jane_doe_smith"
    assert config.resolve_environment("prod") == "prod"
    assert config.connection_for("dev_jane_doe_smith").threads == 3
    with pytest.raises(ConfigError):
        config.resolve_environment("pr-12")


def test_unlisted_environments_live_in_the_production_warehouse(load: Callable[..., Project]) -> None:
    config = load(
        {},
        "name: t\nenvironments:\n  prod: {path: prod.duckdb}\n  dev: {path: dev.duckdb, per_user: true}\n"
        "  staging: {path: staging.duckdb}\n",
    ).config
    assert config.connection_for("staging").path == "staging.duckdb"
    assert config.connection_for("pr_12").path == "prod.duckdb"
    assert config.connection_for("dev_alice").path == "dev.duckdb"
    assert config.connection_for("staging_alice").path == "prod.duckdb"  # staging is not per user


def test_without_prod_unlisted_environments_use_the_first_one(load: Callable[..., Project]) -> None:
    config = load({}, "name: t\nenvironments:\n  live: {path: live.duckdb}\npromotion: [live]\n").config
    assert config.connection_for("pr_3").path == "live.duckdb"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("12h", 43200), ("2w", 1209600), (9, 9)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_password_in_a_dsn_is_refused_without_being_printed(load_error: LoadError) -> None:
    error = config_error(
        load_error,
        "name: t\nenvironments:\n  prod: {engine: postgres, dsn: 'postgresql://me:hunter2@db/x'}\n",
    )
    assert "hunter2" not in str(error) and "hunter2" not in (error.hint or "")


def test_the_warehouse_key_of_a_postgres_dsn_has_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from tidegate.project.config import ConnectionConfig

    monkeypatch.setenv("PROD_DSN", "postgresql://me:hunter2@db.example.com:6543/shop")
    key = ConnectionConfig(engine="postgres", dsn="${PROD_DSN}").key(Path("."))
    assert key == "postgres:db.example.com:6543/shop"


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("name: t\nschema: tidegate_stuff\n", ["reserved"]),
        ("name: t\nschema: a__b\n", ["'__'"]),
        ("name: t\nenvironments:\n  prod: {}\n  dev__x: {}\n", ["'__'"]),
        ("name: t\npull_requests: {environment: pr}\n", ["{number}"]),
    ],
)
def test_names_that_could_collide_with_other_environments_are_refused(
    load_error: LoadError, config: str, words: list[str]
) -> None:
    error = config_error(load_error, config)
    for word in words:
        assert word in str(error)


def test_a_key_after_a_password_reference_is_not_a_password(tmp_path: Path) -> None:
    (tmp_path / "tidegate.yml").write_text(
        "name: t\nenvironments:\n  prod: {engine: postgres, dsn: 'host=db password=${PGPW} dbname=shop'}\n"
    )

    assert load_config(tmp_path).environments["prod"].dsn == "host=db password=${PGPW} dbname=shop"


def test_a_token_written_in_a_spark_remote_is_refused(load_error: LoadError) -> None:
    error = config_error(
        load_error,
        "name: t\nenvironments:\n  prod: {engine: spark, remote: 'sc://acme:443/;token=dapi-hunter2'}\n",
    )
    assert "holds a token" in str(error) and "hunter2" not in str(error)


def test_the_warehouse_key_of_a_spark_remote_has_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from tidegate.project.config import ConnectionConfig

    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-hunter2")
    config = ConnectionConfig(engine="spark", remote="sc://acme:443/;token=${DATABRICKS_TOKEN}")

    assert config.key(Path("/w")) == "spark:sc://acme:443/;token=***:/w/spark-warehouse"


@pytest.mark.parametrize(
    ("databricks", "shipping"),
    [
        ("", {"staging", "prod"}),  # by default: the environments deployed from a branch
        ("databricks:\n  jobs:\n    environments: [prod]\n", {"prod"}),
        ("databricks:\n  jobs:\n    environments: []\n", set()),
    ],
)
def test_the_environments_whose_deploy_ships_databricks_jobs(
    tmp_path: Path, databricks: str, shipping: set[str]
) -> None:
    environments = "environments:\n  dev: {}\n  staging: {}\n  prod: {}\n"
    branches = "branches: {main: staging, production: prod}\n"
    (tmp_path / "tidegate.yml").write_text(f"name: t\n{environments}{branches}{databricks}")
    assert load_config(tmp_path).databricks_job_environments() == shipping
