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
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Diagnostic:
        where = data.get("range") or {}
        return cls(
            severity=str(data.get("severity", "error")),
            summary=str(data.get("summary", "")).strip(),
            detail=str(data.get("detail", "")).strip(),
            path=where.get("filename"),
            line=(where.get("start") or {}).get("line"),
        )

    @property
    def message(self) -> str:
        detail = " ".join(self.detail.split())
        return f"{self.summary}: {detail}" if detail else self.summary


def find_binary(configured: str | None, project_dir: Path) -> str:
    """The Terraform to run: `terraform: binary:` (a name on PATH or a path relative to the
    project), else `tofu`, else `terraform` from PATH."""
    names = [configured] if configured else ["tofu", "terraform"]
    for name in names:
        candidate = project_dir / name if "/" in name and not Path(name).is_absolute() else Path(name)
        if "/" in name and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    raise TerraformError(
        f"no Terraform binary: {' or '.join(names)} is not on PATH",
        path="tidegate.yml",
        hint="install Terraform or OpenTofu, or name it under `terraform: binary:`",
    )


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

    def state_lineage(self) -> str:
        """The lineage of the root's current state (`state pull`); empty while it has none."""
        result = self._run(["state", "pull"])
        if result.returncode != 0:
            raise self._error([], "terraform state pull failed", result.stderr)
        try:
            return str(json.loads(result.stdout or "{}").get("lineage") or "")
        except json.JSONDecodeError:
            raise TerraformError(f"{self.root}: terraform state pull printed no state") from None

    def init(self) -> None:
        """Install the providers and modules and connect the backend (its state stays remote)."""
        result = self._run(["init", "-input=false", "-no-color"])
        if result.returncode != 0:
            raise self._error(_text_diagnostics(result.stdout + result.stderr), "terraform init failed")

    def validate(self) -> list[Diagnostic]:
        """The root's warnings; its errors are raised (the first, with file and line)."""
        result = self._run(["validate", "-json", "-no-color"])
        try:
            found = json.loads(result.stdout).get("diagnostics", [])
        except json.JSONDecodeError:
            found = []
        diagnostics = [Diagnostic.from_json(item) for item in found]
        if result.returncode != 0 or any(d.severity == "error" for d in diagnostics):
            raise self._error(diagnostics or _text_diagnostics(result.stderr), "terraform validate failed")
        return diagnostics

    def unformatted(self) -> list[str]:
        """The root's files (relative to its folder) that `terraform fmt` would rewrite."""
        result = self._run(["fmt", "-check", "-list=true", "-no-color"])
        if result.returncode not in (0, 3):  # 3: some files are not formatted
            raise self._error(_text_diagnostics(result.stderr), "terraform fmt failed")
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def plan(self, out: Path, *, refresh_only: bool = False) -> bool:
        """Plan into `out`; whether anything would change (`-detailed-exitcode`)."""
        arguments = ["plan", "-input=false", "-json", f"-lock-timeout={self.lock_timeout}"]
        arguments += ["-detailed-exitcode", f"-out={out}"]
        arguments += [f"-var-file={path}" for path in self.var_files]
        if refresh_only:
            arguments.append("-refresh-only")
        result = self._run(arguments)
        if result.returncode == 1:
            raise self._error(_json_diagnostics(result.stdout), "terraform plan failed", result.stderr)
        return result.returncode == 2

    def show(self, plan_file: Path) -> dict[str, Any]:
        """The JSON of a saved plan (`terraform show -json`)."""
        result = self._run(["show", "-json", "-no-color", str(plan_file)])
        if result.returncode != 0:
            raise self._error(_text_diagnostics(result.stderr), "terraform show failed")
        try:
            document = json.loads(result.stdout)
        except json.JSONDecodeError as error:
            raise TerraformError(f"{self.root}: terraform show printed no JSON ({error.msg})") from None
        if not isinstance(document, dict):
            raise TerraformError(f"{self.root}: terraform show printed no plan")
        return document

    def apply(self, plan_file: Path) -> None:
        """Apply a saved plan: exactly its changes, or none when the state moved since
        (`StalePlan`: Terraform checks before it changes anything)."""
        arguments = ["apply", "-input=false", "-json", f"-lock-timeout={self.lock_timeout}", str(plan_file)]
        result = self._run(arguments)
        if result.returncode == 0:
            return
        diagnostics = _json_diagnostics(result.stdout)
        if any(d.summary.startswith(STALE) for d in [*diagnostics, *_text_diagnostics(result.stderr)]):
            raise StalePlan(f"{self.root}: the saved plan is stale (its state changed since)")
        raise self._error(diagnostics, "terraform apply failed", result.stderr, failed=TerraformApplyFailed)

    # running ---------------------------------------------------------------------------------

    def _run(self, arguments: list[str]) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "TF_DATA_DIR": str(self.data_dir),
            "CHECKPOINT_DISABLE": "1",
        }
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
        """The first error Terraform reported, naming the root and, when it says, file and line."""
        errors = [d for d in diagnostics if d.severity == "error"] or _text_diagnostics(stderr)
        if not errors:
            return failed(f"{self.root}: {fallback}", path=self.root)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        path = f"{self.root}/{first.path}" if first.path else self.root
        return failed(f"{self.root}: {first.message}{more}", path=path, line=first.line)


class StalePlan(TerraformError):
    """A saved plan Terraform refused because the state changed since it was made."""

    exit_code = 1


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
_WHERE = re.compile(r"^\s*on (\S+) line (\d+)")


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
            current.update(path=where[1].rstrip(","), line=int(where[2]))
        elif current is not None and line and not re.match(r"^\d+:", line):
            detail.append(line)
    if current is not None:
        found.append(Diagnostic(**current, detail=" ".join(detail)))
    return found
