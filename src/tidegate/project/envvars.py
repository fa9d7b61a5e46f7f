"""`env_var()` values in rendered SQL: masked wherever SQL is kept, real only when it runs.

A model may read a token or a password with `env_var('NAME')`. The rendered SQL is kept in many
places: the load cache (`.tidegate/cache`), saved plans (`plan --out`), snapshot records in the
state, reports. Each value a model's SQL renders is replaced there by a marker naming its
variable, `__tidegate_env_<length>_<NAME>__` (the length of NAME first, so any name reads back),
which sqlglot parses as a name wherever the value stood (in a string, as a number, as a name).
The engine adapters reveal the markers, from the environment, just before they run a statement,
and conceal the values again in what an error says. Fingerprints hash the values (see
`digests`), so a new value still means a new snapshot, and no file holds one.

Values shorter than `MIN_LENGTH` are kept: a flag or a small number ("1", "dev") holds no secret,
and masking it would also mask unrelated text of the query.

As dbt does, `DBT_ENV_SECRET_*` variables are refused outside `profiles.yml` (`refuse_secret`).
"""

from __future__ import annotations

import hashlib
import os
import re

from tidegate.errors import ConfigError

MIN_LENGTH = 4
SECRET_PREFIX = "DBT_ENV_SECRET"
_MARKER = re.compile(r"__tidegate_env_(\d+)_")


def marker(name: str) -> str:
    return f"__tidegate_env_{len(name)}_{name}__"


def mask(text: str, values: dict[str, str]) -> str:
    """`text` with every value of `values` (name -> value) replaced by its variable's marker,
    the longest values first (so that one containing another is masked whole)."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        if len(value) >= MIN_LENGTH:
            text = text.replace(value, marker(name))
    return text


def digests(values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """(name, hash of its value) of the masked values: what a fingerprint keeps of them."""
    return tuple(
        (name, hashlib.sha256(f"{name}={value}".encode()).hexdigest()[:16])
        for name, value in sorted(values.items())
        if len(value) >= MIN_LENGTH
    )


def _names(sql: str) -> list[str]:
    found = []
    for match in _MARKER.finditer(sql):
        start, length = match.end(), int(match.group(1))
        name = sql[start : start + length]
        if len(name) == length and sql.startswith("__", start + length):
            found.append(name)
    return found


def reveal(sql: str) -> str:
    """The SQL to run: each marker replaced by its variable's value, read now."""
    if "__tidegate_env_" not in sql:
        return sql
    for name in dict.fromkeys(_names(sql)):
        if name not in os.environ:
            raise ConfigError(
                f"the SQL reads env_var('{name}'), which is not set here",
                hint=f"set {name} where tidegate runs (plans keep the variable's name, never its value)",
            )
        sql = sql.replace(marker(name), os.environ[name])
    return sql


def conceal(text: str, sql: str) -> str:
    """`text` (an error about `sql`) with the values `reveal` put into `sql` masked again."""
    if "__tidegate_env_" not in sql:
        return text
    return mask(text, {name: os.environ.get(name, "") for name in _names(sql)})


def refuse_secret(name: str) -> str | None:
    """Why a model may not read this variable (dbt's rule for secrets), or None."""
    if name.startswith(SECRET_PREFIX):
        return (
            f"env_var('{name}'): secret environment variables ({SECRET_PREFIX}_*) are allowed only "
            "in profiles.yml or packages.yml"
        )
    return None
