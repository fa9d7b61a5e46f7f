"""tidegate's own functions of the Jinja context: `ref`, `source`, `config`, `var`, `env_var`,
`is_incremental`, and dbt's `should_store_failures`. Each records what the file being rendered
asked for (its refs, sources, configs, environment variables) in that file's frame."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project import envvars
from tidegate.project.dbt_config import ConfigObject, ConfigScope
from tidegate.project.dbt_context import Relation
from tidegate.project.jinja.frames import Frames
from tidegate.project.jinja.settings import DbtSettings
from tidegate.project.model import ref_placeholder

_MISSING = object()
_NAME_PARTS = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){1,2}")


class Functions:
    """The functions of one project's renders, reading the file being rendered from `frames`."""

    def __init__(
        self,
        frames: Frames,
        variables: Mapping[str, Any],
        sources: Mapping[tuple[str, str], str],
        dbt: DbtSettings | None,
    ) -> None:
        self._frames = frames
        self._variables = dict(variables)
        self._sources = dict(sources)
        self._dbt = dbt
        self._source_models: dict[str, str] = {}
        self.relations: dict[str, Mapping[str, str]] = {}
        """Model -> dbt's names of its relation in prod (`database`, `schema`, `alias`), for
        `ref('m').schema` and the like: filled by the loader as it loads models."""
        self.config = ConfigObject(self._config, self._config_scope, self._reads_config)

    def members(self) -> dict[str, Any]:
        """The functions, by their names in Jinja."""
        return {
            "ref": self.ref,
            "source": self.source,
            "config": self.config,
            "var": self.var,
            "env_var": self.env_var,
            "is_incremental": self.is_incremental,
        }

    def resolve_ref(
        self, args: tuple[str, ...], number: Any, path: str, line: Callable[[], int | None]
    ) -> str:
        """The model `ref(*args, v=number)` reads (of a SQL model at `path`, or a dbt Python
        model's `dbt.ref`); errors name `path` and the `line()` of the call."""
        if not args or len(args) > 2:
            raise ProjectError("ref() takes a model name and optionally a package", path=path, line=line())
        name = str(args[-1])
        declared = self._dbt.versions.get(name) if self._dbt else None
        if declared is not None:  # `versions:` in properties: the version asked for, or the latest
            latest, stems = declared
            key = latest if number is None else str(number)
            if key not in stems:
                raise ProjectError(
                    f"ref('{name}', v={number!r}): {name} has versions {', '.join(stems)}",
                    path=path,
                    line=line(),
                )
            name, number = stems[key], None
        if number is not None:  # without `versions:`, dbt's versioned models are files `<name>_v<version>`
            versioned = f"{name}_v{str(number).replace('.', '_')}"
            if self._dbt is None or versioned not in self._dbt.models:
                raise ProjectError(
                    f"ref('{name}', v={number!r}): there is no model {versioned}", path=path, line=line()
                )
            name = versioned
        owner = self._dbt.model_packages.get(name) if self._dbt else None
        if len(args) == 2 and owner is not None and owner != args[0]:
            raise ProjectError(
                f"ref('{args[0]}', '{args[-1]}'): {name} is a model of {owner}, not of {args[0]}",
                path=path,
                line=line(),
            )
        return name

    def ref(self, *args: str, version: Any = None, v: Any = None) -> Relation:
        frame = self._frames.current
        name = self.resolve_ref(args, v if v is not None else version, frame.path, self._frames.line)
        frame.result.refs.append((name, self._frames.line()))
        return Relation(ref_placeholder(name), name, self.relations.get(name), call=f"ref('{name}')")

    def read_sources_from(self, models: Mapping[str, str]) -> None:
        """Sources (`source.table`) that read a model of the project: `source()` renders as
        `ref()` of that model."""
        self._source_models = dict(models)

    def source(self, source: str, table: str) -> Relation:
        call = f"source('{source}', '{table}')"
        frame = self._frames.current
        model = self._source_models.get(f"{source}.{table}")
        if model is not None:
            frame.result.refs.append((model, self._frames.line()))
            return Relation(ref_placeholder(model), model, self.relations.get(model), call=call)
        relation = self._sources.get((source, table))
        if relation is None:
            raise ProjectError(
                f"source('{source}', '{table}') is not declared in any sources: block",
                path=frame.path,
                line=self._frames.line(),
            )
        frame.result.sources.append(f"{source}.{table}")
        *qualifiers, identifier = relation.split(".")
        names = None
        if _NAME_PARTS.fullmatch(relation):  # `schema.identifier` or `database.schema.identifier`
            target = self._dbt.target if self._dbt else {}
            database = qualifiers[0] if len(qualifiers) == 2 else str(target.get("database") or "")
            names = {"database": database, "schema": qualifiers[-1], "alias": identifier}
        return Relation(relation, identifier, names, call=call)

    def _config(self, *args: Any, **kwargs: Any) -> str:
        frame = self._frames.current
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):  # dbt: config({...})
            kwargs = dict(args[0])
        elif args:
            raise ProjectError(
                "config() takes keyword arguments (or one mapping)", path=frame.path, line=self._frames.line()
            )
        frame.result.config.update(kwargs)
        if "materialized" in kwargs:  # where a model refused for its materialization says it
            frame.result.config_lines["materialized"] = self._frames.line()
        return ""

    def _config_scope(self) -> ConfigScope | None:
        """The configs `config.get` reads: the node's, with those its `config()` calls set so far."""
        frame = self._frames.innermost
        if frame is None or frame.node is None:
            return None
        node = frame.node
        values = {**(node.get("config") or {}), **frame.result.config}
        return ConfigScope(str(node.get("unique_id")), str(node.get("resource_type")), values)

    def _reads_config(self) -> None:
        frame = self._frames.innermost
        if frame is not None:
            frame.result.reads_config = True

    def var(self, name: str, default: Any = _MISSING) -> Any:
        frame = self._frames.innermost
        variables: Mapping[str, Any] = self._variables
        if frame is not None and frame.variables is not None:
            variables = frame.variables
        elif self._dbt and self._dbt.package_variables and frame is not None:
            folder = "/".join(frame.path.split("/", 2)[:2])  # a package's node: its vars
            variables = self._dbt.package_variables.get(folder, variables)
        if name in variables:
            return variables[name]
        if default is _MISSING:
            raise ProjectError(
                f"var('{name}') is not defined",
                path=self._frames.current.path,
                line=self._frames.line(),
                hint="define it under vars: in tidegate.yml, pass --vars, or give var() a default",
            )
        return default

    def env_var(self, name: str, default: Any = _MISSING) -> Any:
        refused = envvars.refuse_secret(name)
        if refused:
            raise ProjectError(refused, path=self._frames.current.path, line=self._frames.line())
        if name in os.environ:
            frame = self._frames.innermost
            if frame is not None:
                frame.result.env_vars[name] = os.environ[name]
            return os.environ[name]
        if default is _MISSING:
            raise ProjectError(
                f"env_var('{name}'): the environment variable is not set and has no default",
                path=self._frames.current.path,
                line=self._frames.line(),
            )
        return default

    def is_incremental(self) -> bool:
        return self._frames.current.incremental

    def should_store_failures(self) -> bool:
        """dbt's `should_store_failures()`: the node's `store_failures` config (tests read it to
        select every column of the failing rows rather than a constant)."""
        frame = self._frames.innermost
        node = frame.node if frame else None
        return bool(((node or {}).get("config") or {}).get("store_failures"))
