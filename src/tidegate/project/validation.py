"""What a loaded project must be, checked once its parts are known: valid, distinct names of
models, properties and unit tests of existing models, refs of existing, enabled models. (How a
model may be materialized is `tidegate.project.materializations`.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.identifiers import NAME, name_clash
from tidegate.project.model import Model, UnitTest
from tidegate.project.project import Project
from tidegate.project.properties import Properties


def check_model(model: Model, same_lower_name: Model | None) -> None:
    """A new model's name, schema and alias are valid; `same_lower_name` is a model already
    loaded whose name differs from its only in case."""
    if not NAME.match(model.name):
        raise ProjectError(
            f"{model.name!r} is not a valid model name: use letters, digits and _",
            path=model.location.path,
            hint="the file name is the model name; rename the file",
        )
    for what, value in (("schema", model.schema), ("alias", model.alias)):
        if value is not None and not NAME.match(value):  # as `schema:` of tidegate.yml
            raise ProjectError(
                f"{what} {value!r} is not a valid name: use letters, digits and _",
                path=model.location.path,
                line=model.location.line,
                model=model.name,
            )
    if problem := name_clash(model.schema, "schema"):
        raise ProjectError(problem, path=model.location.path, model=model.name)
    # Refs become lower-case placeholders and relation names are case-insensitive, so two
    # names that differ only in case would be the same relation.
    if same_lower_name is not None:
        raise ProjectError(
            f"two models are named {model.name!r} (also {same_lower_name.location})",
            path=model.location.path,
            model=model.name,
        )


def check_properties(
    properties: Properties, models: Mapping[str, Model], disabled: Mapping[str, str], *, dbt: bool
) -> None:
    """Properties and unit tests name models of the project (dbt only warns of properties of
    an unknown node, and ignores them and their tests)."""
    for name, node in properties.nodes.items():
        if name in models or name in disabled or dbt:
            continue
        raise ConfigError(
            f"properties are declared for {name!r}, but there is no model or seed of that name",
            path=node.location.path,
            line=node.location.line,
        )
    check_unit_tests(properties.unit_tests, models, disabled)


def check_unit_tests(
    unit_tests: Iterable[UnitTest], models: Mapping[str, Model], disabled: Mapping[str, str]
) -> None:
    """Each unit test tests a model of the project (or one switched off)."""
    for unit_test in unit_tests:
        if unit_test.model not in models and unit_test.model not in disabled:
            raise ConfigError(
                f"unit test {unit_test.name!r} tests unknown model {unit_test.model!r}",
                path=unit_test.location.path,
                line=unit_test.location.line,
            )


def check_references(
    project: Project, refs: Iterable[tuple[str, str, str, int | None]], disabled: Mapping[str, str]
) -> None:
    """Every ref (reader, model, file, line) and every test names a model of the project."""
    models = project.models
    for user, ref, path, line in refs:
        if ref in disabled and ref not in models:
            raise ProjectError(
                f"ref('{ref}') names a disabled model ({disabled[ref]} has enabled: false)",
                path=path,
                line=line,
                model=user,
            )
        if ref not in models:
            raise ProjectError(
                f"ref('{ref}') names no model, seed or snapshot of this project",
                path=path,
                line=line,
                model=user,
                hint=_did_you_mean(ref, models),
            )
    for test in project.tests:
        for model in test.models:
            if model not in models:
                raise ProjectError(
                    f"test {test.name!r} is declared on unknown model {model!r}",
                    path=test.location.path,
                    line=test.location.line,
                )


def _did_you_mean(name: str, candidates: Mapping[str, Model]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean {close[0]!r}?" if close else None
