"""`tidegate dags deploy`: versioned releases of the DAG files, switched atomically.

A release is a folder `releases/<id>/` (the DAG files, `plugins/`, `requirements.txt` and a
manifest of file hashes), written under a temporary name and renamed into place. Airflow's DAGs
folder is the `current` symlink, replaced in one `rename`, so the scheduler sees the old
release or the new one, never a mix. `deployments.jsonl` keeps the order of switches for
`--rollback`; only the newest releases are kept. `--image` writes the build context of an image
that bakes one release in, with the packages of the Airflow that checked it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidegate.errors import ConfigError, StateError

CURRENT = "current"
LOG = "deployments.jsonl"
MANIFEST = "tidegate-release.json"


@dataclass(frozen=True)
class Release:
    id: str
    path: Path
    files: dict[str, str]
    """Each file of the release (relative path) and its sha256."""
    previous: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": self.id,
            "path": str(self.path),
            "files": len(self.files),
            "previous": self.previous,
        }


def release_id(root: Path) -> str:
    """The commit of the working tree (its short hash, marked when the tree has changes)."""
    from tidegate.errors import GitError
    from tidegate.git.repository import Repository

    try:
        repo = Repository(root)
        commit = repo.resolve("HEAD")[:12]
        return commit if repo.is_clean() else f"{commit}-dirty"
    except GitError:
        return f"local-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"


def sources(root: Path, dags: str) -> dict[str, Path]:
    """What a release holds: the DAG folder's files, plugins/ and requirements.txt."""
    found: dict[str, Path] = {}
    for folder, prefix in ((root / dags, "dags"), (root / "plugins", "plugins")):
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    found[f"{prefix}/{path.relative_to(folder).as_posix()}"] = path
    if (root / "requirements.txt").is_file():
        found["requirements.txt"] = root / "requirements.txt"
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def deploy(
    root: Path,
    dags: str,
    target: Path,
    *,
    keep: int,
    identifier: str | None = None,
    commit: str | None = None,
) -> Release:
    """Write a release of the project's DAGs into `target` and switch `current` to it; a
    release that is current already is left as it is (deploying a commit again changes nothing).
    `commit` names the release when `root` is not the repository (a deployment's checkout)."""
    found = sources(root, dags)
    if not any(name.startswith("dags/") for name in found):
        raise ConfigError(f"no DAG files in {dags}/ to deploy")
    digests = {name: _digest(path) for name, path in found.items()}
    content = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:8]
    base = commit[:12] if commit else release_id(root)
    identifier = identifier or f"{base}-{content}"  # same commit, other files: another release
    releases = target / "releases"
    final = releases / identifier
    previous = current_release(target)
    if not final.exists():
        staging = releases / f".incoming-{identifier}-{uuid.uuid4().hex[:6]}"
        for name, source in found.items():
            destination = staging / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        manifest = {"release": identifier, "files": digests}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staging.rename(final)  # a release appears whole or not at all
    if previous != identifier:
        _switch(target, identifier)
        _prune(target, keep)
    files = json.loads((final / MANIFEST).read_text())["files"]
    return Release(identifier, final, files, previous)


def current_release(target: Path) -> str | None:
    link = target / CURRENT
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _switch(target: Path, identifier: str, *, rollback: bool = False) -> None:
    """Point `current` at a release in one rename (atomic on POSIX), and log it."""
    link = target / CURRENT
    if link.exists() and not link.is_symlink():
        raise StateError(f"{link} exists and is not tidegate's symlink: will not replace it")
    temporary = target / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
    temporary.symlink_to(Path("releases") / identifier, target_is_directory=True)
    os.replace(temporary, link)
    with (target / LOG).open("a") as log:
        entry = {"release": identifier, "at": datetime.now(UTC).isoformat(), "rollback": rollback}
        log.write(json.dumps(entry) + "\n")


def _log(target: Path) -> list[dict[str, Any]]:
    log = target / LOG
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _history(target: Path) -> list[str]:
    return [entry["release"] for entry in _log(target)]


def _stack(target: Path) -> list[str]:
    """The releases deployed one over the other, as rollbacks left them: a rollback removes
    the release it leaves, so a second one goes further back instead of forth."""
    stack: list[str] = []
    for entry in _log(target):
        if entry.get("rollback"):
            while stack and stack[-1] != entry["release"]:
                stack.pop()
            if not stack:
                stack.append(entry["release"])
        else:
            stack.append(entry["release"])
    return stack


def rollback(target: Path, to: str | None = None) -> Release:
    """Switch back to the release deployed before the current one (or to `to`, the name of a
    release folder). The release is found and its manifest checked against its files first;
    `current` is switched last and the switch logged after it succeeded, so a bad release
    leaves Airflow's folder and the log as they were."""
    current = current_release(target)
    if to is None:
        earlier = [r for r in _stack(target)[:-1] if (target / "releases" / r).is_dir() and r != current]
        if not earlier:
            raise StateError(
                "there is no earlier release to roll back to", hint=f"releases are in {target / 'releases'}"
            )
        to = earlier[-1]
    folder = _release_folder(target, to)
    files = _verified_files(folder)
    _switch(target, to, rollback=True)
    return Release(to, folder, files, current)


def _release_folder(target: Path, name: str) -> Path:
    """The folder of release `name`: a folder directly under releases/, named without any path
    (no `/`, `..` or absolute path could take Airflow's folder out of the releases)."""
    releases = target / "releases"
    known = sorted(p.name for p in releases.iterdir() if _is_release(p)) if releases.is_dir() else []
    hint = f"releases in {releases}: {', '.join(known)}" if known else f"there is no release in {releases}"
    pure = Path(name)
    if not name or pure.name != name or name in (".", "..") or name.startswith(".") or "\\" in name:
        raise ConfigError(f"{name!r} is not a release: give the name of a folder in releases/", hint=hint)
    folder = releases / name
    if not _is_release(folder):
        raise ConfigError(f"no release {name!r} in {releases}", hint=hint)
    return folder


def _is_release(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not path.name.startswith(".")


def _verified_files(folder: Path) -> dict[str, str]:
    """The release's files from its manifest, each checked against its hash: a release that was
    changed or damaged since it was written is not switched to."""
    manifest = folder / MANIFEST
    try:
        document = json.loads(manifest.read_text())
        files = document["files"]
        if document.get("release") != folder.name or not isinstance(files, dict):
            raise ValueError("it is not the manifest of this release")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StateError(
            f"release {folder.name} has no readable manifest ({manifest}): {_reason(error)}; nothing was switched",
            hint="deploy the release again (tidegate dags deploy), or roll back to another with --release",
        ) from None
    changed = sorted(
        name
        for name, digest in files.items()
        if not isinstance(digest, str) or not (folder / name).is_file() or _digest(folder / name) != digest
    )
    if changed:
        raise StateError(
            f"release {folder.name} does not match its manifest ({', '.join(changed[:5])}"
            f"{' ...' if len(changed) > 5 else ''} changed or missing); nothing was switched",
            hint="deploy the release again (tidegate dags deploy), or roll back to another with --release",
        )
    return files


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"no {error} in it"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return str(error) or type(error).__name__


def _prune(target: Path, keep: int) -> None:
    """Keep the `keep` releases deployed last (and the current one)."""
    history = _history(target)
    recent = list(dict.fromkeys(reversed(history)))[:keep]
    current = current_release(target)
    for folder in (target / "releases").iterdir():
        if folder.name not in recent and folder.name != current and not folder.name.startswith(".incoming-"):
            shutil.rmtree(folder)


def write_image_context(
    root: Path, dags: str, out: Path, python: str | None, identifier: str | None = None
) -> Path:
    """The build context of an Airflow image with one release baked in: the release, the
    packages of the Airflow that checked it (`pip freeze`, so the image runs what was tested),
    a Dockerfile and the manifest of file hashes. Building it needs Docker."""
    out.mkdir(parents=True, exist_ok=True)
    release = deploy(root, dags, out / "build", keep=1, identifier=identifier)
    locked = out / "requirements.lock"
    version = "3.1.0"
    if python is not None:
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=False
        )
        pins = [
            line for line in frozen.stdout.splitlines() if line and not line.startswith(("-e ", "tidegate"))
        ]
        version = next(
            (line.split("==", 1)[1] for line in pins if line.lower().startswith("apache-airflow==")), version
        )
        locked.write_text("\n".join(pins) + "\n")
    elif "requirements.txt" in release.files:
        shutil.copy2(release.path / "requirements.txt", locked)
    else:
        locked.write_text("")
    (out / "Dockerfile").write_text(
        f"""# Written by tidegate dags deploy --image: release {release.id}
FROM apache/airflow:{version}
COPY requirements.lock /requirements.lock
RUN pip install --no-cache-dir -r /requirements.lock
COPY build/releases/{release.id}/dags/ /opt/airflow/dags/
COPY build/releases/{release.id}/ /opt/tidegate-release/
"""
        + (
            f"COPY build/releases/{release.id}/plugins/ /opt/airflow/plugins/\n"
            if any(n.startswith("plugins/") for n in release.files)
            else ""
        )
    )
    manifest = {
        "release": release.id,
        "airflow": version,
        "files": release.files,
        "requirements": _digest(locked),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out
