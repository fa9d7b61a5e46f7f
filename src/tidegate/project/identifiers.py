"""The names tidegate accepts for models, seeds, schemas, aliases and environments: names every
engine takes unquoted, that cannot make two environments' relations the same."""

from __future__ import annotations

import re

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A valid name: letters, digits and _, not starting with a digit."""


def name_clash(name: str, what: str) -> str | None:
    """Why a schema or environment name would collide with another environment or with
    tidegate's internal schemas, or None. Views of environment E live in `<schema>__E` and
    snapshots in `tidegate__<schema>`, so `__` in a name, or a schema starting with `tidegate`,
    could make two of them the same schema; so could a schema ending with `dbt_test`, whose views
    in an environment `audit` would be in dbt's schema of stored test failures."""
    if "__" in name:
        return f"{what} {name!r} contains '__', which separates schema and environment names"
    if what == "schema" and name.lower().startswith("tidegate"):
        return f"schema {name!r} starts with 'tidegate', which is reserved for tidegate's own schemas"
    if what == "schema" and name.lower().endswith("dbt_test"):
        return f"schema {name!r} ends with 'dbt_test', which names dbt's schemas of test failures"
    return None
