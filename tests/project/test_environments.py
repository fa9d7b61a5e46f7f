"""An environment name resolved once against tidegate.yml: its concrete name, its connection and
the identity of its warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.errors import ConfigError
from tidegate.project.config import ProjectConfig, load_config
from tidegate.project.environments import Environment

CONFIG = """\
name: shop
environments:
  prod: {path: prod.duckdb, threads: 8, lock_timeout: 2m}
  dev: {path: dev.duckdb, per_user: true}
  remote: {engine: postgres, dsn: "${REMOTE_DSN}"}
pull_requests:
  connection: {engine: duckdb, path: ci.duckdb}
"""


@pytest.fixture
def config(tmp_path: Path) -> ProjectConfig:
    (tmp_path / "tidegate.yml").write_text(CONFIG)
    return load_config(tmp_path)


def test_a_name_resolves_to_its_environment_connection_and_warehouse(
    config: ProjectConfig, tmp_path: Path
) -> None:
    prod = Environment.resolve(config, "prod", workspace=tmp_path)
    assert (prod.name, prod.connection.path, prod.threads, prod.lock_timeout) == (
        "prod",
        "prod.duckdb",
        8,
        120.0,
    )
    assert prod.warehouse == f"duckdb:{(tmp_path / 'prod.duckdb').resolve()}"


def test_a_per_user_environment_is_the_users_own(
    config: ProjectConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEGATE_USER", "Jane.Doe")
    dev = Environment.resolve(config, "dev", workspace=tmp_path)
    assert (dev.name, dev.connection.path) == ("dev_jane_doe", "dev.duckdb")
    assert (
        Environment.resolve(config, dev.name, workspace=tmp_path) == dev
    )  # resolving it again changes nothing


def test_an_environment_outside_the_configuration_lives_in_productions_warehouse(
    config: ProjectConfig, tmp_path: Path
) -> None:
    pr = Environment.resolve(config, "pr_12", workspace=tmp_path)
    assert (pr.name, pr.warehouse) == (
        "pr_12",
        Environment.resolve(config, "prod", workspace=tmp_path).warehouse,
    )


def test_a_pull_request_reaches_every_environment_through_its_own_connection(
    config: ProjectConfig, tmp_path: Path
) -> None:
    prod = Environment.resolve(config, "prod", workspace=tmp_path, pull_request=True)
    assert (prod.name, prod.connection.path) == ("prod", "ci.duckdb")


def test_the_warehouse_is_read_only_when_asked_for(
    config: ProjectConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its identity expands the connection's variables: a command that opens no warehouse (a DAG
    generated for it) does not need them."""
    monkeypatch.delenv("REMOTE_DSN", raising=False)
    remote = Environment.resolve(config, "remote", workspace=tmp_path)
    assert remote.connection.engine == "postgres"
    with pytest.raises(ConfigError, match="REMOTE_DSN"):
        _ = remote.warehouse


@pytest.mark.parametrize("name", ["my-env", "dev__x"])
def test_an_invalid_name_is_a_configuration_error(config: ProjectConfig, tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError):
        Environment.resolve(config, name, workspace=tmp_path)
