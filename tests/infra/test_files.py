"""Reading infra/*.yml: `{{ env }}`, `only:`, and every mistake named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_files
from tidegate.errors import ConfigError
from tidegate.infra.files import load_infra
from tidegate.infra.resources import Kind

BASE = """
roles:
  - name: analyst
  - name: reporting
"""


def load(tmp_path: Path, text: str, env: str = "prod") -> object:
    write_files(tmp_path, {"infra/warehouse.yml": text})
    return load_infra(tmp_path, env)


def test_env_is_rendered_and_only_limits_a_resource(tmp_path: Path) -> None:
    text = (
        BASE
        + """
databases:
  - name: "shop_{{ env }}"
users:
  - name: ci_bot
    password: ${CI_BOT_PASSWORD}
    roles: [analyst]
    only: [prod]
"""
    )
    prod, dev = load(tmp_path, text, "prod"), load(tmp_path, text, "dev")
    assert prod.get(Kind.DATABASE, "shop_prod") is not None and dev.get(Kind.DATABASE, "shop_dev") is not None
    bot = prod.get(Kind.ROLE, "ci_bot")
    assert bot is not None and bot.get("login") is True and bot.get("password_env") == "CI_BOT_PASSWORD"
    assert dev.get(Kind.ROLE, "ci_bot") is None and dev.get(Kind.MEMBERSHIP, "analyst:ci_bot") is None


def test_all_privileges_expand_for_the_object(tmp_path: Path) -> None:
    inventory = load(tmp_path, BASE + "grants:\n  - {to: analyst, privileges: [all], on: {schema: s}}\n")
    [grant] = inventory.of_kind(Kind.GRANT)
    assert grant.get("privileges") == ("create", "usage")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            BASE + "grants:\n  - to: analyst\n    privileges: [selct]\n    on: {schema: s}\n",
            "unknown privilege 'selct'",
            6,
        ),
        (
            BASE + "grants:\n  - {to: analyst, privileges: [select], on: {view: s}}\n",
            "on: names one object",
            5,
        ),
        (
            BASE + "grants:\n  - {to: ghost, privileges: [usage], on: {schema: s}}\n",
            "refers to the role 'ghost'",
            5,
        ),
        (BASE + "schemas:\n  - {name: s, owner: nobody}\n", "refers to the role 'nobody'", 5),
        (
            "roles:\n  - {name: a, member_of: [b]}\n  - {name: b, member_of: [c]}\n  - {name: c, member_of: [a]}\n",
            "cycle: a -> b -> c -> a",
            4,
        ),
        (BASE + "users:\n  - {name: u, password: hunter2}\n", "never a value", 5),
        (BASE + "schemas:\n  - {name: s, onwer: analyst}\n", "unknown key 'onwer'", 5),
        (BASE + "warehouses:\n  - {name: w}\n", "unknown section 'warehouses'", 4),
        ("roles:\n  - name: a\n  - [b\n", "invalid YAML", 4),
        (BASE + "roles:\n  - name: c\n", "duplicate key 'roles'", 4),
        (BASE + "  - name: analyst\n    comment: again\n", "declared twice", 4),
    ],
)
def test_mistakes_exit_2_naming_the_file_and_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load(tmp_path, text)
    assert error.value.exit_code == 2
    assert (error.value.path, error.value.line) == ("infra/warehouse.yml", line)
