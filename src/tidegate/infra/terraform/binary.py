"""Running Terraform (or OpenTofu) on one root, and turning what it says into tidegate's errors.

Every command runs non-interactively (`-input=false`, `TF_IN_AUTOMATION`), with the caller's
environment passed through (provider credentials, `TF_CLI_CONFIG_FILE`, `TF_PLUGIN_CACHE_DIR`),
and its own data directory (`TF_DATA_DIR`), so nothing is written into the project. Plan and
apply print Terraform's JSON log (`-json`), whose diagnostics name the file and line of a
problem; `init` has no JSON in Terraform 1.0, so its errors are read from the text.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from tidegate.errors import TerraformApplyFailed, TerraformError

STALE = "Saved plan is stale"
"""The summary of Terraform's refusal to apply a plan made before the state last changed."""


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning Terraform reported, with where in the root it points."""

    severity: str
    summary: str
    detail: str = ""
    path: str | None = None
    """Relative to the root's folder, as Terraform names it."""
    line: int | None = None
    address: str | None = None
    """The resource it is about, when Terraform says (a failed apply does)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Diagnostic:
        where = data.get("range") or {}
        line = (where.get("start") or {}).get("line")
        return cls(
            severity=str(data.get("severity", "error")),
            summary=str(data.get("summary", "")).strip(),
            detail=str(data.get("detail", "")).strip(),
            path=where.get("filename") or None,
            line=line if isinstance(line, int) else None,
            address=data.get("address") or None,
        )

    @property
    def message(self) -> str:
        detail = " ".join(self.detail.split())
        text = f"{self.summary}: {detail}" if detail else self.summary
        return f"{self.address}: {text}" if self.address else text


def find_binary(configured: str | None, project_dir: Path) -> str:
    """The Terraform to run: `terraform: binary:`, a name looked up on PATH or a path (relative
    to the project); without it `tofu`, else `terraform`, from PATH, then from the folder of
    tidegate's own Python (a virtualenv tidegate and Terraform were installed in, run without
    activating it)."""
    if configured and ("/" in configured or configured.startswith("~")):
        path = project_dir / Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise TerraformError(
            f"no Terraform binary: {configured} is not an executable file",
            path="tidegate.yml",
            hint="fix `terraform: binary:` (a path is relative to the project)",
        )
    names = [configured] if configured else ["tofu", "terraform"]
    scripts = os.path.dirname(sys.executable)
    for folders in (None, scripts):  # None: PATH
        for name in names:
            found = shutil.which(name, path=folders)
            if found:
                return found
    raise TerraformError(
        f"no Terraform binary: {' or '.join(names)} is not on PATH",
        path="tidegate.yml",
        hint="install Terraform or OpenTofu, or name it under `terraform: binary:`",
    )


def automation_environment() -> dict[str, str]:
    """The caller's environment (credentials, `TF_CLI_CONFIG_FILE`...) with Terraform told it
    runs unattended: no prompts, no version check over the network."""
    return {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}


class Terraform:
    """Terraform commands on one root's folder; `root` names it in errors (relative to the
    project), `data_dir` holds what `init` installs."""

    def __init__(
        self,
        executable: str,
        folder: Path,
        *,
        root: str,
        data_dir: Path,
        lock_timeout: str = "60s",
        var_files: Sequence[Path] = (),
    ) -> None:
        self.executable = executable
        self.folder = folder
        self.root = root
        self.data_dir = data_dir
        self.lock_timeout = lock_timeout
        self.var_files = tuple(var_files)

    # commands --------------------------------------------------------------------------------

    def version(self) -> str:
        result = self._run(["version", "-json"])
        try:
            return str(json.loads(result.stdout).get("terraform_version", ""))
        except json.JSONDecodeError:
            return result.stdout.split("\n", 1)[0].strip()

    def init(self) -> None:
        """Install the providers and modules and connect the backend (its state stays remote)."""
        result = self._run(["init", "-input=false", "-no-color"])
        if result.returncode != 0:
            raise self._error([], "terraform init failed", result.stdout + result.stderr)

    def validate(self) -> list[Diagnostic]:
        """The root's warnings; its errors are raised (the first, with file and line)."""
        result = self._run(["validate", "-json", "-no-color"])
        try:
            found = json.loads(result.stdout).get("diagnostics", [])
        except json.JSONDecodeError:
            found = []
        diagnostics = [Diagnostic.from_json(item) for item in found]
        if result.returncode != 0 or any(d.severity == "error" for d in diagnostics):
            raise self._error(diagnostics, "terraform validate failed", result.stderr)
        return diagnostics

    def unformatted(self) -> list[str]:
        """The root's files (relative to its folder) that `terraform fmt` would rewrite."""
        result = self._run(["fmt", "-check", "-list=true", "-no-color"])
        if result.returncode not in (0, 3):  # 3: some files are not formatted
            raise self._error([], "terraform fmt failed", result.stderr)
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def plan(self, out: Path, *, refresh_only: bool = False) -> bool:
        """Plan into `out`; whether anything would change (`-detailed-exitcode`)."""
        arguments = ["plan", "-input=false", "-json", f"-lock-timeout={self.lock_timeout}"]
        arguments += ["-detailed-exitcode", f"-out={out}"]
        arguments += [f"-var-file={path}" for path in self.var_files]
        if refresh_only:
            arguments.append("-refresh-only")
        result = self._run(arguments)
        if result.returncode not in (0, 2):  # 2: a plan with changes
            raise self._error(_json_diagnostics(result.stdout), "terraform plan failed", result.stderr)
        return result.returncode == 2

    def show(self, plan_file: Path) -> dict[str, Any]:
        """The JSON of a saved plan (`terraform show -json`)."""
        result = self._run(["show", "-json", "-no-color", str(plan_file)])
        if result.returncode != 0:
            raise self._error([], "terraform show failed", result.stderr)
        try:
            document = json.loads(result.stdout)
        except json.JSONDecodeError as error:
            raise TerraformError(f"{self.root}: terraform show printed no JSON ({error.msg})") from None
        if not isinstance(document, dict):
            raise TerraformError(f"{self.root}: terraform show printed no plan")
        return document

    def apply(self, plan_file: Path) -> None:
        """Apply a saved plan: exactly its changes, or none when the state moved since
        (`StalePlan`). Terraform checks that itself, except for a plan made when there was no
        state yet (Terraform 1.0 applies that one again and again): tidegate checks first."""
        if self._moved_since(plan_file):
            raise StalePlan(f"{self.root}: the saved plan is stale (its state changed since)")
        arguments = ["apply", "-input=false", "-json", f"-lock-timeout={self.lock_timeout}", str(plan_file)]
        result = self._run(arguments)
        if result.returncode == 0:
            return
        diagnostics = _json_diagnostics(result.stdout)
        if any(d.summary.startswith(STALE) for d in [*diagnostics, *_text_diagnostics(result.stderr)]):
            raise StalePlan(f"{self.root}: the saved plan is stale (its state changed since)")
        raise self._error(diagnostics, "terraform apply failed", result.stderr, failed=TerraformApplyFailed)

    def state_version(self) -> tuple[str, int] | None:
        """The lineage and serial of the root's state now (`terraform state pull`), None when
        it has none yet."""
        result = self._run(["state", "pull"])
        if result.returncode != 0:
            raise self._error([], "terraform state pull failed", result.stderr)
        return _state_version(result.stdout)

    def _moved_since(self, plan_file: Path) -> bool:
        """Whether the state is not the one the saved plan was made from (a plan file is a zip
        that holds that state as `tfstate`); False when the plan file cannot be read so."""
        try:
            with zipfile.ZipFile(plan_file) as archive:
                planned = _state_version(archive.read("tfstate").decode())
        except (OSError, KeyError, UnicodeDecodeError, zipfile.BadZipFile):
            return False
        return self.state_version() != planned

    # running ---------------------------------------------------------------------------------

    def _run(self, arguments: list[str]) -> subprocess.CompletedProcess[str]:
        environment = {**automation_environment(), "TF_DATA_DIR": str(self.data_dir)}
        try:
            return subprocess.run(
                [self.executable, *arguments],
                cwd=self.folder,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as error:
            raise TerraformError(f"{self.root}: cannot run {self.executable}: {error.strerror}") from None

    def _error(
        self,
        diagnostics: list[Diagnostic],
        fallback: str,
        stderr: str = "",
        *,
        failed: type[TerraformError] = TerraformError,
    ) -> TerraformError:
        """The first error Terraform reported, naming the root and, when it says, file and line
        (relative to the project); a provider it cannot install is looked for in the root's files."""
        found = [*diagnostics, *_text_diagnostics(stderr)]
        errors = list(dict.fromkeys(d for d in found if d.severity == "error"))  # init repeats some
        if not errors:
            last = [line.strip() for line in stderr.splitlines() if line.strip()][-1:]
            said = f": {last[0]}" if last else ""
            return failed(f"{self.root}: {fallback}{said}", path=self.root)
        first = errors[0]
        provider = _PROVIDER.search(f"{first.summary} {first.detail}")
        hint = None
        if provider and _INSTALLING.search(first.summary):
            hint = PROVIDER_HINT
            if first.path is None:
                first = self._provider_diagnostic(first, provider[1])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return failed(
            f"{self.root}: {first.message}{more}",
            path=self._project_path(first.path),
            line=first.line,
            hint=hint,
        )

    def _project_path(self, name: str | None) -> str:
        """A file Terraform names (relative to the root's folder, or absolute inside the copy it
        runs in) relative to the project."""
        if not name:
            return self.root
        if not Path(name).is_absolute():
            return posixpath.normpath(f"{self.root}/{name}")
        project = self.folder.parents[len(PurePosixPath(self.root).parts) - 1]
        try:
            return Path(os.path.normpath(name)).relative_to(project).as_posix()
        except ValueError:
            return name

    def _provider_diagnostic(self, diagnostic: Diagnostic, provider: str) -> Diagnostic:
        """`diagnostic` pointing at where the root requires or uses `provider` (init does not say)."""
        source = provider.removeprefix("registry.terraform.io/")
        kind = source.rsplit("/", 1)[-1]
        patterns = [
            re.compile(rf'"(registry\.terraform\.io/)?{re.escape(source)}"', re.IGNORECASE),
            re.compile(rf'^\s*(resource|data)\s+"{re.escape(kind)}_|^\s*provider\s+"{re.escape(kind)}"'),
        ]
        files = sorted(self.folder.glob("*.tf"))
        for pattern in patterns:
            for file in files:
                for number, text in enumerate(file.read_text(errors="replace").splitlines(), start=1):
                    if pattern.search(text):
                        return replace(diagnostic, path=file.name, line=number)
        return diagnostic


class StalePlan(TerraformError):
    """A saved plan Terraform refused because the state changed since it was made."""

    exit_code = 1


def _state_version(text: str) -> tuple[str, int] | None:
    """The lineage and serial of a state file's JSON; None for no state (empty, or a lineage
    Terraform has not given yet)."""
    try:
        state = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return None
    if not isinstance(state, dict) or not state.get("lineage"):
        return None
    return str(state["lineage"]), int(state.get("serial") or 0)


def _json_diagnostics(log: str) -> list[Diagnostic]:
    """The diagnostics in Terraform's JSON log (one JSON object a line)."""
    found = []
    for line in log.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("type") == "diagnostic":
            found.append(Diagnostic.from_json(message.get("diagnostic") or {}))
    return found


_ERROR = re.compile(r"^(Error|Warning): (.*)$")
_INSTALLING = re.compile(
    r"(install|query|resolve|version|registry|required).*provider|provider.*"
    r"(install|packages|version|registry)",
    re.IGNORECASE,
)
"""The summaries of `init`'s errors about a provider it cannot find or install."""
_PROVIDER = re.compile(r"provider ((?:[\w.-]+/){1,2}[\w.-]+)")
PROVIDER_HINT = (
    "Terraform installs providers from the registry or from the mirrors of its CLI configuration "
    "(TF_CLI_CONFIG_FILE); without a network, name a filesystem_mirror that holds this provider"
)
_WHERE = re.compile(r"^\s*[Oo]n (\S+) line (\d+)(?:,[^:]*)?:\s*(.*)$")
"""`on main.tf line 3, in resource "x" "y":`, or (installing modules) `On FILE line 3: DETAIL`."""


def _text_diagnostics(text: str) -> list[Diagnostic]:
    """The diagnostics of Terraform's human output (`Error: ...`, then `on FILE line N`)."""
    found: list[Diagnostic] = []
    current: dict[str, Any] | None = None
    detail: list[str] = []
    for raw in text.splitlines():
        line = raw.lstrip("│╷╵ ").rstrip()
        if match := _ERROR.match(line):
            if current is not None:
                found.append(Diagnostic(**current, detail=" ".join(detail)))
            current, detail = {"severity": match[1].lower(), "summary": match[2].strip()}, []
        elif current is not None and (where := _WHERE.match(line)) and "path" not in current:
            current.update(path=where[1], line=int(where[2]))
            detail += [where[3]] if where[3] else []
        elif current is not None and line and not re.match(r"^\d+:", line):
            detail.append(line)
    if current is not None:
        found.append(Diagnostic(**current, detail=" ".join(detail)))
    return found
