"""Terraform lint: `terraform fmt -check` on the `.tf` and `.tfvars` files of the project's roots
and the local modules they call (`lint_files.terraform_folders`).

Each file is given to `terraform fmt -` on its standard input, so Terraform reads it as written
and writes nothing in the project; a finding is on the first line its formatting would change,
or on the line of a syntax error that keeps Terraform from formatting it at all.
"""

from __future__ import annotations

import re
import subprocess
from itertools import zip_longest
from pathlib import Path

from tidegate.ci.findings import Finding
from tidegate.project.config import ProjectConfig

_ERROR = re.compile(r"^Error: (.+)$", re.MULTILINE)
_LINE = re.compile(r"^\s*on <stdin> line (\d+)", re.MULTILINE)


def lint_terraform(root: Path, config: ProjectConfig, files: list[str], workspace: Path) -> list[Finding]:
    """A finding per file `terraform fmt` would rewrite or cannot read. The binary is the one
    `tidegate ci` plans with (`terraform: binary:`, found from `workspace`); without one, a
    TerraformError (exit 2), as any linter that cannot run."""
    from tidegate.infra.terraform.binary import find_binary

    executable = find_binary(config.terraform.binary, workspace)
    return [finding for rel in files if (finding := _check(executable, root, rel)) is not None]


def _check(executable: str, root: Path, rel: str) -> Finding | None:
    written = (root / rel).read_bytes()
    from tidegate.infra.terraform.binary import automation_environment

    try:
        done = subprocess.run(
            [executable, "fmt", "-no-color", "-"],
            input=written,
            capture_output=True,
            env=automation_environment(),
        )
    except OSError as error:
        from tidegate.errors import TerraformError

        raise TerraformError(f"cannot run {executable}: {error.strerror}", path="tidegate.yml") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace")
        summary, line = _ERROR.search(said), _LINE.search(said)
        return _finding(
            rel,
            int(line[1]) if line else 1,
            "syntax",
            f"Terraform cannot read it: {summary[1].strip() if summary else said.strip()[:300]}",
        )
    if done.stdout == written:
        return None
    return _finding(
        rel,
        _first_difference(written, done.stdout),
        "fmt",
        "not formatted as `terraform fmt` writes it (run `terraform fmt` on it)",
    )


def _finding(rel: str, line: int, code: str, message: str) -> Finding:
    return Finding(path=rel, line=line, column=1, code=code, message=message, tool="terraform")


def _first_difference(written: bytes, formatted: bytes) -> int:
    """The first line (from 1) where the formatted text differs from the file's."""
    pairs = zip_longest(written.splitlines(keepends=True), formatted.splitlines(keepends=True))
    return next((number for number, (a, b) in enumerate(pairs, start=1) if a != b), 1)
