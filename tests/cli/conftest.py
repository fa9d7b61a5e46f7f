"""Helpers for the command-line tests: CliRunner invocations with stdout and stderr apart, and
real subprocess runs of the installed `tidegate` script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import LAYERED
from tidegate.cli import cli

TIDEGATE = Path(sys.executable).with_name("tidegate")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def all(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        """stdout must be exactly one JSON document."""
        return json.loads(self.stdout)


def invoke(
    root: Path | None, *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
) -> Ran:
    """`tidegate ARGS --project ROOT` in-process; `env` sets (None: unsets) environment variables."""
    extra = ["--project", str(root)] if root is not None else []
    result = CliRunner().invoke(cli, [*args, *extra], input=input, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def run_tidegate(*args: str, cwd: Path, timeout: float = 60) -> Ran:
    """The installed script in a subprocess, without a terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS")}
    env["TERM"] = "xterm-256color"  # colour would be allowed on a terminal; a pipe must still get none
    done = subprocess.run(
        [str(TIDEGATE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def built(make_project: Callable[..., Path]) -> Path:
    """The layered project with prod applied (version 1)."""
    root = make_project(LAYERED)
    ran = invoke(root, "plan", "prod", "--auto-apply")
    assert ran.code == 0, ran.all
    return root
