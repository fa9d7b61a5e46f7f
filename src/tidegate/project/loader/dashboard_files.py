"""The dashboards of `dashboards/*.yml` (their queries rendered, resolved and normalized), and
dbt's exposures, checked against what the project loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tidegate.errors import ConfigError, ProjectError
from tidegate.project.dashboards import DashboardNames
from tidegate.project.exposures import Exposure, check_exposures
from tidegate.project.jinja import ref_names
from tidegate.project.loader.state import LoadState
from tidegate.project.model import Dashboard, DashboardQuery, Location, Source
from tidegate.project.properties import Properties
from tidegate.project.yamlio import LineDict, LineList


def exposures(load: LoadState, properties: Properties, sources: dict[str, Source]) -> tuple[Exposure, ...]:
    """dbt's exposures, whose refs and sources must name what the project loaded."""
    return check_exposures(
        properties.exposures,
        load.collected.models,
        load.collected.disabled,
        sources,
        properties.versions,
        properties.disabled_sources,
    )


def dashboards(load: LoadState, sources: dict[str, Source]) -> Iterator[Dashboard]:
    """The dashboards of every dashboards file, each name once."""
    seen: dict[str, Location] = {}
    names = DashboardNames(
        load.sql_cache, load.collected.models.values(), sources, load.seed_sources, load.config
    )
    for path in load.files.files(load.config.dashboard_paths, ".yml", ".yaml"):
        rel = load.files.rel(path)
        data = load.files.yaml(path) or {}
        entries = data.get("dashboards") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ConfigError("a dashboards file has a dashboards: list", path=rel, line=1)
        for index, entry in enumerate(entries):
            line = entries.line_of(index) if isinstance(entries, LineList) else None
            dashboard = _dashboard(load, entry, rel, line, names)
            if dashboard.name in seen:
                raise ConfigError(
                    f"two dashboards are named {dashboard.name!r} (also {seen[dashboard.name]})",
                    path=rel,
                    line=dashboard.location.line,
                )
            seen[dashboard.name] = dashboard.location
            yield dashboard


def _dashboard(load: LoadState, entry: Any, rel: str, line: int | None, names: DashboardNames) -> Dashboard:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError("each dashboard needs a name", path=rel, line=line)
    queries = [
        _query(load, query, index, entry, rel, line, names)
        for index, query in enumerate(entry.get("queries") or [])
    ]
    owner = entry.get("owner")
    if isinstance(owner, dict):
        owner = owner.get("email") or owner.get("name")
    return Dashboard(
        name=str(entry["name"]),
        queries=tuple(queries),
        location=Location(rel, line),
        description=str(entry.get("description") or ""),
        owner=owner,
        url=entry.get("url"),
    )


def _query(
    load: LoadState, query: Any, index: int, entry: Any, rel: str, line: int | None, names: DashboardNames
) -> DashboardQuery:
    """One query of a dashboard: rendered, its plain names resolved (see `DashboardNames`),
    normalized; errors name the line of the YAML file."""
    query_line = entry["queries"].line_of(index) if isinstance(entry["queries"], LineList) else line
    if not isinstance(query, dict) or "sql" not in query:
        raise ConfigError("each dashboard query needs sql:", path=rel, line=query_line)
    dashboard = str(entry["name"])
    sql = str(query["sql"])
    sql_line = query.line_of("sql") if isinstance(query, LineDict) else query_line

    def in_yaml(error: ProjectError) -> ProjectError:
        return ProjectError(
            error.message,
            path=rel,
            line=_yaml_sql_line(sql, sql_line, error.line),
            model=error.model,
            hint=error.hint,
        )

    try:
        rendered = load.renderer.render(sql, rel)
        plain = names.resolve(rendered.text, path=rel, model=dashboard)
    except ProjectError as error:
        raise in_yaml(error) from None
    normalized = load.queries.normalized(plain.sql, rel, dashboard, in_yaml)
    for ref, ref_line in rendered.refs:
        load.collected.ref(dashboard, ref, rel, _yaml_sql_line(sql, sql_line, ref_line))
    return DashboardQuery(
        str(query.get("name") or f"query_{index + 1}"),
        normalized,
        tuple(dict.fromkeys([*ref_names(rendered), *plain.refs])),
        tuple(dict.fromkeys([*rendered.sources, *plain.sources])),
        plain.unresolved,
        query_line,
    )


def _yaml_sql_line(sql: str, sql_line: int | None, line_in_sql: int | None) -> int | None:
    """A line of SQL embedded under `sql:` as a line of the YAML file: a multi-line query is a
    block scalar, which starts on the line after the key."""
    if sql_line is None or line_in_sql is None or "\n" not in sql.strip():
        return sql_line
    return sql_line + line_in_sql
