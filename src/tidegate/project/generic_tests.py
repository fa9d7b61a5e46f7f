"""The SQL of dbt's generic data tests, built when the project loads; each query returns the
failing rows. dbt's own tests (`not_null`, `unique`, `accepted_values`, `relationships`) are
written here; a custom one (`{% test name(model, ...) %}`) is its macro, rendered with the
relation of the tested model as `model` (see `tidegate.project.dbt_context.Relation`)."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.dbt_context import Relation
from tidegate.project.model import DataTest, ref_placeholder
from tidegate.project.properties import TestSpec, parse_target

if TYPE_CHECKING:
    from tidegate.project.jinja import Renderer


def build_custom_test(spec: TestSpec, macro: Any, renderer: Renderer, sources: dict[str, str]) -> DataTest:
    """A generic test defined by a `{% test name(model, column_name, ...) %}` block: the macro
    rendered with `model` as the model's placeholder relation (filtered by `where` as dbt does)."""
    table = spec.relation or ref_placeholder(spec.model)
    text = f"(SELECT * FROM {table} WHERE {spec.where}) AS dbt_subquery" if spec.where else table
    models = list(_own(spec))
    arguments: dict[str, Any] = {}
    for key, value in spec.arguments.items():
        if isinstance(value, str) and value.strip().startswith(("ref(", "source(")):
            target, is_source = parse_target(value, spec.location.path, spec.location.line)
            if is_source:
                if target not in sources:
                    raise ConfigError(
                        f"unknown source {target}", path=spec.location.path, line=spec.location.line
                    )
                value = _argument_relation(sources[target], target.split(".")[1], None)
            else:
                value = _argument_relation(ref_placeholder(target), target, renderer.relations.get(target))
                models.append(target)
        else:
            value = _rendered(value, spec, renderer, models)
        arguments[key] = value
    if spec.column:
        arguments["column_name"] = spec.column
    rendered = renderer.call_macro(
        macro,
        spec.location.path,
        spec.location.line,
        model=_argument_relation(
            text, spec.model.rpartition(".")[2], None if spec.relation else renderer.relations.get(spec.model)
        ),
        **arguments,
    )
    models += [name for name, _ in rendered.refs]
    return DataTest(
        name=spec.name or _test_name(spec),
        kind=spec.test,
        sql=rendered.text,
        models=tuple(dict.fromkeys(models)),
        location=spec.location,
        column=spec.column,
        severity=spec.severity,
    )


def _argument_relation(text: str, name: str, names: Mapping[str, str] | None) -> Relation:
    """A relation a custom test's macro receives (`model`, or an argument `ref(...)` or
    `source(...)`): with dbt's names of the model when they are known (a dbt project's), else
    with its name as identifier and an empty schema and database."""
    return Relation(text, name, names or {"schema": "", "database": "", "alias": name})


def _rendered(value: Any, spec: TestSpec, renderer: Renderer, models: list[str]) -> Any:
    """An argument with its Jinja rendered, as dbt renders a test's arguments before calling
    its macro (`expression: "d = {{ dbt_date.yesterday('x') }}"`); a string that is one
    `{{ ... }}` of a list, mapping, number or boolean becomes that value. Refs it makes are
    among the test's models."""
    if isinstance(value, list):
        return [_rendered(item, spec, renderer, models) for item in value]
    if isinstance(value, dict):
        return {key: _rendered(item, spec, renderer, models) for key, item in value.items()}
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        rendered = renderer.render(value, spec.location.path)
    except ProjectError as error:  # the line is the test's: the text is a YAML value
        raise ProjectError(
            error.message, path=spec.location.path, line=spec.location.line, hint=error.hint
        ) from None
    models += [name for name, _ in rendered.refs]
    stripped = value.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        try:
            native = ast.literal_eval(rendered.text.strip())
        except (ValueError, SyntaxError, MemoryError):
            return rendered.text
        if isinstance(native, list | dict | tuple | bool | int | float):
            return native
    return rendered.text


def _quote(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _own(spec: TestSpec) -> tuple[str, ...]:
    """The model a test is declared on; none for a source table's (the loader attaches those to
    the models that read the source)."""
    return () if spec.relation else (spec.model,)


def _relation(spec: TestSpec) -> str:
    table, where = spec.relation or ref_placeholder(spec.model), spec.where
    return f"(SELECT * FROM {table} WHERE {where})" if where else table


def _require_column(spec: TestSpec) -> str:
    if not spec.column:
        raise ConfigError(f"{spec.test} needs a column", path=spec.location.path, line=spec.location.line)
    return spec.column


def build_generic_test(spec: TestSpec, sources: dict[str, str], renderer: Renderer | None = None) -> DataTest:
    """Turn a declared generic test into its query, with refs as placeholders; with a
    `renderer`, Jinja in its arguments is rendered first, as dbt renders it (`values: "{{
    var('statuses') }}"`)."""
    if renderer is None:
        return _generic_test(spec, sources)
    rendered_refs: list[str] = []
    arguments = {
        key: _rendered(value, spec, renderer, rendered_refs) for key, value in spec.arguments.items()
    }
    test = _generic_test(dataclasses.replace(spec, arguments=arguments), sources)
    if not rendered_refs:
        return test
    return dataclasses.replace(test, models=tuple(dict.fromkeys([*test.models, *rendered_refs])))


def _generic_test(spec: TestSpec, sources: dict[str, str]) -> DataTest:
    column = _require_column(spec)
    model = _relation(spec)
    models: tuple[str, ...] = _own(spec)
    if spec.test == "not_null":
        sql = f"SELECT * FROM {model} AS t WHERE {column} IS NULL"
    elif spec.test == "unique":
        sql = (
            f"SELECT {column} AS unique_field, COUNT(*) AS n_records FROM {model} AS t "
            f"WHERE {column} IS NOT NULL GROUP BY {column} HAVING COUNT(*) > 1"
        )
    elif spec.test == "accepted_values":
        values = spec.arguments.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(
                "accepted_values needs values: [...]", path=spec.location.path, line=spec.location.line
            )
        quote = spec.arguments.get("quote", True)
        # NULLs pass anyway, and a NULL inside NOT IN (...) would make every row pass
        listed = ", ".join(_quote(value) if quote else str(value) for value in values if value is not None)
        outside = f" AND {column} NOT IN ({listed})" if listed else ""
        sql = (
            f"SELECT {column} AS value_field, COUNT(*) AS n_records FROM {model} AS t "
            f"WHERE {column} IS NOT NULL{outside} GROUP BY {column}"
        )
    else:
        sql, models = _relationships(spec, column, model, sources)
    return DataTest(
        name=spec.name or _test_name(spec),
        kind=spec.test,
        sql=sql,
        models=models,
        location=spec.location,
        column=column,
        severity=spec.severity,
    )


def _relationships(
    spec: TestSpec, column: str, model: str, sources: dict[str, str]
) -> tuple[str, tuple[str, ...]]:
    to, field = spec.arguments.get("to"), spec.arguments.get("field")
    if not to or not field:
        raise ConfigError(
            "relationships needs to: ref('model') and field:",
            path=spec.location.path,
            line=spec.location.line,
        )
    target, is_source = parse_target(str(to), spec.location.path, spec.location.line)
    if is_source:
        if target not in sources:
            raise ConfigError(f"unknown source {target}", path=spec.location.path, line=spec.location.line)
        parent, models = sources[target], _own(spec)
        return _relationships_sql(column, model, parent, field), models
    return _relationships_sql(column, model, ref_placeholder(target), field), (*_own(spec), target)


def _relationships_sql(column: str, model: str, parent: str, field: str) -> str:
    return (
        f"SELECT child.{column} AS from_field FROM {model} AS child "
        f"LEFT JOIN {parent} AS parent ON child.{column} = parent.{field} "
        f"WHERE child.{column} IS NOT NULL AND parent.{field} IS NULL"
    )


def _test_name(spec: TestSpec) -> str:
    # dbt: `source_<test>_<source>_<table>_<column>` for a source table's tests
    test = f"source_{spec.test}" if spec.relation else spec.test
    parts = [test.replace(".", "_"), spec.model.replace(".", "_"), spec.column or ""]
    if spec.test not in ("not_null", "unique", "accepted_values", "relationships") and spec.arguments:
        digest = json.dumps(spec.arguments, sort_keys=True, default=str)
        parts.append(hashlib.sha256(digest.encode()).hexdigest()[:8])
        return "_".join(part for part in parts if part)
    if spec.test == "relationships":
        target, _ = parse_target(str(spec.arguments["to"]), spec.location.path, spec.location.line)
        parts += [target.replace(".", "_"), str(spec.arguments["field"])]
    return "_".join(part for part in parts if part)
