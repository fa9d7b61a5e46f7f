"""dbt exposures: what outside the project (dashboards, notebooks, applications) depends on it.

They are read from `exposures:` in properties YAML (`models/**.yml`), in dbt projects and in
tidegate's own, as dbt validates them: a name, a type, an owner with a name or an email, a
maturity if any, and `depends_on` entries `ref('model')`, `ref('package', 'model')`,
`ref('model', v=2)`, `source('source', 'table')` and `metric('name')`. Once every node is known,
each dependency must name one, as in dbt's parse: a ref to a model that does not exist, or is
disabled, is an error naming the exposure, its file and the line of the entry. Metrics are kept
by name (tidegate has no metrics to check them against).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any, Literal, cast

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.model import Dependency, Exposure, Location, Source
from tidegate.project.yamlio import LineDict, LineList

EXPOSURE_TYPES = ("dashboard", "notebook", "analysis", "ml", "application")
MATURITIES = ("low", "medium", "high")
_ARGUMENTS = {"ref": (1, 2), "source": (2, 2), "metric": (1, 2)}
"""How many positional arguments each kind of dependency takes (a package may come first)."""


def read_exposure(entry: dict[str, Any], path: str, line: int | None) -> Exposure | None:
    """One entry of `exposures:`; None when its config disables it (`enabled: false`)."""
    name = str(entry["name"])
    config = entry.get("config")
    if isinstance(config, dict) and config.get("enabled") is False:
        return None
    kind = entry.get("type")
    if kind not in EXPOSURE_TYPES:
        raise ConfigError(
            f"exposure {name!r}: type must be one of {', '.join(EXPOSURE_TYPES)}, not {kind!r}",
            path=path,
            line=_line(entry, "type", line),
        )
    maturity = entry.get("maturity")
    if maturity is not None and maturity not in MATURITIES:
        raise ConfigError(
            f"exposure {name!r}: maturity must be one of {', '.join(MATURITIES)}, not {maturity!r}",
            path=path,
            line=_line(entry, "maturity", line),
        )
    owner = entry.get("owner")
    if not isinstance(owner, dict) or not (owner.get("name") or owner.get("email")):
        raise ConfigError(
            f"exposure {name!r} needs an owner with a name or an email (owner: {{name: ..., email: ...}})",
            path=path,
            line=_line(entry, "owner", line),
        )
    listed = entry.get("depends_on") or []
    if not isinstance(listed, list):
        raise ConfigError(
            f"exposure {name!r}: depends_on must be a list", path=path, line=_line(entry, "depends_on", line)
        )
    depends_on = tuple(
        _dependency(str(item), path, listed.line_of(index) if isinstance(listed, LineList) else line)
        for index, item in enumerate(listed)
    )
    tags = entry.get("tags") or []
    return Exposure(
        name=name,
        type=str(kind),
        location=Location(path, line),
        depends_on=depends_on,
        owner_name=_text(owner.get("name")),
        owner_email=_text(owner.get("email")),
        maturity=_text(maturity),
        url=_text(entry.get("url")),
        label=_text(entry.get("label")),
        description=str(entry.get("description") or ""),
        tags=(str(tags),) if isinstance(tags, str) else tuple(str(tag) for tag in tags),
    )


def check_exposures(
    exposures: list[Exposure],
    models: Mapping[str, object],
    disabled: Mapping[str, str],
    sources: Mapping[str, Source],
    versions: Mapping[str, tuple[str, dict[str, str]]],
    disabled_sources: Mapping[str, Location],
) -> tuple[Exposure, ...]:
    """The exposures with each ref naming the model it reads (a versioned model's version);
    a dependency on no node, or on a disabled one, is an error, as dbt's parse makes it."""
    checked = []
    for exposure in exposures:
        depends_on = tuple(
            _resolved(exposure, dependency, models, {**disabled, **disabled_sources}, sources, versions)
            for dependency in exposure.depends_on
        )
        checked.append(dataclasses.replace(exposure, depends_on=depends_on))
    return tuple(checked)


def _resolved(
    exposure: Exposure,
    dependency: Dependency,
    models: Mapping[str, object],
    disabled: Mapping[str, object],
    sources: Mapping[str, Source],
    versions: Mapping[str, tuple[str, dict[str, str]]],
) -> Dependency:
    def error(why: str, hint: str | None = None) -> ProjectError:
        return ProjectError(
            f"exposure {exposure.name!r} depends on {dependency.text}, {why}",
            path=exposure.location.path,
            line=dependency.line,
            hint=hint,
        )

    if dependency.kind == "metric":
        return dependency
    if dependency.kind == "source":
        if dependency.name in disabled:
            raise error(f"which is disabled ({disabled[dependency.name]} has enabled: false)")
        if dependency.name not in sources:
            similar = [
                key.split(".", 1) for key in difflib.get_close_matches(dependency.name, list(sources), n=1)
            ]
            raise error(
                "which is not declared in any sources: block",
                f"did you mean source('{similar[0][0]}', '{similar[0][1]}')?" if similar else None,
            )
        return dependency
    name = dependency.name
    if name in versions:
        latest, stems = versions[name]
        version = dependency.version or latest
        if version not in stems:
            raise error(f"but {name} has no version {version} (it has {', '.join(sorted(stems))})")
        name = stems[version]
    elif dependency.version is not None:
        raise error(f"but {name} is not a versioned model")
    if name in models:
        return Dependency(dependency.kind, name, dependency.text, dependency.line, dependency.version)
    if name in disabled:
        raise error(f"which is disabled ({disabled[name]} has enabled: false)")
    close = difflib.get_close_matches(name, list(models), n=1)
    raise error(
        "which names no model, seed or snapshot of this project",
        f"did you mean ref('{close[0]}')?" if close else None,
    )


def _dependency(text: str, path: str, line: int | None) -> Dependency:
    """`ref('pkg', 'm')`, `ref('m', v=2)`, `source('s', 't')` or `metric('m')`, read as the
    call it is written as (never evaluated)."""
    bad = ConfigError(
        f"depends_on: expected ref('model'), source('source', 'table') or metric('name'), got {text!r}",
        path=path,
        line=line,
    )
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise bad from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in _ARGUMENTS):
        raise bad
    kind = cast(Literal["ref", "source", "metric"], call.func.id)
    arguments = [_constant(argument) for argument in call.args]
    keywords = {keyword.arg: _constant(keyword.value) for keyword in call.keywords}
    version = keywords.pop("v", None) if "v" in keywords else keywords.pop("version", None)
    low, high = _ARGUMENTS[kind]
    names = [argument for argument in arguments if isinstance(argument, str)]
    if len(names) != len(arguments) or not low <= len(names) <= high or keywords:
        raise bad
    if version is not None and (kind != "ref" or isinstance(version, bool)):
        raise bad
    name = ".".join(names) if kind == "source" else names[-1]
    return Dependency(kind, name, text.strip(), line, None if version is None else str(version))


def _constant(node: ast.expr) -> str | int | float | None:
    """A string or number as written; None for anything else (a name, a call)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
        return node.value
    return None


def _line(entry: dict[str, Any], key: str, default: int | None) -> int | None:
    return entry.line_of(key) if isinstance(entry, LineDict) and key in entry else default


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
