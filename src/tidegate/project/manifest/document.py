"""A dbt `target/manifest.json` read and checked: dbt 1.5 or later, with nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError

HINT = "rerun `dbt compile` (or `dbt build`) to write a new target/manifest.json"
RELATION_TYPES = ("model", "seed", "snapshot")
"""The nodes that are relations: what refs read."""


@dataclass(frozen=True)
class Manifest:
    """The manifest's data, where it is, and the name of the project dbt compiled."""

    path: Path
    rel: str
    """Its path as errors name it: relative to the project when inside it."""
    data: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    project_name: str

    def enabled(self, types: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
        """The enabled nodes of these resource types, by unique id."""
        for unique_id, node in sorted(self.nodes.items()):
            if node.get("resource_type") in types and (node.get("config") or {}).get("enabled", True):
                yield unique_id, node

    def location(self, node: dict[str, Any]) -> str:
        """The file of a node, relative to the project (a package's is under dbt_packages/)."""
        path = str(node.get("original_file_path") or self.rel)
        package = node.get("package_name")
        if package and self.project_name and package != self.project_name:
            return f"dbt_packages/{package}/{path}"
        return path


def node_name(node: dict[str, Any]) -> str:
    """A node's model name: dbt's versioned models are tidegate's `<name>_v<version>`."""
    name = str(node["name"])
    if node.get("version") is not None:
        name = f"{name}_v{str(node['version']).replace('.', '_')}"
    return name


def read_manifest(root: Path, path: Path, variables: dict[str, Any]) -> Manifest:
    """The manifest at `path`; `variables` (from the command line) cannot apply to it."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    if variables:
        raise ConfigError(
            "--vars cannot change a project loaded from a dbt manifest: dbt compiled the variables in",
            path=rel,
            hint="pass the variables to `dbt compile --vars ...` instead",
        )
    if not path.is_file():
        raise ConfigError(
            f"no dbt manifest at {path}", hint="run `dbt compile` to write target/manifest.json"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the dbt manifest: {error}", path=rel) from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise ConfigError("not a dbt manifest.json (no nodes)", path=rel)
    metadata = data.get("metadata") or {}
    version = str(metadata.get("dbt_schema_version") or "")
    number = version.rsplit("/v", 1)[-1].removesuffix(".json")
    if not number.isdigit() or int(number) < 9:
        raise ConfigError(
            f"the manifest has schema {version or 'unknown'}; tidegate reads manifests of dbt 1.5 "
            "and later (v9+)",
            path=rel,
            hint=HINT,
        )
    return Manifest(path, rel, data, data["nodes"], str(metadata.get("project_name") or ""))
