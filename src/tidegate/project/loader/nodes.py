"""What every node of a project has: what dbt's `model` (or `node`) shows of it, the schema
and alias of its relation (through dbt's name generators in a dbt project), its kind, and the
fields all models share (description, columns, tags, owner)."""

from __future__ import annotations

from typing import Any

from tidegate.errors import ProjectError
from tidegate.project import materializations
from tidegate.project.config import ProjectConfig
from tidegate.project.identifiers import NAME
from tidegate.project.jinja import Renderer
from tidegate.project.loader.discovery import ProjectFiles, without_suffix
from tidegate.project.model import Kind
from tidegate.project.properties import NodeProperties


class Nodes:
    """The nodes of one project, as dbt describes and names them."""

    def __init__(
        self,
        files: ProjectFiles,
        config: ProjectConfig,
        renderer: Renderer,
        versions: dict[str, tuple[str, str]],
    ) -> None:
        self._files = files
        self._config = config
        self._dbt = config.dbt
        self._renderer = renderer
        self._versions = versions
        """File stem of a versioned model -> (its model's name, its version)."""

    @property
    def database(self) -> str:
        """The target's database (dbt's `this.database`), empty outside a dbt project."""
        return str((self._renderer.target or {}).get("database") or "")

    def node(self, name: str, rel: str, resource: str, config: dict[str, Any]) -> dict[str, Any]:
        """What dbt's `model` / `node` shows of a node: its name, file and configs."""
        project = self._dbt.name if self._dbt else self._config.name
        package = self._files.package_of_rel(rel)
        if package is not None:
            project = package.name
        version = None
        if name in self._versions and resource == "model":  # dbt: the model's name and version
            name, version = self._versions[name]
        return {
            "name": name,
            "resource_type": resource,
            "package_name": project,
            "original_file_path": rel,
            "path": rel,
            "unique_id": f"{resource}.{project}.{name}",
            "fqn": [project, *_fqn_parts(rel)],
            "config": dict(config),
            "tags": list(config.get("tags") or []),
            "version": version,
        }

    def with_relation(
        self, node: dict[str, Any], name: str, config: dict[str, Any], rel: str, resource: str
    ) -> dict[str, Any]:
        """`node` with the names dbt gives the node's relation in prod, for `this.schema`,
        `this.identifier` and `this.database` (and `model.schema`, `model.alias`)."""
        schema, alias = self.relation_names(name, config, rel, resource)
        database = self.database
        relation = {"schema": schema, "alias": alias or name, "database": database}
        return {**node, "relation": relation, "schema": schema, "alias": alias or name, "database": database}

    def relation_names(
        self, name: str, config: dict[str, Any], rel: str, resource: str
    ) -> tuple[str, str | None]:
        """The schema and the alias of a node's view: `schema` and `alias` configs as they are
        in a tidegate project; in a dbt project, what `generate_schema_name` and
        `generate_alias_name` (dbt's, or the project's own) make of them."""
        custom_alias = config.get("alias")
        if self._dbt is None:
            alias = str(custom_alias) if custom_alias else None
            return str(config.get("schema") or self._config.default_schema), alias
        node = self.node(name, rel, resource, config)
        names = []
        for macro, custom in (
            ("generate_schema_name", config.get("schema")),
            ("generate_alias_name", custom_alias),
        ):
            if self._renderer.is_dbts(macro):  # dbt's own: the same names, without Jinja
                value = _dbt_name(macro, custom, node, self._renderer.target or {})
            else:
                rendered = self._renderer.call_macro(
                    self._renderer.find_macro(macro), rel, None, custom, node, node=node
                )
                value = rendered.text.strip()
            if not NAME.match(value):
                raise ProjectError(
                    f"{macro} made {value!r}, which is not a valid name (letters, digits and _)",
                    path=rel,
                    model=name,
                )
            names.append(value)
        return names[0], (names[1] if names[1] != name else None)

    def kind(
        self, config: dict[str, Any], path: str, name: str, origin: tuple[str, int | None] | None = None
    ) -> Kind:
        """The kind of a model of `path` so configured (see `materializations`); `origin` is the
        file and line that set `materialized`, when not `path`. dbt's models are views unless
        configured otherwise; tidegate's are tables."""
        materialized = str(config.get("materialized") or ("view" if self._dbt else "table"))
        where_path, where_line = origin if origin else (path, None)
        kind = materializations.kind(
            materialized, self._renderer.materializations, where_path, where_line, name
        )
        if kind is Kind.INCREMENTAL:
            materializations.check_incremental(config, path, name, dbt=self._dbt is not None)
        return kind

    def common(
        self, name: str, props: NodeProperties | None, config: dict[str, Any], rel: str, resource: str
    ) -> dict[str, Any]:
        """The `Model` fields every kind of node has."""
        tags = config.get("tags") or []
        schema, alias = self.relation_names(name, config, rel, resource)
        return {
            "schema": schema,
            "alias": alias,
            "description": props.description if props else "",
            "columns": tuple(props.columns) if props else (),
            "tags": tuple([tags] if isinstance(tags, str) else tags),
            "owner": config.get("owner") or (config.get("meta") or {}).get("owner"),
        }


def _dbt_name(macro: str, custom: Any, node: dict[str, Any], target: Any) -> str:
    """What dbt's own `generate_schema_name` or `generate_alias_name` (see
    `tidegate.project.dbt_builtins`) makes of `custom`: `<target schema>_<custom>` or the
    target's schema; the custom alias, `<name>_v<version>` or the name."""
    if macro == "generate_schema_name":
        schema = str(target.get("schema"))
        return schema if custom is None else f"{schema}_{str(custom).strip()}"
    if custom:
        return str(custom).strip()
    if node.get("version"):
        return f"{node['name']}_v{str(node['version']).replace('.', '_')}"
    return str(node["name"])


def _fqn_parts(rel: str) -> list[str]:
    """dbt's fqn of the node in `rel` (a relative POSIX path, as `ProjectFiles.rel` gives),
    after the project's name: its folders and stem below the resource's folder
    (`models/staging/stg_orders.sql` -> `staging`, `stg_orders`)."""
    *folders, name = rel.split("/")
    return [*folders, without_suffix(name)][1:]


def tags(value: Any) -> list[str]:
    """A `tags` config as a list."""
    return [value] if isinstance(value, str) else [str(tag) for tag in value or []]
