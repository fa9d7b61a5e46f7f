"""What a DAG target receives, laid out as its scheduler reads it, in the order to upload it.

MWAA reads `dags/`, `plugins.zip` and `requirements.txt` under its S3 prefix; Cloud Composer reads
`dags/` and `plugins/` in its bucket (its Python packages are set on the environment, not read
from the bucket). Files go up dependencies first: requirements and plugins, then the DAG
folder's other files, then the files Airflow would parse as DAGs (its own test: the file holds
both "airflow" and "dag"), so a DAG never arrives before a module it imports.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tidegate.errors import ConfigError
from tidegate.orchestrate.release import sources

Layout = Literal["mwaa", "composer"]
DAGS = "dags/"


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]
    """Each file under the target's prefix and its content, in upload order."""
    release: str
    """The commit and a digest of the content: what the manifest names."""

    @property
    def digests(self) -> dict[str, str]:
        return {name: digest(data) for name, data in self.files.items()}

    @property
    def dag_files(self) -> tuple[str, ...]:
        """The files whose parse Airflow records (relative to its DAGs folder): those it parses
        as DAG files that define a DAG, or that do not even compile (an import error). A helper
        module that only mentions DAGs leaves no trace of its parse, so none is awaited."""
        return tuple(
            name.removeprefix(DAGS)
            for name, data in self.files.items()
            if _is_dag(name, data) and _defines_dag(data)
        )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle(root: Path, dags: str, layout: Layout, commit: str) -> Bundle:
    """The project's DAG files (of `root`, a commit's files) as `layout` lays them out."""
    found = sources(root, dags)
    if not any(name.startswith(DAGS) for name in found):
        raise ConfigError(f"no DAG files in {dags}/ to deploy")
    files = {name: path.read_bytes() for name, path in found.items() if not name.startswith("plugins/")}
    plugins = {name: path.read_bytes() for name, path in found.items() if name.startswith("plugins/")}
    if layout == "mwaa":
        if plugins:
            files["plugins.zip"] = _zipped(plugins)
    else:
        files.pop("requirements.txt", None)
        files.update(plugins)
    ordered = dict(sorted(files.items(), key=lambda item: (_rank(*item), item[0])))
    content = digest(
        json.dumps({name: digest(data) for name, data in ordered.items()}, sort_keys=True).encode()
    )
    return Bundle(ordered, f"{commit[:12]}-{content[:8]}")


def _zipped(plugins: dict[str, bytes]) -> bytes:
    """plugins/ as MWAA's plugins.zip (its root is the folder's content), the same bytes for the
    same files: fixed times and modes, so a rerun finds nothing changed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(plugins):
            info = zipfile.ZipInfo(name.removeprefix("plugins/"), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, plugins[name])
    return buffer.getvalue()


def _rank(name: str, data: bytes) -> int:
    if not name.startswith(DAGS):
        return 0
    return 2 if _is_dag(name, data) else 1


def _is_dag(name: str, data: bytes) -> bool:
    """Airflow's safe-mode test of a DAG file."""
    lowered = data.lower()
    return name.startswith(DAGS) and name.endswith(".py") and b"airflow" in lowered and b"dag" in lowered


def _defines_dag(data: bytes) -> bool:
    """Whether a file makes a DAG (`DAG(...)`, `with DAG(...)`, a function decorated `@dag`), or
    does not compile (then Airflow records an import error for it)."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _named(node.func) == "DAG":
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _named(d.func if isinstance(d, ast.Call) else d) == "dag" for d in node.decorator_list
        ):
            return True
    return False


def _named(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None
