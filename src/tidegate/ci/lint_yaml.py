"""YAML lint: every YAML file must parse (no duplicate keys); tidegate.yml, dbt_project.yml and
profiles.yml must make a valid configuration; property files must read as properties. The
checks are tidegate's own loaders, so a finding says what loading the project would say.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tidegate.ci.findings import Finding
from tidegate.ci.lint_files import under
from tidegate.errors import ConfigError, InvalidYaml, TidegateError
from tidegate.project.config import CONFIG_FILE, ProjectConfig, load_config
from tidegate.project.dbt import DBT_PROJECT
from tidegate.project.files import read_text
from tidegate.project.properties import read_properties
from tidegate.project.yamlio import load_yaml_text

_CONFIG_FILES = (CONFIG_FILE, DBT_PROJECT, "profiles.yml")


def load_config_or_finding(root: Path) -> tuple[ProjectConfig, list[Finding]]:
    """The project's configuration; when it is invalid, a finding and the defaults (so that
    the rest of the project is still linted). Without any project file, a ConfigError."""
    try:
        return load_config(root), []
    except ConfigError as error:
        if error.path is None:
            raise
        return ProjectConfig(name="project"), [_yaml_finding(root, error, CONFIG_FILE, "invalid-config")]


def lint_yaml(root: Path, config: ProjectConfig, files: list[str]) -> list[Finding]:
    """Every YAML file must parse (no duplicate keys); tidegate.yml, dbt_project.yml and
    profiles.yml must make a valid configuration; property files must read as properties."""
    findings = []
    properties_folders = [*config.model_paths, *config.seed_paths, *config.snapshot_paths]
    config_checked = False
    for rel in files:
        try:
            data = load_yaml_text(read_text(root / rel, rel, error=ConfigError), rel)
        except ConfigError as error:
            findings.append(_yaml_finding(root, error, rel, "invalid-yaml"))
            continue
        if rel in _CONFIG_FILES:
            if not config_checked:
                findings += load_config_or_finding(root)[1]
                config_checked = True
        elif under(PurePosixPath(rel), properties_folders):
            try:
                read_properties([(rel, data)])
            except ConfigError as error:
                findings.append(_yaml_finding(root, error, rel, "invalid-properties"))
    return findings


def _yaml_finding(root: Path, error: TidegateError, default_path: str, code: str) -> Finding:
    """A finding for an error of tidegate's YAML loaders, on the file and line it names."""
    path = default_path
    if error.path is not None:
        named = Path(error.path)
        absolute = named if named.is_absolute() else root / named
        path = absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else error.path
    if isinstance(error, InvalidYaml):
        code = "duplicate-key" if error.duplicate_key else "invalid-yaml"
    return Finding(
        path=path, line=max(error.line or 1, 1), column=1, code=code, message=error.message, tool="yaml"
    )
