"""`models/**.yml` in dbt's format: descriptions, columns, sources, data tests, unit tests and
exposures (see `tidegate.project.exposures`).

Each entry is read into plain dataclasses, keeping its file and line, so that a later error (an
unknown model, a bad test) can point at the exact place in the YAML.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
import string
from dataclasses import dataclass, field
from typing import Any

from tidegate.errors import ConfigError
from tidegate.project.contracts import read_constraints
from tidegate.project.exposures import read_exposure
from tidegate.project.model import (
    Column,
    Constraint,
    Exposure,
    Location,
    Severity,
    Source,
    UnitInput,
    UnitTest,
)
from tidegate.project.yamlio import LineDict, LineList

_REF = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*$""")
_SOURCE = re.compile(r"""^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$""")
GENERIC_TESTS = ("not_null", "unique", "accepted_values", "relationships")
TEST_CONFIGS = (
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
)
"""dbt's configs that a test may also give among its arguments (the legacy form): configs, not
arguments of the test's macro, nor part of the test's name."""


@dataclass(frozen=True)
class TestSpec:
    """One generic data test as declared: which test, on what, with which arguments."""

    test: str
    model: str
    column: str | None
    arguments: dict[str, Any]
    location: Location
    name: str | None = None
    where: str | None = None
    severity: Severity = Severity.ERROR
    relation: str | None = None
    """For a test of a source table (`model` is then `source.table`): the relation it reads."""
    config: dict[str, Any] = field(default_factory=dict)
    """The test's own configs (`config:` and the legacy keys among its arguments); the loader
    lays them over `dbt_project.yml`'s (`store_failures`, `schema`, ...)."""


@dataclass
class NodeProperties:
    """What the YAML says about one model or seed."""

    name: str
    location: Location
    description: str = ""
    columns: list[Column] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    tests: list[TestSpec] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    """Model-level constraints (dbt's `constraints:` beside `columns:`)."""


@dataclass
class Properties:
    """Everything the property files of a project declare."""

    nodes: dict[str, NodeProperties] = field(default_factory=dict)
    sources: dict[tuple[str, str], Source] = field(default_factory=dict)
    unit_tests: list[UnitTest] = field(default_factory=list)
    source_tests: list[TestSpec] = field(default_factory=list)
    """Data tests declared on source tables (`sources: tables: columns: data_tests:`)."""
    versions: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    """dbt's versioned models: name -> (latest version, {version: the file stem defining it})."""
    exposures: list[Exposure] = field(default_factory=list)
    disabled_sources: dict[str, Location] = field(default_factory=dict)
    """Source tables (`source.table`) with `config: {enabled: false}` (theirs or their source's)."""
    """dbt's exposures, enabled ones only; their dependencies are checked once nodes are known."""


def parse_target(text: str, path: str, line: int | None) -> tuple[str, bool]:
    """`ref('x')` gives ('x', False); `source('a', 'b')` gives ('a.b', True)."""
    if match := _REF.match(str(text)):
        return match.group(2) or match.group(1), False
    if match := _SOURCE.match(str(text)):
        return f"{match.group(1)}.{match.group(2)}", True
    raise ConfigError(f"expected ref('model') or source('name', 'table'), got {text!r}", path=path, line=line)


def read_properties(documents: list[tuple[str, Any]]) -> Properties:
    """Merge the property files (path, parsed YAML) of a project."""
    properties = Properties()
    for path, data in documents:
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError("a properties file must be a mapping", path=path, line=1)
        for key in ("models", "seeds", "snapshots"):
            for entry, line in _entries(data, key, path):
                _read_node(properties, entry, path, line)
        for entry, line in _entries(data, "sources", path):
            _read_source(properties, entry, path, line)
        for entry, line in _entries(data, "unit_tests", path):
            unit_test = _read_unit_test(entry, path, line)
            for other in properties.unit_tests:
                if other.name == unit_test.name and other.model == unit_test.model:
                    raise ConfigError(
                        f"unit test {unit_test.name!r} of {unit_test.model!r} is declared twice "
                        f"(also at {other.location})",
                        path=path,
                        line=line,
                    )
            properties.unit_tests.append(unit_test)
        for entry, line in _entries(data, "exposures", path):
            exposure = read_exposure(entry, path, line)
            twin = next((e for e in properties.exposures if exposure and e.name == exposure.name), None)
            if twin is not None:
                raise ConfigError(
                    f"two exposures are named {twin.name!r} (also {twin.location})", path=path, line=line
                )
            if exposure is not None:
                properties.exposures.append(exposure)
    return properties


def _entries(data: dict[str, Any], key: str, path: str) -> list[tuple[dict[str, Any], int | None]]:
    items = data.get(key) or []
    line = data.line_of(key) if isinstance(data, LineDict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{key}: must be a list", path=path, line=line)
    entries = []
    for index, item in enumerate(items):
        item_line = items.line_of(index) if isinstance(items, LineList) else line
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(f"each entry of {key}: needs a name", path=path, line=item_line)
        entries.append((item, item_line))
    return entries


def _mapping(entry: Any, key: str, path: str, line: int | None) -> dict[str, Any]:
    """`entry[key]` as a new dict (empty when absent); anything else than a mapping is an error."""
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a mapping", path=path, line=_line(entry, key, line))
    return dict(value)


def _line(entry: Any, key: str, default: int | None) -> int | None:
    return entry.line_of(key) if isinstance(entry, LineDict) and key in entry else default


def _read_node(properties: Properties, entry: dict[str, Any], path: str, line: int | None) -> None:
    if entry.get("versions") is not None:
        _read_versions(properties, entry, path, line)
        return
    name = str(entry["name"])
    location = Location(path, line)
    if name in properties.nodes:
        other = properties.nodes[name].location
        raise ConfigError(
            f"properties of {name!r} are declared twice (also at {other})", path=path, line=line
        )
    config = _mapping(entry, "config", path, line)
    node = NodeProperties(name, location, str(entry.get("description") or ""), config=config)
    node.constraints = list(read_constraints(entry, path, line))
    for spec in _test_list(entry, path, line):
        node.tests.append(_read_test(spec, name, None, path, line))
    for index, column in enumerate(entry.get("columns") or []):
        column_line = entry["columns"].line_of(index) if isinstance(entry["columns"], LineList) else line
        if not isinstance(column, dict) or "name" not in column:
            raise ConfigError("each column needs a name", path=path, line=column_line)
        column_name = str(column["name"])
        node.columns.append(
            Column(
                column_name,
                str(column.get("description") or ""),
                None if column.get("data_type") is None else str(column["data_type"]),
                read_constraints(column, path, column_line),
            )
        )
        for spec in _test_list(column, path, column_line):
            node.tests.append(_read_test(spec, name, column_name, path, column_line))
    properties.nodes[name] = node


def _read_versions(properties: Properties, entry: dict[str, Any], path: str, line: int | None) -> None:
    """A versioned model (dbt's `versions:`): each version is the model of its file
    (`defined_in`, else `<name>_v<v>`) with the model's properties, then its own; columns
    declared by a version add to (or replace, by name) the model's."""
    name = str(entry["name"])
    versions = entry["versions"]
    if not isinstance(versions, list) or not versions:
        raise ConfigError(
            "versions: must be a list of {v: ...}", path=path, line=_line(entry, "versions", line)
        )
    stems: dict[str, str] = {}
    for index, version in enumerate(versions):
        version_line = versions.line_of(index) if isinstance(versions, LineList) else line
        if not isinstance(version, dict) or version.get("v") is None:
            raise ConfigError("each entry of versions: needs v:", path=path, line=version_line)
        number = str(version["v"])
        stem = str(version.get("defined_in") or f"{name}_v{number.replace('.', '_')}")
        columns = {str(c.get("name")): c for c in entry.get("columns") or [] if isinstance(c, dict)}
        for column in version.get("columns") or []:
            if isinstance(column, dict) and "name" in column:
                columns[str(column["name"])] = column
        merged = {
            **{key: value for key, value in entry.items() if key not in ("versions", "latest_version")},
            "name": stem,
            "config": {
                **_mapping(entry, "config", path, line),
                **_mapping(version, "config", path, version_line),
            },
            "columns": list(columns.values()),
            "data_tests": [
                *_items(entry, "data_tests"),
                *_items(entry, "tests"),
                *_items(version, "data_tests"),
                *_items(version, "tests"),
            ],
        }
        merged.pop("tests", None)
        stems[number] = stem
        _read_node(properties, merged, path, version_line)
    numbers = sorted(stems, key=_version_key)
    latest = str(entry.get("latest_version") or numbers[-1])
    if latest not in stems:
        raise ConfigError(
            f"latest_version: {latest} is not one of the versions ({', '.join(numbers)})",
            path=path,
            line=_line(entry, "latest_version", line),
        )
    properties.versions[name] = (latest, stems)


def _items(entry: dict[str, Any], key: str) -> list[Any]:
    value = entry.get(key)
    return list(value) if isinstance(value, list) else []


def _version_key(number: str) -> tuple[float, str]:
    try:
        return float(number), number
    except ValueError:
        return float("inf"), number


def _test_list(entry: Any, path: str, line: int | None) -> list[tuple[Any, int | None]]:
    tests: list[tuple[Any, int | None]] = []
    for key in ("data_tests", "tests"):
        items = entry.get(key) or []
        if not isinstance(items, list):
            raise ConfigError(f"{key}: must be a list", path=path, line=_line(entry, key, line))
        for index, item in enumerate(items):
            tests.append((item, items.line_of(index) if isinstance(items, LineList) else line))
    return tests


def _read_test(
    spec: tuple[Any, int | None], model: str, column: str | None, path: str, line: int | None
) -> TestSpec:
    item, item_line = spec
    location = Location(path, item_line)
    if isinstance(item, str):
        test, arguments = item, {}
    elif isinstance(item, dict) and "test_name" in item:  # dbt's long form: test_name: and arguments
        arguments = dict(item)
        test = str(arguments.pop("test_name"))
    elif isinstance(item, dict) and len(item) == 1:
        test, raw = next(iter(item.items()))
        if not isinstance(raw, dict | None):
            raise ConfigError(f"the arguments of {test!r} must be a mapping", path=path, line=item_line)
        arguments = dict(raw or {})
    else:
        raise ConfigError("a test is a name or a mapping with one test name", path=path, line=item_line)
    # whether the test exists (built in, or a `{% test %}` macro) is checked once macros are known
    config = _mapping(arguments, "config", path, item_line)
    nested = _mapping(arguments, "arguments", path, item_line)  # dbt 1.10 style
    arguments = {key: value for key, value in arguments.items() if key not in ("config", "arguments")}
    arguments.update(nested)
    for key in TEST_CONFIGS:
        if key in arguments:
            config.setdefault(key, arguments.pop(key))
    column = arguments.pop("column_name", column)
    severity_text = str(config.get("severity", "error")).lower()
    if "{{" in severity_text or "{%" in severity_text:  # rendered once Jinja is ready (the loader)
        severity_text = "error"
    if severity_text not in ("error", "warn"):
        raise ConfigError(f"severity must be error or warn, not {severity_text!r}", path=path, line=item_line)
    return TestSpec(
        test=test,
        model=model,
        column=column,
        arguments=arguments,
        location=location,
        name=arguments.pop("name", None),
        where=config.get("where"),
        severity=Severity(severity_text),
        config=config,
    )


def _read_source(properties: Properties, entry: dict[str, Any], path: str, line: int | None) -> None:
    source = str(entry["name"])
    schema = str(entry.get("schema") or source)
    database = entry.get("database")
    for table, table_line in _entries(entry, "tables", path):
        name = str(table["name"])
        if _disabled(entry) or _disabled(table):  # as dbt: not a source at all
            properties.disabled_sources[f"{source}.{name}"] = Location(path, table_line)
            continue
        identifier = str(table.get("identifier") or name)
        relation = ".".join(part for part in (database, schema, identifier) if part)
        if (source, name) in properties.sources:
            other = properties.sources[(source, name)].location
            raise ConfigError(
                f"source table {source}.{name} is declared twice (also at {other})",
                path=path,
                line=table_line,
            )
        freshness = table["freshness"] if "freshness" in table else entry.get("freshness")
        if freshness is not None and not isinstance(freshness, dict):
            raise ConfigError(
                "freshness: must be a mapping", path=path, line=_line(table, "freshness", table_line)
            )
        loaded_at = table.get("loaded_at_field") or entry.get("loaded_at_field")
        properties.sources[(source, name)] = Source(
            source,
            name,
            relation,
            str(table.get("description") or ""),
            Location(path, table_line),
            loaded_at_field=str(loaded_at) if loaded_at else None,
            freshness=dict(freshness) if freshness else None,
            external_location=_external_location(entry, table, schema, database, path, table_line),
        )
        # data tests of the table and its columns read the source relation itself
        key = f"{source}.{name}"
        specs = [
            _read_test(spec, key, None, path, table_line) for spec in _test_list(table, path, table_line)
        ]
        for index, column in enumerate(table.get("columns") or []):
            columns = table["columns"]
            column_line = columns.line_of(index) if isinstance(columns, LineList) else table_line
            if not isinstance(column, dict) or "name" not in column:
                raise ConfigError("each column needs a name", path=path, line=column_line)
            for spec in _test_list(column, path, column_line):
                specs.append(_read_test(spec, key, str(column["name"]), path, column_line))
        properties.source_tests += [dataclasses.replace(spec, relation=relation) for spec in specs]


def _disabled(entry: dict[str, Any]) -> bool:
    config = entry.get("config")
    return isinstance(config, dict) and config.get("enabled") is False


def _external_location(
    source: dict[str, Any],
    table: dict[str, Any],
    schema: str,
    database: str | None,
    path: str,
    line: int | None,
) -> str | None:
    """dbt-duckdb's `external_location` of a source table (in `meta:` or `config:`, of the
    source or the table): the file or table function the table is read from, formatted with the
    table's `name`, `identifier`, `schema` and the meta's keys, and quoted when it is a path."""
    meta: dict[str, Any] = {}
    for level in (source, table):
        raw = level.get("config")
        config = raw if isinstance(raw, dict) else {}
        for values in (level.get("meta"), config.get("meta"), config):
            if isinstance(values, dict):
                meta.update({k: v for k, v in values.items() if k != "meta"})
    template = meta.get("external_location")
    if template is None:
        return None
    name = str(table["name"])
    fields = {
        "name": name,
        "identifier": str(table.get("identifier") or name),
        "schema": schema,
        "database": database or "",
        **meta,
    }
    formatter = meta.get("formatter", "newstyle")
    try:
        if formatter == "newstyle":
            location = str(template).format_map(fields)
        elif formatter == "oldstyle":
            location = str(template) % fields
        elif formatter == "template":
            location = string.Template(str(template)).substitute(fields)
        else:
            raise ConfigError(
                f"formatter: {formatter!r} is not one of newstyle, oldstyle, template", path=path, line=line
            )
    except (KeyError, ValueError, TypeError) as error:
        raise ConfigError(
            f"external_location {template!r} cannot be formatted: {error}", path=path, line=line
        ) from None
    if "(" not in location and not location.startswith("'"):
        location = f"'{location}'"
    return location


def _read_unit_test(entry: dict[str, Any], path: str, line: int | None) -> UnitTest:
    name = str(entry["name"])
    if "model" not in entry:
        raise ConfigError(f"unit test {name!r} needs a model", path=path, line=line)
    given = []
    for index, item in enumerate(entry.get("given") or []):
        item_line = entry["given"].line_of(index) if isinstance(entry["given"], LineList) else line
        if not isinstance(item, dict) or "input" not in item:
            raise ConfigError("each given entry needs an input", path=path, line=item_line)
        target, is_source = parse_target(item["input"], path, item_line)
        rows, sql = _rows(item, path, item_line)
        given.append(UnitInput(target, is_source, rows, sql))
    expect = entry.get("expect")
    if not isinstance(expect, dict):
        raise ConfigError(f"unit test {name!r} needs expect: rows", path=path, line=line)
    rows, sql = _rows(expect, path, _line(entry, "expect", line))
    return UnitTest(
        name=name,
        model=str(entry["model"]),
        given=tuple(given),
        expect_rows=rows,
        location=Location(path, line),
        expect_sql=sql,
        overrides=dict(entry.get("overrides") or {}),
    )


def _rows(item: dict[str, Any], path: str, line: int | None) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """Rows of a given or expect entry in any of dbt's formats: dict (default), csv or sql."""
    form = str(item.get("format") or "dict")
    rows = item.get("rows")
    if form == "sql":
        if not isinstance(rows, str):
            raise ConfigError("format: sql needs rows: as a SQL query", path=path, line=line)
        return (), rows
    if form == "csv":
        if not isinstance(rows, str):
            raise ConfigError("format: csv needs rows: as CSV text", path=path, line=line)
        return tuple(
            {key: _csv_value(value) for key, value in row.items()}
            for row in csv.DictReader(io.StringIO(rows.strip()))
        ), None
    if form != "dict":
        raise ConfigError(f"unknown rows format {form!r} (dict, csv or sql)", path=path, line=line)
    if rows is None:
        return (), None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ConfigError("rows: must be a list of mappings", path=path, line=line)
    return tuple(dict(row) for row in rows), None


def _csv_value(value: str | None) -> Any:
    if value is None or value.strip() == "" or value.strip().lower() == "null":
        return None
    text = value.strip()
    for convert in (int, float):
        try:
            number = convert(text)
        except ValueError:
            continue
        # "NaN", "inf" or "Infinity" in a CSV cell are words (a name, a code), not numbers.
        return number if math.isfinite(number) else text
    return text
