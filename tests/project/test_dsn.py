"""Connection strings with `${VAR}`: every value arrives whole, whatever it holds, and no message
shows a password or token."""

from __future__ import annotations

import pytest

from tidegate.errors import ConfigError
from tidegate.project.dsn import dsn_identity, expand_connection, literal_secret, mask

PASSWORD = "p@ss/w:rd'\\ x;y&z=1"
USER = "ad@m"


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", PASSWORD)
    monkeypatch.setenv("DB_USER", USER)
    monkeypatch.setenv("DB_HOST", "db.example.com:6543")


@pytest.mark.parametrize(
    "template",
    [
        "postgresql://${DB_USER}:${PW}@${DB_HOST}/shop",
        "postgres://${DB_USER}@${DB_HOST}/shop?password=${PW}&sslmode=disable",
        "host=db.example.com port=6543 user=${DB_USER} password=${PW} dbname=shop",
        "host=db.example.com port=6543 user='${DB_USER}' password = '${PW}' dbname=shop",
    ],
)
def test_values_reach_libpq_whole(template: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    expanded = expand_connection(template)

    fields = conninfo_to_dict(expanded.text)
    assert (fields["user"], fields["password"], fields["dbname"]) == (USER, PASSWORD, "shop")
    assert (fields["host"], fields["port"]) == ("db.example.com", "6543")
    assert dsn_identity(expanded.text) == "db.example.com:6543/shop"
    assert PASSWORD in expanded.secrets and USER not in expanded.secrets


def test_a_whole_connection_string_from_one_variable_is_taken_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROD_DSN", "postgresql://ada:hunter2@db/shop")

    expanded = expand_connection("${PROD_DSN}")

    assert expanded.text == "postgresql://ada:hunter2@db/shop"
    assert "hunter2" in expanded.secrets


def test_a_spark_connect_token_is_percent_encoded_as_spark_decodes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi+abc/def=")

    expanded = expand_connection("sc://acme.cloud.databricks.com:443/;token=${DATABRICKS_TOKEN};use_ssl=true")

    assert expanded.text == "sc://acme.cloud.databricks.com:443/;token=dapi%2Babc%2Fdef%3D;use_ssl=true"
    assert mask(expanded.text) == "sc://acme.cloud.databricks.com:443/;token=***;use_ssl=true"


def test_an_unset_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="TG_UNSET_VARIABLE"):
        expand_connection("postgresql://ada:${TG_UNSET_VARIABLE}@db/shop")


@pytest.mark.parametrize(
    ("template", "literal"),
    [
        ("host=db password=${PW} dbname=shop", False),
        ("host=db password='${PW}' dbname=shop", False),
        ("password=${PW}", False),
        ("postgresql://ada:${PW}@db/shop", False),
        ("postgresql://ada@db/shop?password=${PW}", False),
        ("${PROD_DSN}", False),
        ("host=db sslkey=/etc/ssl/client.key passfile=/home/ada/.pgpass", False),
        ("sc://acme:443/;token=${DATABRICKS_TOKEN}", False),
        ("host=db password=hunter2 dbname=shop", True),
        ("host=db password='hunter 2'", True),
        ("host=db password=${PW}x", True),
        ("postgresql://ada:hunter2@db/shop", True),
        ("postgresql://ada@db/shop?password=hunter2", True),
        ("sc://acme:443/;token=dapi123", True),
    ],
)
def test_which_strings_spell_out_a_secret(template: str, literal: bool) -> None:
    assert literal_secret(template) is literal


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://ada:hunter2@acme.cloud.databricks.com", "https://ada:***@acme.cloud.databricks.com"),
        ("postgresql://ada:hunter2@db/shop?sslmode=require", "postgresql://ada:***@db/shop?sslmode=require"),
        ("host=db password='a b' dbname=shop", "host=db password=*** dbname=shop"),
        ("sc://acme:443/;token=dapi123;x=1", "sc://acme:443/;token=***;x=1"),
        ("postgresql://ada@db/shop", "postgresql://ada@db/shop"),
    ],
)
def test_masked_strings_keep_everything_but_the_secret(text: str, shown: str) -> None:
    assert mask(text) == shown
