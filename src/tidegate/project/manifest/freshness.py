"""A manifest that does not match the files is an error, never a silently older build: the
checksum dbt recorded for every model, seed and singular test must be the one of its file today,
every model and seed file must be in the manifest, the text of every project macro must still be
in its file, and no YAML file of the project (`dbt_project.yml`, properties) may be newer than
the manifest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tidegate.errors import ProjectError
from tidegate.project.config import ProjectConfig
from tidegate.project.files import project_files, read_text
from tidegate.project.manifest.document import HINT, Manifest


def check_fresh(manifest: Manifest, root: Path, config: ProjectConfig) -> None:
    """Raise when a file of the project changed since dbt wrote `manifest`."""
    listed = _check_checksums(manifest, root)
    _check_listed(manifest, root, config, listed)
    _check_macros(manifest, root, config, listed)
    _check_yaml(manifest, root, config)


def _stale(manifest: Manifest, message: str, path: str) -> ProjectError:
    return ProjectError(f"{manifest.rel} is older than the project: {message}", path=path, hint=HINT)


def _check_checksums(manifest: Manifest, root: Path) -> set[str]:
    """The files of the project's own nodes, each with the checksum dbt recorded for it."""
    own = [
        node
        for node in manifest.nodes.values()
        if not manifest.project_name or node.get("package_name") == manifest.project_name
    ]
    listed = set()
    for node in own:
        path = str(node.get("original_file_path") or "")
        checksum = node.get("checksum") or {}
        if checksum.get("name") != "sha256" or not path:
            continue  # generic tests (the properties file) and big seeds (their path)
        listed.add(path)
        file = root / path
        if not file.is_file():
            raise _stale(manifest, f"{path} is in the manifest but no longer exists", manifest.rel)
        text = read_text(file, path, universal_newlines=False).strip()
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != checksum.get("checksum"):
            raise _stale(manifest, f"{path} changed since dbt compiled it", path)
    return listed


def _check_listed(manifest: Manifest, root: Path, config: ProjectConfig, listed: set[str]) -> None:
    """Every model and seed file is in the manifest (or disabled there)."""
    disabled = {
        str(node.get("original_file_path"))
        for nodes in (manifest.data.get("disabled") or {}).values()
        for node in (nodes if isinstance(nodes, list) else [nodes])
    }
    for folders, suffixes in ((config.model_paths, (".sql", ".py")), (config.seed_paths, (".csv",))):
        for file in project_files(root, folders, *suffixes):
            rel = file.relative_to(root).as_posix()
            if rel not in listed and rel not in disabled and not _big_seed(manifest.nodes, rel):
                raise _stale(manifest, f"{rel} is not in the manifest", rel)


def _check_macros(manifest: Manifest, root: Path, config: ProjectConfig, listed: set[str]) -> None:
    """The text of every macro (and doc block) of the project is still in its file."""
    macros: dict[str, list[str]] = {}
    for macro in (manifest.data.get("macros") or {}).values():
        if macro.get("package_name") == manifest.project_name:
            macros.setdefault(str(macro.get("original_file_path")), []).append(str(macro.get("macro_sql")))
    for doc in (manifest.data.get("docs") or {}).values():
        if doc.get("package_name") == manifest.project_name:
            macros.setdefault(str(doc.get("original_file_path")), []).append(
                str(doc.get("block_contents", ""))
            )
    for file in project_files(root, [*config.macro_paths, *config.test_paths], ".sql", ".md"):
        rel = file.relative_to(root).as_posix()
        if rel in listed:
            continue  # a singular test, checked above
        text = read_text(file, rel)
        if rel not in macros:
            if "{%" in text:
                raise _stale(manifest, f"{rel} is not in the manifest", rel)
            continue
        for macro_sql in macros[rel]:
            if macro_sql not in text:
                raise _stale(manifest, f"{rel} changed since dbt compiled it", rel)


def _check_yaml(manifest: Manifest, root: Path, config: ProjectConfig) -> None:
    """No YAML file of the project was changed after the manifest was written."""
    written = manifest.path.stat().st_mtime
    yaml_files = [root / "dbt_project.yml"]
    yaml_files += project_files(root, [*config.model_paths, *config.seed_paths], ".yml", ".yaml")
    for file in yaml_files:
        if file.is_file() and file.stat().st_mtime > written:
            rel = file.relative_to(root).as_posix()
            raise _stale(manifest, f"{rel} was changed after the manifest was written", rel)


def _big_seed(nodes: Mapping[str, dict[str, Any]], path: str) -> bool:
    return any(
        node.get("original_file_path") == path and (node.get("checksum") or {}).get("name") == "path"
        for node in nodes.values()
    )
