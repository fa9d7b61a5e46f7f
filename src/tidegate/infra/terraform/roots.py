"""Which Terraform roots a change touches, and the content a reviewed plan is keyed by.

A root is its folder, the local modules it calls through a relative `source` (`./x`, `../x`,
found by parsing its HCL, transitively) and its variables files. A change touches a root when it
changes, adds or deletes a file in any of them, or changes tidegate.yml (the root's settings). The content key hashes the names and contents of
those files and the root's settings, so the merge commit of a pull request finds the plan that
was reviewed for the same files, whatever else the merge changed.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from tempfile import TemporaryDirectory
from typing import Any

from tidegate.errors import TerraformError
from tidegate.project import hcl
from tidegate.project.config import CONFIG_FILE
from tidegate.project.shipping import TerraformRoot

IGNORED = (".terraform", ".git")
"""Folders Terraform or Git make inside a root, never part of its content."""
CONFIGURATION = ("*.tf", "*.tf.json", "*.tofu", "*.tofu.json")
_STATE_FILES = (".tfstate", ".tfstate.backup", ".tfplan")


@dataclass(frozen=True)
class RootFiles:
    """A root's files at one commit: what its plan depends on."""

    root: TerraformRoot
    folders: tuple[str, ...]
    """The root's folder first, then the local modules it calls (relative to the project)."""
    files: tuple[tuple[str, str], ...]
    """(path relative to the project, sha256 of its content), sorted."""

    @property
    def key(self) -> str:
        """The content key of a reviewed plan: the root, its settings, its files."""
        settings = {"path": self.root.path, "vars": self.root.vars, "var_files": self.root.var_files}
        text = json.dumps([settings, self.files], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def touched_by(self, changed: Iterable[str]) -> bool:
        """Whether a change to these project-relative paths (added, modified or deleted)
        reaches this root. A change to tidegate.yml reaches every root: it may change a root's
        `vars:` or `var_files:`, and so its content key, which only a new review matches."""
        folders = (*self.folders, *self.var_file_paths)
        return any(path == CONFIG_FILE or _inside(path, folder) for path in changed for folder in folders)

    @property
    def var_file_paths(self) -> tuple[str, ...]:
        return tuple(posixpath.normpath(f"{self.root.path}/{name}") for name in self.root.var_files)


def root_files(project: Path, root: TerraformRoot) -> RootFiles:
    """The files of `root` in the project folder `project` (a checkout of one commit)."""
    folder = project / root.path
    if not folder.is_dir():
        raise TerraformError(
            f"terraform root {root.path!r} is not a folder of the project",
            path="tidegate.yml",
            hint="fix `terraform: roots:` in tidegate.yml",
        )
    folders = _module_folders(project, root.path)
    found: dict[str, str] = {}
    for name in folders:
        for file in sorted((project / name).rglob("*")):
            relative = file.relative_to(project).as_posix()
            if file.is_file() and not _ignored(relative):
                found[relative] = _sha256(file)
    for name in root.var_files:
        path = posixpath.normpath(f"{root.path}/{name}")
        if (project / path).is_file():
            found[path] = _sha256(project / path)
    return RootFiles(root, tuple(folders), tuple(sorted(found.items())))


@contextmanager
def private_copy(project: Path, files: RootFiles) -> Iterator[Path]:
    """A copy of a root and its modules in a temporary folder, laid out as in the project (so
    relative module sources resolve): Terraform writes its lock file and caches there, never in
    the project. Yields the root's folder in the copy."""
    with TemporaryDirectory(prefix="tidegate-terraform-") as temporary:
        copy = Path(temporary)
        for relative, _ in files.files:
            target = copy / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / relative, target)
        (copy / files.root.path).mkdir(parents=True, exist_ok=True)
        yield copy / files.root.path


def require_remote_state(project: Path, files: RootFiles) -> None:
    """Refuse a root whose state would be a local file: CI and deploy run Terraform in fresh
    working copies, where such a state is lost with the copy and every deploy would create the
    resources again. A root with a file that does not parse is left to Terraform's own error."""
    backends: list[str] = []
    for file in sorted(f for pattern in CONFIGURATION for f in (project / files.root.path).glob(pattern)):
        blocks = _blocks(file, "terraform")
        if blocks is None:
            return
        for block in blocks:
            backends += ["cloud"] if "cloud" in block else []
            backends += [name for name, _ in hcl.labelled(block.get("backend"))]
    if not backends or backends == ["local"]:
        raise TerraformError(
            f"{files.root.path}: its state would be a local file, which the working copies of CI "
            "and deploy do not keep",
            path=files.root.path,
            hint="configure a remote backend (s3, gcs, azurerm, pg, remote, a `cloud` block...) in its `terraform {}` block",
        )


def _module_folders(project: Path, root: str) -> list[str]:
    """The root's folder and every local module folder it reaches, in the order found."""
    found = [root]
    for folder in found:  # grows as modules are found
        for source in _local_sources(project / folder):
            module = posixpath.normpath(f"{folder}/{source}")
            if module.startswith("../") or module == "..":
                continue  # outside the project: Terraform will say whether it exists
            if module not in found and (project / module).is_dir():
                found.append(module)
    return found


def _local_sources(folder: Path) -> list[str]:
    """The relative `source` of every `module` block in a folder's configuration files (`.tf`,
    `.tf.json`, and OpenTofu's `.tofu`, `.tofu.json`). A file that does not parse is skipped
    here: `terraform validate` reports it with its line."""
    sources: list[str] = []
    for file in sorted(f for pattern in CONFIGURATION for f in folder.glob(pattern)):
        for _, block in hcl.labelled(_blocks(file, "module")):
            source = block.get("source")
            if isinstance(source, str):
                source = source.strip('"')
                if source.startswith(("./", "../")):
                    sources.append(source)
    return sources


def _blocks(file: Path, kind: str) -> list[dict[str, Any]] | None:
    """The `kind` blocks (`module`, `terraform`) of one file, as python-hcl2 reads them (a
    labelled block is `{label: body}`); None when the file does not parse."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, ValueError):  # unreadable, or not text
        return None
    if kind not in text:  # most files: no need to parse them
        return []
    document = hcl.parse(text, json_syntax=file.name.endswith(".json"))
    if document is None:
        return None
    return [entry for entry in hcl.entries(document.get(kind)) if isinstance(entry, dict)]


def _inside(path: str, folder: str) -> bool:
    return path == folder or PurePosixPath(path).is_relative_to(folder)


def _ignored(relative: str) -> bool:
    parts = PurePosixPath(relative).parts
    return any(part in IGNORED for part in parts) or relative.endswith(_STATE_FILES)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
