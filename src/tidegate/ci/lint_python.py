"""Python lint: `ruff check` on Python models and DAG files, with the project's own settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tidegate.ci.findings import Finding, position, relative
from tidegate.errors import ConfigError, TidegateError


def lint_python(root: Path, files: list[str]) -> list[Finding]:
    """`ruff check` in the project directory, so that the project's ruff settings (and their
    excludes) apply; never fixing, whatever the settings say."""
    import importlib.util

    if importlib.util.find_spec("ruff") is None:
        raise TidegateError("ruff is not installed", hint="pip install ruff")
    command = [sys.executable, "-m", "ruff", "check", "--output-format", "json", "--no-cache", "--no-fix"]
    command += ["--exit-zero", "--force-exclude", "--", *files]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        problem = (done.stderr or done.stdout).strip().splitlines()
        raise ConfigError(f"ruff cannot lint the project: {' '.join(problem[:3])}")
    findings = []
    for item in json.loads(done.stdout or "[]"):
        location = item.get("location") or {}
        findings.append(
            Finding(
                path=relative(root, item["filename"]),
                line=position(location.get("row")),
                column=position(location.get("column")),
                code=item.get("code") or "invalid-syntax",
                message=item["message"],
                severity="warning" if item.get("severity") == "warning" else "error",
                tool="ruff",
            )
        )
    return findings
