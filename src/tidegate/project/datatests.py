"""dbt's configs of data tests that decide where their failing rows are kept (`store_failures`).

dbt stores a test's failing rows when `store_failures` or `store_failures_as` says so, in the
schema its `schema` config makes (`<target schema>_dbt_test__audit` by default) under the test's
alias: the test's name, or, when that name reaches 64 characters, its first 30 characters and a
hash of all of it. tidegate keeps the same names in prod, so dbt users find their tables where
they expect them; other environments keep theirs apart (see `tidegate.state.views`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.identifiers import NAME, name_clash
from tidegate.project.properties import TestSpec

AUDIT_SCHEMA = "dbt_test__audit"
"""dbt's default `schema` config of tests, appended to the target's schema."""
STORE_AS = ("table", "view", "ephemeral")
_LONG_NAME = 64


def store_failures_as(config: dict[str, Any], path: str | None, line: int | None) -> str | None:
    """`table` or `view` when the failing rows are kept, else None. As in dbt, `store_failures_as`
    wins over `store_failures` whatever level set each; `store_failures: true` alone is a table.
    tidegate has no `--store-failures` flag: a test that sets neither keeps nothing."""
    value = config.get("store_failures_as")
    if value is None:
        return "table" if _true(config.get("store_failures"), path, line) else None
    kind = str(value).lower()
    if kind not in STORE_AS:
        raise ConfigError(
            f"store_failures_as must be one of {', '.join(STORE_AS)}, not {value!r}", path=path, line=line
        )
    return None if kind == "ephemeral" else kind


_THRESHOLDS = (("fail_calc", "count(*)"), ("warn_if", "!= 0"), ("error_if", "!= 0"))


def thresholds(config: dict[str, Any]) -> tuple[str, str, str] | None:
    """A test's `fail_calc`, `warn_if` and `error_if` when any is not dbt's default."""
    found = tuple(str(config.get(key) or default).strip() for key, default in _THRESHOLDS)
    if found == tuple(default for _, default in _THRESHOLDS):
        return None
    return found[0], found[1], found[2]


def _true(value: Any, path: str | None, line: int | None) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ConfigError(f"store_failures must be true or false, not {value!r}", path=path, line=line)


def dbt_test_names(spec: TestSpec) -> tuple[str, str]:
    """dbt's (name, alias) of a generic test: a name given with `name:` is both; otherwise the
    name is built from the test, its model and its arguments, and the alias is that name
    shortened with a hash when it reaches 64 characters (a relation name must stay short)."""
    if spec.name:
        return spec.name, spec.name
    test = spec.test.replace(".", "_")
    if spec.relation:
        test = f"source_{test}"
    identifier = f"{test}_{spec.model.replace('.', '_')}"
    arguments = {key: value for key, value in spec.arguments.items() if key != "description"}
    arguments.update({"column_name": spec.column} if spec.column else {})
    flat: list[str] = []
    for key in sorted(arguments):
        value = arguments[key]
        parts = list(value.values()) if isinstance(value, dict) else value
        flat += [str(part) for part in (parts if isinstance(parts, list | tuple) else [parts])]
    full = f"{identifier}_{'__'.join(re.sub('[^0-9a-zA-Z_]+', '_', part) for part in flat)}"
    if len(full) < _LONG_NAME:
        return full, full
    return full, f"{identifier[:30]}_{hashlib.md5(full.encode(), usedforsecurity=False).hexdigest()}"


def test_digest(spec: TestSpec) -> str:
    """A short hash of what a generic test checks: it tells apart two tests whose dbt names are
    the same (dbt's names keep only letters, digits and _ of the arguments, and dbt keeps such
    tests apart by a hash in their unique ids)."""
    what = [spec.test, spec.model, spec.column, spec.relation, spec.arguments]
    return hashlib.md5(
        json.dumps(what, sort_keys=True, default=str).encode(), usedforsecurity=False
    ).hexdigest()[:10]


def check_audit_schema(schema: str, test: str, path: str | None, line: int | None) -> str:
    """`schema` if failing rows may be kept there. Other environments keep theirs in
    `<schema>__<environment>`, so what precedes dbt's own `dbt_test__audit` (or the whole name,
    for another schema) follows the rules of every schema name: no `__`, not tidegate's."""
    base = schema.removesuffix(AUDIT_SCHEMA)
    problem = None if NAME.match(schema) else "not a valid name (letters, digits and _)"
    problem = problem or (name_clash(base, "schema") if base else None)
    if problem:
        raise ConfigError(
            f"test {test!r} would store its failing rows in {schema!r}: {problem}", path=path, line=line
        )
    return schema
