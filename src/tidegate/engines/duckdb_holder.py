"""Who holds a DuckDB file open, from DuckDB's lock error: the message a waiting tidegate shows,
and the hint that tells the user what to close."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Holder:
    """The process holding a DuckDB file, as DuckDB's lock error names it ("Conflicting lock is
    held in /usr/bin/python3 (PID 42)"): another tidegate, whose work the waiter queues behind,
    or another program (a DuckDB shell, a notebook, a BI tool) that only its user can close."""

    program: str | None
    pid: int | None
    tidegate: bool
    read_only: bool

    @classmethod
    def of(cls, error: str) -> Holder:
        match = _HOLDER.search(error)
        pid = int(match.group(2)) if match else None
        program = Path(match.group(1)).name if match else None
        read_only = "read-only mode" in error  # DuckDB says a reader could still open it
        return cls(program, pid, pid is not None and _runs_tidegate(pid), read_only)

    def __str__(self) -> str:
        if self.tidegate:
            return f"another tidegate process (PID {self.pid}) is using it"
        who = f"another program ({self.program}, PID {self.pid})" if self.pid else "another program"
        return f"{who} has it open" + (" read-only" if self.read_only else "")

    @property
    def hint(self) -> str:
        if self.tidegate:
            return "wait for it to finish, or raise lock_timeout in tidegate.yml"
        return (
            "DuckDB lets a file be written only while no other process has it open: close the "
            "program that holds it (a DuckDB shell, a notebook, a BI tool), then run tidegate again"
        )


_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def _runs_tidegate(pid: int) -> bool:
    """Whether process `pid` runs the `tidegate` command (its arguments, from /proc or ps)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        try:
            ran = subprocess.run(
                ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return False
        args = ran.stdout.split()
    return any(Path(arg).name in ("tidegate", "tidegate.exe") for arg in args)
