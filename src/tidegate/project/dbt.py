"""dbt projects as they are: `dbt_project.yml`, `profiles.yml` and folder-level configs.

A directory with `dbt_project.yml` is a tidegate project. Without a `tidegate.yml`, the default
target of the profile named in `dbt_project.yml` serves every environment (prod and dev live in
the target's warehouse); with one, `tidegate.yml` decides the environments and `dbt_project.yml`
still supplies the paths, vars and configs.

`profiles.yml` is looked up as dbt does: in `$DBT_PROFILES_DIR` when it is set, then beside the
project, then in `~/.dbt`. Credentials only ever come from the environment: a PostgreSQL
password must be written `password: "{{ env_var('PGPASSWORD') }}"`, which becomes a `${PGPASSWORD}`
reference in the connection string, expanded only when connecting. A literal password in
`profiles.yml` is refused with the file and line (tidegate never stores, prints or writes a
password into a saved plan).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.engines import ENGINES, Location, for_dbt_adapter
from tidegate.project.identifiers import NAME
from tidegate.project.yamlio import LineDict, load_yaml

DBT_PROJECT = "dbt_project.yml"
PROFILES = "profiles.yml"
ADAPTERS = tuple(spec.dbt_adapter for spec in ENGINES.values() if spec.dbt_profiles and spec.dbt_adapter)
"""The dbt adapter types whose profile targets tidegate connects to."""
_ENV_VAR_ONLY = re.compile(r"""^\s*\{\{\s*env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}\s*$""")
_DICT_CONFIGS = frozenset({"meta", "column_types", "docs", "persist_docs", "grants", "quote_columns"})
"""Configs whose value is a mapping: without a `+` they are still configs, not folders."""
_MERGED_CONFIGS = frozenset({"meta", "column_types", "docs", "persist_docs", "grants"})


@dataclass(frozen=True)
class Target:
    """The profile's target, as models see it in `{{ target }}`."""

    name: str
    type: str
    schema: str
    threads: int = 1
    database: str = ""
    profile_name: str = ""

    def context(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target_name": self.name,
            "type": self.type,
            "schema": self.schema,
            "threads": self.threads,
            "database": self.database,
            "profile_name": self.profile_name,
        }


@dataclass(frozen=True)
class FolderConfig:
    """The configs `dbt_project.yml` gives one node, and the line each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DbtProject:
    """What tidegate reads from `dbt_project.yml` and the profile's target."""

    name: str
    data: LineDict
    model_paths: list[str]
    seed_paths: list[str]
    test_paths: list[str]
    macro_paths: list[str]
    snapshot_paths: list[str]
    vars: dict[str, Any]
    target: Target | None
    connection: dict[str, Any] | None
    """ConnectionConfig fields of the target, None when no profile was found."""
    profiles_path: Path | None = None
    dispatch: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """`dispatch:`: macro namespace -> the packages `adapter.dispatch` searches, in order."""
    declared_vars: dict[str, Any] = field(default_factory=dict)
    """`vars:` as written: global vars, and mappings of vars scoped to one package by its name."""

    def vars_scoped_to(self, package: str) -> dict[str, Any]:
        """The vars this project scopes to `package` (`vars: {package: {name: value}}`)."""
        scoped = self.declared_vars.get(package)
        return dict(scoped) if isinstance(scoped, dict) else {}

    def folder_config(self, resource: str, parts: list[str]) -> FolderConfig:
        """Configs of `models:` or `seeds:` for a node at `parts` (folders, then the file's
        stem) under its path: deeper levels win, tags add up, mappings merge."""
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        tree = self.data.get(resource)
        if not isinstance(tree, dict):
            return FolderConfig()

        def apply(node: dict[str, Any]) -> None:
            for key, value in node.items():
                if not _is_config(key, value):
                    continue
                name = key.removeprefix("+")
                if name in HOOK_CONFIGS:  # hooks add up, the most general first
                    name = name.replace("-", "_")
                    values[name] = [*values.get(name, []), *hook_list(value)]
                elif name == "tags":
                    tags = [value] if isinstance(value, str) else list(value or [])
                    values["tags"] = list(dict.fromkeys([*values.get("tags", []), *tags]))
                elif name in _MERGED_CONFIGS and isinstance(value, dict):
                    values[name] = {**values.get(name, {}), **value}
                else:
                    values[name] = value
                if isinstance(node, LineDict):
                    lines[name] = node.line_of(key)

        apply(tree)
        node = tree.get(self.name)
        for part in parts:
            if not isinstance(node, dict):
                break
            apply(node)
            node = node.get(part)
        if isinstance(node, dict):
            apply(node)
        return FolderConfig(values, lines)


HOOK_CONFIGS = frozenset({"pre-hook", "pre_hook", "post-hook", "post_hook"})


def merge_configs(general: FolderConfig, specific: FolderConfig) -> FolderConfig:
    """`specific` over `general` as dbt merges config levels: hooks and tags add up, mappings
    merge, anything else is replaced."""
    values = dict(general.values)
    for name, value in specific.values.items():
        if name == "tags":
            values[name] = list(dict.fromkeys([*values.get(name, []), *value]))
        elif name in ("pre_hook", "post_hook"):
            values[name] = [*values.get(name, []), *value]
        elif name in _MERGED_CONFIGS and isinstance(value, dict) and isinstance(values.get(name), dict):
            values[name] = {**values[name], **value}
        else:
            values[name] = value
    return FolderConfig(values, {**general.lines, **specific.lines})


def hook_list(value: Any) -> list[Any]:
    """A hook config as a list: dbt takes one hook (a string, or `{sql: ...}`) or a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def string_list(value: Any) -> tuple[str, ...]:
    """A config that is one name or a list of them (`unique_key`, `tags`), as a tuple."""
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _is_config(key: str, value: Any) -> bool:
    return key.startswith("+") or key in _DICT_CONFIGS or not isinstance(value, dict)


def is_dbt_project(root: Path) -> bool:
    return (root / DBT_PROJECT).is_file()


def read_dbt_project(root: Path, *, require_profile: bool, profile: bool = True) -> DbtProject:
    """Read `dbt_project.yml` in `root` and, when found (or required), its profile's target;
    without `profile` (a package's), no profile is looked for."""
    path = root / DBT_PROJECT
    data = load_yaml(path)
    if not isinstance(data, LineDict):
        raise ConfigError(f"{DBT_PROJECT} must be a mapping", path=path, line=1)
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            "name: a dbt project needs a name of letters, digits and _", path=path, line=data.line_of("name")
        )

    def paths(key: str, default: str) -> list[str]:
        value = data.get(key, [default])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{key}: must be a list of folders", path=path, line=data.line_of(key))
        return list(value)

    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise ConfigError("vars: must be a mapping", path=path, line=data.line_of("vars"))
    variables = {key: value for key, value in raw_vars.items() if key != name}
    if isinstance(raw_vars.get(name), dict):  # vars scoped to this project
        variables.update(raw_vars[name])
    target, connection, profiles_path = None, None, None
    profile_name = data.get("profile", name)
    profiles_path = find_profiles(root) if profile else None
    if profiles_path is None and require_profile:
        raise ConfigError(
            f"no {PROFILES} for profile {profile_name!r}: looked in $DBT_PROFILES_DIR, {root} and ~/.dbt",
            path=path,
            line=data.line_of("profile"),
            hint="write profiles.yml beside dbt_project.yml, or add a tidegate.yml with environments",
        )
    if profiles_path is not None:
        target, connection = read_profile(profiles_path, str(profile_name), required=require_profile)
    return DbtProject(
        dispatch=_dispatch(data, path),
        name=name,
        data=data,
        model_paths=paths("model-paths", "models"),
        seed_paths=paths("seed-paths", "seeds"),
        test_paths=paths("test-paths", "tests"),
        macro_paths=paths("macro-paths", "macros"),
        snapshot_paths=paths("snapshot-paths", "snapshots"),
        vars=variables,
        declared_vars=dict(raw_vars),
        target=target,
        connection=connection,
        profiles_path=profiles_path,
    )


def _dispatch(data: LineDict, path: Path) -> dict[str, tuple[str, ...]]:
    """`dispatch: [{macro_namespace: x, search_order: [a, b]}]` as {x: (a, b)}."""
    entries = data.get("dispatch") or []
    line = data.line_of("dispatch") if "dispatch" in data else None
    if not isinstance(entries, list):
        raise ConfigError("dispatch: must be a list of {macro_namespace, search_order}", path=path, line=line)
    orders = {}
    for entry in entries:
        namespace = entry.get("macro_namespace") if isinstance(entry, dict) else None
        order = entry.get("search_order") if isinstance(entry, dict) else None
        if (
            not isinstance(namespace, str)
            or not isinstance(order, list)
            or not all(isinstance(p, str) for p in order)
        ):
            raise ConfigError(
                "each dispatch: entry needs macro_namespace: and search_order: [packages]",
                path=path,
                line=entry.line if isinstance(entry, LineDict) else line,
            )
        orders[namespace] = tuple(order)
    return orders


def find_profiles(root: Path) -> Path | None:
    """`profiles.yml` where dbt looks: `$DBT_PROFILES_DIR`, the project directory, `~/.dbt`."""
    candidates = []
    if os.environ.get("DBT_PROFILES_DIR"):
        candidates.append(Path(os.environ["DBT_PROFILES_DIR"]).expanduser() / PROFILES)
    candidates += [root / PROFILES, Path.home() / ".dbt" / PROFILES]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def read_profile(
    path: Path, profile: str, *, required: bool = True
) -> tuple[Target | None, dict[str, Any] | None]:
    """The default target of `profile` and the connection it means."""
    data = load_yaml(path)
    if not isinstance(data, LineDict) or not isinstance(data.get(profile), dict):
        if not required:
            return None, None
        raise ConfigError(f"profile {profile!r} is not in {path}", path=path, line=1)
    entry: LineDict = data[profile]
    outputs = entry.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise ConfigError(f"{profile}.outputs: a profile needs outputs", path=path, line=entry.line)
    line = entry.line_of("target")
    target_name = _render(entry.get("target", "dev"), path, line)
    output = outputs.get(target_name)
    if not isinstance(output, dict):
        raise ConfigError(
            f"{profile}.target: {target_name!r} is not one of the outputs ({', '.join(outputs)})",
            path=path,
            line=line,
        )

    def value(key: str, default: Any = None) -> Any:
        raw = output.get(key, default)
        line = output.line_of(key) if isinstance(output, LineDict) else None
        return _render(raw, path, line) if isinstance(raw, str) else raw

    kind = value("type")
    engine = for_dbt_adapter(kind) if isinstance(kind, str) else None
    if engine is None or not engine.dbt_profiles:
        raise ConfigError(
            f"{profile}.outputs.{target_name}.type: tidegate loads dbt targets of type "
            f"{' or '.join(ADAPTERS)}, not {kind!r}",
            path=path,
            line=output.line_of("type") if isinstance(output, LineDict) else None,
        )
    threads = int(value("threads", 1) or 1)
    schema = str(value("schema", engine.default_schema))
    connection: dict[str, Any] = {"engine": engine.name, "threads": threads}
    if engine.location is Location.FILE:
        database_path = str(value("path", ":memory:"))
        database = "memory" if database_path == ":memory:" else Path(database_path).stem
        connection["path"] = database_path
    else:
        database = str(value("dbname", None) or value("database", None) or "")
        connection["dsn"] = _dsn(output, path, value)
    target = Target(target_name, kind, schema, threads, database, profile)
    return target, connection


def _dsn(output: dict[str, Any], path: Path, value: Any) -> str:
    parts = []
    for key, name in (("host", "host"), ("port", "port"), ("user", "user"), ("dbname", "dbname")):
        raw = value(key) if key != "dbname" else (value("dbname") or value("database"))
        if raw is not None and str(raw) != "":
            parts.append(f"{name}={_dsn_value(str(raw))}")
    for key in ("password", "pass"):
        if key not in output:
            continue
        raw = output[key]
        match = _ENV_VAR_ONLY.match(str(raw)) if isinstance(raw, str) else None
        if match is None:
            raise ConfigError(
                f"{key}: profiles.yml holds a password; credentials only come from the environment",
                path=path,
                line=output.line_of(key) if isinstance(output, LineDict) else None,
                hint=f"write {key}: \"{{{{ env_var('PGPASSWORD') }}}}\" and set the variable",
            )
        parts.append(f"password=${{{match.group(1)}}}")
    return " ".join(parts)


def _dsn_value(text: str) -> str:
    if text and not re.search(r"[\s'\\]", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _render(text: Any, path: Path, line: int | None) -> str:
    """A profile value with `{{ env_var('X', 'default') }}` expanded (profiles are Jinja)."""
    if not isinstance(text, str) or "{{" not in text:
        return str(text)
    import jinja2

    def env_var(name: str, default: Any = None) -> Any:
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"env_var('{name}'): the environment variable is not set", path=path, line=line)
        return default

    try:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(env_var=env_var)
    except ConfigError:
        raise
    except jinja2.TemplateError as error:
        raise ConfigError(f"invalid Jinja: {error}", path=path, line=line) from None
