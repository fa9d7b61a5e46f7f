"""A project's data tests: generic ones declared in properties (dbt's own and `{% test %}`
blocks, on models and on sources) and singular ones in the tests' folders, with the configs
`dbt_project.yml` gives their folders (severity, thresholds, where failing rows are kept)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.datatests import (
    AUDIT_SCHEMA,
    check_audit_schema,
    dbt_test_names,
    store_failures_as,
    test_digest,
    thresholds,
)
from tidegate.project.dbt import DBT_PROJECT
from tidegate.project.generic_tests import build_custom_test, build_generic_test
from tidegate.project.jinja import ref_names
from tidegate.project.loader.folder_configs import has_jinja
from tidegate.project.loader.state import LoadState
from tidegate.project.model import DataTest, Location, Severity, ref_placeholder
from tidegate.project.properties import GENERIC_TESTS, Properties, TestSpec


def data_tests(load: LoadState, properties: Properties, sources: dict[str, str]) -> tuple[DataTest, ...]:
    """Every enabled data test; `sources` maps `source.table` to the relation its tests read."""
    tests = [*_generic_tests(load, properties, sources), *_singular_tests(load)]
    names: dict[str, DataTest] = {}
    for test in tests:
        if test.name in names:
            raise ConfigError(
                f"two tests are named {test.name!r} (also {names[test.name].location}); give one a name:",
                path=test.location.path,
                line=test.location.line,
            )
        names[test.name] = test
    return tuple(tests)


def _generic_tests(load: LoadState, properties: Properties, sources: dict[str, str]) -> list[DataTest]:
    readers: dict[str, list[str]] = {}
    """Source (`source.table`) -> the models that read it."""
    for name, model in load.collected.models.items():
        for source in model.sources:
            readers.setdefault(source, []).append(name)
    specs = [  # dbt skips the tests of disabled models
        spec
        for node in properties.nodes.values()
        if node.name in load.collected.models
        for spec in node.tests
    ]
    tests: list[DataTest] = []
    dbt_named: set[str] = set()
    for spec in [*specs, *properties.source_tests]:
        spec = _rendered_spec(load, spec)
        if spec.config.get("enabled", True) is False:
            continue
        seed = load.seed_sources.get(spec.model) if spec.relation else None
        if seed is not None:  # the source is a seed of this project: test the seed
            spec = dataclasses.replace(spec, relation=ref_placeholder(seed))
        test, dbt_names, is_custom = _generic_test(load, spec, sources)
        if load.dbt is not None:  # dbt's own name, which tells apart tests that differ by arguments
            name = dbt_names[0] if dbt_names[0] not in dbt_named else f"{dbt_names[0]}_{test_digest(spec)}"
            dbt_named.add(name)
            test = dataclasses.replace(test, name=name)
        test = dataclasses.replace(test, sql=_test_query(load, test))
        if is_custom:
            for ref in test.models[0 if spec.relation else 1 :]:
                load.collected.ref(test.name, ref, spec.location.path, spec.location.line)
        if spec.relation:  # a source's test: planned with the models that read the source
            own = (seed,) if seed is not None else ()
            reading = readers.get(spec.model, [])
            test = dataclasses.replace(test, models=tuple(dict.fromkeys([*own, *reading, *test.models])))
        tests += _configured(load, test, spec.config, dbt_names)
    return tests


def _generic_test(
    load: LoadState, spec: TestSpec, sources: dict[str, str]
) -> tuple[DataTest, tuple[str, str], bool]:
    """The test a spec declares, dbt's name and alias of it, and whether it is a custom test
    (a `{% test %}` block of the project or a package)."""
    macro = load.renderer.find_macro(_test_macro(spec.test))
    if macro is None and spec.test not in GENERIC_TESTS:
        raise ConfigError(
            f"unknown test {spec.test!r}; known generic tests: "
            f"{', '.join(GENERIC_TESTS)} and {{% test %}} blocks in macros or tests/generic",
            path=spec.location.path,
            line=spec.location.line,
        )
    if macro is None:
        test = build_generic_test(spec, sources, load.renderer)
    else:
        test = build_custom_test(spec, macro, load.renderer, sources)
    return test, dbt_test_names(spec), macro is not None


def _singular_tests(load: LoadState) -> list[DataTest]:
    """The queries in the tests' folders (but `tests/generic/`, which holds macros)."""
    tests: list[DataTest] = []
    for path in load.files.files(load.config.test_paths, ".sql"):
        if load.files.is_generic_test(path):
            continue
        rel = load.files.rel(path)
        text = load.files.read(path)
        rendered = load.renderer.render(text, rel)
        sql = load.queries.normalized(rendered.text, rel, None, source=text)
        for ref, line in rendered.refs:
            load.collected.ref(path.stem, ref, rel, line)
        test = DataTest(
            name=path.stem, kind="singular", sql=sql, models=ref_names(rendered), location=Location(rel)
        )
        tests += _configured(load, test, dict(rendered.config), (path.stem, path.stem))
    return tests


def _rendered_spec(load: LoadState, spec: TestSpec) -> TestSpec:
    """A test with the Jinja of its configs rendered, as dbt renders them when it parses
    (`severity: "{{ 'warn' if target.type == 'spark' else 'error' }}"`, `enabled: ...`)."""
    if not any(has_jinja(value) for value in spec.config.values()):
        return spec
    path, line = spec.location.path, spec.location.line
    config = {key: load.folders.render_value(value, line, path) for key, value in spec.config.items()}
    return dataclasses.replace(spec, config=config, where=config.get("where"))


def _test_query(load: LoadState, test: DataTest) -> str:
    """The normalized query of a generic test; errors name the line that declares it, as
    its SQL comes from the properties file (a column, an argument, a `where`)."""
    path, line = test.location.path, test.location.line

    def on_error(error: ProjectError) -> ProjectError:
        return ProjectError(f"test {test.name!r}: {error.message}", path=path, line=line, hint=error.hint)

    return load.queries.normalized(test.sql, path, None, on_error)


def _configured(
    load: LoadState, test: DataTest, own: dict[str, Any], names: tuple[str, str]
) -> list[DataTest]:
    """`test` with the configs it sets itself over those `dbt_project.yml` gives its folder
    (`data_tests:` or `tests:`): its severity, and where it keeps its failing rows; none when
    they disable it. `names` are dbt's name and alias of the test, which name that relation."""
    folder = load.folders.of_test(test.location.path, names[0])
    config = {**folder.values, **own}
    if config.get("enabled", True) is False:
        return []

    def origin(key: str) -> tuple[str | None, int | None]:
        if key in own or key not in folder.lines:
            return test.location.path, test.location.line
        return DBT_PROJECT, folder.lines[key]

    severity = str(config.get("severity", test.severity.value)).lower()
    if severity not in ("error", "warn"):
        path, line = origin("severity")
        raise ConfigError(f"severity must be error or warn, not {severity!r}", path=path, line=line)
    test = dataclasses.replace(test, severity=Severity(severity), thresholds=thresholds(config))
    key = "store_failures_as" if config.get("store_failures_as") is not None else "store_failures"
    kind = store_failures_as(config, *origin(key))
    if kind is None:
        return [test]
    schema, name = _audit_relation(load, test, config, names)
    check_audit_schema(schema, test.name, *origin("schema"))
    return [
        dataclasses.replace(
            test, store_failures=True, store_failures_as=kind, audit_schema=schema, audit_name=name
        )
    ]


def _audit_relation(
    load: LoadState, test: DataTest, config: dict[str, Any], names: tuple[str, str]
) -> tuple[str, str]:
    """dbt's schema and name of the relation keeping a test's failing rows in prod: the
    test's `schema` config (dbt's `dbt_test__audit` by default) through
    `generate_schema_name`, and its `alias` (or dbt's) through `generate_alias_name`."""
    name, alias = names
    alias = str(config.get("alias") or alias)
    if load.dbt is None:  # as a model's: the schema config as it is
        return str(config.get("schema") or f"{load.config.default_schema}_{AUDIT_SCHEMA}"), alias
    custom = {"schema": config.get("schema") or AUDIT_SCHEMA, "alias": alias}
    schema, generated = load.nodes.relation_names(name, custom, test.location.path, "test")
    return schema, generated or name


def _test_macro(test: str) -> str:
    """The macro of a generic test: `test_<name>`, or `<package>.test_<name>`."""
    package, _, name = test.rpartition(".")
    return f"{package}.test_{name}" if package else f"test_{test}"
